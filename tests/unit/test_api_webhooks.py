"""The customer API's webhooks in-process over the memory store: endpoints (create, read, list,
update, delete), their secrets (only ever in GET …/secret, never in an idempotency record or a log),
rotation, events (as sent, newest first, cursor pages), attempts after a real delivery, replays (dry
run, a started job, retried under the same key), scopes, tenancy on every route, the domain's error
codes with their `param`, and the responses against docs/openapi.yaml."""

from __future__ import annotations

import functools
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema_rs import Draft202012Validator

from shared import logs
from shared.api import idempotency
from shared.api import webhooks as api_webhooks
from shared.config import REPO_ROOT
from shared.recovery.policies import Task
from shared.recovery.service import Reschedule
from shared.webhooks import outbox, records
from shared.webhooks.endpoints import MAX_WINDOW
from shared.webhooks.service import Answer, Deliveries
from tests.unit.test_api import NOW, World, transfer
from tests.unit.test_api_contract import committed

URL = "http://127.0.0.1:9/hooks/a"
SINCE = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")


class Api(World):
    """test_api's World with PATCH / DELETE and the webhook endpoints' task queue."""

    def patch(self, path: str, body=None, key: str | None = "default", idem: str | None = None):
        headers = {**self._auth(key), "Content-Type": "application/json"}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return self.client.patch(path, data=json.dumps(body) if body is not None else b"", headers=headers)

    def delete(self, path: str, key: str | None = "default"):
        return self.client.delete(path, headers=self._auth(key))

    def create(self, idem: str = "e1", key: str | None = "default", **body):
        return self.post("/v1/webhook-endpoints", {"url": URL, **body}, key=key, idem=idem)

    @property
    def endpoints(self):
        return self.backend.webhooks()

    @property
    def tasks(self) -> list:
        return [task for task, _ in self.endpoints.schedule.tasks]

    def rows(self, kind: str) -> dict:
        return self.store.snapshot((kind,))[kind]


@pytest.fixture
def w():
    world = Api()
    world.fund("cus_a", 10_000)
    return world


@functools.cache
def _validator(status: int, path: str, method: str) -> Draft202012Validator:
    doc = _document()
    response = doc["paths"][path][method]["responses"][str(status)]
    return Draft202012Validator({**response["content"]["application/json"]["schema"], "components": doc["components"]})


@functools.cache
def _document() -> dict:
    return committed()


def conforms(resp, path: str, method: str) -> None:
    errors = list(_validator(resp.status_code, path, method).iter_errors(resp.json))
    assert not errors, (path, resp.status_code, resp.json, [str(e) for e in errors])


def error(resp) -> tuple[int, str, str | None]:
    return resp.status_code, resp.json["error"]["code"], resp.json["error"]["param"]


# ----------------------------------------------------------------------------- endpoints


