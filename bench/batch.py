"""Several ledger operations in ONE store transaction: the batched posting path the ledger benchmark
measures against single postings (bench/ledger.py `posting_batched`). Not a production path: the
ledger function posts one event per push delivery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.ledger.engine import Result, apply, reads_for
from shared.domain.ledger.errors import Conflict, PredecessorMissing, Rejected
from shared.domain.ledger.model import Operation
from shared.ledger.store import LedgerConflict, LedgerStore, utcnow
from shared.ledger.transactions import execute, salted, with_outbox

MAX_BATCH = 60  # ~6 writes per posting + shared shards/chain head, under Datastore's 500 per transaction


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
        with_outbox(tx, results, clock)
        return results

    try:
        return store.transact(salted(work))
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
