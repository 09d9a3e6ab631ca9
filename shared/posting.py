"""The ledger as a service over a LedgerStore (Datastore in production, memory in model tests):
execute operations, post canonical events, stream committed entries to BigQuery through the outbox,
and read balances (all shards summed; posted, pending, available; as of any instant).

Streaming happens after the commit: each posting commit inserts one Outbox record listing its
transactions; the stream sends rows with insertId = entry id and deletes the record only after
BigQuery accepted them. A failed
stream raises (Pub/Sub redelivers; the redelivery replays the posting and retries the stream);
`restream_pending` drains whatever is left (e.g. after a dead-lettered message)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from shared import bigquery_sink
from shared.config import Settings
from shared.events import CanonicalEvent
from shared.ledger import (
    TOTALS,
    AccountBalance,
    Conflict,
    Operation,
    PredecessorMissing,
    Rejected,
    Result,
    Tx,
    account_rule,
    apply,
    entries_of,
    expiry,
    operation_for,
    reads_for,
    sum_balances,
)
from shared.topology import ENTRIES_TABLE

log = logging.getLogger("ledgerline.ledger")
T = TypeVar("T")
MAX_BATCH = 60  # ~6 writes per posting + shared shards/chain head, under Datastore's 500 per transaction
LEDGER_KINDS = (
    "Account",
    "JournalTransaction",
    "ChainHead",
    "HoldState",
    "Reversal",
    "Outbox",
    "Rejection",
    "Conflict",
)


class LedgerStore(Protocol):
    def transact(self, work: Callable[[Tx], T]) -> T: ...
    def get(self, kind: str, name: str) -> dict | None: ...
    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...
    def query(self, kind: str, prop: str, value) -> dict[str, dict]: ...
    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]: ...


class LedgerConflict(Conflict):
    pass


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


_affinity = threading.local()


def _salted(work: Callable[[Tx, int], T]) -> Callable[[Tx], T]:
    """Writer affinity for sharded accounts and chains: each thread keeps a random salt, so concurrent
    writers land on different shards; a retried attempt (contention) re-picks it."""

    attempts = 0

    def attempt(tx: Tx) -> T:
        nonlocal attempts
        attempts += 1
        if attempts > 1 or not hasattr(_affinity, "salt"):
            _affinity.salt = random.randrange(1 << 30)  # noqa: S311 - load spreading, not crypto
        return work(tx, _affinity.salt)

    return attempt


def _with_outbox(tx: Tx, results: list[Result], clock) -> Result | list[Result]:
    """One Outbox record per commit lists the transactions it posted, in the same transaction: the
    entries reach BigQuery later even if this process dies right after the commit."""
    posted = [r.transaction_id for r in results if r.status == "posted"]
    if posted:
        tx.put("Outbox", posted[0], {"transactions": posted, "recorded_at": clock()})
    return results[0] if len(results) == 1 else results


def execute(store: LedgerStore, op: Operation, clock: Callable[[], datetime] = utcnow) -> Result:
    """Apply op exactly once. A rejection changes nothing and is recorded with its reason; a conflict
    (same id, different body) is recorded and raised."""
    try:
        return store.transact(_salted(lambda tx, salt: _with_outbox(tx, [apply(op, tx, clock(), salt)], clock)))
    except Rejected as rejected:
        store.record(
            "Rejection",
            op.op_id,
            {
                "transaction_id": op.op_id,
                "kind": op.kind,
                "event_id": op.event_id,
                "code": rejected.code,
                "reason": rejected.message,
                "recorded_at": clock(),
            },
        )
        log.warning("operation rejected", extra={"transaction_id": op.op_id, "code": rejected.code})
        return Result("rejected", op.op_id, reason=rejected.code)
    except Conflict as conflict:
        store.record(
            "Conflict",
            f"{op.op_id}:{op.body_hash}",
            {
                "transaction_id": op.op_id,
                "event_id": op.event_id,
                "incoming_hash": op.body_hash,
                "recorded_at": clock(),
            },
        )
        raise LedgerConflict(str(conflict)) from None


def execute_batch(store: LedgerStore, ops: list[Operation], clock: Callable[[], datetime] = utcnow) -> list[Result]:
    """Several operations in ONE store transaction (one prefetch round trip, one commit): the
    throughput path for deliveries that arrive together. If any operation is rejected or conflicts,
    the batch changes nothing and each operation is executed on its own, so every one gets its own
    outcome and a rejection never holds back its neighbours."""

    if len(ops) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} operations per batch (Datastore: 500 writes per transaction)")

    def work(tx, salt):
        tx.prefetch([pair for op in ops for pair in reads_for(op, salt)])
        now = clock()
        results = [apply(op, tx, now, salt) for op in ops]
        _with_outbox(tx, results, clock)
        return results

    try:
        return store.transact(_salted(work))
    except (Rejected, Conflict, PredecessorMissing):
        return [_execute_alone(store, op, clock) for op in ops]


def _execute_alone(store: LedgerStore, op: Operation, clock) -> Result:
    """One operation of a failed batch, with every outcome as a Result (the batch never stops midway)."""
    try:
        return execute(store, op, clock)
    except LedgerConflict as exc:
        return Result("conflict", op.op_id, reason=str(exc))
    except PredecessorMissing as exc:
        return Result("parked", op.op_id, reason=str(exc))


def entry_rows(record: dict) -> list[dict]:
    """BigQuery rows (topology/bigquery/entries.json) for one transaction's entries."""
    return [
        {
            "entry_id": f"{record['transaction_id']}:{e['index']}",
            "transaction_id": record["transaction_id"],
            "account": e["account"],
            "currency": e["currency"],
            "shard": e["shard"],
            "direction": e["direction"],
            "phase": e["phase"],
            "amount": e["amount"],
            "account_version": e["account_version"],
            "rule": record["rule"],
            "event_id": record["event_id"],
            "partner": record["partner"],
            "effective_at": record["effective_at"].isoformat(),
            "posted_at": record["recorded_at"].isoformat(),
        }
        for e in entries_of(record)
    ]