def test_an_endpoint_is_created_read_listed_updated_and_deleted(w):
    resp = w.create(description="orders", enabled_events=["payout.paid", "hold.created"], metadata={"team": "ops"})
    assert resp.status_code == 201, resp.json
    conforms(resp, "/v1/webhook-endpoints", "post")
    ep = resp.json
    assert ep | {"id": None, "created": None} == {
        "object": "webhook_endpoint",
        "id": None,
        "url": URL,
        "enabled_events": ["hold.created", "payout.paid"],  # sorted, as the filter is kept
        "description": "orders",
        "enabled": True,
        "disabled_reason": None,
        "verified": True,
        "failing_since": None,
        "metadata": {"team": "ops"},
        "created": None,
        "secret_rotated_at": None,
    }
    assert ep["id"].startswith("we_")
    got = w.get(f"/v1/webhook-endpoints/{ep['id']}")
    assert got.status_code == 200 and got.json == ep
    conforms(got, "/v1/webhook-endpoints/{id}", "get")
    listed = w.get("/v1/webhook-endpoints")
    assert listed.json == {"object": "list", "data": [ep], "has_more": False}
    conforms(listed, "/v1/webhook-endpoints", "get")

    changed = w.patch(
        f"/v1/webhook-endpoints/{ep['id']}",
        {"url": URL + "2", "enabled_events": [], "enabled": False, "metadata": {}, "description": ""},
    )
    assert changed.status_code == 200, changed.json
    conforms(changed, "/v1/webhook-endpoints/{id}", "patch")
    assert changed.json == ep | {
        "url": URL + "2",
        "enabled_events": [],
        "enabled": False,
        "metadata": {},
        "description": "",
    }
    untouched = w.patch(f"/v1/webhook-endpoints/{ep['id']}", {"description": None})  # null / absent: unchanged
    assert untouched.json == changed.json
    assert w.patch(f"/v1/webhook-endpoints/{ep['id']}").json == changed.json  # no body at all
    assert w.get(f"/v1/webhook-endpoints/{ep['id']}").json == changed.json

    deleted = w.delete(f"/v1/webhook-endpoints/{ep['id']}")
    assert deleted.status_code == 200 and deleted.json == {
        "object": "webhook_endpoint",
        "id": ep["id"],
        "deleted": True,
    }
    conforms(deleted, "/v1/webhook-endpoints/{id}", "delete")
    assert w.get("/v1/webhook-endpoints").json["data"] == []
    for resp in (
        w.get(f"/v1/webhook-endpoints/{ep['id']}"),
        w.patch(f"/v1/webhook-endpoints/{ep['id']}", {"enabled": True}),
        w.delete(f"/v1/webhook-endpoints/{ep['id']}"),
    ):
        assert error(resp) == (404, "webhook_endpoint_not_found", "id")
    assert json.loads(w.rows(records.ENDPOINT)[ep["id"]]["secrets"]) == []  # the record stays, its secrets go


def test_enabling_a_disabled_endpoint_clears_why_it_was_disabled(w):
    eid = w.create().json["id"]
    row = w.rows(records.ENDPOINT)[eid]
    w.store.record(records.ENDPOINT, eid, {**row, "enabled": False, "disabled_reason": "failing", "failing_since": NOW})
    shown = w.get(f"/v1/webhook-endpoints/{eid}").json
    assert (shown["enabled"], shown["disabled_reason"], shown["failing_since"]) == (
        False,
        "failing",
        "2026-11-28T09:00:00Z",
    )
    again = w.patch(f"/v1/webhook-endpoints/{eid}", {"enabled": True}).json
    assert (again["enabled"], again["disabled_reason"], again["failing_since"]) == (True, None, None)


def test_the_routes_and_their_methods(w):
    resp = w.client.put("/v1/webhook-endpoints/we_x", headers=w._auth("default"))
    assert resp.status_code == 405 and resp.headers["Allow"] == "DELETE, GET, HEAD, PATCH"
    assert w.get("/v1/webhook-endpoints/__x__").status_code == 404  # a name Datastore reserves
    assert w.get("/v1/events/caf%C3%A9").status_code == 404


# ----------------------------------------------------------------------------- idempotency


@pytest.mark.parametrize("path", ["/v1/webhook-endpoints", "rotate-secret", "replay"])
def test_the_posts_need_an_idempotency_key_and_write_nothing_without_it(w, path):
    eid = w.create().json["id"]
    bodies = {"/v1/webhook-endpoints": {"url": URL}, "rotate-secret": {}, "replay": {"since": SINCE}}
    full = path if path.startswith("/") else f"/v1/webhook-endpoints/{eid}/{path}"
    before = w.store.snapshot(tuple(w.store.data))
    resp = w.post(full, bodies[path], idem=None)
    assert error(resp) == (400, "idempotency_key_missing", "Idempotency-Key")
    assert w.store.snapshot(tuple(w.store.data)) == before
    conforms(resp, full if path.startswith("/") else f"/v1/webhook-endpoints/{{id}}/{path}", "post")


