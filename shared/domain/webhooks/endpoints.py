"""Webhook endpoints (pure): what a tenant may configure, and which of its secrets sign right now.

A rotation keeps the previous secret signing for an overlap window (default 24 h, at most 7 days):
every attempt in the window carries both signatures, so the receiver can switch at its own pace."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.domain.webhooks.catalogue import BY_NAME

MAX_ENDPOINTS_PER_TENANT = 20
MAX_DESCRIPTION = 500
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
DEFAULT_RATE = 50.0  # attempts per second per endpoint (per delivering instance)


class EndpointError(ValueError):
    def __init__(self, code: str, message: str, field_path: str):
        super().__init__(message)
        self.code, self.field = code, field_path


@dataclass(frozen=True)
class Secret:
    value: str
    created_at: datetime
    expires_at: datetime | None = None  # None: the current secret (signs until rotated)


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    tenant: str
    url: str
    types: tuple[str, ...]  # () : every type that is not opt-in
    description: str | None
    enabled: bool
    created_at: datetime
    secrets: tuple[Secret, ...]  # newest first
    version: int = 1
    disabled_reason: str | None = None  # gone | failing | unverified | None (disabled by the tenant, or enabled)
    failing_since: datetime | None = None
    rate_limit: float = DEFAULT_RATE
    # A Pub/Sub destination is enabled only once the tenant proved it reads the topic: ledgerline
    # publishes a token there and the tenant sends it back (POST …/verify). HTTPS endpoints: True.
    verified: bool = True
    metadata: tuple[tuple[str, str], ...] = field(default=())

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign an attempt at `now`: the current one and any still in overlap."""
        return tuple(s.value for s in self.secrets if s.expires_at is None or s.expires_at > now)

    def rotated(self, new: str, now: datetime, overlap: timedelta) -> Endpoint:
        """The endpoint with `new` as its current secret; the old current one signs until now + overlap;
        secrets already past their overlap are dropped."""
        check_overlap(overlap)
        kept = tuple(
            replace(s, expires_at=now + overlap) if s.expires_at is None else s
            for s in self.secrets
            if s.expires_at is None or s.expires_at > now
        )
        return replace(self, secrets=(Secret(new, now), *kept), version=self.version + 1)


def check_overlap(overlap: timedelta) -> timedelta:
    """How long the previous secret keeps signing after a rotation: 0 to MAX_OVERLAP."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise EndpointError("invalid_overlap", f"the overlap is between 0 and {MAX_OVERLAP}", "overlap_seconds")
    return overlap


def check_types(types: list[str] | tuple[str, ...], field_path: str = "enabled_events") -> tuple[str, ...]:
    """A filter of event types: known names, no duplicates, sorted. () means every default type."""
    out = []
    for i, name in enumerate(types):
        if name not in BY_NAME:
            raise EndpointError(
                "unknown_event_type", f"{name!r} is not an event type (docs/webhooks.md)", f"{field_path}.{i}"
            )
        if name not in out:
            out.append(name)
    return tuple(sorted(out))


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise EndpointError("invalid_description", f"at most {MAX_DESCRIPTION} characters", "description")
    return description