def stream_outbox(cfg: Settings, store: LedgerStore, outbox_id: str, stream=bigquery_sink.stream) -> list[str]:
    """Stream the entries of every transaction an outbox record lists, then delete the record."""
    outbox = store.get("Outbox", outbox_id)
    if outbox is None:
        return []
    rows = []
    for txn in outbox["transactions"]:
        rows += entry_rows(store.get("JournalTransaction", txn))
    stream(cfg, ENTRIES_TABLE, rows, [r["entry_id"] for r in rows])
    store.delete("Outbox", outbox_id)
    log.info("entries streamed to BigQuery", extra={"outbox": outbox_id, "rows": len(rows)})
    return list(outbox["transactions"])


def stream_transaction(cfg: Settings, store: LedgerStore, transaction_id: str, stream=bigquery_sink.stream) -> bool:
    """Stream whatever outbox still holds this transaction. Returns True if something streamed."""
    streamed = False
    for outbox_id in sorted(store.query("Outbox", "transactions", transaction_id)):
        streamed |= bool(stream_outbox(cfg, store, outbox_id, stream))
    return streamed


# Follow-up events whose partner payload does not name the customer (a Stripe dispute names only the
# payment): the customer is the one of the payment, remembered in PaymentIndex when it was captured.
NEEDS_PAYMENT_OWNER = ("dispute.opened", "dispute.won", "dispute.lost", "payment.refunded")


def _payment_index_keys(event: CanonicalEvent) -> list[str]:
    return [f"{event.partner}:{ref}" for ref in (event.reference, event.payment_reference) if ref]


def resolve_owner(store: LedgerStore, event: CanonicalEvent) -> CanonicalEvent:
    if event.kind not in NEEDS_PAYMENT_OWNER or event.customer is not None or not event.payment_reference:
        return event
    index = store.get("PaymentIndex", f"{event.partner}:{event.payment_reference}")
    if index is None:
        raise PredecessorMissing(f"payment {event.payment_reference} has not arrived yet")
    return event.model_copy(update={"customer": index["customer"]})


