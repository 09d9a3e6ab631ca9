"""Streaming committed entries to BigQuery through the outbox, after the commit.

Each posting commit inserts one Outbox record listing its transactions; a batched sweep
(`stream_pending`, run by a `stream-pending` retries task the posting asks for, and every minute by
Cloud Scheduler) sends the rows of every pending record in one insert call with insertId = entry id
and deletes the records only after BigQuery accepted them; a record BigQuery refuses is quarantined
and dead-lettered alone. `restream_pending` is the operator's repair."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from google.api_core import exceptions as gexc

from shared.adapters import bigquery_sink
from shared.config import Settings
from shared.errors import PermanentError
from shared.ledger.store import LedgerStore, OutboxRecord, StoredTransaction, utcnow
from shared.recovery.policies import Task
from shared.topology import ENTRIES_TABLE, TRANSACTIONS_TABLE

log = logging.getLogger("ledgerline.ledger")
TRANSACTION_KIND = "JournalTransaction"


def entry_rows(transaction: StoredTransaction) -> list[dict]:
    """BigQuery rows (topology/bigquery/entries.json) for one transaction's entries."""
    return [
        {
            "entry_id": f"{transaction.id}:{e.index}",
            "transaction_id": transaction.id,
            "account": e.account,
            "currency": e.currency,
            "shard": e.shard,
            "direction": e.direction,
            "phase": e.phase,
            "amount": e.amount,
            "account_version": e.account_version,
            "rule": transaction.rule,
            "event_id": transaction.event_id,
            "partner": transaction.partner,
            "effective_at": transaction.effective_at.isoformat(),
            "posted_at": transaction.recorded_at.isoformat(),
        }
        for e in transaction.entries
    ]


def transaction_row(transaction: StoredTransaction) -> dict:
    """The BigQuery row (topology/bigquery/transactions.json) of one transaction: its place in the hash
    chain and every field its hash covers besides the entries (shared.domain.ledger.chain.chain_hash)."""

    def iso(moment):
        return moment.isoformat() if moment is not None else None

    return {
        "transaction_id": transaction.id,
        "chain_id": transaction.chain_id,
        "seq": transaction.seq,
        "prev_hash": transaction.prev_hash,
        "hash": transaction.hash,
        "content_hash": transaction.content_hash,
        "ledger": transaction.ledger,
        "kind": transaction.kind,
        "rule": transaction.rule,
        "event_id": transaction.event_id,
        "partner": transaction.partner,
        "body_hash": transaction.body_hash,
        "target": transaction.target,
        "effective_at": iso(transaction.effective_at),
        "recorded_at": iso(transaction.recorded_at),
        "expires_at": iso(transaction.expires_at),
        "entry_count": len(transaction.entries),
    }


def _stream_rows(
    cfg: Settings, store: LedgerStore, records: list[OutboxRecord], transactions: dict[str, StoredTransaction], stream
) -> int:
    """The entries and the transaction rows of the records' transactions, one insert call per table
    (insertId = entry / transaction id). Entries first: a transaction row, the chain's anchor, never
    precedes its entries. When the entries went in and the transactions rows did not, the records say
    so (`entries_streamed`) before the error goes on, so the next attempt sends only the transactions
    rows: BigQuery's insertId dedupe is best effort over about a minute, a later retry would double them."""
    mine = [(r, [transactions[t] for t in r.transactions if t in transactions]) for r in records]
    rows = [row for r, txns in mine if not r.entries_streamed for t in txns for row in entry_rows(t)]
    if rows:
        stream(cfg, ENTRIES_TABLE, stamped(rows), [r["entry_id"] for r in rows])
    chain = [transaction_row(t) for _, txns in mine for t in txns]
    try:
        stream(cfg, TRANSACTIONS_TABLE, stamped(chain), [r["transaction_id"] for r in chain])
    except Exception:
        fresh = [r for r, _ in mine if not r.entries_streamed]
        if rows and fresh:
            try:
                store.mark_entries_streamed(fresh)
            except Exception as exc:  # the entries may be sent again: BigQuery dedupes, verify reports
                log.warning("outbox progress not recorded", extra={"outboxes": len(fresh), "error": str(exc)})
        raise
    return len(rows)


