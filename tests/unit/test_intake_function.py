"""Function-level tests in-process (functions_framework test client) for requests that are refused
before any I/O: nothing can be stored because no adapter is reached."""

import time

import pytest
from functions_framework import create_app

from shared.config import REPO_ROOT, settings
from shared.demo import encode, payment_intent_succeeded
from shared.partners import stripe


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
