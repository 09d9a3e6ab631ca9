"""The ledger store's typed reads (shared.ledger.store.LedgerStore), checked over any adapter: the
unit tests run them over the memory store, tests/integration/test_ledger_records.py over Datastore.
Each check posts through the ledger's one write path (shared.ledger.transactions.execute) under its
own accounts and ids (`tag`), so it runs in a store other tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.ledger.accounts import TOTALS
from shared.domain.ledger.ids import EPOCH, digest
from shared.domain.ledger.model import Leg, Operation
from shared.ledger.store import HoldState, LedgerStore, OutboxRecord, StoredEntry, StoredTransaction
from shared.ledger.transactions import execute

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _clock(at: datetime):
    return lambda: at


def _post(tag: str, name: str, account: str, amount: int, at: datetime, **fields) -> Operation:
    return Operation(
        f"txn_{tag}_{name}",
        "post",
        "test_post.v1",
        f"test:{tag}:{name}",
        "test",
        digest(tag, name),
        at - timedelta(hours=1),
        legs=(
            Leg(f"partner:p{tag}:clearing", "debit", amount, "USD"),
            Leg(account, "credit", amount, "USD"),
        ),
        **fields,
    )


def wallet(tag: str, who: str = "a") -> str:
    return f"customer:cus_{tag}{who}:wallet"


def check_a_posting_reads_back_as_the_engine_wrote_it(store: LedgerStore, tag: str) -> None:
    op = _post(tag, "one", wallet(tag), 1000, T0)
    execute(store, op, _clock(T0))
    t = store.transaction(op.op_id)
    assert isinstance(t, StoredTransaction)
    assert (t.id, t.kind, t.rule, t.event_id, t.partner, t.body_hash) == (
        op.op_id,
        "post",
        "test_post.v1",
        op.event_id,
        "test",
        op.body_hash,
    )
    assert (t.effective_at, t.recorded_at) == (op.effective_at, T0)
    assert t.effective_at.tzinfo is not None and t.recorded_at.tzinfo is not None
    assert t.accounts == tuple(sorted((wallet(tag), f"partner:p{tag}:clearing")))
    assert (t.target, t.expires_at, t.ledger, t.seq) == (None, None, "main", 1)
    assert t.chain_id and t.hash and t.prev_hash
    debit, credit = t.entries
    assert isinstance(credit, StoredEntry)
    clearing = f"partner:p{tag}:clearing"
    assert (debit.index, debit.account, debit.direction, debit.phase) == (0, clearing, "debit", "posted")
    assert (credit.index, credit.account, credit.currency, credit.shard) == (1, wallet(tag), "USD", 0)
    assert (credit.direction, credit.phase, credit.amount) == ("credit", "posted", 1000)
    assert (credit.account_version, credit.resulting) == (1, (0, 1000, 0, 0))
    assert credit.balance_after().posted == 1000
    assert t.entries_on(wallet(tag)) == (credit,)

    assert store.transaction(f"txn_{tag}_missing") is None
    assert store.transactions([op.op_id, f"txn_{tag}_missing", op.op_id]) == {op.op_id: t}
    assert store.transactions_of_event(op.event_id) == [t]
    assert store.transactions_of_event(f"test:{tag}:nothing") == []
    assert t in store.transactions_of_kind("post")
    assert list(store.transactions_of_account(wallet(tag))) == [t]
    assert list(store.transactions_of_account(wallet(tag), T0)) == [t]
    assert list(store.transactions_of_account(wallet(tag), T0 + timedelta(microseconds=1))) == []


def check_account_shards_carry_the_totals(store: LedgerStore, tag: str) -> None:
    for n, amount in enumerate((100, 250)):
        execute(store, _post(tag, f"shard{n}", wallet(tag), amount, T0 + timedelta(seconds=n)), _clock(T0))
    (shard,) = store.account_shards(wallet(tag))
    assert (shard.key, shard.account, shard.currency, shard.shard) == (f"{wallet(tag)}|USD|0", wallet(tag), "USD", 0)
    assert (shard.type, shard.version, shard.no_overdraft, shard.credit_limit) == ("liability", 2, True, None)
    assert tuple(getattr(shard, t) for t in TOTALS) == (0, 350, 0, 0)
    assert shard.balance().posted == 350 and shard.metadata == "{}"
    # both postings' clocks read T0: the second is recorded 1 µs later (recorded time never goes back)
    assert shard.created_at == T0 and shard.updated_at == T0 + timedelta(microseconds=1)
    clearing = store.account_shards(f"partner:p{tag}:clearing")
    assert sum(s.debits_posted for s in clearing) == 350
    assert {s.account for s in clearing} == {f"partner:p{tag}:clearing"}
    everything = store.account_shards()
    assert shard in everything and all(s in everything for s in clearing)
    assert store.account_shards(wallet(tag, "nobody")) == []


def check_transactions_of_an_account_are_in_recorded_order(store: LedgerStore, tag: str) -> None:
    later = _post(tag, "aaa", wallet(tag), 5, T0)  # the smaller id, recorded later
    earlier = _post(tag, "zzz", wallet(tag), 7, T0)
    execute(store, earlier, _clock(T0 + timedelta(seconds=1)))
    execute(store, later, _clock(T0 + timedelta(seconds=2)))
    ordered = [t.id for t in store.transactions_of_account(wallet(tag), EPOCH)]
    assert ordered == [earlier.op_id, later.op_id]
    assert [t.id for t in store.transactions_of_account(wallet(tag), T0 + timedelta(seconds=1.5))] == [later.op_id]
    assert sorted(t.id for t in store.transactions_of_account(wallet(tag))) == sorted(ordered)


def check_a_hold_and_its_state(store: LedgerStore, tag: str) -> None:
    hold = Operation(
        f"txn_{tag}_hold",
        "hold",
        "test_hold.v1",
        f"test:{tag}:hold",
        "test",
        digest(tag, "hold"),
        T0,
        legs=(
            Leg(wallet(tag, "a"), "debit", 300, "USD", "pending"),
            Leg(wallet(tag, "b"), "credit", 300, "USD", "pending"),
        ),
        expires_at=T0 + timedelta(hours=1),
    )
    execute(store, hold, _clock(T0))
    held = store.transaction(hold.op_id)
    assert (held.kind, held.expires_at) == ("hold", T0 + timedelta(hours=1))
    assert [e.phase for e in held.entries] == ["pending", "pending"]
    assert held.expires_at.tzinfo is not None
    assert store.hold_state(hold.op_id) == HoldState(hold.op_id)  # nothing resolved it yet: open
    assert store.hold(hold.op_id) == (held, HoldState(hold.op_id))
    assert held in store.transactions_of_kind("hold")

    capture = Operation(
        f"txn_{tag}_capture",
        "capture",
        "test_capture.v1",
        f"test:{tag}:capture",
        "test",
        digest(tag, "capture"),
        T0 + timedelta(minutes=1),
        target=hold.op_id,
        amount=100,
        currency="USD",
    )
    at = T0 + timedelta(minutes=2)
    execute(store, capture, _clock(at))
    state = HoldState(hold.op_id, 100, 100, closed=None, last_transaction_id=capture.op_id, updated_at=at)
    assert store.hold_state(hold.op_id) == state
    assert store.hold(hold.op_id) == (held, state)
    assert store.transaction(capture.op_id).target == hold.op_id
    assert store.hold(f"txn_{tag}_nohold") is None
    assert store.hold_state(f"txn_{tag}_nohold") == HoldState(f"txn_{tag}_nohold")


def check_the_outbox_of_a_commit(store: LedgerStore, tag: str) -> None:
    op = _post(tag, "streamed", wallet(tag), 42, T0)
    execute(store, op, _clock(T0))
    record = OutboxRecord(op.op_id, (op.op_id,), T0)
    assert store.outbox_record(op.op_id) == record
    assert store.outbox_record(f"txn_{tag}_missing") is None
    assert record in store.outbox_records()
    assert store.outboxes_of(op.op_id) == [record]
    store.quarantine_outbox(record, "refused")
    quarantined = OutboxRecord(op.op_id, (op.op_id,), T0, quarantined=True, error="refused")
    assert store.outbox_record(op.op_id) == quarantined and store.outboxes_of(op.op_id) == [quarantined]
    store.delete_outbox([op.op_id])
    assert store.outbox_record(op.op_id) is None and store.outboxes_of(op.op_id) == []
    assert store.transaction(op.op_id) is not None  # the transaction stays; only the note goes


CHECKS = (
    check_a_posting_reads_back_as_the_engine_wrote_it,
    check_account_shards_carry_the_totals,
    check_transactions_of_an_account_are_in_recorded_order,
    check_a_hold_and_its_state,
    check_the_outbox_of_a_commit,
)
