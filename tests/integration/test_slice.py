"""The vertical slice end to end: signed webhook -> intake -> Datastore inbox -> Pub/Sub push ->
ledger -> balanced transaction in Datastore -> entries in BigQuery (insertId = entry id)."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import requests
from google.cloud import pubsub_v1

from shared.adapters import bigquery_sink, datastore_inbox, datastore_store
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.config import REPO_ROOT
from shared.demo import Delivery, encode, send
from shared.domain.ledger.engine import entries_of
from shared.ledger.store import LedgerConflict
from shared.partners import stripe
from shared.topology import CANONICAL_EVENTS_TOPIC
from tests.factories import post_event

from .conftest import cli, posted, transaction_for, wait_for, wallet_balance


def test_payment_is_stored_published_posted_and_streamed(cfg, db, intake, secret, payment):
    p = payment(amount=2000, currency="usd")
    resp = send(intake, Delivery("pay", p["body"], secret, 200, "accepted"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "accepted" and resp.json()["published"] is True

    inbox = DatastoreInbox(db).get(p["key"])
    assert inbox.body == p["body"]  # raw bytes kept exactly as received
    assert inbox.verdict == "accepted" and inbox.published_at is not None
    assert inbox.headers and "Stripe-Signature" in inbox.headers
    raw = db.get(db.key("Inbox", p["key"]))  # the stored layout existing records are read with
    assert isinstance(raw["headers"], str) and "Stripe-Signature" in json.loads(raw["headers"])

    (txn,) = posted(db, p["key"])
    entries = [(f"{txn.key.name}:{e['index']}", e) for e in entries_of(txn)]
    assert [(e["account"], e["direction"], e["amount"], e["currency"]) for _, e in entries] == [
        ("partner:stripe:clearing", "debit", 2000, "USD"),
        (f"customer:{p['customer']}:wallet", "credit", 2000, "USD"),
    ]
    assert wallet_balance(db, p["customer"], "USD") == 2000

    rows = bigquery_sink.query(
        cfg,
        "SELECT entry_id, account, amount, direction FROM {table:entries} "
        "WHERE transaction_id = @txn ORDER BY entry_id",
        txn=txn.key.name,
    )
    assert [(r["entry_id"], r["account"], int(r["amount"]), r["direction"]) for r in rows] == [
        (name, e["account"], e["amount"], e["direction"]) for name, e in entries
    ]


def test_zero_decimal_currency_posts_the_same_integer(db, intake, secret, payment):
    p = payment(amount=5000, currency="jpy")
    assert send(intake, Delivery("jpy", p["body"], secret, 200, "accepted")).status_code == 200
    posted(db, p["key"])
    assert wallet_balance(db, p["customer"], "JPY") == 5000  # ¥5000, not ¥50


def test_duplicate_webhook_delivery_posts_once(db, intake, secret, payment):
    p = payment(amount=1234, currency="eur")
    first = send(intake, Delivery("1", p["body"], secret, 200, "accepted"))
    posted(db, p["key"])
    second = send(intake, Delivery("2", p["body"], secret, 200, "duplicate"))
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    time.sleep(1.0)  # give a (wrong) second posting every chance to show up
    assert len(transaction_for(db, p["key"])) == 1
    assert wallet_balance(db, p["customer"], "EUR") == 1234
    assert DatastoreInbox(db).get(p["key"]).deliveries == 2


def test_pubsub_redelivery_is_replayed_not_reposted(cfg, db, intake, secret, payment):
    """At-least-once delivery: the same canonical message published again posts nothing new."""
    p = payment(amount=700, currency="usd")
    send(intake, Delivery("1", p["body"], secret, 200, "accepted"))
    (txn,) = posted(db, p["key"])
    message = DatastoreInbox(db).get(p["key"]).canonical
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cfg.project, CANONICAL_EVENTS_TOPIC)
    for _ in range(3):
        publisher.publish(topic, message, event_id=p["key"], partner="stripe").result(timeout=10)
    time.sleep(2.0)
    assert [t.key.name for t in transaction_for(db, p["key"])] == [txn.key.name]
    assert wallet_balance(db, p["customer"], "USD") == 700
    rows = bigquery_sink.query(
        cfg, "SELECT COUNT(*) AS n FROM {table:entries} WHERE transaction_id = @txn", txn=txn.key.name
    )
    assert rows[0]["n"] == 2


def test_same_transaction_id_different_body_is_a_recorded_conflict(cfg, db, payment):
    """Posted through the ledger service (what the ledger function calls): the stored transaction is
    never overwritten and the conflict is recorded."""
    p = payment(amount=500, currency="usd")
    event = stripe.parse_event(p["body"], received_at=datetime.now(tz=UTC)).canonical
    ledger = datastore_store.DatastoreLedger(db)
    assert post_event(cfg, event, store=ledger).status == "posted"
    assert post_event(cfg, event, store=ledger).status == "replayed"
    changed = event.model_copy(update={"amount": 501})
    with pytest.raises(LedgerConflict):
        post_event(cfg, changed, store=ledger)
    conflicts = [
        name
        for name in ledger.snapshot(("Conflict",))["Conflict"]
        if name.startswith(transaction_for(db, p["key"])[0].key.name)
    ]
    assert len(conflicts) == 1
    assert wallet_balance(db, p["customer"], "USD") == 500
    ledger.delete("Conflict", conflicts[0])  # test hygiene: keep `verify` meaningful for the rest of the run


def test_bad_signature_is_401_and_stores_nothing(db, intake, payment):
    p = payment()
    resp = send(intake, Delivery("forged", p["body"], "whsec_forged", 401, "signature_invalid"))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "signature_invalid"
    assert DatastoreInbox(db).get(p["key"]) is None


def test_stale_timestamp_is_401_and_stores_nothing(db, intake, secret, payment):
    p = payment()
    resp = send(intake, Delivery("old", p["body"], secret, 401, ""), timestamp=int(time.time()) - 3600)
    assert resp.json()["error"]["code"] == "timestamp_out_of_tolerance"
    assert DatastoreInbox(db).get(p["key"]) is None


def test_malformed_json_is_400_and_stores_nothing(db, intake, secret):
    before = datastore_store.count(db, "Inbox")
    body = b'{"id": "evt_malformed", "type": "payment_intent.succeeded", '
    resp = requests.post(
        f"{intake}/webhooks/stripe",
        data=body,
        timeout=10,
        headers={"Stripe-Signature": stripe.sign(body, secret, int(time.time())), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"
    assert datastore_store.count(db, "Inbox") == before


def test_ignored_event_type_is_stored_but_not_posted(db, intake, secret, payment):
    p = payment(event_type="payment_intent.created")
    resp = send(intake, Delivery("created", p["body"], secret, 200, "ignored"))
    assert resp.json()["status"] == "ignored"
    assert DatastoreInbox(db).get(p["key"]).verdict == "ignored"
    time.sleep(0.5)
    assert transaction_for(db, p["key"]) == []


def test_cli_machine_contract(db, intake, secret, payment):
    p = payment(amount=999, currency="usd")
    send(intake, Delivery("cli", p["body"], secret, 200, "accepted"))
    posted(db, p["key"])
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "balances", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout)
    mine = [r for r in rows if p["customer"] in r["account"]]
    assert mine == [{**mine[0], "account": f"customer:{p['customer']}:wallet", "currency": "USD", "posted": 999}]
    assert all(isinstance(r["posted"], int) for r in rows)
    verify = subprocess.run(
        [sys.executable, "-m", "shared.cli", "verify", "--json"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    report = json.loads(verify.stdout)
    assert report["ok"] is True and report["problems"] == [], report["problems"]
    assert verify.returncode == 0


def test_oversize_chunked_body_is_413_and_stores_nothing(cfg, db, intake):
    """requests sends a generator as Transfer-Encoding: chunked, with no Content-Length to check."""
    before = datastore_store.count(db, "Inbox")

    def chunks():
        for _ in range(cfg.max_body_bytes // 8192 + 2):
            yield b" " * 8192

    resp = requests.post(
        f"{intake}/webhooks/stripe",
        data=chunks(),
        timeout=30,
        headers={"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}", "Content-Type": "application/json"},
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    assert datastore_store.count(db, "Inbox") == before


def test_body_near_one_mib_is_accepted_and_kept_byte_for_byte(cfg, db, intake, secret, payment):
    """Over a Datastore entity's worth of raw body: stored in chunks in the same transaction."""
    p = payment(amount=1234, currency="usd")
    event = json.loads(p["body"])
    event["data"]["object"]["metadata"] = {"padding": "x" * (cfg.max_body_bytes - len(p["body"]) - 200)}
    body = json.dumps(event).encode()
    assert datastore_inbox.BODY_CHUNK_BYTES < len(body) <= cfg.max_body_bytes
    assert send(intake, Delivery("large", body, secret, 200, "accepted")).status_code == 200
    assert DatastoreInbox(db).get(p["key"]).body == body
    posted(db, p["key"])
    assert wallet_balance(db, p["customer"], "USD") == 1234


