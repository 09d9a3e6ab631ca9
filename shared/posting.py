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
from shared.ledger import journal_for
from shared.topology import ENTRIES_TABLE

log = logging.getLogger("ledgerline.ledger")


def entry_rows(entries, *, rule: str, event_id: str, partner: str, posted_at) -> list[dict]:
    """BigQuery rows (topology/bigquery/entries.json) for entries of one transaction."""
    return [
        {
            "entry_id": e.entry_id,
            "transaction_id": e.transaction_id,
            "account": e.account,
            "currency": e.currency,
            "direction": e.direction,
            "amount": e.amount,
            "rule": rule,
            "event_id": event_id,
            "partner": partner,
            "posted_at": posted_at.isoformat(),
        }
        for e in entries
    ]


def _stream(cfg: Settings, db, transaction_id: str, rows: list[dict], stream) -> None:
    stream(cfg, ENTRIES_TABLE, rows, [r["entry_id"] for r in rows])
    store.mark_streamed(db, transaction_id)
    log.info("entries streamed to BigQuery", extra={"transaction_id": transaction_id, "rows": len(rows)})


def post_event(cfg: Settings, event: CanonicalEvent, *, db, stream=bigquery_sink.stream) -> store.PostResult:
    journal = journal_for(event)
    result = store.post(db, journal)
    ids = {"event_id": event.event_id, "transaction_id": journal.transaction_id}
    log.info(f"transaction {result.status}", extra={**ids, "status": result.status})
    if not result.streamed:
        rows = entry_rows(
            journal.entries,
            rule=journal.rule,
            event_id=journal.event_id,
            partner=journal.partner,
            posted_at=result.posted_at,
        )
        _stream(cfg, db, journal.transaction_id, rows, stream)
    return result


def restream_pending(cfg: Settings, *, db, stream=bigquery_sink.stream) -> list[str]:
    """Stream every posted transaction whose entries have not reached BigQuery (e.g. its message was
    dead-lettered during a BigQuery outage). Safe to repeat: rows carry insertId = entry id."""
    done = []
    for txn in store.unstreamed_transactions(db):
        entries = store.entries_of(db, txn.key.name)
        rows = entry_rows(
            [
                store.EntryRow(
                    e.key.name,
                    e["transaction_id"],
                    e["index"],
                    e["account"],
                    e["currency"],
                    e["direction"],
                    e["amount"],
                )
                for e in entries
            ],
            rule=txn["rule"],
            event_id=txn["event_id"],
            partner=txn["partner"],
            posted_at=txn["posted_at"],
        )
        _stream(cfg, db, txn.key.name, rows, stream)
        done.append(txn.key.name)
    return done