def test_the_same_key_twice_creates_one_endpoint_and_another_body_under_it_is_refused(w):
    first = w.create(idem="k1")
    again = w.create(idem="k1")
    assert again.status_code == 201 and again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert list(w.rows(records.ENDPOINT)) == [first.json["id"]]
    reused = w.create(idem="k1", description="other")
    assert error(reused) == (409, "idempotency_key_reuse", "Idempotency-Key")
    assert w.create(idem="k2").json["id"] != first.json["id"]  # a new key: a new endpoint


def test_a_create_whose_first_attempt_died_after_its_commit_answers_that_endpoint(w):
    first = w.create(idem="k1").json
    record = w.store.data[idempotency.KIND][idempotency.record_name("acme", "k1")]
    record.update(status="in_flight", response_status=None, response_body=None, locked_until=w.clock.now)
    w.clock.now += idempotency.LOCK  # taken over: the request runs again, under the same generation
    again = w.create(idem="k1")
    assert again.status_code == 201 and again.json == first and "Idempotent-Replayed" not in again.headers
    assert list(w.rows(records.ENDPOINT)) == [first["id"]]


# ----------------------------------------------------------------------------- secrets


def test_the_secret_is_only_in_get_secret_never_stored_in_clear_by_the_api_nor_logged(w, capsys):
    logs.configure("test")
    logging.getLogger().handlers[0].stream = __import__("sys").stdout
    answers = [w.create(idem="k1", description="d")]
    eid = answers[0].json["id"]
    shown = w.get(f"/v1/webhook-endpoints/{eid}/secret")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    conforms(shown, "/v1/webhook-endpoints/{id}/secret", "get")
    first = shown.json["secret"]
    assert shown.json == {"object": "webhook_endpoint_secret", "secret": first, "previous": []}
    assert first.startswith("whsec_")
    answers += [
        w.create(idem="k1", description="d"),  # replayed from the idempotency record
        w.get(f"/v1/webhook-endpoints/{eid}"),
        w.get("/v1/webhook-endpoints"),
        w.patch(f"/v1/webhook-endpoints/{eid}", {"description": "e"}, idem="k2"),
        w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {"overlap_seconds": 3600}, idem="k3"),
        w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {"overlap_seconds": 3600}, idem="k3"),
        w.post(f"/v1/webhook-endpoints/{eid}/replay", {"since": SINCE, "dry_run": True}, idem="k4"),
    ]
    rotated = w.get(f"/v1/webhook-endpoints/{eid}/secret").json
    second = rotated["secret"]
    assert second != first and [p["secret"] for p in rotated["previous"]] == [first]
    answers.append(w.delete(f"/v1/webhook-endpoints/{eid}"))
    for resp in answers:
        assert resp.status_code in (200, 201), resp.json
        text = resp.get_data(as_text=True)
        assert first not in text and second not in text and "whsec_" not in text
    stored = json.dumps(w.store.data[idempotency.KIND], default=str)
    assert len(w.store.data[idempotency.KIND]) == 4 and "whsec_" not in stored
    out = capsys.readouterr().out
    assert "api request" in out and first not in out and second not in out


def test_a_rotation_keeps_the_previous_secret_signing_for_the_overlap(w):
    eid = w.create().json["id"]
    first = w.get(f"/v1/webhook-endpoints/{eid}/secret").json["secret"]
    resp = w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {}, idem="r1")
    assert resp.status_code == 200, resp.json
    conforms(resp, "/v1/webhook-endpoints/{id}/rotate-secret", "post")
    assert resp.json["secret_rotated_at"] is not None and resp.json["secret_rotated_at"] > resp.json["created"]
    secrets = w.get(f"/v1/webhook-endpoints/{eid}/secret").json
    assert [p["secret"] for p in secrets["previous"]] == [first]
    expires = secrets["previous"][0]["expires_at"]
    assert expires.startswith("2026-11-29T09:00:00")  # the default overlap: 24 h
    w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {"overlap_seconds": 0}, idem="r2")
    assert len(w.get(f"/v1/webhook-endpoints/{eid}/secret").json["previous"]) == 1  # the 0 s one stopped
    w.clock.now += timedelta(days=2)
    assert w.get(f"/v1/webhook-endpoints/{eid}/secret").json["previous"] == []