def stamped(rows: list[dict]) -> list[dict]:
    """The rows with `streamed_at`: one instant per insert call, taken just before it (entry_rows stays
    a pure function of the transaction; this is the only field that depends on when it streams)."""
    now = utcnow().isoformat()
    return [{**row, "streamed_at": now} for row in rows]


def stream_outbox(cfg: Settings, store: LedgerStore, outbox_id: str, stream=bigquery_sink.stream) -> list[str]:
    """Stream the entries of every transaction an outbox record lists, then delete the record."""
    outbox = store.outbox_record(outbox_id)
    if outbox is None:
        return []
    rows = _stream_rows(cfg, store, [outbox], store.transactions(list(outbox.transactions)), stream)
    store.delete_outbox([outbox_id])
    log.info("entries streamed to BigQuery", extra={"outbox": outbox_id, "rows": rows})
    return list(outbox.transactions)


def stream_pending(cfg: Settings, store: LedgerStore, stream=bigquery_sink.stream, limit: int = 500) -> int:
    """Stream the entries of up to `limit` outbox records in ONE insert call, then delete those records.
    Returns how many transactions were streamed. Safe to repeat or run concurrently: rows carry
    insertId = entry id (BigQuery dedupes best effort; `verify` reports any duplicate)."""
    outbox = [record for record in store.outbox_records() if not record.quarantined][:limit]
    if not outbox:
        return 0
    names = sorted({txn for record in outbox for txn in record.transactions})
    transactions = store.transactions(names)
    try:
        rows = _stream_rows(cfg, store, outbox, transactions, stream)
    except (bigquery_sink.StreamingError, gexc.BadRequest) as refused:
        # BigQuery refused rows (not an outage): stream record by record, so one bad record cannot
        # block everyone's streaming; what is refused alone is quarantined (skipped by later sweeps,
        # still reported by verify) and raised, so the task ends as a dead letter naming it.
        return _stream_one_by_one(cfg, store, outbox, stream, refused)
    store.delete_outbox([record.id for record in outbox])
    log.info("entries streamed to BigQuery", extra={"outboxes": len(outbox), "rows": rows})
    return len(names)


def _stream_one_by_one(cfg, store: LedgerStore, outbox: list[OutboxRecord], stream, refused: Exception) -> int:
    streamed, refusals = 0, []
    for record in outbox:
        try:
            streamed += len(stream_outbox(cfg, store, record.id, stream))
        except (bigquery_sink.StreamingError, gexc.BadRequest) as exc:
            refusals.append((record, exc))
    if len(outbox) > 1 and len(refusals) == len(outbox):
        # every record refused alone: the table or its schema, not the records (e.g. a deploy ahead of
        # its table) — quarantining would stop the whole stream; retried by the task's policy instead
        raise RuntimeError(f"BigQuery refused every one of {len(outbox)} outbox records: {refused}")
    bad = []
    for record, exc in refusals:
        store.quarantine_outbox(store.outbox_record(record.id) or record, str(exc)[:1000])
        bad.append(record.id)
    if bad:
        log.error("outbox records refused by BigQuery: quarantined", extra={"outboxes": bad})
        raise PermanentError(f"BigQuery refused outbox record(s) {bad}: {refused}")
    return streamed


def ask_for_sweep(result, request_stream: Callable[[], None]) -> None:
    """After a posting's commit (result: a shared.domain.ledger Result, or None when nothing moved): ask
    for the batched sweep that streams a posted or replayed transaction (a replay's earlier stream may
    have failed). If it cannot be asked for, the posting stands: its outbox record is durable and the
    periodic sweep (Cloud Scheduler) streams it."""
    if result is None or result.status not in ("posted", "replayed"):
        return
    try:
        request_stream()
    except Exception as exc:
        log.warning("stream sweep not scheduled; the outbox keeps the entries", extra={"error": str(exc)})


def stream_transaction(cfg: Settings, store: LedgerStore, transaction_id: str, stream=bigquery_sink.stream) -> bool:
    """Stream whatever outbox still holds this transaction. Returns True if something streamed."""
    streamed = False
    for record in store.outboxes_of(transaction_id):
        streamed |= bool(stream_outbox(cfg, store, record.id, stream))
    return streamed


def streamed_transactions(store: LedgerStore, event_id: str) -> list[str]:
    """The event's transactions that are committed and whose entries left the outbox (reached BigQuery)."""
    return [t.id for t in store.transactions_of_event(event_id) if not store.outboxes_of(t.id)]


