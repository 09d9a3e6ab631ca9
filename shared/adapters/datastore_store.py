"""Datastore (Firestore in Datastore mode) adapter: the inbox of raw webhooks and the ledger's
accounts, transactions and entries.

Kinds (the ledger's are described in docs/ledger.md):
  Inbox               key "<partner>:<partner event id>"  raw body + headers + verdict, published_at
  InboxBody           key "<owner>#<n>"  chunks of a raw body over 512 KiB; InboxPublished, InboxConflict
  Account, JournalTransaction (entries inside), ChainHead, HoldState, Reversal, Outbox, Rejection, Conflict,
  PaymentIndex, Parked + Waiting (key = the awaited record: the parked events) (docs/retries.md)
  DeadLetter, DeliveryFailure (docs/retries.md); Fault (local fault injection, shared/recovery/faults.py)

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
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import datastore
from google.cloud.datastore import helpers
from google.cloud.datastore_v1.types.datastore import CommitRequest

from shared.config import Settings
from shared.domain.events import CanonicalEvent

T = TypeVar("T")
_clients: dict[str, datastore.Client] = {}
log = logging.getLogger("ledgerline.datastore")
# Process-wide count of transaction attempts retried after contention (observability + tests).
contention_retries = 0

_NO_RETRY = Retry(predicate=lambda exc: False)
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
    backoff_base: float = 0.02,
    backoff_cap: float = 1.0,
    sleep=time.sleep,
    begin_later: bool = False,
) -> T:
    """Run work(txn) in a Datastore transaction; on contention retry with full-jitter backoff.
    begin_later: the first lookup begins the transaction (read options new_transaction: one round trip
    fewer than begin + lookup). Only for work whose reads go through `_DatastoreTx`, which handles
    what the client does not (a deferred key would make it ask for a second new transaction)."""
    for attempt in range(1, attempts + 1):
        try:
            with db.transaction(begin_later=begin_later) as txn:
                result = work(txn)
            return result
        except RETRYABLE as exc:
            if attempt == attempts:
                log.error("transaction gave up after retries", extra={"attempts": attempts, "error": str(exc)})
                raise
            global contention_retries
            contention_retries += 1
            log.warning("transaction retried", extra={"attempt": attempt, "error": type(exc).__name__})
            sleep(random.uniform(0, min(backoff_cap, backoff_base * 2**attempt)))  # noqa: S311 - jitter, not crypto
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
    content_hash: str = ""  # what the event says (not when it arrived): redeliveries must match it
    # Hashes an earlier parser gave the same event ("" when it stored it as not posted): a stored earlier
    # version is this event, not a conflict (not stored; see the partner plugin's legacy_versions).
    equivalent_hashes: tuple[str, ...] = ()

    def conflicts_with(self, stored_hash: str | None) -> bool:
        return bool(self.content_hash) and stored_hash not in (self.content_hash, *self.equivalent_hashes)

    @property
    def key_name(self) -> str:
        return f"{self.partner}:{self.partner_event_id}"


_INBOX_UNINDEXED = ("body", "headers", "canonical", "reason")
# A Datastore entity holds at most 1 MiB, all properties included. Bodies above this size are stored as
# InboxBody chunks ("<owner key>#<n>") written in the same transaction as their owner.
BODY_CHUNK_BYTES = 512 << 10


def _body_entities(db: datastore.Client, owner: str, body: bytes) -> tuple[dict, list[datastore.Entity]]:
    """(properties for the owner record, chunk entities to write with it)."""
    if len(body) <= BODY_CHUNK_BYTES:
        return {"body": body, "body_chunks": 0}, []
    chunks = []
    for number, start in enumerate(range(0, len(body), BODY_CHUNK_BYTES)):
        chunk = datastore.Entity(db.key("InboxBody", f"{owner}#{number}"), exclude_from_indexes=("data",))
        chunk["data"] = body[start : start + BODY_CHUNK_BYTES]
        chunks.append(chunk)
    return {"body": b"", "body_chunks": len(chunks)}, chunks


def _with_body(db: datastore.Client, owner: str, record: datastore.Entity) -> datastore.Entity:
    if record.get("body_chunks"):
        keys = [db.key("InboxBody", f"{owner}#{n}") for n in range(record["body_chunks"])]
        found = {e.key.name: e["data"] for e in db.get_multi(keys)}
        record["body"] = b"".join(found[k.name] for k in keys)
    return record


def _new_inbox_entity(db: datastore.Client, record: InboxRecord) -> tuple[datastore.Entity, list[datastore.Entity]]:
    key = db.key("Inbox", record.key_name)
    entity = datastore.Entity(key, exclude_from_indexes=_INBOX_UNINDEXED)
    body, chunks = _body_entities(db, record.key_name, record.body)
    entity.update(
        {
            **body,
            "partner": record.partner,
            "partner_event_id": record.partner_event_id,
            "partner_event_type": record.partner_event_type,
            "verdict": record.verdict,
            "content_hash": record.content_hash,
            "reason": record.reason,
            "headers": _json(record.headers),
            "received_at": record.received_at,
            "last_delivery_at": record.received_at,
            "deliveries": 1,
            "canonical": record.canonical,
            "trace": record.trace,
        }
    )
    return entity, chunks


def insert(db: datastore.Client, entity: datastore.Entity) -> bool:
    """One commit of an `insert` mutation: creates the entity, or fails if it exists (False), with no
    transaction round trips (begin + lookup + commit). The client library only exposes upserts, so this
    goes through its configured API layer (same transport, emulator or cloud)."""
    request = {
        "project_id": db.project,
        "mode": CommitRequest.Mode.NON_TRANSACTIONAL,
        "mutations": [{"insert": helpers.entity_to_protobuf(entity)._pb}],
    }
    if db.database:
        request["database_id"] = db.database
    try:
        db._datastore_api.commit(request=request)
    except gexc.AlreadyExists:
        return False
    return True


def inbox_put_if_absent(db: datastore.Client, record: InboxRecord) -> tuple[bool, datastore.Entity]:
    """Store the raw event unless we have it already. Returns (created, stored entity).

    First delivery (the hot path): one insert commit. If the event exists already (a redelivery, or a
    concurrent first delivery that won), the transaction below records the delivery (and a conflict)."""
    key = db.key("Inbox", record.key_name)
    entity, fresh_chunks = _new_inbox_entity(db, record)
    if not fresh_chunks and insert(db, entity):  # a chunked body needs the transaction: several entities
        return True, _with_published(entity, None)

    def work(_txn):
        found = {e.key.kind: e for e in db.get_multi([key, db.key("InboxPublished", record.key_name)])}
        existing = found.get("Inbox")
        if existing is not None:
            existing["deliveries"] = existing.get("deliveries", 1) + 1
            existing["last_delivery_at"] = record.received_at
            if record.conflicts_with(existing.get("content_hash")):
                # Same partner event id, different content: keep both, never overwrite the first.
                conflict_name = f"{record.key_name}:{record.content_hash[:16]}"
                conflict = datastore.Entity(db.key("InboxConflict", conflict_name), exclude_from_indexes=("body",))
                body, chunks = _body_entities(db, conflict_name, record.body)
                conflict.update(
                    {
                        "inbox_key": record.key_name,
                        **body,
                        "received_at": record.received_at,
                        "content_hash": record.content_hash,
                    }
                )
                db.put_multi([conflict, *chunks])
                existing["conflicts"] = existing.get("conflicts", 0) + 1
            db.put(existing)
            return False, _with_published(existing, found.get("InboxPublished"))
        entity, chunks = _new_inbox_entity(db, record)
        db.put_multi([entity, *chunks])
        return True, _with_published(entity, None)

    return in_transaction(db, work)


def _with_published(inbox: datastore.Entity, marker: datastore.Entity | None) -> datastore.Entity:
    """The inbox record as readers see it: `published_at` / `message_id` come from its marker."""
    inbox["published_at"] = marker["published_at"] if marker is not None else None
    inbox["message_id"] = marker["message_id"] if marker is not None else None
    return inbox


def inbox_mark_published(db: datastore.Client, key_name: str, message_id: str) -> None:
    """One insert of a separate marker (not a read-modify-write of the inbox record): cheap on the
    webhook's hot path, and it never races with a concurrent duplicate delivery's counter update.
    Writing it twice (republish) only refreshes the same marker."""
    marker = datastore.Entity(db.key("InboxPublished", key_name), exclude_from_indexes=("message_id",))
    marker.update({"published_at": now(), "message_id": message_id})
    db.put(marker)


def inbox_get(db: datastore.Client, key_name: str) -> datastore.Entity | None:
    found = {e.key.kind: e for e in db.get_multi([db.key("Inbox", key_name), db.key("InboxPublished", key_name)])}
    if "Inbox" not in found:
        return None
    return _with_body(db, key_name, _with_published(found["Inbox"], found.get("InboxPublished")))


def inbox_canonical(db: datastore.Client, keys: list[str]) -> dict[str, CanonicalEvent]:
    """The canonical events of accepted inbox records (lookups by key, 1000 per round trip)."""
    found = {}
    for start in range(0, len(keys), 1000):
        for entity in db.get_multi([db.key("Inbox", k) for k in keys[start : start + 1000]]):
            if entity.get("canonical"):
                found[entity.key.name] = CanonicalEvent.model_validate_json(entity["canonical"])
    return found


def inbox_list(db: datastore.Client, partner: str | None = None, limit: int | None = None) -> list[datastore.Entity]:
    query = db.query(kind="Inbox")
    if partner:
        query.add_filter(filter=datastore.query.PropertyFilter("partner", "=", partner))
    items = list(query.fetch(limit=limit))
    keys = [db.key("InboxPublished", i.key.name) for i in items]
    markers = {e.key.name: e for start in range(0, len(keys), 1000) for e in db.get_multi(keys[start : start + 1000])}
    return [_with_published(i, markers.get(i.key.name)) for i in items]


def inbox_received_between(db: datastore.Client, start: datetime, end: datetime, limit: int) -> list[datastore.Entity]:
    """Inbox records received in [start, end) (one inequality on the indexed received_at: no composite
    index), with their published markers."""
    from shared.adapters.datastore_indexes import single_property_range

    items = list(single_property_range(db, "Inbox", "received_at", start, end, limit))
    keys = [db.key("InboxPublished", i.key.name) for i in items]
    markers = {e.key.name: e for start in range(0, len(keys), 1000) for e in db.get_multi(keys[start : start + 1000])}
    return [_with_published(i, markers.get(i.key.name)) for i in items]


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


# ----------------------------------------------------------------------------- ledger store


# Properties the ledger queries by; every other property is excluded from Datastore's built-in indexes
# (index writes dominate commit cost: a posting writes ~9 entities).
INDEXED: dict[str, frozenset[str]] = {
    "Account": frozenset({"account"}),
    "JournalTransaction": frozenset({"event_id", "kind", "expires_at", "recorded_at", "accounts"}),
    "Outbox": frozenset({"transactions"}),
    "Rejection": frozenset({"event_id", "transaction_id"}),
    "Conflict": frozenset({"transaction_id"}),
    "Parked": frozenset({"deadline", "partner"}),
    "Waiting": frozenset(),
    "Dispute": frozenset({"status", "customer", "payment_reference"}),  # shared.ledger.disputes (operators' view)
    "ReconRun": frozenset({"partner", "as_of", "status", "recorded_at"}),
    "ReconBalance": frozenset({"partner"}),
    "FeeBooking": frozenset({"partner", "break_id", "ledger_transaction"}),
    "ReconBreak": frozenset({"partner_status", "partner", "status", "reason_code", "severity", "opened_run"}),
    "DeadLetter": frozenset({"status", "source", "kind", "reason_code", "created_at", "partner"}),
    # Customer API (docs/api.md): tenants, the customers they own, API keys (hash only), idempotency.
    "Tenant": frozenset({"created_at"}),
    "TenantCustomer": frozenset({"tenant"}),
    "ApiKey": frozenset({"tenant", "revoked_at"}),
    "IdempotencyRecord": frozenset({"tenant", "expires_at"}),
}


def _unindexed(kind: str, data: dict, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    if kind not in INDEXED:
        return tuple(data)
    return tuple(sorted(set(data) - INDEXED[kind] | set(extra)))


class _DatastoreTx:
    """shared.domain.ledger.engine.Tx over one Datastore transaction. Reads are batched (prefetch: one lookup for
    many keys, across kinds) and cached; writes are staged, so later reads in the same transaction see
    them, and flushed as one commit (Datastore itself does not show a transaction its own writes)."""

    def __init__(self, db: datastore.Client):
        self.db = db
        self.cache: dict[tuple[str, str], dict | None] = {}
        self.staged: dict[tuple[str, str], tuple[dict | None, tuple[str, ...]]] = {}  # None: delete

    def prefetch(self, pairs: list[tuple[str, str]]) -> None:
        missing = [p for p in dict.fromkeys(pairs) if p not in self.cache and p not in self.staged]
        for start in range(0, len(missing), 1000):  # lookup limit per call
            chunk = missing[start : start + 1000]
            found = {(e.key.kind, e.key.name): dict(e) for e in self._lookup([self.db.key(*p) for p in chunk])}
            for p in chunk:
                self.cache[p] = found.get(p)

    def _lookup(self, keys: list) -> list:
        """Lookup in the current transaction. When it has not begun yet (begin_later), this lookup begins
        it: no automatic retry then (a retried request would begin another server transaction that
        nobody rolls back; in_transaction retries the whole attempt instead), and keys the server
        defers are looked up again here, with the transaction's id (the client would repeat
        new_transaction and fail with "Transaction already begun")."""
        txn = self.db.current_transaction
        first = txn is not None and txn.id is None
        found: list = []
        while keys:
            deferred: list = []
            found += self.db.get_multi(keys, deferred=deferred, **({"retry": _NO_RETRY} if first else {}))
            keys, first = deferred, False
        return found

    def get(self, kind: str, name: str) -> dict | None:
        pair = (kind, name)
        # Shallow copies: the engine replaces values, it never mutates a nested list or dict in place.
        if pair in self.staged:
            staged = self.staged[pair][0]
            return dict(staged) if staged is not None else None
        if pair not in self.cache:
            self.prefetch([pair])
        value = self.cache[pair]
        return dict(value) if value is not None else None

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        self.prefetch([(kind, n) for n in names])
        return {n: v for n in names if (v := self.get(kind, n)) is not None}

    def put(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        self.staged[(kind, name)] = (dict(data), unindexed)

    def delete(self, kind: str, name: str) -> None:
        self.staged[(kind, name)] = (None, ())

    def flush(self) -> None:
        entities, deleted = [], []
        for (kind, name), (data, unindexed) in self.staged.items():
            if data is None:
                deleted.append(self.db.key(kind, name))
                continue
            entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
            entity.update(data)
            entities.append(entity)
        if entities:
            self.db.put_multi(entities)
        if deleted:
            self.db.delete_multi(deleted)


class DatastoreLedger:
    """The ledger's LedgerStore on Datastore: every transact() is one Datastore transaction, retried
    on contention with bounded jittered backoff (in_transaction)."""

    def __init__(self, db: datastore.Client):
        self.db = db

    def transact(self, work: Callable[[_DatastoreTx], T]) -> T:
        def attempt(_txn):
            tx = _DatastoreTx(self.db)
            result = work(tx)
            tx.flush()
            return result

        return in_transaction(self.db, attempt, begin_later=True)

    def get(self, kind: str, name: str) -> dict | None:
        entity = self.db.get(self.db.key(kind, name))
        return dict(entity) if entity is not None else None

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        """One lookup round trip (no query) for many keys of one kind."""
        found = {}
        for start in range(0, len(names), 1000):
            keys = [self.db.key(kind, n) for n in names[start : start + 1000]]
            found.update({e.key.name: dict(e) for e in self.db.get_multi(keys)})
        return found

    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
        entity.update(data)
        self.db.put(entity)

    def insert(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> bool:
        """Create the record unless it exists (False then): one commit, no transaction round trips."""
        entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
        entity.update(data)
        return insert(self.db, entity)

    def delete(self, kind: str, name: str) -> None:
        self.db.delete(self.db.key(kind, name))

    def delete_multi(self, kind: str, names: list[str]) -> None:
        for start in range(0, len(names), 500):  # mutations per commit
            self.db.delete_multi([self.db.key(kind, n) for n in names[start : start + 500]])

    def query(self, kind: str, prop: str, value) -> dict[str, dict]:
        query = self.db.query(kind=kind)
        query.add_filter(filter=datastore.query.PropertyFilter(prop, "=", value))
        return {e.key.name: dict(e) for e in query.fetch()}

    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]:
        return {kind: {e.key.name: dict(e) for e in self.db.query(kind=kind).fetch()} for kind in kinds}


def count(db: datastore.Client, kind: str) -> int:
    query = db.query(kind=kind)
    query.keys_only()  # mutates the query (returns None in google-cloud-datastore 2.x)
    return sum(1 for _ in query.fetch())
