"""The ledger as a service over a LedgerStore (Datastore in production, memory in model tests):
execute operations, post canonical events, stream committed entries to BigQuery through the outbox,
and read balances (all shards summed; posted, pending, available; as of any instant).

Streaming happens after the commit: each posting commit inserts one Outbox record listing its
transactions; a batched sweep (`stream_pending`, run by a `stream-pending` retries task the posting
asks for, and every minute by Cloud Scheduler) sends the rows of every pending record in one insert
call with insertId = entry id and deletes the records only after BigQuery accepted them; a record
BigQuery refuses is quarantined and dead-lettered alone. `restream_pending` is the operator's repair."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from google.api_core import exceptions as gexc

from shared.adapters import bigquery_sink
from shared.config import Settings
from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.accounts import TOTALS, AccountBalance, account_rule, sum_balances
from shared.domain.ledger.engine import Result, Tx, apply, entries_of, reads_for
from shared.domain.ledger.errors import Conflict, PredecessorMissing, Rejected
from shared.domain.ledger.model import Operation
from shared.domain.ledger.operations import expiry, operation_for, reversal
from shared.errors import PermanentError
from shared.ledger import disputes
from shared.recovery.dead_letters import dead_letter_record
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
    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]: ...
    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...
    def delete_multi(self, kind: str, names: list[str]) -> None: ...
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


def execute(
    store: LedgerStore,
    op: Operation,
    clock: Callable[[], datetime] = utcnow,
    also: tuple[tuple[str, str, dict], ...] = (),
    guard: Callable[[Tx, datetime], None] | None = None,
) -> Result:
    """Apply op exactly once. A rejection changes nothing and is recorded with its reason; a conflict
    (same id, different body) is recorded and raised. `also`: idempotent records (kind, name, data)
    written in the same transaction when the operation is not rejected (e.g. a payment's index).
    `guard(tx, now)` runs first inside the same transaction and may raise Rejected: a precondition of
    the caller's (e.g. the API's "a capture takes at most what the hold still holds") checked
    atomically with the write."""

    def work(tx, salt):
        now = clock()
        if guard is not None:
            guard(tx, now)
        result = _with_outbox(tx, [apply(op, tx, now, salt)], clock)
        for kind, name, data in also:
            tx.put(kind, name, data)
        return result

    try:
        return store.transact(_salted(work))
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


def stamped(rows: list[dict]) -> list[dict]:
    """The rows with `streamed_at`: one instant per insert call, taken just before it (entry_rows stays
    a pure function of the transaction; this is the only field that depends on when it streams)."""
    now = utcnow().isoformat()
    return [{**row, "streamed_at": now} for row in rows]


def stream_outbox(cfg: Settings, store: LedgerStore, outbox_id: str, stream=bigquery_sink.stream) -> list[str]:
    """Stream the entries of every transaction an outbox record lists, then delete the record."""
    outbox = store.get("Outbox", outbox_id)
    if outbox is None:
        return []
    rows = []
    for txn in outbox["transactions"]:
        rows += entry_rows(store.get("JournalTransaction", txn))
    stream(cfg, ENTRIES_TABLE, stamped(rows), [r["entry_id"] for r in rows])
    store.delete("Outbox", outbox_id)
    log.info("entries streamed to BigQuery", extra={"outbox": outbox_id, "rows": len(rows)})
    return list(outbox["transactions"])


def stream_pending(cfg: Settings, store: LedgerStore, stream=bigquery_sink.stream, limit: int = 500) -> int:
    """Stream the entries of up to `limit` outbox records in ONE insert call, then delete those records.
    Returns how many transactions were streamed. Safe to repeat or run concurrently: rows carry
    insertId = entry id (BigQuery dedupes best effort; `verify` reports any duplicate)."""
    pending = store.snapshot(("Outbox",))["Outbox"]
    outbox = dict(sorted((k, v) for k, v in pending.items() if not v.get("quarantined"))[:limit])
    if not outbox:
        return 0
    names = sorted({txn for record in outbox.values() for txn in record["transactions"]})
    records = store.get_multi("JournalTransaction", names)
    rows = [row for name in names if name in records for row in entry_rows(records[name])]
    try:
        stream(cfg, ENTRIES_TABLE, stamped(rows), [r["entry_id"] for r in rows])
    except (bigquery_sink.StreamingError, gexc.BadRequest) as refused:
        # BigQuery refused rows (not an outage): stream record by record, so one bad record cannot
        # block everyone's streaming; what is refused alone is quarantined (skipped by later sweeps,
        # still reported by verify) and raised, so the task ends as a dead letter naming it.
        return _stream_one_by_one(cfg, store, outbox, stream, refused)
    store.delete_multi("Outbox", list(outbox))
    log.info("entries streamed to BigQuery", extra={"outboxes": len(outbox), "rows": len(rows)})
    return len(names)


def _stream_one_by_one(cfg, store, outbox: dict, stream, refused: Exception) -> int:
    streamed, bad = 0, []
    for outbox_id, record in outbox.items():
        try:
            streamed += len(stream_outbox(cfg, store, outbox_id, stream))
        except (bigquery_sink.StreamingError, gexc.BadRequest) as exc:
            store.record("Outbox", outbox_id, {**record, "quarantined": True, "error": str(exc)[:1000]})
            bad.append(outbox_id)
    if bad:
        log.error("outbox records refused by BigQuery: quarantined", extra={"outboxes": bad})
        raise PermanentError(f"BigQuery refused outbox record(s) {bad}: {refused}")
    return streamed


def stream_transaction(cfg: Settings, store: LedgerStore, transaction_id: str, stream=bigquery_sink.stream) -> bool:
    """Stream whatever outbox still holds this transaction. Returns True if something streamed."""
    streamed = False
    for outbox_id in sorted(store.query("Outbox", "transactions", transaction_id)):
        streamed |= bool(stream_outbox(cfg, store, outbox_id, stream))
    return streamed


# Follow-up events whose partner payload does not name the customer (a Stripe dispute names only the
# payment): the customer is the one of the payment, remembered in PaymentIndex when it was captured.
PARK_TTL = timedelta(hours=72)  # Stripe retries a webhook for up to 3 days: a predecessor can be that late
PREDECESSOR_KINDS = kinds.PREDECESSOR_KINDS  # what parked events wait for
NEEDS_PAYMENT_OWNER = kinds.waiting_for("payment")
PAYMENT_INDEX_KINDS = kinds.indexing("payment")  # their posting writes PaymentIndex
WITHDRAWAL_KINDS = kinds.indexing("withdrawal")  # their posting writes WITHDRAWAL_INDEX
AFTER_WITHDRAWAL = kinds.waiting_for("withdrawal")  # parked until WITHDRAWAL_INDEX is written
WITHDRAWAL_INDEX = "DisputeWithdrawal"  # <partner>:<dispute id> -> the withdrawal's transaction
# Stripe disputes posted before the balance-transaction lifecycle: `charge.dispute.created` posted
# dispute.opened (the disputed amount, keyed by the webhook's evt id, inquiries included) and
# `charge.dispute.closed` won posted dispute.won. Each such posting is indexed by its dispute
# (<partner>:<dispute id>:opened|won -> its transaction): written with the posting by this code, and
# for postings older than it by `python -m shared.cli migrate-disputes` (docs/deploy.md).
LEGACY_INDEX = "LegacyDisputePosting"
LEGACY_KINDS = {k.name: k.dispute_status for k in kinds.KINDS if k.legacy_dispute}
LEGACY_PARTNERS = ("stripe",)  # Adyen and generic partners keep dispute.opened / dispute.won


def _withdrawal_key(event: CanonicalEvent) -> str:
    return disputes.key(event.partner, event.reference)


def require_withdrawal(store: LedgerStore, event: CanonicalEvent) -> None:
    """Disputed funds are reinstated only after their withdrawal posted: a reinstatement that arrives
    first is parked (never a credit to the wallet ahead of the debit), and dead-lettered with
    `predecessor_missing` if no withdrawal ever comes."""
    if event.kind in AFTER_WITHDRAWAL and store.get(WITHDRAWAL_INDEX, _withdrawal_key(event)) is None:
        raise PredecessorMissing(
            f"dispute {event.reference}: no withdrawal posted yet", (WITHDRAWAL_INDEX, _withdrawal_key(event))
        )


def _legacy_names(partner: str, dispute_id: str) -> list[str]:
    return [f"{disputes.key(partner, dispute_id)}:{suffix}" for suffix in LEGACY_KINDS.values()]


def is_legacy(event: CanonicalEvent) -> bool:
    return event.partner in LEGACY_PARTNERS and event.kind in LEGACY_KINDS


def supersedes_legacy(event: CanonicalEvent) -> bool:
    """Events after which a Stripe dispute's legacy postings are known to be replaced: its withdrawal
    balance transaction (posted in full by the lifecycle) or a status saying it is an inquiry (no
    money ever moved)."""
    if event.partner not in LEGACY_PARTNERS:
        return False
    return event.kind == "dispute.funds_withdrawn" or (
        event.kind == "dispute.status" and (event.dispute_status or "").startswith("warning_")
    )


def settle_legacy(
    store: LedgerStore,
    partner: str,
    dispute_id: str,
    effective_at: datetime,
    *,
    superseded: bool = False,
    clock=utcnow,
    dry_run: bool = False,
    legacy: dict[str, dict] | None = None,
) -> list[str]:
    """Reverse every legacy posting of a Stripe dispute once the lifecycle has taken it over, so the
    books are exactly what Stripe did: the withdrawal balance transaction posts in full (amount and
    dispute fee) and the reinstatement finds its `DisputeWithdrawal`; the legacy dispute.opened (and a
    legacy dispute.won, if one posted: the pair nets to zero either way) is given back. An inquiry's
    legacy debit (money that never moved) is given back the same way. `superseded`: the caller knows
    it (supersedes_legacy); else it is read (a withdrawal indexed, or the Dispute record an inquiry).
    Keyed reads only; idempotent (a reversal's id derives from its target: asking twice replays).
    Returns the legacy transactions reversed (or, dry_run, that would be). `legacy`: the index records
    as the migration found them (a dry run writes none)."""
    if legacy is None:
        legacy = store.get_multi(LEGACY_INDEX, _legacy_names(partner, dispute_id))
    if not legacy:
        return []
    key = disputes.key(partner, dispute_id)
    if not superseded:
        superseded = store.get(WITHDRAWAL_INDEX, key) is not None or bool(
            (store.get(disputes.KIND, key) or {}).get("inquiry")
        )
    if not superseded:
        return []
    targets = sorted(record["transaction_id"] for record in legacy.values())
    done = store.get_multi("Reversal", targets)
    pending = [t for t in targets if t not in done]
    if dry_run or not pending:
        return pending
    for target in pending:
        result = execute(store, reversal(target, effective_at), clock)
        log.warning(
            "legacy dispute posting reversed: superseded by the dispute lifecycle",
            extra={
                "dispute": key,
                "transaction_id": target,
                "reversal": result.transaction_id,
                "status": result.status,
            },
        )
    return pending


def legacy_index_entry(event: CanonicalEvent, transaction_id: str) -> tuple[str, str, dict]:
    name = f"{disputes.key(event.partner, event.reference)}:{LEGACY_KINDS[event.kind]}"
    return (LEGACY_INDEX, name, {"transaction_id": transaction_id, "event_id": event.event_id, "kind": event.kind})


def record_dispute(store: LedgerStore, event: CanonicalEvent, transaction_id: str | None, clock=utcnow) -> None:
    """Keep the operator's view of the dispute (shared.ledger.disputes), idempotently: a redelivery is a no-op."""
    if event.kind not in disputes.DISPUTE_KINDS:
        return
    name = disputes.key(event.partner, event.reference)

    def work(tx):
        record = disputes.merged(tx.get(disputes.KIND, name), event, transaction_id, clock())
        if record is not None:
            tx.put(disputes.KIND, name, record, unindexed=("timeline",))

    store.transact(work)


def _payment_index_keys(event: CanonicalEvent) -> list[str]:
    return [f"{event.partner}:{ref}" for ref in (event.reference, event.payment_reference) if ref]


def resolve_owner(store: LedgerStore, event: CanonicalEvent) -> CanonicalEvent:
    if event.kind not in NEEDS_PAYMENT_OWNER or event.customer is not None or not event.payment_reference:
        return event
    key = f"{event.partner}:{event.payment_reference}"
    index = store.get("PaymentIndex", key)
    if index is None:
        raise PredecessorMissing(f"payment {event.payment_reference} has not arrived yet", ("PaymentIndex", key))
    return event.model_copy(update={"customer": index["customer"]})


def post_event(
    cfg: Settings,
    event: CanonicalEvent,
    *,
    store: LedgerStore,
    stream=bigquery_sink.stream,
    clock: Callable[[], datetime] = utcnow,
    park_ttl: timedelta = PARK_TTL,
    defer_stream: Callable[[], None] | None = None,
) -> Result | None:
    """Post one canonical event exactly once. An event whose predecessor has not arrived is parked
    (Result "parked"): durable, acknowledged, re-driven by `released_by` when the predecessor posts.
    Streaming to BigQuery follows the commit: with defer_stream (the functions), by a batched sweep
    it asks for (a `stream-pending` retries task in the next second, one insert call for every
    posting since); without (CLI, tests), inline, and a failure propagates (the outbox keeps it)."""
    for _ in range(3):  # the predecessor may land between the failed posting and the park: post again
        try:
            return _post(cfg, event, store, stream, defer_stream)
        except PredecessorMissing as missing:
            parked = park(store, event, missing, clock, park_ttl)
            if parked is not None:
                log.warning(
                    "event parked: predecessor missing",
                    extra={
                        "event_id": event.event_id,
                        "reason": parked.reason,
                        "waiting_on": parked.record["waiting_on"],
                    },
                )
                return parked
    raise RuntimeError(f"{event.event_id}: predecessor neither missing nor usable")  # pragma: no cover


def _post(cfg: Settings, event: CanonicalEvent, store: LedgerStore, stream, defer_stream=None) -> Result | None:
    # A reinstatement waits for its withdrawal first: once that posted, the payment it needed is known
    # too, so a parked event waits on one record and is re-driven once (never parked again on another).
    require_withdrawal(store, event)
    event = resolve_owner(store, event)
    op = operation_for(event)
    if op is None:
        record_dispute(store, event, None)
        if supersedes_legacy(event):
            settle_legacy(store, event.partner, event.reference, event.occurred_at, superseded=True)
        log.info("event moves no money", extra={"event_id": event.event_id, "kind": event.kind})
        return None
    index = ()
    if event.kind in PAYMENT_INDEX_KINDS:  # rewritten on every redelivery: idempotent
        index = tuple(
            ("PaymentIndex", key, {"customer": event.customer, "transaction_id": op.op_id})
            for key in _payment_index_keys(event)
        )
    elif event.kind in WITHDRAWAL_KINDS:
        index = ((WITHDRAWAL_INDEX, _withdrawal_key(event), {"transaction_id": op.op_id}),)
    elif is_legacy(event):
        index = (legacy_index_entry(event, op.op_id),)
    result = execute(store, op, also=index)  # the index commits with the posting: no extra round trips
    if result.status in ("posted", "replayed"):
        record_dispute(store, event, op.op_id)
        if supersedes_legacy(event) or is_legacy(event):  # after the commit: either order meets
            settle_legacy(store, event.partner, event.reference, event.occurred_at, superseded=supersedes_legacy(event))
    log.info(
        f"transaction {result.status}",
        extra={
            "event_id": event.event_id,
            "transaction_id": op.op_id,
            "status": result.status,
            "reason": result.reason,
        },
    )
    if result.status in ("posted", "replayed") and defer_stream is not None:
        try:
            defer_stream()  # the outbox record is durable: a batched sweep streams it
        except Exception as exc:  # the posting stands; the periodic sweep (Cloud Scheduler) streams it
            log.warning("stream sweep not scheduled; the outbox keeps the entries", extra={"error": str(exc)})
        return result
    if result.status == "posted":
        stream_outbox(cfg, store, op.op_id, stream)  # the outbox record this commit wrote
    elif result.status == "replayed":
        stream_transaction(cfg, store, op.op_id, stream)  # an earlier stream may have failed
    return result


# ----------------------------------------------------------------------------- parked events


def park(
    store: LedgerStore, event: CanonicalEvent, missing: PredecessorMissing, clock=utcnow, ttl: timedelta = PARK_TTL
) -> Result | None:
    """Record the event as waiting for `missing.waiting_on`, in a transaction that reads that record:
    if the predecessor commits concurrently, one of the two transactions is retried, so a predecessor
    can never land unseen between "missing" and "parked" (its poster queries Parked after its commit).
    Returns None when the predecessor is there after all (post again). Idempotent: a redelivery keeps
    the first parked_at and deadline."""
    kind, name = missing.waiting_on

    def work(tx):
        if tx.get(kind, name) is not None:
            return None
        now = clock()
        previous = tx.get("Parked", event.event_id) or {}
        waiters = tx.get("Waiting", f"{kind}:{name}") or {"events": []}
        if event.event_id not in waiters["events"]:  # the index the predecessor's poster reads by key
            tx.put("Waiting", f"{kind}:{name}", {"events": sorted([*waiters["events"], event.event_id])})
        record = {
            "event_id": event.event_id,
            "partner": event.partner,
            "kind": event.kind,
            "waiting_on": f"{kind}:{name}",
            "reason": str(missing),
            "message": event.to_message().decode(),
            "parked_at": previous.get("parked_at", now),
            "deadline": previous.get("deadline", now + ttl),
            "deliveries": previous.get("deliveries", 0) + 1,
        }
        tx.put("Parked", event.event_id, record)
        return Result("parked", event.event_id, reason=str(missing), record=record)

    return store.transact(work)


def released_by(store: LedgerStore, event: CanonicalEvent, result: Result | None) -> dict[str, dict]:
    """Parked events waiting for what this event just wrote (its transaction, its payment index), to be
    re-driven. Also on a replay: a redelivery finishes a release that failed halfway."""
    if result is None or result.status not in ("posted", "replayed") or event.kind not in PREDECESSOR_KINDS:
        return {}
    keys = [f"JournalTransaction:{result.transaction_id}"]
    if event.kind in PAYMENT_INDEX_KINDS:
        keys += [f"PaymentIndex:{key}" for key in _payment_index_keys(event)]
    if event.kind in WITHDRAWAL_KINDS:
        keys.append(f"{WITHDRAWAL_INDEX}:{_withdrawal_key(event)}")
    waiting = sorted({name for w in store.get_multi("Waiting", keys).values() for name in w["events"]})
    return dict(sorted(store.get_multi("Parked", waiting).items())) if waiting else {}


def redrive(store: LedgerStore, name: str, record: dict, publish: Callable[[bytes, dict[str, str]], object]) -> None:
    """Send a parked event through the normal path again (publish first, then forget the parking: a
    crash in between only re-drives it twice, and the ledger replays the second)."""
    publish(
        record["message"].encode(),
        {"event_id": record["event_id"], "partner": record["partner"], "redrive": "parked"},
    )
    store.transact(lambda tx: _unpark(tx, name, record["waiting_on"]))


def _unpark(tx, name: str, waiting_on: str) -> None:
    tx.delete("Parked", name)
    waiters = tx.get("Waiting", waiting_on)
    if waiters is not None:
        rest = [e for e in waiters["events"] if e != name]
        if rest:
            tx.put("Waiting", waiting_on, {"events": rest})
        else:
            tx.delete("Waiting", waiting_on)


def expire_parked(store: LedgerStore, name: str, clock=utcnow) -> tuple[str, dict | None]:
    """At a parked event's deadline: ("released", None) if it was re-driven already, ("not_due",
    record) before the deadline, ("redrive", record) if its predecessor is there after all, else
    ("dead_letter", record): the record is moved to the dead letters in one transaction."""

    def work(tx):
        record = tx.get("Parked", name)
        if record is None:
            return "released", None
        kind, _, key = record["waiting_on"].partition(":")
        if tx.get(kind, key) is not None:
            return "redrive", record
        now = clock()
        if _aware(record["deadline"]) > now:
            return "not_due", record
        tx.put(
            "DeadLetter",
            f"parked:{name}",
            dead_letter_record(
                source="parked",
                kind="canonical-event",
                key=name,
                payload=record["message"],
                reason_code="predecessor_missing",
                reason=f"{record['reason']} (parked {record['parked_at']:%Y-%m-%dT%H:%M:%SZ}, deadline passed)",
                attempts=record.get("deliveries", 1),
                first_error=record["reason"],
                last_error=record["reason"],
                first_attempt_at=record["parked_at"],
                now=now,
                attributes={"event_id": record["event_id"], "partner": record["partner"]},
            ),
        )
        _unpark(tx, name, record["waiting_on"])
        return "dead_letter", record

    return store.transact(work)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    return streamed  # (one call per record: an operator's repair names what it streamed)


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