def test_operator_reversal_via_cli_is_linked_audited_and_happens_once(cfg, db, intake, secret, payment):
    p = payment(amount=1500, currency="usd")
    send(intake, Delivery("rev", p["body"], secret, 200, "accepted"))
    (txn,) = posted(db, p["key"])

    def reverse(*extra):
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", "--json", "reverse", txn.key.name, *extra],
            cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "LEDGERLINE_OPERATOR": "ana@ops.test"},
        )  # fmt: skip

    assert reverse().returncode == 2  # no --reason: nothing happens
    first = reverse("--reason", "charged the wrong customer")
    assert first.returncode == 0, first.stderr
    request = json.loads(first.stdout)
    assert (request["kind"], request["status"], request["maker"]) == ("reverse", "executed", "ana@ops.test")
    assert wallet_balance(db, p["customer"], "USD") == 0
    assert db.get(db.key("Reversal", txn.key.name))["reversal_id"] == request["transactions"][0]
    second = reverse("--reason", "again")
    assert second.returncode == 1 and "already_posted" in second.stderr  # the same reversal, never a second one
    audit = cli("audit-log", "--target", txn.key.name)
    assert [e["action"] for e in audit] == ["fail:reverse", "reverse"]
    assert audit[1]["transactions"] == request["transactions"] and audit[1]["actor"] == "ana@ops.test"


