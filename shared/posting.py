"""Ledger flow for one canonical event: journal (pure) -> Datastore transaction -> BigQuery stream.

Streaming happens after the commit and is idempotent: rows carry insertId = entry id, and the
transaction's `streamed` flag is set only after BigQuery accepted them. A failure raises, so Pub/Sub
redelivers; the redelivery replays the Datastore part (no new money) and retries the stream.
"""

from __future__ import annotations

import logging

from shared import bigquery_sink
from shared import datastore_store as store
from shared.config import Settings
from shared.events import CanonicalEvent
from shared.ledger import JournalTransaction, journal_for
from shared.topology import ENTRIES_TABLE

log = logging.getLogger("ledgerline.ledger")


def entry_rows(journal: JournalTransaction, posted_at) -> list[dict]:
    return [
        {
            "entry_id": e.entry_id,
            "transaction_id": e.transaction_id,
            "account": e.account,
            "currency": e.currency,
            "direction": e.direction,
            "amount": e.amount,
            "rule": journal.rule,
            "event_id": journal.event_id,
            "partner": journal.partner,
            "posted_at": posted_at.isoformat(),
        }
        for e in journal.entries
    ]


def post_event(cfg: Settings, event: CanonicalEvent, *, db, stream=bigquery_sink.stream) -> store.PostResult:
    journal = journal_for(event)
    result = store.post(db, journal)
    ids = {"event_id": event.event_id, "transaction_id": journal.transaction_id}
    log.info(f"transaction {result.status}", extra={**ids, "status": result.status})
    if not result.streamed:
        rows = entry_rows(journal, result.posted_at)
        stream(cfg, ENTRIES_TABLE, rows, [r["entry_id"] for r in rows])
        store.mark_streamed(db, journal.transaction_id)
        log.info("entries streamed to BigQuery", extra={**ids, "rows": len(rows)})
    return result
