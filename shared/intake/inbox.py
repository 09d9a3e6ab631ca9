"""The Inbox port: where intake keeps every webhook event it acknowledged, raw and as parsed, before it
answers 2xx. Adapters: shared.adapters.datastore_inbox (production), shared.adapters.memory_inbox
(tests). Both give the same guarantees:

  - put_if_absent is atomic: of concurrent first deliveries of one event exactly one creates it;
  - a redelivery never overwrites the first version: it counts a delivery, and if it says something
    else about money (content hash) it is kept aside as a conflict;
  - the published marker is separate from the event (marking never races a redelivery's counter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.events import CanonicalEvent


@dataclass(frozen=True)
class InboxRecord:
    """One delivery of a partner event, as intake parsed it: what put_if_absent stores."""

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
    customer: str | None = None  # the canonical event's customer: what an erasure request finds it by
    our_reference: str | None = None  # the record of ours it is about (Parsed.our_reference): a payout's timeline

    def conflicts_with(self, stored_hash: str | None) -> bool:
        return bool(self.content_hash) and stored_hash not in (self.content_hash, *self.equivalent_hashes)

    @property
    def key_name(self) -> str:
        return f"{self.partner}:{self.partner_event_id}"


@dataclass(frozen=True)
class InboxEvent:
    """An event as the inbox holds it: its first delivery (raw body, kept headers, verdict, canonical
    message), how often it was delivered, and whether (and as which message) it was published."""

    key: str  # "<partner>:<partner event id>"
    partner: str
    partner_event_id: str
    partner_event_type: str
    verdict: str  # accepted | ignored
    reason: str | None
    headers: dict[str, str]
    received_at: datetime
    last_delivery_at: datetime
    deliveries: int
    canonical: bytes | None
    trace: str | None
    content_hash: str | None  # None on events stored before content hashes were kept
    conflicts: int = 0  # redeliveries with different content (kept as InboxConflict)
    published_at: datetime | None = None
    message_id: str | None = None
    body: bytes | None = None  # the raw body as received; only `get` reads it (None elsewhere)
    customer: str | None = None
    redacted_at: datetime | None = None  # the raw body and headers removed (retention or erasure)
    our_reference: str | None = None

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    @property
    def published(self) -> bool:
        return self.published_at is not None

    def event(self) -> CanonicalEvent | None:
        """The canonical event it carries (accepted events only)."""
        return CanonicalEvent.model_validate_json(self.canonical) if self.canonical else None


@dataclass(frozen=True)
class InboxConflict:
    """A redelivery that said something else under an event's id: kept, never applied."""

    inbox_key: str
    content_hash: str
    received_at: datetime


class Inbox(Protocol):
    """The intake inbox (see the module docstring for the guarantees)."""

    def put_if_absent(self, record: InboxRecord) -> tuple[bool, InboxEvent]:
        """Store the event unless it is there already; a redelivery counts a delivery (and a conflict).
        Returns (created, the stored event, with its published marker, without its body)."""
        ...

    def mark_published(self, key: str, message_id: str) -> None:
        """Record that the event reached the bus (again: refreshes the marker)."""
        ...

    def get(self, key: str) -> InboxEvent | None:
        """The event with its raw body, or None."""
        ...

    def canonical(self, keys: list[str]) -> dict[str, CanonicalEvent]:
        """The canonical events of those keys that hold one (accepted events)."""
        ...

    def events(self, partner: str | None = None, limit: int | None = None) -> list[InboxEvent]:
        """Every event (of one partner), without bodies."""
        ...

    def received_between(self, start: datetime, end: datetime, limit: int | None = None) -> list[InboxEvent]:
        """Events first received in [start, end), without bodies."""
        ...

    def conflicts(self) -> list[InboxConflict]:
        """Every conflicting redelivery recorded."""
        ...

    def keys_of_customer(self, customer: str) -> list[str]:
        """The events whose canonical event names this customer (recorded since the field exists)."""
        ...

    def about(self, reference: str) -> list[InboxEvent]:
        """The events about one record of ours (InboxRecord.our_reference), first received first, without
        bodies (recorded since the field exists; `ledgerline api-index backfill` adds it to older ones)."""
        ...

    def unreferenced(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """Of the next `limit` events in key order after the key `after` (from the first if None), the keys
        of those stored before our_reference was kept and not yet given one (set_reference); and the last
        key looked at, None at the end. A migration pages through the inbox with it."""
        ...

    def set_reference(self, key: str, reference: str | None) -> bool:
        """Record what an event stored before the field existed is about (None: about nothing of ours,
        looked at: no longer unreferenced); True if it changed."""
        ...

    def redact(self, key: str, at: datetime, why: str) -> bool:
        """Remove the raw body and headers of an event and of its conflicting redeliveries; the
        canonical event, hashes, verdict and counts stay. True if something was removed."""
        ...
