"""How one event reaches one endpoint (pure): the retry schedule, what an answer means, the ordering
rule and when an endpoint is disabled. shared.webhooks.deliver runs it against the store and the
network.

Schedule (docs/webhooks.md "Retries"): an attempt at once, then exponential backoff from 5 s by a
factor of 3, capped at 12 h, each delay jittered by ±20 %; 15 attempts in all over about 3 days
(Svix: 8 attempts over about 27 h). A `Retry-After` answer is honoured: the next attempt is not
before it (and never past the deadline). After the last attempt, or past DEADLINE, the delivery is
given up: a dead letter an operator (or the tenant, by replay) can send again.

Ordering: deliveries of one endpoint and ordering key form a chain (each names the one before); a
delivery is sent only once the one before it is final (delivered, given up or skipped). One slow or
failing event holds back only the later events of its own key, on its own endpoint."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

FIRST_DELAY = timedelta(seconds=5)
FACTOR = 3
MAX_DELAY = timedelta(hours=12)
JITTER = 0.2
MAX_ATTEMPTS = 15
DEADLINE = timedelta(days=3, hours=6)  # the schedule's own span (~3.1 days) plus the jitter's margin
DISABLE_AFTER = timedelta(days=5)  # an endpoint failing for this long without one success is disabled
TIMEOUT_S = 15.0
BODY_CAP = 4096  # response bytes read and kept (first 256 shown in attempts)
# Events, deliveries and attempts carry `expires_at` = their time + RETENTION: a Datastore TTL policy
# deletes them after it (terraform); replays reach back as far. Lanes (the numbering) are kept for good.
RETENTION = timedelta(days=30)

Status = Literal["pending", "delivered", "failed", "skipped"]
FINAL: frozenset[str] = frozenset({"delivered", "failed", "skipped"})


def nominal_delay(attempts_made: int) -> timedelta:
    """The delay after the `attempts_made`-th failed attempt (1-based), before jitter."""
    seconds = FIRST_DELAY.total_seconds() * FACTOR ** (attempts_made - 1)
    return min(MAX_DELAY, timedelta(seconds=seconds))


def schedule_span() -> timedelta:
    """From the first attempt to the last, without jitter (docs/webhooks.md quotes it)."""
    return sum((nominal_delay(n) for n in range(1, MAX_ATTEMPTS)), timedelta())


@dataclass(frozen=True)
class Verdict:
    """What to do after one attempt."""

    outcome: Literal["delivered", "retry", "give_up", "gone"]
    next_at: datetime | None = None
    reason: str = ""


def judge(
    status: int | None,
    error: str | None,
    attempts_made: int,
    first_attempt_at: datetime,
    now: datetime,
    retry_after_s: float | None,
    rng: random.Random,
    scale: float = 1.0,
) -> Verdict:
    """An attempt's answer (HTTP status, or None with an error: no answer) -> the next step. 2xx is
    delivered; 410 Gone disables the endpoint (the receiver says it will never take it); anything
    else (3xx: redirects are not followed, 4xx, 5xx, no answer) is retried on the schedule. `scale`
    compresses the schedule's delays and deadline (local chaos runs only; 1 in the cloud)."""
    if status is not None and 200 <= status < 300:
        return Verdict("delivered")
    if status == 410:
        return Verdict("gone", reason="410 Gone: the endpoint asked not to be called again")
    reason = f"HTTP {status}" if status is not None else (error or "no answer")
    deadline = first_attempt_at + DEADLINE * scale
    if attempts_made >= MAX_ATTEMPTS:
        return Verdict("give_up", reason=f"{attempts_made} attempts, the last: {reason}")
    delay = nominal_delay(attempts_made).total_seconds() * scale * rng.uniform(1 - JITTER, 1 + JITTER)
    at = now + timedelta(seconds=delay)
    if retry_after_s is not None and retry_after_s > 0:
        at = max(at, now + timedelta(seconds=retry_after_s * scale))
    if at > deadline:
        if now >= deadline - timedelta(seconds=1):
            return Verdict("give_up", reason=f"past the {DEADLINE} deadline, the last: {reason}")
        at = deadline
    return Verdict("retry", at, reason)


def may_send(predecessor_status: str | None) -> bool:
    """The ordering rule: a delivery goes out only when the one before it on its chain is final (or
    there is none)."""
    return predecessor_status is None or predecessor_status in FINAL


def should_disable(failing_since: datetime | None, now: datetime) -> bool:
    """An endpoint is disabled when it has failed without one success for DISABLE_AFTER."""
    return failing_since is not None and now - failing_since >= DISABLE_AFTER