def restream_pending(cfg: Settings, *, store: LedgerStore, stream=bigquery_sink.stream) -> list[str]:
    """Stream every committed transaction still in the outbox. Safe to repeat (insertId = entry id)."""
    streamed = []
    for record in store.outbox_records():
        streamed += stream_outbox(cfg, store, record.id, stream)
    return streamed  # (one call per record: an operator's repair names what it streamed)


SWEEP_BATCH = 500  # outbox records per insert call
SWEEP_CALLS = 10  # insert calls per sweep task: up to 5,000 transactions; the next sweep takes the rest


def sweep(cfg: Settings, store: LedgerStore, stream=bigquery_sink.stream) -> tuple[int, int]:
    """One outbox sweep (the `stream-pending` task): up to SWEEP_CALLS insert calls of SWEEP_BATCH
    records each. Returns (transactions streamed, records left behind, quarantined ones excepted):
    what arrived meanwhile, or more than one sweep takes, is for the next sweep."""
    total = 0
    for _ in range(SWEEP_CALLS):
        streamed = stream_pending(cfg, store, stream, limit=SWEEP_BATCH)
        total += streamed
        if streamed < SWEEP_BATCH:
            break
    left = sum(1 for record in store.outbox_records() if not record.quarantined)
    return total, left


class StreamRequests:
    """Asks for a batched outbox sweep in the next second, after a commit: one `stream-pending` task
    per second (the task's name carries the second, so the cloud dedupes it across instances, and a
    task of this second runs at the next one, after every commit of this second; this instance also
    skips asking twice in one second). Safety nets: a sweep that leaves records behind asks for the
    next one, and Cloud Scheduler runs one a minute (topology.json scheduler.jobs).

    `schedule` is the retries queue (shared.recovery.service.Schedule); one instance per process."""

    def __init__(self, schedule, clock=utcnow, kind: str = "stream-pending"):
        self._schedule = schedule
        self._clock = clock
        self._kind = kind  # another sweep asked for the same way (e.g. operations-sweep: audit entries)
        self._last_second: int | None = None

    def __call__(self) -> None:
        second = int(self._clock().timestamp())
        if self._last_second == second:
            return
        self._schedule(Task(self._kind, f"second-{second}"), datetime.fromtimestamp(second + 1, tz=UTC))
        self._last_second = second


def anchored_transaction_ids(cfg: Settings) -> set[str]:
    """The transaction ids BigQuery `transactions` holds."""
    return {r["transaction_id"] for r in bigquery_sink.query(cfg, "SELECT transaction_id FROM {table:transactions}")}


def backfill_chain(
    cfg: Settings,
    store: LedgerStore,
    stream=bigquery_sink.stream,
    batch: int = 500,
    anchored: Callable[[Settings], set[str]] = anchored_transaction_ids,
) -> dict:
    """One-off migration (`ledgerline chain-anchor backfill`) for transactions committed before the
    chain was anchored: re-write each as it is (Datastore then indexes `chain_id`: the chain-head query
    of statements finds it) and stream its `transactions` row unless BigQuery has it already.
    Transactions still in the outbox are left to the sweep. Idempotent; logs progress every `batch`
    transactions."""
    rows = store.snapshot((TRANSACTION_KIND,))[TRANSACTION_KIND]
    pending = {txn for record in store.outbox_records() for txn in record.transactions}
    there = anchored(cfg)  # already in BigQuery: not sent again (insertId dedupe is best effort, ~1 minute)
    names = sorted(rows)
    streamed = 0
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        for name in chunk:
            store.record(TRANSACTION_KIND, name, rows[name])
        ready = [
            t for name, t in sorted(store.transactions(chunk).items()) if name not in pending and name not in there
        ]
        if ready:
            chain = [transaction_row(t) for t in ready]
            stream(cfg, TRANSACTIONS_TABLE, stamped(chain), [r["transaction_id"] for r in chain])
            streamed += len(chain)
        log.info("chain anchor backfill", extra={"done": start + len(chunk), "of": len(names), "streamed": streamed})
    return {
        "transactions": len(names),
        "reindexed": len(names),
        "streamed": streamed,
        "already_anchored": len(there & set(names)),
        "left_to_sweep": len(pending),
    }