def test_dispute_before_its_payment_is_parked_then_posted_to_the_right_wallet(cfg, db, intake, secret, payment):
    """Out of order through the real stack: the ledger parks the dispute (predecessor missing) and
    acknowledges it; the payment's posting re-drives it at once (no waiting for a redelivery)."""
    from tests.factories import dispute

    p = payment(amount=2500, currency="usd")
    pi = json.loads(p["body"])["data"]["object"]["id"]
    body = encode(
        dispute(f"evt_dp{p['event_id'][6:]}", "charge.dispute.created", f"dp_{pi[3:]}", f"ch_{pi[3:]}", pi, 1000, "usd")
    )
    dispute_key = f"stripe:txn_w{pi[3:]}"  # the withdrawal's balance transaction: what moves the money
    assert send(intake, Delivery("dispute first", body, secret, 200, "accepted")).json()["status"] == "accepted"
    parked = wait_for(lambda: db.get(db.key("Parked", dispute_key)), what="the parked dispute")
    assert parked["waiting_on"] == f"PaymentIndex:stripe:{pi}"
    assert transaction_for(db, dispute_key) == []  # parked, not posted, not rejected
    send(intake, Delivery("payment", p["body"], secret, 200, "accepted"))
    posted(db, p["key"])
    posted(db, dispute_key, timeout=20)  # re-driven by the payment's posting, not by Pub/Sub backoff
    assert db.get(db.key("Parked", dispute_key)) is None
    assert wallet_balance(db, p["customer"], "USD") == 1500


def test_same_event_id_with_different_content_is_kept_as_a_conflict(cfg, db, intake, secret, payment):
    p = payment(amount=800, currency="usd")
    send(intake, Delivery("original", p["body"], secret, 200, "accepted"))
    posted(db, p["key"])
    altered = json.loads(p["body"])
    altered["data"]["object"]["amount_received"] = 80_000
    resp = send(intake, Delivery("altered", encode(altered), secret, 200, "conflict"))
    assert resp.json()["status"] == "conflict"
    assert DatastoreInbox(db).get(p["key"]).body == p["body"]  # the first version is kept
    conflicts = [c for c in db.query(kind="InboxConflict").fetch() if c["inbox_key"] == p["key"]]
    assert len(conflicts) == 1 and conflicts[0]["body"] == encode(altered)
    assert wallet_balance(db, p["customer"], "USD") == 800
    db.delete(conflicts[0].key)  # test hygiene: keep `verify` meaningful for the rest of the run
