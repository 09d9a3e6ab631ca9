"""Function-level tests in-process (functions_framework test client): requests that are refused
before any I/O (nothing can be stored because no adapter is reached), and accepted ones over the
memory inbox (the function takes its intake service from shared.bootstrap at request time)."""

import logging
import time

import pytest
from functions_framework import create_app
from google.api_core import exceptions as gexc

from shared import bootstrap
from shared.adapters.memory_inbox import MemoryInbox
from shared.config import REPO_ROOT, settings
from shared.demo import encode, payment_intent_succeeded
from shared.intake.service import Intake
from shared.partners import stripe
from tests.factories import Bus


@pytest.fixture(scope="module")
def client():
    return create_app("intake", str(REPO_ROOT / "functions" / "intake" / "main.py"), "http").test_client()


def post(client, body: bytes, secret: str | None = None, ts: int | None = None, path="/webhooks/stripe"):
    secret = secret or settings().webhook_secrets("stripe")[0]
    headers = {
        "Stripe-Signature": stripe.sign(body, secret, ts or int(time.time())),
        "Content-Type": "application/json",
    }
    return client.post(path, data=body, headers=headers)


def test_bad_signature_is_401_with_machine_readable_error(client):
    resp = post(client, encode(payment_intent_succeeded("evt_x", "pi_x", 100, "usd", "cus_x")), secret="whsec_wrong")
    assert resp.status_code == 401
    assert resp.json["error"] == {
        "type": "authentication_error",
        "code": "signature_invalid",
        "message": "no Stripe-Signature v1 value matches an active secret",
        "param": "Stripe-Signature",
    }


def test_malformed_json_is_400(client):
    resp = post(client, b'{"id": "evt_x", ')
    assert resp.status_code == 400 and resp.json["error"]["code"] == "malformed_json"


def test_invalid_field_is_400_with_path(client):
    body = payment_intent_succeeded("evt_x", "pi_x", 100, "usd", "cus_x")
    body["data"]["object"]["amount_received"] = "100"
    resp = post(client, encode(body))
    assert resp.status_code == 400
    assert (resp.json["error"]["code"], resp.json["error"]["param"]) == ("invalid_event", "data.object.amount_received")


def test_unknown_partner_wrong_path_and_method(client):
    assert post(client, b"{}", path="/webhooks/paypal").status_code == 404
    assert post(client, b"{}", path="/elsewhere").json["error"]["code"] == "not_found"
    assert client.get("/webhooks/stripe").status_code == 405


def test_oversize_body_is_413(client):
    resp = post(client, b" " * (settings().max_body_bytes + 1))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type):
    headers = {"Stripe-Signature": "t=1,v1=" + "0" * 64}
    if content_type:
        headers["Content-Type"] = content_type
    resp = client.post("/webhooks/stripe", data=b"{}", headers=headers)
    assert resp.status_code == 415 and resp.json["error"]["code"] == "unsupported_media_type"


def test_adyen_endpoint_requires_basic_auth(client):
    resp = client.post("/webhooks/adyen", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "basic_auth_missing"


# ----------------------------------------------------------------------------- accepted requests
# The function takes its service from shared.bootstrap at request time: here over the memory inbox.


def served(monkeypatch, service: Intake) -> Intake:
    monkeypatch.setattr(bootstrap, "intake", lambda root: service)
    return service


@pytest.fixture
def memory_intake(monkeypatch):
    tasks: list = []
    return served(monkeypatch, Intake(settings(), MemoryInbox(), Bus(), lambda task, at: tasks.append(task))), tasks


def payment(event_id: str) -> bytes:
    return encode(payment_intent_succeeded(event_id, f"pi_{event_id}", 2500, "usd", "cus_fn"))


def test_an_accepted_webhook_is_stored_published_and_answered_200(client, memory_intake, caplog):
    service, _ = memory_intake
    body = payment("evt_fn1")
    with caplog.at_level(logging.INFO, logger="ledgerline.intake"):
        resp = post(client, body)
    assert resp.status_code == 200, resp.get_data()
    assert (resp.json["status"], resp.json["published"], resp.json["partner_event_id"]) == ("accepted", True, "evt_fn1")
    assert service.inbox.get("stripe:evt_fn1").body == body
    assert [a["event_id"] for _, a in service.publish.messages] == ["stripe:evt_fn1"]
    assert "webhook accepted" in [r.getMessage() for r in caplog.records]
    again = post(client, body)
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    assert service.inbox.get("stripe:evt_fn1").deliveries == 2 and len(service.publish.messages) == 1


def test_a_failed_publish_is_202_with_a_republish_task(client, memory_intake):
    service, tasks = memory_intake
    service.publish.down = True
    resp = post(client, payment("evt_fn2"))
    assert (resp.status_code, resp.json["status"], resp.json["published"]) == (202, "accepted", False)
    assert [(t.kind, t.key) for t in tasks] == [("republish", "stripe:evt_fn2")]


def test_publish_and_enqueue_failing_is_503_so_the_partner_retries(client, monkeypatch):
    def no_queue(task, at):
        raise ConnectionError("simulated Cloud Tasks outage")

    service = served(monkeypatch, Intake(settings(), MemoryInbox(), Bus(down=True), no_queue))
    resp = post(client, payment("evt_fn3"))
    assert (resp.status_code, resp.json["error"]["code"]) == (503, "temporarily_unavailable")
    assert service.inbox.get("stripe:evt_fn3") is not None  # kept: the partner's retry is deduped


def test_storage_unavailable_is_503(client, monkeypatch, caplog):
    class DownInbox(MemoryInbox):
        def put_if_absent(self, record):
            raise gexc.ServiceUnavailable("datastore down")

    service = served(monkeypatch, Intake(settings(), DownInbox(), Bus(), lambda task, at: None))
    with caplog.at_level(logging.ERROR, logger="ledgerline.intake"):
        resp = post(client, payment("evt_fn4"))
    assert (resp.status_code, resp.json["error"]["code"]) == (503, "temporarily_unavailable")
    assert service.publish.messages == []
    logged = [r for r in caplog.records if r.name == "ledgerline.intake" and r.levelno == logging.ERROR]
    assert [(r.getMessage(), r.partner) for r in logged] == [("webhook not stored: Datastore unavailable", "stripe")]
