"""Webhook endpoints through the running api function, end to end: a tenant registers the webhook
receiver's URL (http to loopback: the local rules), reads it and its secret back, moves money through
the API, and the webhooks function delivers the event, signed with that secret; the API then shows the
event exactly as the receiver got it, the attempt, and a replay (dry run, then a job the receiver sees).
Another tenant sees none of it. The secrets join the session's log scan (conftest)."""

from __future__ import annotations

import json
import uuid

import pytest

from emulators.webhook_receiver.client import ReceiverClient
from tests.log_secrets import API_KEYS

from .conftest import wait_for
from .test_api import Tenant, api_url, fund, payment, transfer  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def receiver():
    return ReceiverClient()


@pytest.fixture(scope="module")
def tenants(api_url):  # noqa: F811 - the fixture imported above
    run = uuid.uuid4().hex[:8]
    return (
        Tenant(api_url, f"hooks-{run}", [f"cus_hooks{run}_{i}" for i in range(2)]),
        Tenant(api_url, f"other-{run}", []),
    )


def _patch(tenant: Tenant, path: str, body: dict):
    return tenant.session.patch(tenant.url + path, json=body, timeout=30)


def test_an_endpoint_gets_the_tenants_events_signed_and_the_api_shows_them(tenants, receiver, fund):  # noqa: F811
    acme, other = tenants
    name = f"{acme.name}-a"
    url = receiver.url(name)
    assert url.startswith("http://127.0.0.1:") and "/r/" in url
    made = acme.post("/v1/webhook-endpoints", {"url": url, "description": "it"}, idem=f"e-{name}")
    assert made.status_code == 201, made.text
    ep = made.json()
    assert (ep["url"], ep["enabled"], ep["enabled_events"]) == (url, True, [])
    assert "whsec_" not in made.text and ep["secret_rotated_at"] is None
    assert acme.get(f"/v1/webhook-endpoints/{ep['id']}").json() == ep
    assert [e["id"] for e in acme.get("/v1/webhook-endpoints").json()["data"]] == [ep["id"]]
    shown = acme.get(f"/v1/webhook-endpoints/{ep['id']}/secret")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    secret = shown.json()["secret"]
    API_KEYS[f"webhook secret {ep['id']}"] = secret
    receiver.configure(name, [secret])
    assert other.get(f"/v1/webhook-endpoints/{ep['id']}").status_code == 404
    assert other.get(f"/v1/webhook-endpoints/{ep['id']}/secret").status_code == 404

    a, b = acme.customers
    fund(a, 1000)
    moved = acme.post("/v1/transfers", transfer(a, b, 250), idem=f"t-{name}")
    assert moved.status_code == 200, moved.text
    txn = moved.json()["transaction"]

    def delivered():
        for record in receiver.received(name):
            body = json.loads(record["body"])
            if body["type"] == "transfer.posted" and body["data"]["id"] == txn:
                return record, body
        return None

    record, body = wait_for(delivered, timeout=60, what="transfer.posted at the receiver")
    assert record["verified"] and record["secret_index"] == 0 and record["status"] == 200
    assert acme.get(f"/v1/events/{body['id']}").json() == body  # exactly as sent
    listed = acme.get("/v1/events", params={"type": "transfer.posted", "limit": 100}).json()["data"]
    assert body["id"] in [e["id"] for e in listed]
    assert other.get(f"/v1/events/{body['id']}").status_code == 404

    def attempted():
        rows = acme.get(f"/v1/webhook-endpoints/{ep['id']}/attempts").json()["data"]
        return [r for r in rows if r["event"] == body["id"]]

    (attempt,) = wait_for(attempted, timeout=30, what="the attempt recorded")
    assert (attempt["status_code"], attempt["number"], attempt["error"]) == (200, 1, None)

    since = body["timestamp"]
    replay = f"/v1/webhook-endpoints/{ep['id']}/replay"
    dry = acme.post(replay, {"since": since, "types": ["transfer.posted"], "dry_run": True}, idem=f"d-{name}")
    assert dry.status_code == 201 and dry.json()["status"] == "dry_run" and dry.json()["matched"] >= 1, dry.text
    job = acme.post(replay, {"since": since, "types": ["transfer.posted"]}, idem=f"r-{name}")
    assert job.status_code == 201 and job.json()["status"] == "running", job.text
    wait_for(
        lambda: acme.get(f"/v1/webhook-replays/{job.json()['id']}").json()["status"] == "done",
        timeout=60,
        what="the replay done",
    )
    wait_for(
        lambda: sum(json.loads(r["body"])["id"] == body["id"] for r in receiver.received(name)) >= 2,
        timeout=60,
        what="the replayed event at the receiver",
    )
    assert other.get(f"/v1/webhook-replays/{job.json()['id']}").status_code == 404

    rotated = acme.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", {"overlap_seconds": 60}, idem=f"s-{name}")
    assert rotated.status_code == 200 and rotated.json()["secret_rotated_at"] is not None, rotated.text
    secrets = acme.get(f"/v1/webhook-endpoints/{ep['id']}/secret").json()
    API_KEYS[f"webhook secret {ep['id']} rotated"] = secrets["secret"]
    assert [p["secret"] for p in secrets["previous"]] == [secret]
    for resp in (made, rotated, dry, job):
        assert secret not in resp.text and secrets["secret"] not in resp.text
    assert _patch(acme, f"/v1/webhook-endpoints/{ep['id']}", {"enabled": False}).json()["enabled"] is False
    gone = acme.session.delete(f"{acme.url}/v1/webhook-endpoints/{ep['id']}", timeout=30)
    assert gone.json() == {"object": "webhook_endpoint", "id": ep["id"], "deleted": True}
    assert acme.get(f"/v1/webhook-endpoints/{ep['id']}").status_code == 404
    receiver.forget(name)


def test_the_api_refuses_urls_the_sender_would_refuse(tenants):
    acme, _ = tenants
    for url, code in (
        ("http://example.com/hook", "url_scheme"),
        ("https://10.1.2.3/hook", "url_host_refused"),
        ("https://user:pw@example.com/", "url_credentials"),
    ):
        resp = acme.post("/v1/webhook-endpoints", {"url": url}, idem=f"bad-{uuid.uuid4()}")
        assert resp.status_code == 400 and resp.json()["error"] | {"message": None} == {
            "type": "invalid_request_error",
            "code": code,
            "message": None,
            "param": "url",
        }, resp.text
