"""An in-memory Inbox (shared.intake.inbox) with the Datastore adapter's semantics: atomic
put-if-absent, a redelivery counts a delivery and keeps a conflicting version aside (one per content
hash), the published marker apart from the event. For unit and in-process function tests; never used
in production."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from shared.domain.events import CanonicalEvent
from shared.intake.inbox import InboxConflict, InboxEvent, InboxRecord


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


class MemoryInbox:
    def __init__(self, clock: Callable[[], datetime] = _utcnow):
        self.clock = clock
        self.stored: dict[str, InboxEvent] = {}  # with their bodies, without their markers
        self.markers: dict[str, tuple[datetime, str]] = {}  # key -> (published_at, message_id)
        self.conflicting: dict[str, InboxConflict] = {}  # "<key>:<hash[:16]>" -> the redelivery kept aside
        self.legacy: set[str] = set()  # keys stored as before our_reference was kept (a test puts them here)
        self._lock = threading.Lock()

    def put_if_absent(self, record: InboxRecord) -> tuple[bool, InboxEvent]:
        with self._lock:
            existing = self.stored.get(record.key_name)
            if existing is None:
                self.stored[record.key_name] = _new_event(record)
                return True, self._read(record.key_name, body=False)
            conflicts = existing.conflicts
            if record.conflicts_with(existing.content_hash):
                name = f"{record.key_name}:{record.content_hash[:16]}"
                self.conflicting[name] = InboxConflict(record.key_name, record.content_hash, record.received_at)
                conflicts += 1
            self.stored[record.key_name] = replace(
                existing, deliveries=existing.deliveries + 1, last_delivery_at=record.received_at, conflicts=conflicts
            )
            return False, self._read(record.key_name, body=False)

    def mark_published(self, key: str, message_id: str) -> None:
        self.markers[key] = (self.clock(), message_id)

    def get(self, key: str) -> InboxEvent | None:
        return self._read(key, body=True) if key in self.stored else None

    def canonical(self, keys: list[str]) -> dict[str, CanonicalEvent]:
        return {k: event for k in keys if k in self.stored and (event := self.stored[k].event()) is not None}

    def events(self, partner: str | None = None, limit: int | None = None) -> list[InboxEvent]:
        keys = [k for k in sorted(self.stored) if partner is None or self.stored[k].partner == partner]
        return [self._read(k, body=False) for k in keys[:limit]]

    def received_between(self, start: datetime, end: datetime, limit: int | None = None) -> list[InboxEvent]:
        keys = sorted((e.received_at, k) for k, e in self.stored.items() if start <= e.received_at < end)
        return [self._read(k, body=False) for _, k in keys[:limit]]

    def conflicts(self) -> list[InboxConflict]:
        return [self.conflicting[name] for name in sorted(self.conflicting)]

    def keys_of_customer(self, customer: str) -> list[str]:
        return sorted(k for k, e in self.stored.items() if e.customer == customer)

    def about(self, reference: str) -> list[InboxEvent]:
        keys = sorted((e.received_at, k) for k, e in self.stored.items() if e.our_reference == reference)
        return [self._read(k, body=False) for _, k in keys]

    def unreferenced(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        page = [k for k in sorted(self.stored) if after is None or k > after][:limit]
        return [k for k in page if k in self.legacy], page[-1] if len(page) == limit else None

    def set_reference(self, key: str, reference: str | None) -> bool:
        with self._lock:
            event = self.stored.get(key)
            if event is None or (key not in self.legacy and event.our_reference == reference):
                return False
            self.legacy.discard(key)
            self.stored[key] = replace(event, our_reference=reference)
            return True

    def redact(self, key: str, at: datetime, why: str) -> bool:
        with self._lock:
            event = self.stored.get(key)
            if event is None or (not event.body and not event.headers):
                return False
            self.stored[key] = replace(event, body=b"", headers={}, redacted_at=at)
            return True

    def _read(self, key: str, *, body: bool) -> InboxEvent:
        published_at, message_id = self.markers.get(key, (None, None))
        event = self.stored[key]
        return replace(event, published_at=published_at, message_id=message_id, body=event.body if body else None)


def _new_event(record: InboxRecord) -> InboxEvent:
    return InboxEvent(
        key=record.key_name,
        partner=record.partner,
        partner_event_id=record.partner_event_id,
        partner_event_type=record.partner_event_type,
        verdict=record.verdict,
        reason=record.reason,
        headers=dict(record.headers),
        received_at=record.received_at,
        last_delivery_at=record.received_at,
        deliveries=1,
        canonical=record.canonical,
        trace=record.trace,
        content_hash=record.content_hash,
        body=bytes(record.body),
        customer=record.customer,
        our_reference=record.our_reference,
    )
