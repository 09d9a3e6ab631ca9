"""Group commit: every item committed exactly once, concurrent submitters share batches, errors reach
exactly the items of the failed batch."""

import threading
import time

import pytest

from shared.group_commit import GroupCommitter


def test_concurrent_items_are_committed_once_in_fewer_batches():
    committed, lock = [], threading.Lock()

    def commit(items):
        time.sleep(0.02)  # a slow downstream: others queue up meanwhile
        with lock:
            committed.extend(items)

    group = GroupCommitter(commit)
    threads = [threading.Thread(target=group.submit, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(committed) == list(range(64))
    assert group.batches < 64 / 4  # shared batches, not one call per item


def test_a_failed_batch_raises_in_each_of_its_submitters_only():
    calls = []

    def commit(items):
        calls.append(list(items))
        if "bad" in items:
            raise ConnectionError("downstream down")

    group = GroupCommitter(commit)
    with pytest.raises(ConnectionError):
        group.submit("bad")
    group.submit("good")  # the next batch is unaffected
    assert calls == [["bad"], ["good"]]


def test_batches_are_bounded():
    sizes = []
    gate = threading.Event()

    def commit(items):
        gate.wait(1)
        sizes.append(len(items))

    group = GroupCommitter(commit, max_batch=5)
    threads = [threading.Thread(target=group.submit, args=(i,)) for i in range(23)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    assert sum(sizes) == 23 and max(sizes) <= 5


def test_posting_streams_through_the_group_committer_and_hands_failures_to_retries():
    from datetime import UTC, datetime

    from shared import posting
    from shared.events import CanonicalEvent
    from shared.memory_store import MemoryStore

    at = datetime(2026, 11, 28, tzinfo=UTC)

    def event(n):
        return CanonicalEvent(
            event_id=f"stripe:evt_g{n}",
            partner="stripe",
            partner_event_id=f"evt_g{n}",
            partner_event_type="payment_intent.succeeded",
            kind="payment.captured",
            occurred_at=at,
            received_at=at,
            customer="cus_g",
            amount=500,
            currency="USD",
            reference=f"pi_g{n}",
        )

    store, streamed = MemoryStore(), []
    ok = posting.outbox_streamer(None, store, stream=lambda cfg, table, rows, ids: streamed.append((table, ids)))
    result = posting.post_event(None, event(1), store=store, streamer=ok)
    assert result.status == "posted" and store.data["Outbox"] == {}
    assert streamed[0][0] == "entries" and all(i.startswith(result.transaction_id) for i in streamed[0][1])

    def down(cfg, table, rows, ids):
        raise ConnectionError("BigQuery down")

    handed = []
    failing = posting.outbox_streamer(None, store, stream=down)
    result = posting.post_event(
        None, event(2), store=store, streamer=failing, on_stream_failure=lambda oid, exc: handed.append(oid)
    )
    assert result.status == "posted" and handed == [result.transaction_id]
    assert list(store.data["Outbox"]) == [result.transaction_id]  # kept for the retries task
