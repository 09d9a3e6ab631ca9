"""The Standard Webhooks partner and the bank/ACH partner through the running stack."""

import uuid

import requests

from shared.adapters import datastore_store
from shared.demo import encode
from shared.partners import column
from tests.factories import column_event, generic_headers, generic_message

from .conftest import posted, wallet_balance


def test_standard_webhooks_partner_payment_is_posted_once(cfg, db, intake):
    tag = uuid.uuid4().hex[:12]
    body = encode(
        generic_message(
            "payment.captured",
            "2026-11-28T08:59:00Z",
            amount=1000,
            fee=25,
            currency="EUR",
            customer=f"c_{tag}",
            reference=f"pay_{tag}",
        )
    )
    headers = generic_headers(f"msg_{tag}", body, cfg.webhook_secrets("generic")[0])
    first = requests.post(f"{intake}/webhooks/generic", data=body, headers=headers, timeout=30)
    again = requests.post(f"{intake}/webhooks/generic", data=body, headers=headers, timeout=30)
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    posted(db, f"generic:msg_{tag}")
    assert wallet_balance(db, f"c_{tag}", "EUR") == 1000
    forged = {
        **headers,
        "webhook-signature": generic_headers(f"msg_{tag}", body, "whsec_Zm9yZ2Vk")["webhook-signature"],
    }
    assert requests.post(f"{intake}/webhooks/generic", data=body, headers=forged, timeout=30).status_code == 401


def test_ach_credit_then_outgoing_transfer_and_its_return(cfg, db, intake):
    tag = uuid.uuid4().hex[:12]
    account = f"acno_{tag}"
    secret = cfg.webhook_secrets("column")[0]
    for n, (event_type, amount) in enumerate(
        (
            ("ach.incoming_transfer.completed", 10_000),
            ("ach.outgoing_transfer.completed", 4_000),
            ("ach.outgoing_transfer.returned", 4_000),
        )
    ):
        body = encode(column_event(f"evnt_{tag}{n}", event_type, f"acht_{tag}{n}", amount, account))
        resp = requests.post(
            f"{intake}/webhooks/column",
            data=body,
            timeout=30,
            headers={"Column-Signature": column.sign(body, secret), "Content-Type": "application/json"},
        )
        assert resp.status_code == 200 and resp.json()["status"] == "accepted", resp.text
        posted(db, f"column:evnt_{tag}{n}")
    assert wallet_balance(db, account, "USD") == 10_000
    bank = datastore_store.DatastoreLedger(db)
    assert bank.query("JournalTransaction", "event_id", f"column:evnt_{tag}1")
