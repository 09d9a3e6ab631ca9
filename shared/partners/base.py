"""What every partner plugin returns after verifying and parsing a webhook."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import CanonicalEvent


@dataclass(frozen=True)
class Parsed:
    partner_event_id: str
    partner_event_type: str
    canonical: CanonicalEvent | None  # None: accepted and stored, but nothing to post
    reason: str | None  # why canonical is None

    @property
    def verdict(self) -> str:
        return "accepted" if self.canonical is not None else "ignored"