def post_event(
    cfg: Settings, event: CanonicalEvent, *, store: LedgerStore, stream=bigquery_sink.stream
) -> Result | None:
    event = resolve_owner(store, event)
    op = operation_for(event)
    if op is None:
        log.info("event moves no money", extra={"event_id": event.event_id, "kind": event.kind})
        return None
    result = execute(store, op)
    log.info(
        f"transaction {result.status}",
        extra={
            "event_id": event.event_id,
            "transaction_id": op.op_id,
            "status": result.status,
            "reason": result.reason,
        },
    )
    if event.kind in ("payment.captured", "authorization.created") and result.status != "rejected":
        for key in _payment_index_keys(event):  # idempotent; rewritten on every redelivery
            store.record("PaymentIndex", key, {"customer": event.customer, "transaction_id": op.op_id})
    if result.status == "posted":
        stream_outbox(cfg, store, op.op_id, stream)  # the outbox record this commit wrote
    elif result.status == "replayed":
        stream_transaction(cfg, store, op.op_id, stream)  # an earlier stream may have failed
    return result


def streamed_transactions(store: LedgerStore, event_id: str) -> list[str]:
    """The event's transactions that are committed and whose entries left the outbox (reached BigQuery)."""
    return [
        name
        for name in store.query("JournalTransaction", "event_id", event_id)
        if not store.query("Outbox", "transactions", name)
    ]


def restream_pending(cfg: Settings, *, store: LedgerStore, stream=bigquery_sink.stream) -> list[str]:
    """Stream every committed transaction still in the outbox. Safe to repeat (insertId = entry id)."""
    streamed = []
    for outbox_id in sorted(store.snapshot(("Outbox",))["Outbox"]):
        streamed += stream_outbox(cfg, store, outbox_id, stream)
    return streamed


def expire_due_holds(store: LedgerStore, clock: Callable[[], datetime] = utcnow) -> list[Result]:
    """Release every unresolved hold whose expiry has passed. Expiry is deterministic without this
    sweep (a capture at or after expires_at is rejected); the sweep returns the pending amounts to
    the available balance. Safe to run any number of times, concurrently (ids derive from the hold)."""
    now = clock()
    due = [
        name
        for name, hold in sorted(store.query("JournalTransaction", "kind", "hold").items())
        if hold["expires_at"] <= now and (store.get("HoldState", name) or {}).get("closed") is None
    ]
    return [execute(store, expiry(name, now), clock) for name in due]


# ----------------------------------------------------------------------------- balances


def _shard_balance(data: dict) -> AccountBalance:
    return AccountBalance(data["account"], data["currency"], *(data.get(t, 0) for t in TOTALS))


def all_balances(store: LedgerStore) -> list[AccountBalance]:
    shards = store.snapshot(("Account",))["Account"].values()
    return sorted(sum_balances(_shard_balance(d) for d in shards).values(), key=lambda b: (b.account, b.currency))


def balances(store: LedgerStore, account: str) -> dict[str, AccountBalance]:
    account_rule(account)
    shards = store.query("Account", "account", account).values()
    return {b.currency: b for b in sum_balances(_shard_balance(d) for d in shards).values()}


def balance_as_of(store: LedgerStore, account: str, at: datetime, clock: str = "recorded") -> dict[str, AccountBalance]:
    """Balances as they stood at `at`: by the recorded clock (what the ledger knew then: each shard's
    latest entry at or before `at` carries its resulting totals) or the effective clock (sum of entries
    whose effective time is at or before `at`, whenever they were recorded)."""
    if clock not in ("recorded", "effective"):
        raise ValueError("clock is 'recorded' or 'effective'")
    txns = store.query("JournalTransaction", "accounts", account).values()
    entries = [(t, e) for t in txns for e in entries_of(t) if e["account"] == account]
    if clock == "effective":
        out: dict[str, dict[str, int]] = {}
        for t, e in entries:
            if t["effective_at"] <= at:
                totals = out.setdefault(e["currency"], dict.fromkeys(TOTALS, 0))
                side = "debits" if e["direction"] == "debit" else "credits"
                bucket = f"{side}_posted" if e["phase"] == "posted" else f"{side}_pending"
                totals[bucket] += -e["amount"] if e["phase"] == "release" else e["amount"]
        return {cur: AccountBalance(account, cur, *(t[k] for k in TOTALS)) for cur, t in out.items()}
    latest: dict[tuple[str, int], dict] = {}
    for t, e in entries:
        key = (e["currency"], e["shard"])
        if t["recorded_at"] <= at and (key not in latest or e["account_version"] > latest[key]["account_version"]):
            latest[key] = e
    per_shard = (AccountBalance(account, e["currency"], *e["resulting"]) for e in latest.values())
    return {b.currency: b for b in sum_balances(per_shard).values()}
