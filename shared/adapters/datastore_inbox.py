"""The intake Inbox (shared.intake.inbox) on Datastore. Kinds and layout (existing records read as-is):

Inbox           key "<partner>:<partner event id>"  the first delivery: raw body (or body_chunks), headers
                (JSON text), verdict, reason, canonical, content_hash, trace, received_at, last_delivery_at,
                deliveries, conflicts, customer (the canonical event's; indexed: erasure requests),
                our_reference (the record of ours it is about; indexed: a payout's timeline),
                redacted_at / redaction (the body and headers removed: shared.operations.retention)
InboxBody       key "<owner>#<n>"  chunks of a raw body over 512 KiB (owner: an Inbox or InboxConflict key)
InboxPublished  key = the Inbox key   published_at, message_id (a marker, not a field of the event)
InboxConflict   key "<inbox key>:<content hash[:16]>"  a redelivery with different content: inbox_key, body,
                received_at, content_hash
"""

from __future__ import annotations

import json
from datetime import datetime

from google.cloud import datastore

from shared.adapters.datastore_indexes import in_key_order, single_property_range
from shared.adapters.datastore_store import in_transaction, insert, now
from shared.domain.events import CanonicalEvent
from shared.intake.inbox import InboxConflict, InboxEvent, InboxRecord

INBOX, BODY, PUBLISHED, CONFLICT = "Inbox", "InboxBody", "InboxPublished", "InboxConflict"
_INBOX_UNINDEXED = ("body", "headers", "canonical", "reason")
# A Datastore entity holds at most 1 MiB, all properties included. Bodies above this size are stored as
# InboxBody chunks ("<owner key>#<n>") written in the same transaction as their owner.
BODY_CHUNK_BYTES = 512 << 10
LOOKUP_LIMIT = 1000  # keys per lookup


