"""Dead letters (pure): the one record shape for everything the system gave up on, whatever the
source, so operators see them in one place and replay them through the normal idempotent path.

Sources:
  task     a Cloud Tasks job of the retries function that failed permanently or ran out of attempts
  pubsub   a message Pub/Sub dead-lettered after max_delivery_attempts (pushed to the retries function
           from the dead-letter topic), with the last error the ledger recorded for it
  parked   an out-of-order event whose predecessor never arrived before its parking deadline

Key: "<source>:<kind>:<key>" (parked: "parked:<event id>") so recording the same failure twice (a
task run twice, a redelivered dead-letter push) writes the same record. Status: open -> replayed
(replays counts them; a replay that fails again re-opens it with the new error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from shared.topology import CANONICAL_EVENTS_TOPIC

SOURCES = ("task", "pubsub", "parked")
STATUSES = ("open", "replayed")
MAX_ERROR_CHARS = 1000


def dead_letter_id(source: str, kind: str, key: str) -> str:
    return f"parked:{key}" if source == "parked" else f"{source}:{kind}:{key}"


def dead_letter_record(
    *,
    source: str,
    kind: str,
    key: str,
    payload: str,
    reason_code: str,
    reason: str,
    attempts: int,
    first_error: str | None,
    last_error: str | None,
    first_attempt_at: datetime,
    now: datetime,
    attributes: dict[str, str] | None = None,
    previous: dict | None = None,
) -> dict:
    """The stored record. `previous` (the same dead letter recorded before, e.g. replayed and failed
    again) keeps its creation time, first error and replay count."""
    if source not in SOURCES:
        raise ValueError(f"unknown dead-letter source {source!r}")
    previous = previous or {}
    return {
        "source": source,
        "kind": kind,
        "key": key,
        "partner": (attributes or {}).get("partner"),
        "payload": payload,
        "attributes": json.dumps(attributes or {}, sort_keys=True),
        "reason_code": reason_code,
        "reason": _clip(reason),
        "attempts": int(attempts) + int(previous.get("attempts", 0)),
        "first_error": previous.get("first_error") or _clip(first_error),
        "last_error": _clip(last_error),
        "first_attempt_at": previous.get("first_attempt_at", first_attempt_at),
        "last_attempt_at": now,
        "created_at": previous.get("created_at", now),
        "status": "open",
        "replays": int(previous.get("replays", 0)),
        "replayed_at": previous.get("replayed_at"),
    }


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class Filter:
    """Which dead letters a listing or a bulk replay selects (all given conditions must hold)."""

    status: str | None = "open"
    source: str | None = None
    kind: str | None = None
    reason_code: str | None = None
    partner: str | None = None
    since: datetime | None = None

    def matches(self, record: dict) -> bool:
        for field in ("status", "source", "kind", "reason_code", "partner"):
            wanted = getattr(self, field)
            if wanted is not None and record.get(field) != wanted:
                return False
        return self.since is None or record["created_at"] >= self.since


def replay_plan(record: dict) -> dict:
    """What a replay does, without doing it (for --dry-run and for the replay itself):
    canonical events (pubsub, parked) are published again to the canonical topic: the ledger posts
    them once (replays of posted events are no-ops); tasks are enqueued again as attempt 0 of a new
    replay generation (a fresh task name, the same idempotent handler)."""
    if record["source"] in ("pubsub", "parked"):
        return {"action": "publish", "topic": CANONICAL_EVENTS_TOPIC, "attributes": json.loads(record["attributes"])}
    return {"action": "enqueue", "task_kind": record["kind"], "key": record["key"], "replay": record["replays"] + 1}