# ----------------------------------------------------------------------------- scopes and tenancy


def test_a_read_only_key_reads_but_cannot_write_nor_see_a_secret(w):
    eid = w.create().json["id"]
    ro = w.read_only
    for resp in (
        w.create(idem="ro1", key=ro),
        w.patch(f"/v1/webhook-endpoints/{eid}", {"enabled": False}, key=ro),
        w.delete(f"/v1/webhook-endpoints/{eid}", key=ro),
        w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {}, key=ro, idem="ro2"),
        w.get(f"/v1/webhook-endpoints/{eid}/secret", key=ro),
        w.post(f"/v1/webhook-endpoints/{eid}/replay", {"since": SINCE}, key=ro, idem="ro3"),
    ):
        assert error(resp) == (403, "insufficient_scope", "Authorization")
        assert "whsec_" not in resp.get_data(as_text=True)
    for path in (
        f"/v1/webhook-endpoints/{eid}",
        "/v1/webhook-endpoints",
        f"/v1/webhook-endpoints/{eid}/attempts",
        "/v1/events",
    ):
        assert w.get(path, key=ro).status_code == 200, path
    assert w.get(f"/v1/webhook-endpoints/{eid}").json["enabled"] is True
    assert w.get(f"/v1/webhook-endpoints/{eid}/secret", key=w.operator).status_code == 403


