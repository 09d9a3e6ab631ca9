"""Deferred, batched streaming of the outbox to BigQuery (memory store, fake stream)."""

from datetime import UTC, datetime

import pytest

from shared.adapters import bigquery_sink
from shared.adapters.memory_store import MemoryStore
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.engine import entries_of
from shared.errors import PermanentError
from shared.ledger import outbox
from tests.factories import canonical_event, post_event

AT = datetime(2026, 11, 28, tzinfo=UTC)


def event(n: int) -> CanonicalEvent:
    return canonical_event(
        partner_event_id=f"evt_s{n}",
        partner_event_type="payment_intent.succeeded",
        at=AT,
        customer="cus_s",
        amount=100 * n,
        reference=f"pi_s{n}",
    )


def test_postings_defer_streaming_and_one_sweep_streams_them_all_once():
    store, asked, calls = MemoryStore(), [], []
    for n in (1, 2, 3):
        result = post_event(None, event(n), store=store, defer_stream=lambda: asked.append(1))
        assert result.status == "posted"
    assert len(asked) == 3 and len(store.data["Outbox"]) == 3  # committed, durable, not streamed yet
    streamed = outbox.stream_pending(None, store, stream=lambda cfg, table, rows, ids: calls.append((table, ids)))
    assert streamed == 3 and store.data["Outbox"] == {}
    (table, ids), (chain, names) = calls  # ONE insert call per table for the three postings
    assert table == "entries" and len(ids) == len(set(ids)) == sum(
        len(entries_of(t)) for t in store.data["JournalTransaction"].values()
    )
    assert chain == "transactions" and sorted(names) == sorted(store.data["JournalTransaction"])
    assert outbox.stream_pending(None, store, stream=lambda *a: calls.append(a)) == 0 and len(calls) == 2


def test_a_failed_sweep_keeps_the_outbox_for_the_next_one():
    store = MemoryStore()
    post_event(None, event(4), store=store, defer_stream=lambda: None)

    def down(*args):
        raise ConnectionError("BigQuery down")

    with pytest.raises(ConnectionError):  # an outage: retried by the task's policy, nothing deleted
        outbox.stream_pending(None, store, stream=down)
    assert len(store.data["Outbox"]) == 1
    assert outbox.stream_pending(None, store, stream=lambda *a: None) == 1 and store.data["Outbox"] == {}


def test_a_record_bigquery_refuses_is_quarantined_and_does_not_block_the_others():
    store = MemoryStore()
    bad = post_event(None, event(5), store=store, defer_stream=lambda: None).transaction_id
    good = post_event(None, event(6), store=store, defer_stream=lambda: None).transaction_id
    streamed = []

    def picky(cfg, table, rows, ids):
        if any(i.startswith(bad) for i in ids):
            raise bigquery_sink.StreamingError("row refused: invalid value")
        streamed.extend(ids)

    with pytest.raises(PermanentError):  # the task ends as a dead letter naming the bad record
        outbox.stream_pending(None, store, stream=picky)
    assert all(i.startswith(good) for i in streamed) and streamed
    assert list(store.data["Outbox"]) == [bad] and store.data["Outbox"][bad]["quarantined"]
    assert outbox.stream_pending(None, store, stream=picky) == 0  # later sweeps skip it


def test_every_row_of_one_insert_call_carries_the_same_streamed_at_and_entry_rows_stays_pure():
    store, calls = MemoryStore(), []
    for n in (7, 8):
        post_event(None, event(n), store=store, defer_stream=lambda: None)
    before = datetime.now(tz=UTC)
    outbox.stream_pending(None, store, stream=lambda cfg, table, rows, ids: calls.append(rows))
    assert [len(rows) for rows in calls] == [4, 2]  # the entries, then the transactions
    for rows in calls:
        stamps = {row["streamed_at"] for row in rows}
        assert len(stamps) == 1 and before <= datetime.fromisoformat(stamps.pop()) <= datetime.now(tz=UTC)
    txn = store.transaction(next(iter(store.data["JournalTransaction"])))
    assert all("streamed_at" not in row for row in outbox.entry_rows(txn))  # a function of the transaction only
    assert "streamed_at" not in outbox.transaction_row(txn)


def test_the_chain_anchor_backfill_streams_every_committed_transaction_once_and_leaves_the_outbox_alone():
    store, calls = MemoryStore(), []
    for n in (21, 22, 23):
        post_event(None, event(n), store=store, defer_stream=lambda: None)
    outbox.stream_pending(None, store, stream=lambda *a: None)  # streamed before the chain was anchored
    waiting = post_event(None, event(24), store=store, defer_stream=lambda: None).transaction_id
    before = {name: dict(row) for name, row in store.data["JournalTransaction"].items()}
    already = sorted(before)[0] if sorted(before)[0] != waiting else sorted(before)[1]

    def backfill():
        return outbox.backfill_chain(
            None, store, stream=lambda cfg, table, rows, ids: calls.append((table, ids, rows)),
            anchored=lambda cfg: {already} | {i for _, ids, _ in calls for i in ids},
        )  # fmt: skip

    counts = backfill()
    assert counts == {"transactions": 4, "reindexed": 4, "streamed": 2, "already_anchored": 1, "left_to_sweep": 1}
    ((table, ids, rows),) = calls
    assert table == "transactions" and sorted(ids) == sorted(set(before) - {waiting, already})
    assert all(row["hash"] == before[row["transaction_id"]]["hash"] for row in rows)
    assert store.data["JournalTransaction"] == before  # re-written as they were
    assert backfill()["streamed"] == 0 and len(calls) == 1  # run again: nothing is sent twice


def test_entries_in_and_transactions_rows_refused_the_next_attempt_sends_only_the_transactions_rows():
    store, calls = MemoryStore(), []
    for n in (31, 32):
        post_event(None, event(n), store=store, defer_stream=lambda: None)

    def chain_down(cfg, table, rows, ids):
        calls.append(table)
        if table == "transactions":
            raise ConnectionError("BigQuery down for the second call")

    with pytest.raises(ConnectionError):
        outbox.stream_pending(None, store, stream=chain_down)
    assert calls == ["entries", "transactions"]
    assert all(r["entries_streamed"] for r in store.data["Outbox"].values()) and len(store.data["Outbox"]) == 2
    sent = []
    assert outbox.stream_pending(None, store, stream=lambda cfg, table, rows, ids: sent.append(table)) == 2
    assert sent == ["transactions"] and store.data["Outbox"] == {}  # the entries were not sent twice


def test_when_bigquery_refuses_every_record_alone_nothing_is_quarantined_and_the_sweep_is_retried():
    store = MemoryStore()
    for n in (33, 34):
        post_event(None, event(n), store=store, defer_stream=lambda: None)

    def no_table(cfg, table, rows, ids):
        if table == "transactions":
            raise bigquery_sink.StreamingError("no such field: content_hash")  # the table, not the records

    with pytest.raises(RuntimeError, match="refused every one of 2"):
        outbox.stream_pending(None, store, stream=no_table)
    assert len(store.data["Outbox"]) == 2 and not any(r.get("quarantined") for r in store.data["Outbox"].values())
    assert outbox.stream_pending(None, store, stream=lambda *a: None) == 2  # once the table is right
