"""Adyen through the running stack: Basic auth + per-item HMAC, a batch of events, "[accepted]"."""

import uuid

import requests

from shared import datastore_store
from shared.partners import adyen
from shared.scenario import adyen_item, adyen_notification, encode

from .conftest import posted, wallet_balance


def post(cfg, intake, notification, auth=None):
    user, password = cfg.adyen_basic_auth[0].split(":", 1)
    return requests.post(
        f"{intake}/webhooks/adyen",
        data=encode(notification),
        timeout=30,
        headers={"Content-Type": "application/json", "Authorization": auth or adyen.basic_auth(user, password)},
    )


def test_authorisation_and_capture_batch_posts_the_captured_amount(cfg, db, intake):
    key, tag = cfg.adyen_hmac_keys[0], uuid.uuid4().hex[:12].upper()
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
    inbox = datastore_store.inbox_get(db, f"adyen:CAPTURE-CAP{tag}-true")
    assert inbox["deliveries"] == 2 and "Authorization" not in inbox["headers"]  # credentials never stored


def test_wrong_credentials_or_hmac_store_nothing(cfg, db, intake):
    key, tag = cfg.adyen_hmac_keys[0], uuid.uuid4().hex[:12].upper()
    batch = adyen_notification(adyen_item("AUTHORISATION", f"AUTH{tag}", 100, "EUR", key))
    resp = post(cfg, intake, batch, auth=adyen.basic_auth("ledgerline", "wrong"))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "basic_auth_invalid"
    forged = adyen_notification(adyen_item("AUTHORISATION", f"AUTH{tag}", 100, "EUR", "11" * 32))
    resp = post(cfg, intake, forged)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "signature_invalid"
    assert datastore_store.inbox_get(db, f"adyen:AUTHORISATION-AUTH{tag}-true") is None