def test_another_tenants_endpoint_event_and_replay_are_404s_like_missing_ones(w):
    eid = w.create().json["id"]
    w.post("/v1/transfers", transfer(100), idem="t1")
    event = w.get("/v1/events").json["data"][0]["id"]
    replay = w.post(f"/v1/webhook-endpoints/{eid}/replay", {"since": SINCE}, idem="r1").json["id"]
    before = w.store.snapshot((records.ENDPOINT, "WebhookReplay"))
    missing = {"we": "we_000000000000000000000000", "evt": "evt_" + "0" * 32, "wr": "wr_000000000000000000000000"}
    cases = [
        ("GET", f"/v1/webhook-endpoints/{eid}", None, eid, "webhook_endpoint_not_found"),
        ("PATCH", f"/v1/webhook-endpoints/{eid}", {"enabled": False}, eid, "webhook_endpoint_not_found"),
        ("DELETE", f"/v1/webhook-endpoints/{eid}", None, eid, "webhook_endpoint_not_found"),
        ("POST", f"/v1/webhook-endpoints/{eid}/rotate-secret", {}, eid, "webhook_endpoint_not_found"),
        ("GET", f"/v1/webhook-endpoints/{eid}/secret", None, eid, "webhook_endpoint_not_found"),
        ("GET", f"/v1/webhook-endpoints/{eid}/attempts", None, eid, "webhook_endpoint_not_found"),
        ("POST", f"/v1/webhook-endpoints/{eid}/replay", {"since": SINCE}, eid, "webhook_endpoint_not_found"),
        ("GET", f"/v1/events/{event}", None, event, "event_not_found"),
        ("GET", f"/v1/webhook-replays/{replay}", None, replay, "webhook_replay_not_found"),
    ]

    def call(method, path, body, key, idem):
        if method == "GET":
            return w.get(path, key=key)
        if method == "PATCH":
            return w.patch(path, body, key=key)
        if method == "DELETE":
            return w.delete(path, key=key)
        return w.post(path, body, key=key, idem=idem)

    for n, (method, path, body, ident, code) in enumerate(cases):
        theirs = call(method, path, body, w.globex, f"g{n}")
        none = call(method, path.replace(ident, missing[ident.split("_")[0]]), body, w.key, f"m{n}")
        assert error(theirs) == (404, code, "id"), (method, path, theirs.json)
        assert theirs.json["error"]["message"].replace(ident, "X") == none.json["error"]["message"].replace(
            missing[ident.split("_")[0]], "X"
        ), (method, path)
        assert error(none) == error(theirs)
    assert w.store.snapshot((records.ENDPOINT, "WebhookReplay")) == before  # nothing of acme's changed
    assert w.get("/v1/webhook-endpoints", key=w.globex).json["data"] == []
    assert w.get("/v1/events", key=w.globex).json["data"] == []
    cursor = w.get(f"/v1/events?starting_after={event}", key=w.globex)
    assert error(cursor) == (400, "invalid_cursor", "starting_after")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"url": "http://example.com/hook"}, "url_scheme", "url"),
        ({"url": "https://user:pw@example.com/hook"}, "url_credentials", "url"),
        ({"url": "https://10.0.0.1/hook"}, "url_host_refused", "url"),
        ({"url": "http://169.254.169.254/computeMetadata"}, "url_scheme", "url"),
        ({"url": "https://[fd00::1]/hook"}, "url_host_refused", "url"),
        ({"url": "not a url"}, "url_invalid", "url"),
        ({"url": ""}, "url_invalid", "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url_invalid", "url"),
        ({"url": "pubsub://projects/p/topics/t"}, "destination_unsupported", "url"),
        ({"url": URL, "enabled_events": ["payout.lost"]}, "unknown_event_type", "enabled_events.0"),
        ({"url": URL, "enabled_events": ["payout.paid", "*"]}, "unknown_event_type", "enabled_events.1"),
        ({"url": URL, "enabled_events": "payout.paid"}, "parameter_invalid", "enabled_events"),
        ({"url": URL, "enabled_events": [1]}, "parameter_invalid", "enabled_events.0"),
        ({"url": URL, "description": "x" * 501}, "invalid_description", "description"),
        ({"url": URL, "metadata": {"k": 1}}, "parameter_invalid", "metadata.k"),
        ({"url": URL, "enabled": "yes"}, "parameter_invalid", "enabled"),
        ({"url": URL, "secret": "whsec_mine"}, "parameter_unknown", "secret"),
        ({"url": 7}, "parameter_invalid", "url"),
        ({}, "parameter_missing", "url"),
    ],
)
def test_a_bad_endpoint_is_a_400_with_the_domains_code_and_field_and_leaves_the_key_unused(w, body, code, param):
    resp = w.post("/v1/webhook-endpoints", body, idem="v1")
    assert error(resp) == (400, code, param), resp.json
    conforms(resp, "/v1/webhook-endpoints", "post")
    assert not w.store.data.get(records.ENDPOINT) and not w.store.data.get(idempotency.KIND)
    assert w.create(idem="v1").status_code == 201  # the key is still free


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"url": "http://192.168.1.1/x"}, "url_scheme", "url"),
        ({"url": "ftp://127.0.0.1/x"}, "url_scheme", "url"),
        ({"enabled_events": ["hold.created", "nope"]}, "unknown_event_type", "enabled_events.1"),
        ({"description": "x" * 501}, "invalid_description", "description"),
        ({"enabled": None, "url": None, "extra": 1}, "parameter_unknown", "extra"),
    ],
)
def test_a_bad_update_is_a_400_and_changes_nothing(w, body, code, param):
    eid = w.create().json["id"]
    before = w.store.snapshot((records.ENDPOINT,))
    resp = w.patch(f"/v1/webhook-endpoints/{eid}", body)
    assert error(resp) == (400, code, param), resp.json
    conforms(resp, "/v1/webhook-endpoints/{id}", "patch")
    assert w.store.snapshot((records.ENDPOINT,)) == before


@pytest.mark.parametrize("overlap", [-1, 604801, 10**30, -(10**30)])
def test_an_overlap_out_of_range_is_invalid_overlap(w, overlap):
    eid = w.create().json["id"]
    resp = w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {"overlap_seconds": overlap}, idem="r1")
    assert error(resp) == (400, "invalid_overlap", "overlap_seconds"), resp.json
    conforms(resp, "/v1/webhook-endpoints/{id}/rotate-secret", "post")
    assert (
        w.post(f"/v1/webhook-endpoints/{eid}/rotate-secret", {"overlap_seconds": 604800}, idem="r1").status_code == 200
    )


