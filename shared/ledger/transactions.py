"""One ledger operation applied exactly once, in one store transaction: the engine (shared.domain.ledger
.apply) plus the outbox record that streams its entries, and the durable record of a rejection or a
conflict. Every write path of the ledger (events, the API, fee bookings, reversals) goes through
`execute`."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime

from shared.domain.ledger.engine import Result, Tx, apply
from shared.domain.ledger.errors import Conflict, Rejected
from shared.domain.ledger.model import Operation
from shared.domain.webhooks.events import Draft, ledger_events
from shared.ledger.store import LedgerConflict, LedgerStore, T, utcnow
from shared.webhooks import outbox as customer_events

log = logging.getLogger("ledgerline.ledger")

_affinity = threading.local()


def salted(work: Callable[[Tx, int], T]) -> Callable[[Tx], T]:
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


def with_outbox(tx: Tx, results: list[Result], clock) -> Result | list[Result]:
    """One Outbox record per commit lists the transactions it posted, in the same transaction: the
    entries reach BigQuery later even if this process dies right after the commit."""
    posted = [r.transaction_id for r in results if r.status == "posted"]
    if posted:
        tx.put("Outbox", posted[0], {"transactions": posted, "recorded_at": clock()})
    return results[0] if len(results) == 1 else results


def with_customer_events(tx: Tx, op: Operation, result: Result, now: datetime) -> None:
    """The customer events of a posted transaction (shared.domain.webhooks.events.ledger_events), in
    the same transaction: transfer.posted, hold.*, balance.updated for the tenants owning its wallets."""
    if result.status != "posted":
        return
    target = tx.get("JournalTransaction", op.target) if op.target and op.kind != "reverse" else None
    drafts = ledger_events(result.record, target, customer_events.tenant_reader(tx))
    customer_events.emit(tx, drafts, now)


def execute(
    store: LedgerStore,
    op: Operation,
    clock: Callable[[], datetime] = utcnow,
    also: tuple[tuple[str, str, dict], ...] = (),
    guard: Callable[[Tx, datetime], None] | None = None,
    events: Callable[[Tx], list[Draft]] | None = None,
    within: Callable[[Tx, Result, datetime], None] | None = None,
) -> Result:
    """Apply op exactly once. A rejection changes nothing and is recorded with its reason; a conflict
    (same id, different body) is recorded and raised. `also`: idempotent records (kind, name, data)
    written in the same transaction when the operation is not rejected (e.g. a payment's index).
    `guard(tx, now)` runs first inside the same transaction and may raise Rejected: a precondition of
    the caller's (e.g. the API's "a capture takes at most what the hold still holds") checked
    atomically with the write. `events(tx)`: the caller's customer events of this change (e.g. a
    payout's status), emitted with the ledger's own when the operation is not rejected. `within(tx,
    result, now)`: the caller's own writes in the same transaction, after the operation applied (e.g.
    an operator's request marked executed and its audit entry); an exception from it aborts all."""

    def work(tx, salt):
        now = clock()
        if guard is not None:
            guard(tx, now)
        result = with_outbox(tx, [apply(op, tx, now, salt)], clock)
        for kind, name, data in also:
            tx.put(kind, name, data)
        with_customer_events(tx, op, result, now)
        if events is not None:
            customer_events.emit(tx, events(tx), now)
        if within is not None:
            within(tx, result, now)
        return result

    try:
        return store.transact(salted(work))
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
        # the line the conflicts alert counts (terraform/modules/monitoring: jsonPayload.message)
        log.error(
            "conflict recorded",
            extra={"conflict_kind": "ledger", "transaction_id": op.op_id, "event_id": op.event_id, "rule": op.rule},
        )
        raise LedgerConflict(str(conflict)) from None
