"""The ledger service's after-commit path over the memory store: an operation (API transfer, fee
booking) asks for the outbox sweep; if that cannot be asked for it streams inline; if that fails too
the committed transaction stands and its outbox record stays for the periodic sweep."""

from datetime import UTC, datetime

from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.model import Leg, Operation
from shared.ledger.service import LedgerService

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


def op(n: int) -> Operation:
    legs = (Leg("suspense", "debit", 100, "USD"), Leg("customer:c1:wallet", "credit", 100, "USD"))
    return Operation(f"txn_service_{n}", "post", "test_move.v1", f"test:{n}", "test", f"hash{n}", AT, legs=legs)


def service(store, request_stream, stream=None) -> LedgerService:
    def unexpected(*a):
        raise AssertionError("streamed inline")

    return LedgerService(
        None,
        store,
        request_stream=request_stream,
        publish=lambda *a: None,
        schedule=lambda *a: True,
        stream=stream or unexpected,
        clock=lambda: AT,
    )


def test_a_committed_operation_asks_for_one_sweep_and_streams_nothing_inline():
    store, asked = MemoryStore(), []
    result = service(store, lambda: asked.append(1)).execute(op(1))
    assert result.status == "posted" and asked == [1]
    assert list(store.data["Outbox"]) == ["txn_service_1"]  # durable until the sweep streams it
    assert service(store, lambda: asked.append(1)).execute(op(1)).status == "replayed" and asked == [1]


def test_without_a_sweep_it_streams_inline_and_the_outbox_record_goes():
    store, streamed = MemoryStore(), []

    def queue_down():
        raise ConnectionError("simulated Cloud Tasks outage")

    sink = lambda cfg, table, rows, ids: streamed.append(ids)  # noqa: E731
    assert service(store, queue_down, sink).execute(op(2)).status == "posted"
    assert streamed == [["txn_service_2:0", "txn_service_2:1"], ["txn_service_2"]] and store.data["Outbox"] == {}


def test_when_streaming_fails_too_the_posting_stands_and_the_outbox_keeps_it():
    store = MemoryStore()

    def down(*a):
        raise ConnectionError("simulated outage")

    assert service(store, down, down).execute(op(3)).status == "posted"
    assert "txn_service_3" in store.data["JournalTransaction"] and list(store.data["Outbox"]) == ["txn_service_3"]