def test_a_tenant_has_at_most_20_endpoints_then_409(w):
    for n in range(20):
        assert w.create(idem=f"e{n}").status_code == 201
    resp = w.create(idem="e20")
    assert error(resp) == (409, "too_many_endpoints", "url")
    conforms(resp, "/v1/webhook-endpoints", "post")
    assert len(w.get("/v1/webhook-endpoints").json["data"]) == 20
    w.delete(f"/v1/webhook-endpoints/{w.get('/v1/webhook-endpoints').json['data'][0]['id']}")
    assert w.create(idem="e21").status_code == 201


def test_every_code_of_the_webhooks_domain_has_a_status():
    sources = [
        *(REPO_ROOT / "shared" / "domain" / "webhooks").glob("*.py"),
        *(REPO_ROOT / "shared" / "webhooks").glob("*.py"),
    ]
    raised = {m for p in sources for m in re.findall(r'EndpointError\(\s*"(\w+)"', p.read_text())}
    assert raised and raised <= set(api_webhooks.STATUS), raised - set(api_webhooks.STATUS)
    assert {"url_scheme", "url_host_refused"} <= set(api_webhooks.STATUS)  # urls.CODES, raised by name


# ----------------------------------------------------------------------------- events


def test_events_are_listed_newest_first_in_cursor_pages_exactly_as_sent(w):
    resp = w.post("/v1/transfers", transfer(250), idem="t1")  # cus_a -> cus_b, both acme's
    assert resp.status_code == 200, resp.json
    stored = {n: json.loads(r["body"]) for n, r in w.rows(outbox.EVENT).items() if r["tenant"] == "acme"}
    assert {e["type"] for e in stored.values()} == {"transfer.posted", "balance.updated"} and len(stored) >= 4
    everything = w.get("/v1/events?limit=100")
    assert everything.status_code == 200
    conforms(everything, "/v1/events", "get")
    listed = everything.json["data"]
    assert everything.json["has_more"] is False and {e["id"] for e in listed} == set(stored)
    assert [e["timestamp"] for e in listed] == sorted((e["timestamp"] for e in listed), reverse=True)
    for event in listed:
        assert event == stored[event["id"]]  # the body as sent, nothing added
        one = w.get(f"/v1/events/{event['id']}")
        assert one.status_code == 200 and one.json == stored[event["id"]]
        conforms(one, "/v1/events/{id}", "get")
    pages, cursor = [], None
    while True:
        page = w.get("/v1/events", query_string={"limit": 1, **({"starting_after": cursor} if cursor else {})}).json
        pages += page["data"]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert pages == listed
    posted = w.get("/v1/events?type=transfer.posted").json["data"]
    assert posted and all(e["type"] == "transfer.posted" for e in posted)
    assert len(posted) == sum(e["type"] == "transfer.posted" for e in listed)
    assert error(w.get("/v1/events?type=payout.lost")) == (400, "parameter_invalid", "type")
    assert error(w.get("/v1/events?starting_after=evt_nope")) == (400, "invalid_cursor", "starting_after")
    assert error(w.get(f"/v1/events/evt_{'0' * 32}")) == (404, "event_not_found", "id")


# ----------------------------------------------------------------------------- attempts


