"""The ledger's Datastore adapter against the real emulator: contention, atomic balances, and the
post -> stream -> mark order when BigQuery fails."""

import threading
import uuid
from datetime import UTC, datetime

import pytest

from shared import datastore_store
from shared.events import CanonicalEvent
from shared.ledger import journal_for
from shared.posting import post_event


def event(customer: str, amount: int, currency: str = "USD") -> CanonicalEvent:
    evt = f"evt_it{uuid.uuid4().hex[:16]}"
    now = datetime.now(tz=UTC)
    return CanonicalEvent(
        event_id=f"stripe:{evt}",
        partner="stripe",
        partner_event_id=evt,
        partner_event_type="payment_intent.succeeded",
        kind="payment.captured",
        occurred_at=now,
        received_at=now,
        customer=customer,
        amount=amount,
        currency=currency,
        reference=f"pi_{evt[4:]}",
    )


def balances(db, account):
    return {b.currency: (b.debits_posted, b.credits_posted) for b in datastore_store.account_balances(db, account)}


def test_concurrent_posts_on_one_account_lose_no_update(cfg, db):
    """Every payment hits the same hot account (a fresh clearing-like wallet here): concurrent
    transactions abort with contention and are retried; the final total is exact."""
    customer = f"cus_hot{uuid.uuid4().hex[:10]}"
    events = [event(customer, amount) for amount in range(1, 25)]
    errors = []
    retries_before = datastore_store.contention_retries

    def worker(chunk):
        try:
            for e in chunk:
                post_event(cfg, e, db=db)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(events[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert datastore_store.contention_retries > retries_before, "no contention: the test proved nothing"
    assert balances(db, f"customer:{customer}:wallet") == {"USD": (0, sum(range(1, 25)))}
    wallet = db.get(db.key("Account", f"customer:{customer}:wallet|USD"))
    assert wallet["version"] == len(events)  # one increment per posting, none lost, none doubled


def test_stream_failure_leaves_money_posted_once_and_redelivery_streams(cfg, db):
    e = event(f"cus_bq{uuid.uuid4().hex[:10]}", 777)

    def broken_stream(*args, **kwargs):
        raise ConnectionError("simulated BigQuery outage")

    with pytest.raises(ConnectionError):
        post_event(cfg, e, db=db, stream=broken_stream)
    txn = db.get(db.key("JournalTransaction", journal_for(e).transaction_id))
    assert txn is not None and txn["streamed"] is False  # posted, not yet streamed: verify would flag it
    again = post_event(cfg, e, db=db)  # what a Pub/Sub redelivery does
    assert again.status == "replayed"
    assert db.get(txn.key)["streamed"] is True
    assert balances(db, f"customer:{e.customer}:wallet") == {"USD": (0, 777)}


def test_restream_repairs_transactions_whose_stream_never_happened(cfg, db):
    """The case where the message was dead-lettered during a BigQuery outage: no redelivery will come."""
    from shared import bigquery_sink
    from shared.posting import restream_pending

    e = event(f"cus_rs{uuid.uuid4().hex[:10]}", 4242)

    def broken_stream(*args, **kwargs):
        raise ConnectionError("simulated BigQuery outage")

    with pytest.raises(ConnectionError):
        post_event(cfg, e, db=db, stream=broken_stream)
    txn_id = journal_for(e).transaction_id
    assert txn_id in restream_pending(cfg, db=db)
    assert txn_id not in restream_pending(cfg, db=db)  # nothing left to do the second time
    rows = bigquery_sink.query(
        cfg, "SELECT entry_id, amount FROM {table:entries} WHERE transaction_id = @txn ORDER BY entry_id", txn=txn_id
    )
    assert [(r["entry_id"], int(r["amount"])) for r in rows] == [(f"{txn_id}:0", 4242), (f"{txn_id}:1", 4242)]
