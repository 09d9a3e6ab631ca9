"""The ledger service on the real Datastore emulator: contention, exact totals, the outbox when
BigQuery fails, and the restream repair."""

import threading
import uuid
from datetime import UTC, datetime

import pytest

from shared.adapters import bigquery_sink, datastore_store
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.operations import operation_for
from shared.ledger.balances import balances
from shared.ledger.outbox import restream_pending
from tests.factories import canonical_event, post_event


def event(customer: str, amount: int, currency: str = "USD") -> CanonicalEvent:
    evt = f"evt_it{uuid.uuid4().hex[:16]}"
    now = datetime.now(tz=UTC)
    return canonical_event(
        partner_event_id=evt,
        partner_event_type="payment_intent.succeeded",
        at=now,
        customer=customer,
        amount=amount,
        currency=currency,
        reference=f"pi_{evt[4:]}",
    )


def post_during_bigquery_outage(cfg, ledger, e) -> str:
    def broken_stream(*args, **kwargs):
        raise ConnectionError("simulated BigQuery outage")

    with pytest.raises(ConnectionError):
        post_event(cfg, e, store=ledger, stream=broken_stream)
    return operation_for(e).op_id


@pytest.fixture
def ledger(db):
    return datastore_store.DatastoreLedger(db)


def test_eight_concurrent_posters_on_the_same_accounts_lose_no_update(cfg, db, ledger):
    """The emulator answers concurrent read-modify-writes of one entity with `409 too much
    contention`; the retried transactions still produce exact totals and contiguous versions."""
    customer = f"cus_hot{uuid.uuid4().hex[:10]}"
    events = [event(customer, amount) for amount in range(1, 41)]
    errors = []
    retries_before = datastore_store.contention_retries

    def worker(chunk):
        try:
            for e in chunk:
                post_event(cfg, e, store=ledger)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(events[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert datastore_store.contention_retries > retries_before, "no contention: the test proved nothing"
    wallet = balances(ledger, f"customer:{customer}:wallet")["USD"]
    assert (wallet.debits_posted, wallet.credits_posted) == (0, sum(range(1, 41)))
    shard = ledger.get("Account", f"customer:{customer}:wallet|USD|0")
    assert shard["version"] == len(events)  # one increment per posting: none lost, none doubled


def test_stream_failure_keeps_the_outbox_and_redelivery_streams(cfg, db, ledger):
    e = event(f"cus_bq{uuid.uuid4().hex[:10]}", 777)

    txn_id = post_during_bigquery_outage(cfg, ledger, e)
    assert ledger.get("JournalTransaction", txn_id) is not None  # posted once...
    assert ledger.get("Outbox", txn_id) is not None  # ...and not yet streamed: verify flags it
    assert post_event(cfg, e, store=ledger).status == "replayed"  # what a Pub/Sub redelivery does
    assert ledger.get("Outbox", txn_id) is None
    assert balances(ledger, f"customer:{e.customer}:wallet")["USD"].posted == 777


def test_restream_repairs_transactions_whose_stream_never_happened(cfg, db, ledger):
    """The case where the message was dead-lettered during a BigQuery outage: no redelivery will come."""
    e = event(f"cus_rs{uuid.uuid4().hex[:10]}", 4242)

    txn_id = post_during_bigquery_outage(cfg, ledger, e)
    assert txn_id in restream_pending(cfg, store=ledger)
    assert txn_id not in restream_pending(cfg, store=ledger)  # nothing left to do the second time
    rows = bigquery_sink.query(
        cfg,
        "SELECT entry_id, amount, posted_at, streamed_at FROM {table:entries} WHERE transaction_id = @txn "
        "ORDER BY entry_id",
        txn=txn_id,
    )
    assert [(r["entry_id"], int(r["amount"])) for r in rows] == [(f"{txn_id}:0", 4242), (f"{txn_id}:1", 4242)]
    assert all(r["streamed_at"] is not None and r["streamed_at"] >= r["posted_at"] for r in rows)


def test_a_predecessor_racing_its_follow_up_never_leaves_it_parked(cfg, db, ledger):
    """Authorization and capture of the same payment posted at the same moment, many times, on the
    Datastore emulator: the capture either posts (the hold was there) or parks in a transaction that
    read the hold's record, so the hold's poster, looking after its commit, finds it and re-drives it.
    Nothing may stay parked while its hold exists."""
    from datetime import timedelta

    from shared.ledger.parking import redrive, released_by

    run, now = uuid.uuid4().hex[:10], datetime.now(tz=UTC)

    def ev(kind, n, **extra):
        return canonical_event(
            kind,
            f"evt_race{run}{kind[14:]}{n}",
            at=now,
            customer="cus_race",
            amount=100,
            reference=f"pi_race{run}{n}",
            **extra,
        )

    redriven = []  # list.append is atomic: the threads share it

    def post(event):
        result = post_event(None, event, store=ledger, defer_stream=lambda: None)
        for name, record in released_by(ledger, event, result).items():
            redrive(ledger, name, record, lambda data, attrs: redriven.append(data))

    pairs = 15
    for n in range(pairs):
        hold = ev("authorization.created", n, expires_at=now + timedelta(days=1))
        capture = ev("authorization.captured", n)
        threads = [threading.Thread(target=post, args=(e,)) for e in (capture, hold)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for data in redriven:  # what the ledger function would have published again
        post_event(None, CanonicalEvent.model_validate_json(data), store=ledger, defer_stream=lambda: None)
    stuck = [k for k in ledger.snapshot(("Parked",))["Parked"] if f"evt_race{run}" in k]
    assert stuck == []
    posted = {r["event_id"] for r in ledger.snapshot(("JournalTransaction",))["JournalTransaction"].values()}
    assert [n for n in range(pairs) if f"stripe:evt_race{run}captured{n}" not in posted] == []


def test_bootstrap_adds_a_missing_nullable_column_to_an_existing_table(cfg):
    """A dev stack's table created before a NULLABLE column was added to its schema file gains it (as
    terraform apply does in the cloud), keeps its rows, and takes rows with the new column."""
    from google.cloud import bigquery

    from emulators.bootstrap import add_missing_columns
    from shared.topology import dataset, table_schema

    client = bigquery_sink.client(cfg)
    schema = [bigquery.SchemaField.from_api_repr(f) for f in table_schema("entries")]
    old = [f for f in schema if f.name != "streamed_at"]
    table_id = f"{cfg.project}.{dataset()}.it_migrate_{uuid.uuid4().hex[:8]}"
    table = client.create_table(bigquery.Table(table_id, schema=old))
    try:
        now = datetime.now(tz=UTC).isoformat()
        row = {f.name: now if f.field_type == "TIMESTAMP" else 1 if f.field_type == "INTEGER" else "x" for f in old}
        assert client.insert_rows_json(table_id, [{**row, "entry_id": "before"}]) == []
        assert add_missing_columns(client, table, schema) == ["streamed_at"]
        assert [f.name for f in client.get_table(table_id).schema] == [f.name for f in schema]
        assert add_missing_columns(client, client.get_table(table_id), schema) == []  # idempotent
        assert client.insert_rows_json(table_id, [{**row, "entry_id": "after", "streamed_at": now}]) == []
        got = {r["entry_id"]: r["streamed_at"] for r in client.list_rows(table_id)}
        assert got["before"] is None and got["after"] is not None
        required = [*schema, bigquery.SchemaField("not_nullable", "STRING", mode="REQUIRED")]
        with pytest.raises(RuntimeError, match="make clean"):
            add_missing_columns(client, client.get_table(table_id), required)
    finally:
        client.delete_table(table_id, not_found_ok=True)