def test_attempts_after_a_delivery_are_listed_newest_first_and_signed_with_the_shown_secret(w):
    from standardwebhooks.webhooks import Webhook

    sent = []

    def send(url, body, headers, ordering_key=""):
        sent.append((url, body, headers))
        if url.endswith("/down"):
            return Answer(503, {}, b"busy " * 100, 7)
        return Answer(200, {}, b"thanks", 4)

    deliveries = Deliveries(w.store, lambda task, at: True, send, lambda sealed, _id: sealed, w.clock, lambda: None)
    deliveries.fanout()  # the funding's events: no endpoint yet
    ok = w.create(idem="e1", url="http://127.0.0.1:9/ok").json["id"]
    down = w.create(idem="e2", url="http://127.0.0.1:9/down").json["id"]
    w.post("/v1/transfers", transfer(100), idem="t1")
    assert deliveries.fanout()[0] >= 1
    assert {r["endpoint"] for r in w.rows(records.DELIVERY).values()} == {ok, down}  # transfer.posted, to both
    for name in sorted(w.rows(records.DELIVERY)):
        for _ in range(2 if w.rows(records.DELIVERY)[name]["endpoint"] == down else 1):
            try:
                deliveries.deliver(f"{name}@1")  # the task the fan-out enqueued: chain 1
            except Reschedule as later:
                w.clock.now = max(w.clock.now, later.at)  # the next attempt when it is due
    secret = w.get(f"/v1/webhook-endpoints/{ok}/secret").json["secret"]
    _, body, headers = next(s for s in sent if s[0].endswith("/ok"))
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], at, body.decode())
    assert expected in headers["webhook-signature"].split(" ")  # GET …/secret shows the one that signs

    good = w.get(f"/v1/webhook-endpoints/{ok}/attempts")
    assert good.status_code == 200
    conforms(good, "/v1/webhook-endpoints/{id}/attempts", "get")
    (attempt,) = good.json["data"]
    event = json.loads(body)["id"]
    assert attempt | {"id": None, "delivery": None, "at": None} == {
        "object": "webhook_attempt",
        "id": None,
        "delivery": None,
        "event": event,
        "number": 1,
        "at": None,
        "status_code": 200,
        "error": None,
        "elapsed_ms": 4,
        "response": "thanks",
    }
    assert attempt["id"] == f"{attempt['delivery']}#1"
    bad = w.get(f"/v1/webhook-endpoints/{down}/attempts").json
    assert [(a["number"], a["status_code"]) for a in bad["data"]] == [(2, 503), (1, 503)]
    assert len(bad["data"][0]["response"]) == 256
    first = w.get(f"/v1/webhook-endpoints/{down}/attempts?limit=1").json
    assert first["has_more"] is True and first["data"] == bad["data"][:1]
    rest = w.get(f"/v1/webhook-endpoints/{down}/attempts", query_string={"starting_after": first["data"][0]["id"]})
    assert rest.json == {"object": "list", "data": bad["data"][1:], "has_more": False}
    other = w.get(f"/v1/webhook-endpoints/{ok}/attempts", query_string={"starting_after": bad["data"][0]["id"]})
    assert error(other) == (400, "invalid_cursor", "starting_after")
    conforms(other, "/v1/webhook-endpoints/{id}/attempts", "get")
    assert w.get(f"/v1/webhook-endpoints/{ok}/attempts", key=w.globex).status_code == 404


# ----------------------------------------------------------------------------- replays


def test_a_dry_run_counts_and_a_replay_starts_a_job_that_reads_back(w):
    eid = w.create().json["id"]
    for n in range(3):
        w.post("/v1/transfers", transfer(10 + n), idem=f"t{n}")
    posted = sum(r["type"] == "transfer.posted" for r in w.rows(outbox.EVENT).values() if r["tenant"] == "acme")
    assert posted == 4  # the funding and three transfers (balance.updated is opt-in: not replayed)
    path = f"/v1/webhook-endpoints/{eid}/replay"
    dry = w.post(path, {"since": SINCE, "dry_run": True}, idem="d1")
    assert dry.status_code == 201, dry.json
    conforms(dry, "/v1/webhook-endpoints/{id}/replay", "post")
    assert (dry.json["status"], dry.json["matched"], dry.json["capped"], dry.json["endpoint"]) == (
        "dry_run",
        posted,
        False,
        eid,
    )
    assert not w.store.data.get("WebhookReplay") and not w.tasks
    assert error(w.get(f"/v1/webhook-replays/{dry.json['id']}")) == (404, "webhook_replay_not_found", "id")
    only = w.post(path, {"since": SINCE, "types": ["balance.updated"], "dry_run": True}, idem="d2").json
    assert only["matched"] == 7 and only["types"] == ["balance.updated"]  # named types: opt-in ones too

    started = w.post(path, {"since": SINCE}, idem="r1")
    assert started.status_code == 201, started.json
    conforms(started, "/v1/webhook-endpoints/{id}/replay", "post")
    job = started.json
    assert (job["object"], job["status"], job["matched"], job["types"]) == ("webhook_replay", "running", 0, [])
    assert job["since"] == SINCE and job["until"] >= job["since"]
    assert [(t.kind, t.key) for t in w.tasks] == [("webhook-replay", f"{job['id']}|0")]
    read = w.get(f"/v1/webhook-replays/{job['id']}")
    assert read.status_code == 200 and read.json == job
    conforms(read, "/v1/webhook-replays/{id}", "get")
    assert w.post(path, {"since": SINCE}, idem="r1").json == job and len(w.tasks) == 1  # the same key: one job

    made, done = w.endpoints.run_replay(job["id"])
    assert (made, done) == (posted, True)
    assert w.get(f"/v1/webhook-replays/{job['id']}").json == job | {"status": "done", "matched": posted}


