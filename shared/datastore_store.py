"""Datastore (Firestore in Datastore mode) adapter: the inbox of raw webhooks and the ledger's
accounts, transactions and entries.

Kinds:
  Inbox               key "<partner>:<partner event id>"  raw body + headers + verdict, published_at
  Account             key "<account>|<currency>"          debits_posted, credits_posted, version
  JournalTransaction  key "<transaction id>"              rule, event, body hash, streamed flag
  Entry               key "<transaction id>:<index>"      one leg of a transaction
  Conflict            key "<transaction id>:<body hash>"  same transaction id, different body

Every read-modify-write runs in ONE Datastore transaction, retried on contention aborts with bounded,
jittered exponential backoff (the client library does not retry transactions itself).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import datastore

from shared.config import Settings
from shared.errors import PermanentError
from shared.ledger import AccountBalance, JournalTransaction, account_type

T = TypeVar("T")
_clients: dict[str, datastore.Client] = {}
log = logging.getLogger("ledgerline.datastore")
# Process-wide count of transaction attempts retried after contention (observability + tests).
contention_retries = 0

RETRYABLE = (gexc.Aborted, gexc.Conflict, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError)


def client(cfg: Settings) -> datastore.Client:
    if cfg.project not in _clients:
        _clients[cfg.project] = datastore.Client(project=cfg.project)
    return _clients[cfg.project]


def in_transaction(
    db: datastore.Client,
    work: Callable[[datastore.Transaction], T],
    *,
    attempts: int = 10,
    base: float = 0.02,
    cap: float = 1.0,
    sleep=time.sleep,
) -> T:
    """Run work(txn) in a Datastore transaction; on contention retry with full-jitter backoff."""
    for attempt in range(1, attempts + 1):
        try:
            with db.transaction() as txn:
                result = work(txn)
            return result
        except RETRYABLE as exc:
            if attempt == attempts:
                log.error("transaction gave up after retries", extra={"attempts": attempts, "error": str(exc)})
                raise
            global contention_retries
            contention_retries += 1
            log.warning("transaction retried", extra={"attempt": attempt, "error": type(exc).__name__})
            sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


def now() -> datetime:
    return datetime.now(tz=UTC)


# ----------------------------------------------------------------------------- inbox


@dataclass(frozen=True)
class InboxRecord:
    partner: str
    partner_event_id: str
    partner_event_type: str
    verdict: str
    reason: str | None
    body: bytes
    headers: dict[str, str]
    received_at: datetime
    canonical: bytes | None  # the canonical message to publish (None when verdict != accepted)
    trace: str | None = None

    @property
    def key_name(self) -> str:
        return f"{self.partner}:{self.partner_event_id}"


_INBOX_UNINDEXED = ("body", "headers", "canonical", "reason")


def inbox_put_if_absent(db: datastore.Client, record: InboxRecord) -> tuple[bool, datastore.Entity]:
    """Store the raw event unless we have it already. Returns (created, stored entity)."""
    key = db.key("Inbox", record.key_name)

    def work(_txn):
        existing = db.get(key)
        if existing is not None:
            existing["deliveries"] = existing.get("deliveries", 1) + 1
            existing["last_delivery_at"] = record.received_at
            db.put(existing)
            return False, existing
        entity = datastore.Entity(key, exclude_from_indexes=_INBOX_UNINDEXED)
        entity.update(
            {
                "partner": record.partner,
                "partner_event_id": record.partner_event_id,
                "partner_event_type": record.partner_event_type,
                "verdict": record.verdict,
                "reason": record.reason,
                "body": record.body,
                "headers": _json(record.headers),
                "received_at": record.received_at,
                "last_delivery_at": record.received_at,
                "deliveries": 1,
                "canonical": record.canonical,
                "published_at": None,
                "trace": record.trace,
            }
        )
        db.put(entity)
        return True, entity

    return in_transaction(db, work)


def inbox_mark_published(db: datastore.Client, key_name: str, message_id: str) -> None:
    key = db.key("Inbox", key_name)

    def work(_txn):
        entity = db.get(key)
        if entity is not None and entity.get("published_at") is None:
            entity["published_at"] = now()
            entity["message_id"] = message_id
            db.put(entity)

    in_transaction(db, work)


def inbox_get(db: datastore.Client, key_name: str) -> datastore.Entity | None:
    return db.get(db.key("Inbox", key_name))


def inbox_list(db: datastore.Client, partner: str | None = None, limit: int | None = None) -> list[datastore.Entity]:
    query = db.query(kind="Inbox")
    if partner:
        query.add_filter(filter=datastore.query.PropertyFilter("partner", "=", partner))
    return list(query.fetch(limit=limit))


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


# ----------------------------------------------------------------------------- ledger


class LedgerConflict(PermanentError):
    """Same transaction id, different body: recorded, never overwritten."""


@dataclass(frozen=True)
class PostResult:
    transaction_id: str
    status: str  # "posted" | "replayed"
    streamed: bool
    posted_at: datetime


def _account_key(db, account: str, currency: str):
    return db.key("Account", f"{account}|{currency}")


def post(db: datastore.Client, journal: JournalTransaction) -> PostResult:
    """Apply a balanced journal transaction exactly once: entries, balances and the transaction record
    change together in one Datastore transaction, or not at all."""
    txn_key = db.key("JournalTransaction", journal.transaction_id)
    pairs = sorted({(e.account, e.currency) for e in journal.entries})
    account_keys = [_account_key(db, a, c) for a, c in pairs]

    def work(_txn):
        existing = db.get(txn_key)
        if existing is not None:
            if existing["body_hash"] != journal.body_hash:
                return "conflict", existing
            return "replayed", existing
        found = {e.key.name: e for e in db.get_multi(account_keys)}
        stamp = now()
        accounts = {}
        for (account, currency), key in zip(pairs, account_keys, strict=True):
            entity = found.get(key.name)
            if entity is None:
                entity = datastore.Entity(key)
                entity.update(
                    {
                        "account": account,
                        "currency": currency,
                        "type": account_type(account),
                        "debits_posted": 0,
                        "credits_posted": 0,
                        "version": 0,
                        "created_at": stamp,
                    }
                )
            accounts[(account, currency)] = entity
        entries = []
        for e in journal.entries:
            acct = accounts[(e.account, e.currency)]
            acct["debits_posted" if e.direction == "debit" else "credits_posted"] += e.amount
            entity = datastore.Entity(db.key("Entry", e.entry_id))
            entity.update(
                {
                    "transaction_id": e.transaction_id,
                    "index": e.index,
                    "account": e.account,
                    "currency": e.currency,
                    "direction": e.direction,
                    "amount": e.amount,
                    "posted_at": stamp,
                }
            )
            entries.append(entity)
        for acct in accounts.values():
            acct["version"] += 1
            acct["updated_at"] = stamp
        record = datastore.Entity(txn_key)
        record.update(
            {
                "rule": journal.rule,
                "event_id": journal.event_id,
                "partner": journal.partner,
                "body_hash": journal.body_hash,
                "entry_count": len(entries),
                "currencies": journal.currencies(),
                "posted_at": stamp,
                "streamed": False,
            }
        )
        db.put_multi([*accounts.values(), *entries, record])
        return "posted", record

    status, record = in_transaction(db, work)
    if status == "conflict":
        conflict = datastore.Entity(db.key("Conflict", f"{journal.transaction_id}:{journal.body_hash}"))
        conflict.update(
            {
                "transaction_id": journal.transaction_id,
                "event_id": journal.event_id,
                "stored_hash": record["body_hash"],
                "incoming_hash": journal.body_hash,
                "recorded_at": now(),
            }
        )
        db.put(conflict)
        raise LedgerConflict(
            f"transaction {journal.transaction_id} exists with a different body "
            f"(stored {record['body_hash'][:12]}, incoming {journal.body_hash[:12]})"
        )
    return PostResult(journal.transaction_id, status, bool(record.get("streamed")), record["posted_at"])


def entries_of(db: datastore.Client, transaction_id: str) -> list[datastore.Entity]:
    query = db.query(kind="Entry")
    query.add_filter(filter=datastore.query.PropertyFilter("transaction_id", "=", transaction_id))
    return sorted(query.fetch(), key=lambda e: e["index"])


def mark_streamed(db: datastore.Client, transaction_id: str) -> None:
    key = db.key("JournalTransaction", transaction_id)

    def work(_txn):
        entity = db.get(key)
        if entity is not None and not entity.get("streamed"):
            entity["streamed"] = True
            entity["streamed_at"] = now()
            db.put(entity)

    in_transaction(db, work)


# ----------------------------------------------------------------------------- snapshots for verify / CLI


def all_balances(db: datastore.Client) -> list[AccountBalance]:
    return [
        AccountBalance(e["account"], e["currency"], e["debits_posted"], e["credits_posted"])
        for e in db.query(kind="Account").fetch()
    ]


def account_balances(db: datastore.Client, account: str) -> list[AccountBalance]:
    query = db.query(kind="Account")
    query.add_filter(filter=datastore.query.PropertyFilter("account", "=", account))
    return [AccountBalance(e["account"], e["currency"], e["debits_posted"], e["credits_posted"]) for e in query.fetch()]


class EntryRow(NamedTuple):
    """An Entry as stored; not re-validated, so `verify` can report a bad row instead of crashing."""

    entry_id: str
    transaction_id: str
    index: int
    account: str
    currency: str
    direction: str
    amount: int


def all_entries(db: datastore.Client) -> list[EntryRow]:
    return [
        EntryRow(e.key.name, e["transaction_id"], e["index"], e["account"], e["currency"], e["direction"], e["amount"])
        for e in db.query(kind="Entry").fetch()
    ]


def unstreamed_transactions(db: datastore.Client) -> list[datastore.Entity]:
    query = db.query(kind="JournalTransaction")
    query.add_filter(filter=datastore.query.PropertyFilter("streamed", "=", False))
    return list(query.fetch())


def count(db: datastore.Client, kind: str) -> int:
    query = db.query(kind=kind)
    query.keys_only()  # mutates the query (returns None in google-cloud-datastore 2.x)
    return sum(1 for _ in query.fetch())


def all_transactions(db: datastore.Client) -> list[datastore.Entity]:
    return list(db.query(kind="JournalTransaction").fetch())
