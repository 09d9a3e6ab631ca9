"""The customer API in-process over the in-memory store: auth, scopes, tenancy, bad input of every
kind, transfers, holds, idempotency, pagination, rate limits and logs (no emulator needed)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

import flask
import pytest

from shared import logs
from shared.adapters.memory_store import MemoryStore
from shared.api import idempotency, keys, tenants
from shared.api.ratelimit import RateLimiter
from shared.api.routes import Api
from shared.domain.ledger.model import Leg, Operation
from shared.ledger import balances as ledger_balances
from shared.ledger import transactions
from shared.topology import topology
from tests.factories import memory_backend

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        self.now += timedelta(milliseconds=1)
        return self.now


class World:
    def __init__(self, rate: float = 0):
        self.store = MemoryStore()
        self.clock = Clock()
        self.published, self.scheduled = [], []
        self.backend = memory_backend(
            self.store,
            publish=lambda data, attrs: self.published.append((data, attrs)),
            schedule=lambda task, at: self.scheduled.append(task) or True,
            clock=self.clock,
        )
        self.api = Api(lambda: self.backend, livemode=False, limiter=RateLimiter(rate))
        app = flask.Flask("api-test")

        @app.route("/", defaults={"path": ""}, methods=METHODS, provide_automatic_options=False)
        @app.route("/<path:path>", methods=METHODS, provide_automatic_options=False)
        def catch_all(path):
            return self.api.handle(flask.request).flask()

        self.client = app.test_client()
        for tenant, customers in (("acme", ["cus_a", "cus_b", "cus_c"]), ("globex", ["cus_g"]), ("internal", [])):
            tenants.create_tenant(self.store, tenant, tenant, NOW)
            for c in customers:
                tenants.add_customer(self.store, tenant, c, NOW)
        self.key = keys.create_key(self.store, "acme", ["read", "write"], NOW, livemode=False)
        self.read_only = keys.create_key(self.store, "acme", ["read"], NOW, livemode=False)
        self.globex = keys.create_key(self.store, "globex", ["read", "write"], NOW, livemode=False)
        self.operator = keys.create_key(
            self.store, "internal", ["operator"], NOW, livemode=False, operator="ana@ledgerline.test"
        )
        self.checker = keys.create_key(  # a second operator, for maker-checker
            self.store, "internal", ["operator"], NOW, livemode=False, operator="bo@ledgerline.test"
        )

    def fund(self, customer: str, amount: int, currency: str = "USD") -> None:
        name = f"fund_{customer}_{amount}_{len(self.store.data['JournalTransaction'])}"
        legs = (
            Leg("bank:test:operating", "debit", amount, currency),
            Leg(tenants.wallet(customer), "credit", amount, currency),
        )
        op = Operation(name, "post", "test_funding.v1", name, "test", name, self.clock(), legs=legs)
        assert transactions.execute(self.store, op, self.clock).status == "posted"

    def get(self, path: str, key: str | None = "default", **kwargs):
        return self.client.get(path, headers=self._auth(key), **kwargs)

    def post(
        self, path: str, body=None, key: str | None = "default", idem: str | None = "auto", raw: bytes | None = None
    ):
        """POST as a careful client does: a fresh Idempotency-Key per call unless `idem` names one (the
        same key: a retry) or is None (no key: what the 400 idempotency_key_missing tests send)."""
        headers = {**self._auth(key), "Content-Type": "application/json"}
        if idem == "auto":
            idem = f"auto-{uuid.uuid4().hex}"
        if idem is not None:
            headers["Idempotency-Key"] = idem
        data = raw if raw is not None else (json.dumps(body) if body is not None else b"")
        return self.client.post(path, data=data, headers=headers)

    def _auth(self, key):
        key = self.key if key == "default" else key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def available(self, customer: str, currency: str = "USD") -> int:
        balance = ledger_balances.balances(self.store, tenants.wallet(customer)).get(currency)
        return balance.available if balance else 0


@pytest.fixture
def w():
    return World()


def transfer(amount=100, currency="USD", source="cus_a", to="cus_b", **extra):
    return {"from_account": source, "to_account": to, "amount": amount, "currency": currency, **extra}


# ----------------------------------------------------------------------------- auth, scopes, routing


def test_health_needs_no_key(w):
    assert w.get("/healthz", key=None).json == {"status": "ok"}


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer ll_test_0123456789abcdef_short", "Bearer ll_live_x", "Token ll_test_x"],
)
def test_bad_or_missing_key_is_401(w, header):
    resp = w.client.get("/v1/accounts/cus_a", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.json["error"]["type"] == "authentication_error" and resp.json["error"]["param"] == "Authorization"


def test_wrong_secret_unknown_id_revoked_and_other_mode_are_401(w):
    mode, key_id, secret = w.key.split("_", 3)[1:]
    forged = f"ll_{mode}_{key_id}_{'A' * 43}"
    unknown = f"ll_{mode}_{'0' * 16}_{secret}"
    live = f"ll_live_{key_id}_{secret}"
    for key in (forged, unknown, live):
        assert w.get("/v1/accounts/cus_a", key=key).status_code == 401
    assert w.get("/v1/accounts/cus_a").status_code == 200
    assert keys.revoke_key(w.store, key_id, NOW)
    assert w.get("/v1/accounts/cus_a").status_code == 401  # at once: keys are not cached


def test_keys_are_stored_as_hashes_only(w):
    secret = w.key.split("_", 3)[3]
    stored = json.dumps(w.store.data["ApiKey"], default=str)
    assert secret not in stored and keys.secret_hash(secret) in stored


def test_operator_scope_is_for_the_internal_tenant_only(w):
    with pytest.raises(ValueError, match="operator"):
        keys.create_key(w.store, "acme", ["read", "operator"], NOW, livemode=False)
    with pytest.raises(ValueError, match="scopes"):
        keys.create_key(w.store, "acme", ["superuser"], NOW, livemode=False)
    with pytest.raises(ValueError, match="names the person"):
        keys.create_key(w.store, "internal", ["operator"], NOW, livemode=False)  # nobody's key
    with pytest.raises(ValueError, match="only an operator key"):
        keys.create_key(w.store, "acme", ["read"], NOW, livemode=False, operator="ana@ledgerline.test")


def test_scopes_are_enforced_with_403(w):
    assert w.post("/v1/transfers", transfer(), key=w.read_only).status_code == 403
    assert w.get("/v1/dead-letters").json["error"]["code"] == "insufficient_scope"
    assert w.get("/v1/accounts/cus_a", key=w.operator).status_code == 403
    assert w.get("/v1/dead-letters", key=w.operator).status_code == 200


def test_an_operator_key_says_whose_it_is(w):
    me = w.get("/v1/operator/me", key=w.operator)
    assert me.status_code == 200
    assert me.json == {
        "object": "operator_identity",
        "key_id": w.operator.split("_")[2],
        "operator": "ana@ledgerline.test",
        "scopes": ["operator"],
        "authentication": "api_key",
    }
    assert w.operator.split("_", 3)[3] not in me.get_data(as_text=True)  # never the secret
    assert w.get("/v1/operator/me", key=w.checker).json["operator"] == "bo@ledgerline.test"
    assert w.get("/v1/operator/me").json["error"]["code"] == "insufficient_scope"  # a tenant's key: not an operator
    assert w.get("/v1/operator/me", key=None).status_code == 401


def test_unknown_route_is_404_and_wrong_method_405(w):
    assert w.get("/v1/nothing").status_code == 404
    assert w.get("/v1/accounts/cus_a/").status_code == 404
    assert w.get("//v1/accounts/cus_a").status_code == 404
    resp = w.client.delete("/v1/accounts/cus_a", headers=w._auth("default"))
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    resp = w.client.delete("/v1/transfers", headers=w._auth("default"))
    assert resp.status_code == 405 and set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}


# ----------------------------------------------------------------------------- tenancy


def test_other_tenants_resources_are_404_never_403(w):
    w.fund("cus_g", 500)
    for path in ("/v1/accounts/cus_g", "/v1/accounts/cus_g/balance", "/v1/accounts/cus_g/entries"):
        resp = w.get(path)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "account_not_found"
        assert w.get(path.replace("cus_g", "cus_nobody")).json == resp.json | {
            "error": {**resp.json["error"], "message": resp.json["error"]["message"].replace("cus_g", "cus_nobody")}
        }
    txn = w.post("/v1/transfers", transfer(100, source="cus_g", to="cus_a"), key=w.globex)
    assert txn.status_code == 404 and txn.json["error"]["param"] == "to_account"
    w.fund("cus_a", 300)
    mine = w.post("/v1/transfers", transfer(100)).json["id"]
    assert w.get(f"/v1/transactions/{mine}", key=w.globex).status_code == 404
    assert w.get(f"/v1/transactions/{mine}").status_code == 200


def test_transaction_shows_only_the_tenants_entries(w):
    w.fund("cus_a", 1000)
    funding = next(iter(w.store.data["JournalTransaction"]))
    body = w.get(f"/v1/transactions/{funding}").json
    assert [e["account"] for e in body["entries"]] == ["cus_a"]
    assert body["entries"][0]["posted_after"] == 1000


# ----------------------------------------------------------------------------- transfers


def test_transfer_moves_money_and_reads_agree(w):
    w.fund("cus_a", 1000)
    resp = w.post("/v1/transfers", transfer(250), idem="k1")
    assert resp.status_code == 200, resp.json
    t = resp.json
    assert (t["object"], t["amount"], t["currency"], t["status"]) == ("transfer", 250, "USD", "posted")
    assert w.available("cus_a") == 750 and w.available("cus_b") == 250
    bal = w.get("/v1/accounts/cus_a/balance").json
    assert bal["balances"] == [{"currency": "USD", "posted": 750, "pending_in": 0, "pending_out": 0, "available": 750}]
    txn = w.get(f"/v1/transactions/{t['id']}").json
    assert {(e["account"], e["direction"], e["amount"]) for e in txn["entries"]} == {
        ("cus_a", "debit", 250),
        ("cus_b", "credit", 250),
    }
    assert w.get("/v1/accounts/cus_a").json["currencies"] == ["USD"]


def test_insufficient_funds_is_422_and_changes_nothing(w):
    w.fund("cus_a", 100)
    resp = w.post("/v1/transfers", transfer(101))
    assert resp.status_code == 422 and resp.json["error"]["code"] == "insufficient_funds"
    assert w.available("cus_a") == 100 and w.available("cus_b") == 0
    assert w.post("/v1/transfers", transfer(100, currency="EUR")).json["error"]["code"] == "insufficient_funds"


def test_zero_decimal_currency_and_lowercase_code(w):
    w.fund("cus_a", 5000, "JPY")
    resp = w.post("/v1/transfers", transfer(1234, currency="jpy"))
    assert resp.status_code == 200 and resp.json["currency"] == "JPY"


BAD_BODIES = [
    (transfer(amount="100"), "amount"),
    (transfer(amount=100.0), "amount"),
    (transfer(amount=1.5), "amount"),
    (transfer(amount=0), "amount"),
    (transfer(amount=-5), "amount"),
    (transfer(amount=True), "amount"),
    (transfer(amount=2**63), "amount"),
    (transfer(currency="XXX"), "currency"),
    (transfer(currency="US"), "currency"),
    (transfer(currency=None), "currency"),
    (transfer(source="cus a"), "from_account"),
    (transfer(source=""), "from_account"),
    (transfer(source=7), "from_account"),
    (transfer(extra_field=1), "extra_field"),
    (transfer(to="cus_a"), "to_account"),
    ({"to_account": "cus_b", "amount": 1, "currency": "USD"}, "from_account"),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
def test_bad_transfer_bodies_are_400_with_param(w, body, param):
    resp = w.post("/v1/transfers", body)
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["param"] == param and resp.json["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"amount": ', 400, "malformed_json"),
        (b"[1, 2]", 400, "parameter_invalid"),
        (b'"text"', 400, "parameter_invalid"),
        (b"\xff\xfe", 400, "malformed_json"),
        (b"", 400, "parameter_missing"),
        (b" " * (65 << 10), 413, "payload_too_large"),
    ],
)
def test_malformed_bodies(w, raw, status, code):
    resp = w.post("/v1/transfers", raw=raw)
    assert (resp.status_code, resp.json["error"]["code"]) == (status, code)


def test_non_json_content_type_is_415(w):
    resp = w.client.post("/v1/transfers", data="amount=1", headers={**w._auth("default"), "Content-Type": "text/plain"})
    assert resp.status_code == 415


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/accounts/cus_a/entries?limit=0", "limit"),
        ("/v1/accounts/cus_a/entries?limit=101", "limit"),
        ("/v1/accounts/cus_a/entries?limit=ten", "limit"),
        ("/v1/accounts/cus_a/entries?limit=1&limit=2", "limit"),
        ("/v1/accounts/cus_a/entries?from=yesterday", "from"),
        ("/v1/accounts/cus_a/entries?to=2026-01-01T00:00:00", "to"),
        ("/v1/accounts/cus_a/entries?starting_after=txn_nope:0", "starting_after"),
        ("/v1/accounts/cus_a/entries?bogus=1", "bogus"),
        ("/v1/accounts/cus_a/balance?as_of=2026-13-01T00:00:00Z", "as_of"),
        ("/v1/accounts/cus_a/balance?clock=wall", "clock"),
        ("/v1/dead-letters?status=lost", "status"),
    ],
)
def test_bad_query_parameters_are_400(w, path, param):
    key = w.operator if "dead-letters" in path else "default"
    resp = w.get(path, key=key)
    assert resp.status_code == 400 and resp.json["error"]["param"] == param, resp.json


# ----------------------------------------------------------------------------- idempotency


def test_same_key_same_body_replays_the_first_response(w):
    w.fund("cus_a", 1000)
    first = w.post("/v1/transfers", transfer(300), idem="pay-1")
    again = w.post("/v1/transfers", transfer(300), idem="pay-1")
    assert again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert w.available("cus_a") == 700
    other = w.post("/v1/transfers", transfer(300), idem="pay-2")
    assert other.json["id"] != first.json["id"] and w.available("cus_a") == 400


def test_same_key_different_body_is_409_reuse(w):
    w.fund("cus_a", 1000)
    assert w.post("/v1/transfers", transfer(300), idem="pay-1").status_code == 200
    resp = w.post("/v1/transfers", transfer(301), idem="pay-1")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "idempotency_key_reuse"
    assert w.post("/v1/holds", transfer(300), idem="pay-1").json["error"]["code"] == "idempotency_key_reuse"
    assert w.available("cus_a") == 700


def test_keys_are_per_tenant(w):
    w.fund("cus_a", 1000)
    w.fund("cus_g", 1000)
    tenants.add_customer(w.store, "globex", "cus_h", NOW)
    a = w.post("/v1/transfers", transfer(10), idem="same")
    g = w.post("/v1/transfers", transfer(10, source="cus_g", to="cus_h"), key=w.globex, idem="same")
    assert a.status_code == g.status_code == 200 and a.json["id"] != g.json["id"]


def test_rejection_is_replayed_too_like_stripe(w):
    resp = w.post("/v1/transfers", transfer(50), idem="broke")
    assert resp.status_code == 422
    w.fund("cus_a", 100)
    assert w.post("/v1/transfers", transfer(50), idem="broke").json == resp.json
    assert w.post("/v1/transfers", transfer(50), idem="broke-2").status_code == 200


def test_validation_errors_do_not_consume_the_key(w):
    w.fund("cus_a", 100)
    assert w.post("/v1/transfers", transfer("x"), idem="k").status_code == 400
    assert w.post("/v1/transfers", transfer(10), idem="k").status_code == 200


def test_in_flight_is_409_retryable_and_a_stale_lock_is_taken_over(w):
    w.fund("cus_a", 1000)
    entered, release = threading.Event(), threading.Event()
    real = transactions.execute

    def slow(*args, **kwargs):
        entered.set()
        release.wait(5)
        return real(*args, **kwargs)

    transactions.execute = slow
    try:
        first: list = []
        t = threading.Thread(target=lambda: first.append(w.post("/v1/transfers", transfer(100), idem="race")))
        t.start()
        assert entered.wait(5)
        transactions.execute = real
        resp = w.post("/v1/transfers", transfer(100), idem="race")
        assert resp.status_code == 409 and resp.json["error"]["code"] == "idempotency_in_flight"
        assert resp.headers["Retry-After"] == "1"
        release.set()
        t.join(5)
    finally:
        transactions.execute = real
    assert first[0].status_code == 200
    assert w.post("/v1/transfers", transfer(100), idem="race").json == first[0].json
    assert w.available("cus_a") == 900


def test_a_request_that_died_midway_is_finished_once(w):
    """The process died after the ledger commit, before the record was marked done: after the lock
    expires, the retry runs again, the ledger replays, and the money moved once."""
    w.fund("cus_a", 1000)
    name = idempotency.record_name("acme", "crash")
    body = transfer(100)
    ok = w.post("/v1/transfers", body, idem="crash").json
    record = w.store.data[idempotency.KIND][name]
    # the field of the kind's Datastore TTL policy (topology datastore.ttl): deleted after 24 h in the cloud
    ttl = next(p for p in topology()["datastore"]["ttl"] if p["kind"] == idempotency.KIND)
    assert timedelta(0) <= w.clock.now + idempotency.TTL - record[ttl["field"]] < timedelta(seconds=1)
    record.update(status="in_flight", response_status=None, response_body=None, locked_until=w.clock.now)
    w.clock.now += idempotency.LOCK
    again = w.post("/v1/transfers", body, idem="crash")
    assert again.status_code == 200 and again.json == ok and w.available("cus_a") == 900


def test_after_24_hours_a_key_is_new(w):
    w.fund("cus_a", 1000)
    first = w.post("/v1/transfers", transfer(100), idem="daily").json
    w.clock.now += idempotency.TTL + timedelta(seconds=1)
    second = w.post("/v1/transfers", transfer(100), idem="daily").json
    assert second["id"] != first["id"] and w.available("cus_a") == 800


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_invalid_idempotency_keys(w, key):
    w.fund("cus_a", 100)
    resp = w.client.post(
        "/v1/transfers",
        data=json.dumps(transfer(1)),
        headers={
            **w._auth("default"),
            "Content-Type": "application/json",
            "Idempotency-Key": key.encode().decode("latin-1"),
        },
    )
    assert resp.status_code == 400 and resp.json["error"]["code"] == "idempotency_key_invalid"


# ----------------------------------------------------------------------------- holds


def test_hold_partial_capture_then_void(w):
    w.fund("cus_a", 1000)
    hold = w.post("/v1/holds", transfer(600), idem="h1").json
    assert hold["status"] == "open" and hold["remaining"] == 600
    assert w.available("cus_a") == 400 and w.available("cus_b") == 0
    assert w.post("/v1/transfers", transfer(401)).json["error"]["code"] == "insufficient_funds"
    cap = w.post(f"/v1/holds/{hold['id']}/capture", {"amount": 200}, idem="c1").json
    assert (cap["captured"], cap["remaining"], cap["status"]) == (200, 400, "open")
    assert w.available("cus_b") == 200 and w.available("cus_a") == 400
    over = w.post(f"/v1/holds/{hold['id']}/capture", {"amount": 401})
    assert over.status_code == 422 and over.json["error"]["code"] == "amount_exceeds_hold"
    void = w.post(f"/v1/holds/{hold['id']}/void")
    assert void.json["status"] == "voided" and void.json["remaining"] == 0
    assert w.available("cus_a") == 800
    assert w.post(f"/v1/holds/{hold['id']}/void").json == void.json  # the same void, replayed
    late = w.post(f"/v1/holds/{hold['id']}/capture", {"amount": 1})
    assert late.status_code == 422 and late.json["error"]["code"] == "hold_already_resolved"
    assert w.get(f"/v1/holds/{hold['id']}").json["status"] == "voided"


def test_full_capture_by_default_and_expiry(w):
    w.fund("cus_a", 1000)
    hold = w.post("/v1/holds", transfer(300, expires_in=60)).json
    done = w.post(f"/v1/holds/{hold['id']}/capture").json
    assert (done["status"], done["captured"]) == ("captured", 300)
    assert w.available("cus_a") == 700 and w.available("cus_b") == 300
    short = w.post("/v1/holds", transfer(100, expires_in=60)).json
    w.clock.now += timedelta(seconds=61)
    assert w.get(f"/v1/holds/{short['id']}").json["status"] == "expired"
    assert w.post(f"/v1/holds/{short['id']}/capture").json["error"]["code"] == "hold_expired"


def test_holds_of_other_tenants_and_partner_holds_are_404(w):
    w.fund("cus_a", 1000)
    hold = w.post("/v1/holds", transfer(100)).json
    assert w.get(f"/v1/holds/{hold['id']}", key=w.globex).status_code == 404
    assert w.post(f"/v1/holds/{hold['id']}/void", key=w.globex).status_code == 404
    assert w.post("/v1/holds", transfer(10**6)).json["error"]["code"] == "insufficient_funds"


# ----------------------------------------------------------------------------- entries and balances


def test_entries_pagination_is_stable_and_complete(w):
    w.fund("cus_a", 10_000)
    for i in range(7):
        assert w.post("/v1/transfers", transfer(10 + i)).status_code == 200
    seen, cursor = [], None
    while True:
        page = w.get("/v1/accounts/cus_a/entries?limit=3" + (f"&starting_after={cursor}" if cursor else "")).json
        seen += page["data"]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert len(seen) == 8 and len({e["id"] for e in seen}) == 8
    assert [e["amount"] for e in seen] == [10_000, 10, 11, 12, 13, 14, 15, 16]
    assert seen[-1]["posted_after"] == 10_000 - sum(range(10, 17))
    window = w.get(f"/v1/accounts/cus_a/entries?from={seen[2]['recorded_at']}&to={seen[4]['recorded_at']}").json
    assert [e["id"] for e in window["data"]] == [e["id"] for e in seen[2:5]]


def test_balance_as_of_both_clocks(w):
    w.fund("cus_a", 500)
    before = w.clock.now
    w.post("/v1/transfers", transfer(200))
    past = w.get(f"/v1/accounts/cus_a/balance?as_of={before.isoformat().replace('+00:00', 'Z')}").json
    assert past["balances"][0]["posted"] == 500 and past["as_of"].endswith("Z")
    assert w.get("/v1/accounts/cus_a/balance").json["balances"][0]["posted"] == 300
    assert w.get("/v1/accounts/cus_a/balance?as_of=2000-01-01T00:00:00Z&clock=effective").json["balances"] == []


# ----------------------------------------------------------------------------- operators


def test_dead_letters_listing_and_replay(w):
    from shared.recovery.dead_letters import dead_letter_record

    for i in range(3):
        w.store.record(
            "DeadLetter",
            f"pubsub:canonical-event:evt_{i}",
            dead_letter_record(
                source="pubsub", kind="canonical-event", key=f"evt_{i}",
                payload=json.dumps({"amount": 1000 * (i + 1), "currency": "USD"}) if i < 2 else "{}",
                reason_code="max_delivery_attempts", reason="gave up", attempts=5, first_error="e", last_error="e",
                first_attempt_at=NOW,
                now=NOW + timedelta(seconds=i), attributes={"event_id": f"evt_{i}", "partner": "stripe"},
            ),
        )  # fmt: skip
    page = w.get("/v1/dead-letters?limit=2", key=w.operator).json
    assert [d["key"] for d in page["data"]] == ["evt_2", "evt_1"] and page["has_more"]
    rest = w.get(f"/v1/dead-letters?limit=2&starting_after={page['data'][-1]['id']}", key=w.operator).json
    assert [d["key"] for d in rest["data"]] == ["evt_0"] and not rest["has_more"]
    path = "/v1/dead-letters/pubsub:canonical-event:evt_0/replay"
    dry = w.post(path, {"dry_run": True, "reason": "check"}, key=w.operator).json
    assert dry["dry_run"] and dry["request"] is None and not w.published
    assert w.post(path, {}, key=w.operator).json["error"]["param"] == "reason"  # why, or nothing happens
    done = w.post(path, {"reason": "the ledger was down"}, key=w.operator)
    assert done.status_code == 200 and len(w.published) == 1
    request = done.json["request"]  # $10.00: under the threshold, replayed at once, audited
    assert (request["kind"], request["status"], request["maker"]) == (
        "dead_letter_replay",
        "executed",
        "ana@ledgerline.test",
    )
    assert w.get("/v1/dead-letters?status=replayed", key=w.operator).json["data"][0]["key"] == "evt_0"
    assert w.post("/v1/dead-letters/nope/replay", {"reason": "x"}, key=w.operator).status_code == 404
    audit = w.get("/v1/audit-log", key=w.operator).json["data"]
    assert [(e["action"], e["target"]) for e in audit] == [("dead_letter_replay", "pubsub:canonical-event:evt_0")]
    unreadable = w.post("/v1/dead-letters/pubsub:canonical-event:evt_2/replay", {"reason": "?"}, key=w.operator)
    assert unreadable.json["request"]["status"] == "pending"  # may move money, amount unknown: a second operator
    assert len(w.published) == 1


def test_reconciliation_listings_are_defensive(w):
    assert w.get("/v1/reconciliation/runs", key=w.operator).json == {"object": "list", "data": [], "has_more": False}
    w.store.record(
        "ReconRun",
        "stripe:2026-11-27",
        {"run_id": "stripe:2026-11-27", "partner": "stripe", "as_of": NOW, "status": "breaks", "matched": 10},
    )
    w.store.record(
        "ReconBreak",
        "b1",
        {
            "run_id": "stripe:2026-11-27",
            "reason_code": "amount_mismatch",
            "severity": "high",
            "amount": 5,
            "currency": "USD",
            "status": "open",
            "opened_run": "stripe:2026-11-27",
            "weird": b"x",
        },
    )
    runs = w.get("/v1/reconciliation/runs", key=w.operator).json["data"]
    assert runs[0]["run_id"] == "stripe:2026-11-27" and runs[0]["matched"] == 10
    breaks = w.get("/v1/reconciliation/breaks?status=open", key=w.operator).json["data"]
    assert breaks[0]["break_id"] == "b1" and breaks[0]["amount"] == 5
    assert w.get("/v1/reconciliation/breaks?status=closed", key=w.operator).json["data"] == []


# ----------------------------------------------------------------------------- rate limit, logs


def test_rate_limit_is_429_with_retry_after():
    w = World(rate=1)
    answers = [w.get("/v1/accounts/cus_a").status_code for _ in range(4)]
    assert answers[:2] == [200, 200] and answers[-1] == 429
    resp = w.get("/v1/accounts/cus_a")
    assert resp.json["error"]["type"] == "rate_limit_error" and int(resp.headers["Retry-After"]) >= 1
    assert w.get("/v1/accounts/cus_a", key=w.read_only).status_code == 200  # per key


def test_no_secret_in_logs(w, capsys):
    logs.configure("test")
    logging.getLogger().handlers[0].stream = __import__("sys").stdout
    w.fund("cus_a", 100)
    w.post("/v1/transfers", transfer(10), idem="log-1")
    w.get("/v1/accounts/cus_a", key=w.key[:-1] + "x")
    out = capsys.readouterr().out
    assert "api request" in out
    for key in (w.key, w.operator):
        assert key.split("_", 3)[3] not in out and key not in out


def test_a_retry_after_a_failure_past_the_commit_replays_and_never_posts_twice():
    """The capture commits, then building the response fails (500); the client retries with the same
    Idempotency-Key: the same operation id is replayed, the money moves once."""
    from google.api_core import exceptions as gexc

    w = World()
    w.fund("cus_a", 1000)
    hold = w.post("/v1/holds", transfer(600), idem="h1").json
    real_get, reads = w.store.get, {"n": 0}

    def flaky_get(kind, name):
        if kind == "HoldState":
            reads["n"] += 1
            if reads["n"] == 2:  # the read after the commit
                raise gexc.ServiceUnavailable("blip")
        return real_get(kind, name)

    w.store.get = flaky_get
    assert w.post(f"/v1/holds/{hold['id']}/capture", {"amount": 200}, idem="cap-1").status_code == 500
    w.store.get = real_get
    retry = w.post(f"/v1/holds/{hold['id']}/capture", {"amount": 200}, idem="cap-1")
    assert (retry.status_code, retry.json["captured"]) == (200, 200)
    assert w.available("cus_b") == 200  # once, not 400


def test_a_taken_over_capture_of_everything_left_answers_what_was_captured():
    from shared.api import idempotency

    w = World()
    w.fund("cus_a", 1000)
    hold = w.post("/v1/holds", transfer(600), idem="h1").json
    assert w.post(f"/v1/holds/{hold['id']}/capture", {}, idem="capall").status_code == 200
    record = w.store.data[idempotency.KIND][idempotency.record_name("acme", "capall")]
    record.update(status="in_flight", response_status=None, response_body=None, locked_until=w.clock.now)
    w.clock.now += idempotency.LOCK  # the first attempt "died" before recording its answer
    again = w.post(f"/v1/holds/{hold['id']}/capture", {}, idem="capall")
    assert (again.status_code, again.json["captured"], again.json["status"]) == (200, 600, "captured")
    assert w.available("cus_b") == 600


def test_ids_datastore_cannot_hold_are_404s_and_cursors_400s_never_500s():
    w = World()
    w.fund("cus_a", 100)
    for path in ("/v1/transactions/__x__", "/v1/accounts/__reserved__", "/v1/holds/__y__", "/v1/accounts/caf%C3%A9"):
        assert w.get(path).status_code == 404, path
    long_cursor = w.get("/v1/accounts/cus_a/entries", query_string={"starting_after": "é" * 1000})
    assert long_cursor.status_code == 400 and long_cursor.json["error"]["param"] == "starting_after"
    reserved = w.get("/v1/accounts/cus_a/entries", query_string={"starting_after": "__k__"})
    assert reserved.status_code == 400


def test_an_operator_moves_a_payment_from_suspense_to_its_customer_with_maker_checker_above_the_threshold(w):
    suspense = Operation(
        "fund_suspense", "post", "test_funding.v1", "fund_suspense", "test", "fund_suspense", w.clock(),
        legs=(Leg("bank:test:operating", "debit", 300_000, "USD"), Leg("suspense", "credit", 300_000, "USD")),
    )  # fmt: skip
    assert transactions.execute(w.store, suspense, w.clock).status == "posted"

    def transfer_(amount, source="suspense", to="customer:cus_a:wallet", key=w.operator, idem=None):
        body = {
            "from_account": source,
            "to_account": to,
            "amount": amount,
            "currency": "usd",
            "reason": "pi_9 had no customer",
        }
        return w.post("/v1/operator/transfers", body, key=key, idem=idem or f"mt-{amount}-{source}")

    small = transfer_(5_000)
    assert small.status_code == 201 and small.json["status"] == "pending", small.json  # suspense: always
    assert w.available("cus_a") == 0
    done = w.post(f"/v1/operator/requests/{small.json['id']}/approve", {}, key=w.checker)
    assert done.json["status"] == "executed" and w.available("cus_a") == 5_000
    assert transfer_(300_000).json["error"]["code"] == "insufficient_funds"  # suspense holds 295,000 now
    between = transfer_(1_000, source="customer:cus_a:wallet", to="customer:cus_b:wallet")  # $10, one tenant
    assert between.json["status"] == "executed" and w.available("cus_b") == 1_000
    other_tenant = transfer_(1, source="customer:cus_a:wallet", to="customer:cus_g:wallet")
    assert (other_tenant.status_code, other_tenant.json["error"]["code"]) == (422, "cross_tenant")
    overdraft = transfer_(999_999, source="customer:cus_b:wallet", to="customer:cus_a:wallet")
    assert overdraft.json["status"] == "pending"  # $9,999.99: a second operator; then the ledger refuses it
    refused = w.post(f"/v1/operator/requests/{overdraft.json['id']}/approve", {}, key=w.checker)
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "ledger_rejected")
    assert w.get(f"/v1/operator/requests/{overdraft.json['id']}", key=w.operator).json["status"] == "failed"
    assert transfer_(10, source="fees:stripe").json["error"]["code"] == "not_transferable"
    assert transfer_(10, to="suspense").json["error"]["code"] == "same_account"
    assert transfer_(10, key=w.key).status_code == 403  # a tenant key
    assert w.post("/v1/operator/transfers", {"from_account": "suspense"}, key=w.operator, idem="x").status_code == 400


def test_the_approvals_inbox_pages_newest_first_by_cursor(w):
    fund = Operation(
        "fund_suspense_inbox", "post", "test_funding.v1", "fund_suspense_inbox", "test", "fund_suspense_inbox",
        w.clock(), legs=(Leg("bank:test:operating", "debit", 9_000, "USD"), Leg("suspense", "credit", 9_000, "USD")),
    )  # fmt: skip
    assert transactions.execute(w.store, fund, w.clock).status == "posted"
    made = []
    for i, customer in enumerate(("cus_a", "cus_b", "cus_c")):
        body = {"from_account": "suspense", "to_account": f"customer:{customer}:wallet", "amount": 100 + i,
                "currency": "usd", "reason": f"inbox {i}"}  # fmt: skip
        made.append(w.post("/v1/operator/transfers", body, key=w.operator).json["id"])
    pages, after = [], None
    while True:
        query = {"status": "pending", "limit": 2, **({"starting_after": after} if after else {})}
        page = w.get("/v1/operator/requests", key=w.checker, query_string=query).json
        pages.append([r["id"] for r in page["data"]])
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert pages == [made[::-1][:2], made[::-1][2:]]
    bad = w.get("/v1/operator/requests", key=w.checker, query_string={"starting_after": "req_nope"})
    assert (bad.status_code, bad.json["error"]["code"], bad.json["error"]["param"]) == (
        400, "invalid_cursor", "starting_after"
    )  # fmt: skip