def test_a_replay_whose_first_attempt_died_answers_the_job_it_started(w):
    eid = w.create().json["id"]
    path = f"/v1/webhook-endpoints/{eid}/replay"
    job = w.post(path, {"since": SINCE}, idem="r1").json
    record = w.store.data[idempotency.KIND][idempotency.record_name("acme", "r1")]
    record.update(status="in_flight", response_status=None, response_body=None, locked_until=w.clock.now)
    w.clock.now += idempotency.LOCK
    again = w.post(path, {"since": SINCE}, idem="r1")
    assert again.status_code == 201 and again.json["id"] == job["id"]
    assert list(w.rows("WebhookReplay")) == [job["id"]]
    # the retry enqueues the job's first page task again (the first may never have been enqueued):
    # under the same name, so Cloud Tasks keeps one
    assert {t.name for t in w.tasks} == {Task("webhook-replay", f"{job['id']}|0").name}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "parameter_missing", "since"),
        ({"since": "yesterday"}, "parameter_invalid", "since"),
        ({"since": "2026-11-28T08:00:00"}, "parameter_invalid", "since"),  # no zone
        ({"since": SINCE, "until": SINCE}, "invalid_window", "until"),
        ({"since": SINCE, "until": "2026-11-28T07:00:00Z"}, "invalid_window", "until"),
        ({"since": (NOW - MAX_WINDOW - timedelta(minutes=1)).isoformat()}, "invalid_window", "since"),
        ({"since": "0001-01-01T00:00:00Z"}, "parameter_invalid", "since"),
        ({"since": SINCE, "until": "9999-12-31T23:59:59Z"}, "parameter_invalid", "until"),
        ({"since": SINCE, "types": ["hold.created", "x"]}, "unknown_event_type", "types.1"),
        ({"since": SINCE, "dry_run": "true"}, "parameter_invalid", "dry_run"),
    ],
)
def test_a_bad_replay_is_a_400_and_leaves_the_key_unused(w, body, code, param):
    eid = w.create().json["id"]
    resp = w.post(f"/v1/webhook-endpoints/{eid}/replay", body, idem="r1")
    assert error(resp) == (400, code, param), resp.json
    conforms(resp, "/v1/webhook-endpoints/{id}/replay", "post")
    assert len(w.store.data[idempotency.KIND]) == 1 and not w.tasks  # only the create's


def test_a_disabled_endpoint_is_not_replayed_to(w):
    eid = w.create(enabled=False).json["id"]
    resp = w.post(f"/v1/webhook-endpoints/{eid}/replay", {"since": SINCE}, idem="r1")
    assert error(resp) == (409, "endpoint_disabled", "id")
    conforms(resp, "/v1/webhook-endpoints/{id}/replay", "post")
    assert not w.tasks
    missing = w.post("/v1/webhook-endpoints/we_nope/replay", {"since": SINCE}, idem="r2")
    assert error(missing) == (404, "webhook_endpoint_not_found", "id")
