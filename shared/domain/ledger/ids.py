"""Identifiers and hashes: deterministic transaction ids (I3) and the hash of what an event says."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.domain.events import CanonicalEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def transaction_id(partner: str, partner_event_id: str, rule: str) -> str:
    """I3: deterministic, so a redelivered event maps onto the transaction it already produced."""
    return f"txn_{digest(partner, partner_event_id, rule)[:40]}"


def micros(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (no float): the form hashed and compared."""
    return (moment - EPOCH) // timedelta(microseconds=1)


# Fields added to CanonicalEvent after events were stored: hashed only when set, so every event stored
# before they existed keeps its hash (a redelivery of it is replayed, not a Conflict).
HASHED_WHEN_SET = ("dispute_status", "unbooked_fee", "unbooked_fee_currency")


def event_hash(event: CanonicalEvent) -> str:
    """Hash of what the event says about money; excludes when we happened to receive it."""
    unset = {name for name in HASHED_WHEN_SET if getattr(event, name) is None}
    body = event.model_dump(mode="json", exclude={"received_at", *unset})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
