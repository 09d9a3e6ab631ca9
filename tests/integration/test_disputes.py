"""Stripe's dispute lifecycle through the running stack: signed webhooks to intake, the ledger over
Pub/Sub, the Dispute record operators read. An inquiry moves no money; a dispute withdraws per
balance transaction (the dispute fee to fees:stripe) and reinstates when won; a lost one stays
withdrawn. Money is keyed by the balance transaction, so every webhook that lists it posts it once."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from shared.adapters import datastore_store
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.config import REPO_ROOT
from shared.demo import Delivery, encode, send
from shared.domain.ledger.engine import entries_of
from shared.intake.inbox import InboxRecord
from tests.factories import canonical_event, dispute, dispute_balance_transaction

from .conftest import posted, transaction_for, unique, wait_for, wallet_balance

CREATED = 1_790_000_000  # the dispute's (and its balance transactions') creation time: the same in every webhook


def _payment(db, intake, secret, payment, amount=10_000):
    p = payment(amount=amount, currency="usd")
    assert send(intake, Delivery("payment", p["body"], secret, 200, "accepted")).status_code == 200
    posted(db, p["key"])
    return p, json.loads(p["body"])["data"]["object"]["id"]


def _webhook(intake, secret, event_type, dp, pi, status, txns, expect="accepted"):
    body = encode(dispute(unique("evt"), event_type, dp, "ch_" + pi[3:], pi, 3000, "usd", status, txns, CREATED))
    resp = send(intake, Delivery(event_type, body, secret, 200, expect))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _record(db, dp, events: int | None = None, **expected):
    """The dispute record once it shows `expected` (and, given, `events` timeline entries: Pub/Sub may
    deliver the webhooks' events in any order, so the final status can arrive before the others)."""

    def matches():
        record = db.get(db.key("Dispute", f"stripe:{dp}"))
        if record is None or any(record.get(k) != v for k, v in expected.items()):
            return None
        return record if events is None or len(json.loads(record["timeline"])) == events else None

    return wait_for(matches, timeout=30, what=f"dispute {dp} with {expected}")


def _legs(txn):
    return sorted((e["account"], e["direction"], e["amount"]) for e in entries_of(txn))


def _withdrawal(txn_id, fee=1500):
    return dispute_balance_transaction(txn_id, -3000, fee, "usd", CREATED, "dp")


def _reinstatement(txn_id, fee=-1500):
    return dispute_balance_transaction(txn_id, 3000, fee, "usd", CREATED + 86400, "dp")


def test_an_inquiry_closed_as_warning_leaves_the_wallet_untouched_and_is_visible(db, intake, secret, payment):
    p, pi = _payment(db, intake, secret, payment)
    dp = unique("du")
    for event_type, status in [
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.updated", "warning_under_review"),
        ("charge.dispute.closed", "warning_closed"),
    ]:
        answer = _webhook(intake, secret, event_type, dp, pi, status, [])
        assert "balance_transactions" not in answer  # nothing but the status: no money event at all
    record = _record(db, dp, events=3, status="warning_closed")
    assert (record["inquiry"], record["final"], record["withdrawn"], record["transactions"]) == (True, True, 0, [])
    assert len(json.loads(record["timeline"])) == 3
    time.sleep(1.0)  # give a (wrong) posting every chance to show up
    assert wallet_balance(db, p["customer"], "USD") == 10_000
    listed = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", "disputes", "--inquiries"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["dispute"] == f"stripe:{dp}"]
    assert (row["status"], row["withdrawn"], row["payment"]) == ("warning_closed", 0, pi)


def test_a_won_dispute_withdraws_with_its_fee_then_reinstates_each_once(db, intake, secret, payment):
    p, pi = _payment(db, intake, secret, payment)
    dp, w, r = unique("du"), unique("txn_w"), unique("txn_r")
    _webhook(intake, secret, "charge.dispute.created", dp, pi, "needs_response", [_withdrawal(w)])
    (withdrawn,) = posted(db, f"stripe:{w}")
    assert _legs(withdrawn) == sorted(
        [
            (f"customer:{p['customer']}:wallet", "debit", 3000),
            ("fees:stripe", "debit", 1500),
            ("partner:stripe:clearing", "credit", 4500),
        ]
    )
    assert wallet_balance(db, p["customer"], "USD") == 7000
    # the same balance transaction again, in Stripe's funds_withdrawn webhook: a duplicate, not a second posting
    again = _webhook(intake, secret, "charge.dispute.funds_withdrawn", dp, pi, "needs_response", [_withdrawal(w)])
    assert [b["status"] for b in again["balance_transactions"]] == ["duplicate"]
    closed = _webhook(intake, secret, "charge.dispute.closed", dp, pi, "won", [_withdrawal(w), _reinstatement(r)])
    assert [b["status"] for b in closed["balance_transactions"]] == ["duplicate", "accepted"]
    (reinstated,) = posted(db, f"stripe:{r}")
    assert _legs(reinstated) == sorted(
        [
            ("partner:stripe:clearing", "debit", 4500),
            (f"customer:{p['customer']}:wallet", "credit", 3000),
            ("fees:stripe", "credit", 1500),  # the dispute fee Stripe refunded with the win
        ]
    )
    assert wallet_balance(db, p["customer"], "USD") == 10_000
    assert len(transaction_for(db, f"stripe:{w}")) == 1
    record = _record(db, dp, status="won", reinstated=3000)
    assert (record["withdrawn"], record["fees"], record["customer"]) == (3000, 0, p["customer"])


def test_a_lost_dispute_stays_withdrawn_with_the_dispute_fee_booked(db, intake, secret, payment):
    p, pi = _payment(db, intake, secret, payment)
    dp, w = unique("du"), unique("txn_w")
    _webhook(intake, secret, "charge.dispute.created", dp, pi, "needs_response", [_withdrawal(w)])
    (withdrawn,) = posted(db, f"stripe:{w}")
    closed = _webhook(intake, secret, "charge.dispute.closed", dp, pi, "lost", [_withdrawal(w)])
    assert [b["status"] for b in closed["balance_transactions"]] == ["duplicate"]
    _record(db, dp, status="lost", final=True)
    assert ("fees:stripe", "debit", 1500) in _legs(withdrawn)
    assert wallet_balance(db, p["customer"], "USD") == 7000
    assert len(transaction_for(db, f"stripe:{w}")) == 1


def test_a_won_dispute_arriving_before_its_payment_and_withdrawal_waits_for_both(db, intake, secret, payment):
    """Out of order: the closed (won) webhook lists the withdrawal and the reinstatement before anything
    else arrived: the withdrawal waits for the payment, the reinstatement for the withdrawal; the
    payment's posting re-drives the first, whose posting re-drives the second. No credit comes first."""
    p = payment(amount=10_000, currency="usd")
    pi = json.loads(p["body"])["data"]["object"]["id"]
    dp, w, r = unique("du"), unique("txn_w"), unique("txn_r")
    _webhook(intake, secret, "charge.dispute.closed", dp, pi, "won", [_withdrawal(w), _reinstatement(r, fee=0)])
    parked_w = wait_for(lambda: db.get(db.key("Parked", f"stripe:{w}")), what="the parked withdrawal")
    parked_r = wait_for(lambda: db.get(db.key("Parked", f"stripe:{r}")), what="the parked reinstatement")
    assert parked_w["waiting_on"] == f"PaymentIndex:stripe:{pi}"
    assert parked_r["waiting_on"] == f"DisputeWithdrawal:stripe:{dp}"  # one wait: the payment comes before it
    assert transaction_for(db, f"stripe:{r}") == []
    send(intake, Delivery("payment", p["body"], secret, 200, "accepted"))
    posted(db, p["key"])
    posted(db, f"stripe:{w}", timeout=30)
    (reinstated,) = posted(db, f"stripe:{r}", timeout=30)
    assert ("fees:stripe", "credit", 1500) not in _legs(reinstated)  # Stripe kept the fee this time
    assert wallet_balance(db, p["customer"], "USD") == 10_000
    assert DatastoreInbox(db).get(f"stripe:{r}").verdict == "accepted"
    _record(db, dp, status="won", withdrawn=3000, reinstated=3000, fees=1500)


def test_a_dispute_open_at_the_deploy_is_not_debited_twice_nor_a_conflict(db, intake, secret, payment):
    """Before the lifecycle, charge.dispute.created posted dispute.opened (keyed by its evt id). Stripe
    retries that very webhook after the deploy: its status is the stored legacy event (a duplicate, no
    InboxConflict); its withdrawal balance transaction posts in full, the migration links the legacy
    posting and reverses it: the wallet is debited once, the fee booked once; a rerun changes nothing."""
    from shared.domain.ledger.ids import event_hash
    from shared.domain.ledger.operations import operation_for
    from shared.ledger.transactions import execute

    p, pi = _payment(db, intake, secret, payment)
    dp, evt, txn = unique("dp"), unique("evt"), unique("txn")
    payload = dispute(
        evt,
        "charge.dispute.created",
        dp,
        "ch_" + pi[3:],
        pi,
        3000,
        "usd",
        "needs_response",
        [_withdrawal(txn)],
        CREATED,
    )
    body = encode(payload)
    legacy = canonical_event(  # what the parser before the lifecycle stored and the ledger posted
        "dispute.opened",
        evt,
        partner_event_type="charge.dispute.created",
        at=datetime.fromtimestamp(payload["created"], tz=UTC),
        received_at=datetime.now(tz=UTC),
        amount=3000,
        reference=dp,
        payment_reference=pi,
    )
    record = InboxRecord(
        "stripe",
        evt,
        "charge.dispute.created",
        "accepted",
        None,
        body,
        {},
        legacy.received_at,
        legacy.to_message(),
        content_hash=event_hash(legacy),
    )
    DatastoreInbox(db).put_if_absent(record)
    DatastoreInbox(db).mark_published(record.key_name, "legacy")
    ledger = datastore_store.DatastoreLedger(db)
    assert execute(ledger, operation_for(legacy.model_copy(update={"customer": p["customer"]}))).status == "posted"
    assert wallet_balance(db, p["customer"], "USD") == 7_000

    resp = send(intake, Delivery("legacy redelivery", body, secret, 200, "duplicate"))
    assert resp.status_code == 200, resp.text
    receipt = resp.json()
    assert (receipt["status"], receipt.get("stored_as")) == ("duplicate", "legacy")
    assert [t["status"] for t in receipt["balance_transactions"]] == ["accepted"]
    conflicts = [c for c in db.query(kind="InboxConflict").fetch() if c["inbox_key"] == record.key_name]
    assert conflicts == []
    posted(db, f"stripe:{txn}")

    for run in range(2):
        migrated = subprocess.run(
            [sys.executable, "-m", "shared.cli", "--json", "migrate-disputes"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr
        (row,) = [r for r in json.loads(migrated.stdout) if r["dispute"] == f"stripe:{dp}"]
        assert row["reversed"] == ("reversed" if run == 0 else "already")
    assert wallet_balance(db, p["customer"], "USD") == 7_000  # debited once
    fees = [e for t in transaction_for(db, f"stripe:{txn}") for e in entries_of(t) if e["account"] == "fees:stripe"]
    assert [e["amount"] for e in fees] == [1500]