class DatastoreInbox:
    """The Inbox port over one Datastore client. First deliveries (the hot path) are one insert commit;
    a redelivery (or a chunked body) is one transaction."""

    def __init__(self, db: datastore.Client):
        self.db = db

    def put_if_absent(self, record: InboxRecord) -> tuple[bool, InboxEvent]:
        db = self.db
        key = db.key(INBOX, record.key_name)
        entity, fresh_chunks = self._new_entity(record)
        if not fresh_chunks and insert(db, entity):  # a chunked body needs the transaction: several entities
            return True, _event(entity, None)

        def work(_txn):
            found = {e.key.kind: e for e in db.get_multi([key, db.key(PUBLISHED, record.key_name)])}
            existing = found.get(INBOX)
            if existing is not None:
                existing["deliveries"] = existing.get("deliveries", 1) + 1
                existing["last_delivery_at"] = record.received_at
                if record.conflicts_with(existing.get("content_hash")):
                    # Same partner event id, different content: keep both, never overwrite the first.
                    conflict_name = f"{record.key_name}:{record.content_hash[:16]}"
                    conflict = datastore.Entity(db.key(CONFLICT, conflict_name), exclude_from_indexes=("body",))
                    body, chunks = self._body_entities(conflict_name, record.body)
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
                return False, _event(existing, found.get(PUBLISHED))
            entity, chunks = self._new_entity(record)
            db.put_multi([entity, *chunks])
            return True, _event(entity, None)

        return in_transaction(db, work)

    def mark_published(self, key: str, message_id: str) -> None:
        """One insert of a separate marker (not a read-modify-write of the inbox record): cheap on the
        webhook's hot path, and it never races with a concurrent duplicate delivery's counter update.
        Writing it twice (republish) only refreshes the same marker."""
        marker = datastore.Entity(self.db.key(PUBLISHED, key), exclude_from_indexes=("message_id",))
        marker.update({"published_at": now(), "message_id": message_id})
        self.db.put(marker)

    def get(self, key: str) -> InboxEvent | None:
        db = self.db
        found = {e.key.kind: e for e in db.get_multi([db.key(INBOX, key), db.key(PUBLISHED, key)])}
        if INBOX not in found:
            return None
        return _event(found[INBOX], found.get(PUBLISHED), body=self._body(key, found[INBOX]))

    def canonical(self, keys: list[str]) -> dict[str, CanonicalEvent]:
        """Lookups by key, 1000 per round trip."""
        found = {}
        for start in range(0, len(keys), LOOKUP_LIMIT):
            for entity in self.db.get_multi([self.db.key(INBOX, k) for k in keys[start : start + LOOKUP_LIMIT]]):
                if entity.get("canonical"):
                    found[entity.key.name] = CanonicalEvent.model_validate_json(entity["canonical"])
        return found

    def events(self, partner: str | None = None, limit: int | None = None) -> list[InboxEvent]:
        query = self.db.query(kind=INBOX)
        if partner:
            query.add_filter(filter=datastore.query.PropertyFilter("partner", "=", partner))
        return self._with_markers(list(query.fetch(limit=limit)))

    def received_between(self, start: datetime, end: datetime, limit: int | None = None) -> list[InboxEvent]:
        """One inequality on the indexed received_at: no composite index."""
        return self._with_markers(list(single_property_range(self.db, INBOX, "received_at", start, end, limit)))

    def conflicts(self) -> list[InboxConflict]:
        return [
            InboxConflict(c["inbox_key"], c.get("content_hash", ""), c.get("received_at"))
            for c in self.db.query(kind=CONFLICT).fetch()
        ]

    def keys_of_customer(self, customer: str) -> list[str]:
        query = self.db.query(kind=INBOX)
        query.add_filter(filter=datastore.query.PropertyFilter("customer", "=", customer))
        query.keys_only()
        return sorted(e.key.name for e in query.fetch())

    def about(self, reference: str) -> list[InboxEvent]:
        """An equality on the indexed our_reference (the built-in index), sorted here: a record of ours has
        a handful of events."""
        query = self.db.query(kind=INBOX)
        query.add_filter(filter=datastore.query.PropertyFilter("our_reference", "=", reference))
        return sorted(self._with_markers(list(query.fetch())), key=lambda e: (e.received_at, e.key))

    def unreferenced(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """A page in key order (the built-in key index); an entity written since the field exists holds
        it (null when about nothing), an older one has no such property."""
        page = list(in_key_order(self.db, INBOX, self.db.key(INBOX, after) if after is not None else None, limit))
        keys = [e.key.name for e in page if "our_reference" not in e]
        return keys, page[-1].key.name if len(page) == limit else None

    def set_reference(self, key: str, reference: str | None) -> bool:
        db = self.db

        def work(_txn):
            entity = db.get(db.key(INBOX, key))
            if entity is None or ("our_reference" in entity and entity["our_reference"] == reference):
                return False
            entity["our_reference"] = reference
            db.put(entity)
            return True

        return in_transaction(db, work)

    def redact(self, key: str, at: datetime, why: str) -> bool:
        """The event's body, chunks and headers removed in one transaction; then its conflicting
        redeliveries' bodies (a query cannot run inside the transaction; each put is idempotent)."""
        db = self.db

        def work(_txn):
            entity = db.get(db.key(INBOX, key))
            if entity is None or (
                not entity.get("body") and not entity.get("body_chunks") and not _has_headers(entity)
            ):
                return False
            chunks = [db.key(BODY, f"{key}#{n}") for n in range(entity.get("body_chunks") or 0)]
            entity.update({"body": b"", "body_chunks": 0, "headers": "{}", "redacted_at": at, "redaction": why})
            db.put(entity)
            if chunks:
                db.delete_multi(chunks)
            return True

        changed = in_transaction(db, work)
        query = db.query(kind=CONFLICT)
        query.add_filter(filter=datastore.query.PropertyFilter("inbox_key", "=", key))
        for conflict in query.fetch():
            if conflict.get("body") or conflict.get("body_chunks"):
                chunks = [db.key(BODY, f"{conflict.key.name}#{n}") for n in range(conflict.get("body_chunks") or 0)]
                conflict.update({"body": b"", "body_chunks": 0, "redacted_at": at, "redaction": why})
                db.put(conflict)
                if chunks:
                    db.delete_multi(chunks)
                changed = True
        return changed

    # --------------------------------------------------------------------- layout

    def _with_markers(self, items: list[datastore.Entity]) -> list[InboxEvent]:
        keys = [self.db.key(PUBLISHED, i.key.name) for i in items]
        markers = {
            e.key.name: e
            for start in range(0, len(keys), LOOKUP_LIMIT)
            for e in self.db.get_multi(keys[start : start + LOOKUP_LIMIT])
        }
        return [_event(i, markers.get(i.key.name)) for i in items]

    def _new_entity(self, record: InboxRecord) -> tuple[datastore.Entity, list[datastore.Entity]]:
        entity = datastore.Entity(self.db.key(INBOX, record.key_name), exclude_from_indexes=_INBOX_UNINDEXED)
        body, chunks = self._body_entities(record.key_name, record.body)
        entity.update(
            {
                **body,
                "partner": record.partner,
                "partner_event_id": record.partner_event_id,
                "partner_event_type": record.partner_event_type,
                "verdict": record.verdict,
                "content_hash": record.content_hash,
                "reason": record.reason,
                "headers": json.dumps(record.headers, sort_keys=True),
                "received_at": record.received_at,
                "last_delivery_at": record.received_at,
                "deliveries": 1,
                "canonical": record.canonical,
                "trace": record.trace,
                "customer": record.customer,
                "our_reference": record.our_reference,
            }
        )
        return entity, chunks

    def _body_entities(self, owner: str, body: bytes) -> tuple[dict, list[datastore.Entity]]:
        """(properties for the owner record, chunk entities to write with it)."""
        if len(body) <= BODY_CHUNK_BYTES:
            return {"body": body, "body_chunks": 0}, []
        chunks = []
        for number, start in enumerate(range(0, len(body), BODY_CHUNK_BYTES)):
            chunk = datastore.Entity(self.db.key(BODY, f"{owner}#{number}"), exclude_from_indexes=("data",))
            chunk["data"] = body[start : start + BODY_CHUNK_BYTES]
            chunks.append(chunk)
        return {"body": b"", "body_chunks": len(chunks)}, chunks

    def _body(self, owner: str, record: datastore.Entity) -> bytes:
        if not record.get("body_chunks"):
            return record.get("body") or b""
        keys = [self.db.key(BODY, f"{owner}#{n}") for n in range(record["body_chunks"])]
        found = {e.key.name: e["data"] for e in self.db.get_multi(keys)}
        return b"".join(found[k.name] for k in keys)


def _event(entity: datastore.Entity, marker: datastore.Entity | None, body: bytes | None = None) -> InboxEvent:
    """The typed event of an Inbox entity and its InboxPublished marker."""
    headers = entity.get("headers")
    return InboxEvent(
        key=entity.key.name,
        partner=entity["partner"],
        partner_event_id=entity["partner_event_id"],
        partner_event_type=entity["partner_event_type"],
        verdict=entity["verdict"],
        reason=entity.get("reason"),
        headers=json.loads(headers) if headers else {},
        received_at=entity["received_at"],
        last_delivery_at=entity.get("last_delivery_at") or entity["received_at"],
        deliveries=entity.get("deliveries", 1),
        canonical=entity.get("canonical"),
        trace=entity.get("trace"),
        content_hash=entity.get("content_hash"),
        conflicts=entity.get("conflicts", 0),
        published_at=marker["published_at"] if marker is not None else None,
        message_id=marker["message_id"] if marker is not None else None,
        body=body,
        customer=entity.get("customer"),
        redacted_at=entity.get("redacted_at"),
        our_reference=entity.get("our_reference"),
    )


def _has_headers(entity: datastore.Entity) -> bool:
    return entity.get("headers") not in (None, "", "{}")
