"""Adyen through the running stack: Basic auth + per-item HMAC, a batch of events, "[accepted]"."""

import json
import uuid

import requests

from shared.adapters.datastore_inbox import DatastoreInbox
from shared.demo import encode
from shared.domain.events import CanonicalEvent
from shared.partners import adyen
from tests.factories import adyen_item, adyen_notification

from .conftest import posted, wallet_balance


def post(cfg, intake, notification, auth=None):
    user, password = cfg.secret(adyen.BASIC_AUTH)[0].split(":", 1)
    return requests.post(
        f"{intake}/webhooks/adyen",
        data=encode(notification),
        timeout=30,
        headers={"Content-Type": "application/json", "Authorization": auth or adyen.basic_auth(user, password)},
    )


def test_authorisation_and_capture_batch_posts_the_captured_amount(cfg, db, intake):
    key, tag = cfg.secret(adyen.HMAC_KEYS)[0], uuid.uuid4().hex[:12].upper()
    shopper = f"shopper_{tag.lower()}"
    batch = adyen_notification(
        adyen_item("AUTHORISATION", f"AUTH{tag}", 5000, "EUR", key, shopper=shopper),
        adyen_item("CAPTURE", f"CAP{tag}", 4200, "EUR", key, original=f"AUTH{tag}"),
    )
    resp = post(cfg, intake, batch)
    assert (resp.status_code, resp.text) == (200, "[accepted]")
    assert post(cfg, intake, batch).text == "[accepted]"  # Adyen resends: deduped, still accepted
    posted(db, f"adyen:AUTHORISATION-AUTH{tag}-true")
    posted(db, f"adyen:CAPTURE-CAP{tag}-true", timeout=90)  # may have been parked behind its hold
    assert wallet_balance(db, shopper, "EUR") == 4200
    inbox = DatastoreInbox(db).get(f"adyen:CAPTURE-CAP{tag}-true")
    assert inbox.deliveries == 2 and "Authorization" not in inbox.headers  # credentials never stored


def test_wrong_credentials_or_hmac_store_nothing(cfg, db, intake):
    key, tag = cfg.secret(adyen.HMAC_KEYS)[0], uuid.uuid4().hex[:12].upper()
    batch = adyen_notification(adyen_item("AUTHORISATION", f"AUTH{tag}", 100, "EUR", key))
    resp = post(cfg, intake, batch, auth=adyen.basic_auth("ledgerline", "wrong"))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "basic_auth_invalid"
    forged = adyen_notification(adyen_item("AUTHORISATION", f"AUTH{tag}", 100, "EUR", "11" * 32))
    resp = post(cfg, intake, forged)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "signature_invalid"
    assert DatastoreInbox(db).get(f"adyen:AUTHORISATION-AUTH{tag}-true") is None


def test_clp_payment_books_iso_pesos_not_adyens_centavos(cfg, db, intake):
    """Adyen writes CLP with two decimals (1000 pesos = value 100000); ISO-4217 CLP has none: the
    ledger books 1000, and the inbox keeps Adyen's raw value."""
    key, tag = cfg.secret(adyen.HMAC_KEYS)[0], uuid.uuid4().hex[:12].upper()
    shopper = f"shopper_{tag.lower()}"
    batch = adyen_notification(
        adyen_item("AUTHORISATION", f"AUTH{tag}", 1500, "CLP", key, shopper=shopper),
        adyen_item("CAPTURE", f"CAP{tag}", 1000, "CLP", key, original=f"AUTH{tag}"),
    )
    assert batch["notificationItems"][1]["NotificationRequestItem"]["amount"] == {"currency": "CLP", "value": 100000}
    resp = post(cfg, intake, batch)
    assert (resp.status_code, resp.text) == (200, "[accepted]")
    posted(db, f"adyen:CAPTURE-CAP{tag}-true", timeout=90)
    assert wallet_balance(db, shopper, "CLP") == 1000
    inbox = DatastoreInbox(db).get(f"adyen:CAPTURE-CAP{tag}-true")
    assert CanonicalEvent.model_validate_json(inbox.canonical).amount == 1000
    raw = json.loads(inbox.body)["notificationItems"][1]["NotificationRequestItem"]
    assert raw["amount"] == {"currency": "CLP", "value": 100000}  # the partner's bytes, as received


def test_a_clp_value_iso_cannot_hold_is_a_400_and_stores_nothing(cfg, db, intake):
    key, tag = cfg.secret(adyen.HMAC_KEYS)[0], uuid.uuid4().hex[:12].upper()
    good = adyen_item("AUTHORISATION", f"AUTH{tag}", 1000, "CLP", key)
    half_peso = adyen_item("AUTHORISATION", f"HALF{tag}", 0, "CLP", key, value=150050)  # 1500.50 pesos
    resp = post(cfg, intake, adyen_notification(good, half_peso))
    error = resp.json()["error"]
    assert (resp.status_code, error["code"]) == (400, "invalid_event")
    assert error["param"] == "notificationItems.1.NotificationRequestItem.amount.value"
    assert "1500.50" in error["message"]
    for name in (f"AUTH{tag}", f"HALF{tag}"):  # the batch is all-or-nothing
        assert DatastoreInbox(db).get(f"adyen:AUTHORISATION-{name}-true") is None
