"""Retry policy (pure): per-kind backoff with full jitter, failure classification, a circuit breaker,
and the task envelope the retries function runs. No I/O: the clock and the random source are passed in.

Why these schedules (docs/retries.md compares them with Stripe, Svix and Adyen): partners retry a
webhook for hours to days because the receiver may be down for that long. Our retried work is
internal (Pub/Sub publish, BigQuery streaming, a parked event's deadline check): downstreams are
managed GCP services whose outages last seconds to minutes, so we start fast (1-5 s), cap the delay
at minutes, and give up after hours, when a human should look (dead letter) rather than a loop.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from google.api_core import exceptions as gexc
from pydantic import ValidationError

from shared.errors import ClientError, PermanentError

Classification = Literal["transient", "permanent", "conflict"]


@dataclass(frozen=True)
class Policy:
    """Exponential backoff with full jitter: attempt n (1-based retry) waits a uniform random delay in
    [0, min(max_delay, min_delay * 2**(n-1))], never below min_delay/2 (so a retry is never
    immediate), and at least Retry-After when the downstream gave one. Gives up after max_attempts
    runs or when the next run would start later than first attempt + max_age."""

    min_delay: timedelta
    max_delay: timedelta
    max_attempts: int
    max_age: timedelta
    conflict_delay: timedelta = timedelta(milliseconds=500)  # contention clears fast: short, jittered

    def ceiling_seconds(self, retry: int) -> float:
        return min(self.max_delay.total_seconds(), self.min_delay.total_seconds() * 2 ** (retry - 1))

    def delay_seconds(self, retry: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        floor = self.min_delay.total_seconds() / 2
        jittered = floor + rng.random() * max(0.0, self.ceiling_seconds(retry) - floor)
        return max(jittered, retry_after_s or 0.0)

    def next_run(
        self,
        *,
        attempt: int,
        first_attempt_at: datetime,
        now: datetime,
        rng: random.Random,
        classification: Classification = "transient",
        retry_after_s: float | None = None,
    ) -> datetime | None:
        """When to run attempt+1 after attempt `attempt` (1-based) failed; None: give up (dead letter)."""
        if attempt >= self.max_attempts:
            return None
        if classification == "conflict":
            seconds = max(self.conflict_delay.total_seconds() * (0.5 + rng.random()), retry_after_s or 0.0)
        else:
            seconds = self.delay_seconds(attempt, rng, retry_after_s)
        at = now + timedelta(seconds=seconds)
        return at if at <= first_attempt_at + self.max_age else None


POLICIES: dict[str, Policy] = {
    # An inbox event whose publish failed: Pub/Sub outages are short; an event must not sit for long.
    "republish": Policy(timedelta(seconds=1), timedelta(minutes=5), max_attempts=30, max_age=timedelta(hours=24)),
    # Entries committed but not yet in BigQuery: analytics may lag, the ledger is already right.
    "stream": Policy(timedelta(seconds=5), timedelta(minutes=10), max_attempts=40, max_age=timedelta(hours=48)),
    # The batched sweep of the outbox (every posting since the last sweep, one insert call).
    "stream-pending": Policy(timedelta(seconds=2), timedelta(minutes=5), max_attempts=60, max_age=timedelta(hours=48)),
    # Inbox events that never reached the ledger (Cloud Scheduler, every 5 minutes: the safety net).
    "redrive-stale": Policy(timedelta(seconds=10), timedelta(minutes=2), max_attempts=5, max_age=timedelta(minutes=20)),
    # Releasing expired holds (Cloud Scheduler, every 5 minutes).
    "expire-holds": Policy(timedelta(seconds=10), timedelta(minutes=5), max_attempts=10, max_age=timedelta(hours=1)),
    # Raw partner bodies past their retention redacted (Cloud Scheduler, daily: docs/operations.md).
    "retention-sweep": Policy(
        timedelta(seconds=30), timedelta(minutes=10), max_attempts=10, max_age=timedelta(hours=6)
    ),
    # Operator requests past their expiry recorded; audit entries not yet in BigQuery streamed (every 5 min).
    "operations-sweep": Policy(
        timedelta(seconds=10), timedelta(minutes=5), max_attempts=10, max_age=timedelta(hours=1)
    ),
    # A parked event's deadline check: only fails if Datastore does.
    "park-expiry": Policy(timedelta(seconds=10), timedelta(minutes=5), max_attempts=20, max_age=timedelta(hours=6)),
    # One step of a payout / pay-in / refund (the payments function: shared.payments.orchestrator). A
    # partner's answers are handled inside the step (it reschedules itself); these only bound failures
    # of our own storage. Gives up into a dead letter well before the payout's hold expires.
    "payout-step": Policy(timedelta(seconds=1), timedelta(minutes=5), max_attempts=60, max_age=timedelta(days=3)),
    "payment-step": Policy(timedelta(seconds=1), timedelta(minutes=5), max_attempts=60, max_age=timedelta(days=3)),
    "refund-step": Policy(timedelta(seconds=1), timedelta(minutes=5), max_attempts=60, max_age=timedelta(days=3)),
    # A statement export (the api's POST …/statements/exports): a file to the reports bucket. Only our
    # own storage can fail it; a customer polls it, so give up (dead letter) within hours.
    "statement-export": Policy(timedelta(seconds=2), timedelta(minutes=5), max_attempts=20, max_age=timedelta(hours=6)),
    # The payments janitor (Cloud Scheduler, every 5 minutes): re-queries what is stuck past its SLA.
    "payments-janitor": Policy(
        timedelta(seconds=10), timedelta(minutes=2), max_attempts=5, max_age=timedelta(minutes=20)
    ),
    # Webhooks out (the webhooks function: shared.webhooks). A delivery's HTTP answers are handled inside
    # the task (the delivery's own schedule, shared.domain.webhooks.delivery, reschedules it); these
    # policies only bound failures of our own storage.
    "webhook-fanout": Policy(timedelta(seconds=1), timedelta(minutes=2), max_attempts=30, max_age=timedelta(hours=6)),
    "webhook-deliver": Policy(timedelta(seconds=2), timedelta(minutes=5), max_attempts=60, max_age=timedelta(days=4)),
    "webhook-replay": Policy(timedelta(seconds=2), timedelta(minutes=5), max_attempts=30, max_age=timedelta(days=1)),
    # A Pub/Sub destination's verification token: the tenant may grant the publisher role after it
    # created the endpoint, so keep trying for a day.
    "webhook-verify": Policy(timedelta(seconds=10), timedelta(minutes=30), max_attempts=60, max_age=timedelta(days=1)),
    "webhook-sweep": Policy(timedelta(seconds=10), timedelta(minutes=2), max_attempts=5, max_age=timedelta(minutes=20)),
}
# the task kinds the payments function runs (the others are the retries function's)
PAYMENTS_TASK_KINDS = ("payout-step", "payment-step", "refund-step", "payments-janitor")
# the task kinds the webhooks function runs
WEBHOOKS_TASK_KINDS = ("webhook-fanout", "webhook-deliver", "webhook-replay", "webhook-sweep", "webhook-verify")
# the task kinds the exports function runs (long, memory-hungry renderings on their own instances)
EXPORTS_TASK_KINDS = ("statement-export",)


def first_retry_at(kind: str, now: datetime, rng: random.Random | None = None) -> datetime:
    """When to run the first retry of work that just failed inline (the inline call was attempt 0)."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
    return now + timedelta(seconds=POLICIES[kind].delay_seconds(1, rng))


# ----------------------------------------------------------------------------- classification

TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.RetryError,
    ConnectionError,
    TimeoutError,
)
CONFLICT = (gexc.Aborted, gexc.Conflict)  # transaction contention: retry soon
PERMANENT = (
    PermanentError,
    ClientError,
    ValidationError,
    gexc.InvalidArgument,
    gexc.BadRequest,
    gexc.PermissionDenied,
    gexc.Unauthenticated,
    gexc.NotFound,
    gexc.FailedPrecondition,
    ValueError,
    KeyError,
    TypeError,
)


def classify(exc: BaseException) -> Classification:
    """Transient: the same call may succeed later. Conflict: contention, retry soon. Permanent:
    retrying cannot help (bad payload, missing resource, denied): dead-letter now with the reason.
    Unknown exceptions count as transient: bounded by the policy, they end as dead letters anyway."""
    if isinstance(exc, CONFLICT):
        return "conflict"
    if isinstance(exc, TRANSIENT):
        return "transient"
    if isinstance(exc, PERMANENT):
        return "permanent"
    return "transient"


def retry_after_seconds(exc: BaseException, now: datetime) -> float | None:
    """Retry-After from a downstream's answer (seconds or an HTTP date), when it gave one."""
    value = getattr(exc, "retry_after", None)
    if value is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
    return retry_after_value(value, now)


def retry_after_value(value: object, now: datetime) -> float | None:
    """A Retry-After value as seconds from `now`: delta-seconds, or an HTTP date; None when absent or
    unreadable (the one reading of the header: retries, and the partner adapters' answers)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# ----------------------------------------------------------------------------- circuit breaker


@dataclass
class CircuitBreaker:
    """Per downstream, per process. closed: calls go through; `threshold` consecutive transient
    failures open it for `cooldown` (doubling while trials keep failing, up to max_cooldown); then
    half-open: one trial call; success closes it. While open, work is deferred, not attempted (and not
    counted as an attempt)."""

    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=10)
    max_cooldown: timedelta = timedelta(minutes=5)
    failures: int = 0
    opened_until: datetime | None = None
    current_cooldown: timedelta = field(default=timedelta(0))
    trial_in_flight: bool = False

    def state(self, now: datetime) -> Literal["closed", "open", "half_open"]:
        if self.opened_until is None:
            return "closed"
        return "open" if now < self.opened_until else "half_open"

    def allow(self, now: datetime) -> bool:
        state = self.state(now)
        if state == "closed":
            return True
        if state == "half_open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def retry_at(self, now: datetime) -> datetime:
        return self.opened_until if self.opened_until and self.opened_until > now else now + self.cooldown

    def success(self) -> None:
        self.failures, self.opened_until, self.trial_in_flight = 0, None, False
        self.current_cooldown = timedelta(0)

    def failure(self, now: datetime) -> None:
        self.failures += 1
        if self.trial_in_flight or self.failures >= self.threshold:
            doubled = self.current_cooldown * 2 if self.current_cooldown else self.cooldown
            self.current_cooldown = min(doubled, self.max_cooldown)
            self.opened_until = now + self.current_cooldown
            self.trial_in_flight = False


# ----------------------------------------------------------------------------- task envelope


@dataclass(frozen=True)
class Task:
    """What a Cloud Tasks job of the retries function carries. attempt is 1 for the first run;
    replay counts operator replays (a new generation of names); deferrals counts runs skipped while a
    circuit was open (they use no attempt)."""

    kind: str
    key: str
    attempt: int = 1
    first_attempt_at: datetime | None = None
    replay: int = 0
    deferrals: int = 0
    first_error: str | None = None
    last_error: str | None = None

    @property
    def name(self) -> str:
        """Deterministic: the same (kind, key, replay, attempt, deferrals) enqueued twice is one task."""
        digest = hashlib.sha256(f"{self.kind}\0{self.key}".encode()).hexdigest()[:32]
        return f"{self.kind}-{digest}-r{self.replay}-a{self.attempt}-d{self.deferrals}"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.key,
            "attempt": self.attempt,
            "first_attempt_at": self.first_attempt_at.isoformat() if self.first_attempt_at else None,
            "replay": self.replay,
            "deferrals": self.deferrals,
            "first_error": self.first_error,
            "last_error": self.last_error,
        }

    @classmethod
    def from_json(cls, data: dict) -> Task:
        if not isinstance(data, dict):
            raise ClientError(400, "invalid_task", "a task is a JSON object")
        kind, key = data.get("kind"), data.get("key")
        if kind not in POLICIES:
            raise ClientError(400, "unknown_task_kind", f"supported kinds: {', '.join(POLICIES)}", "kind")
        if not isinstance(key, str) or not key or len(key) > 500:
            raise ClientError(400, "invalid_task", "key must be a non-empty string", "key")
        try:
            first = data.get("first_attempt_at")
            first_at = datetime.fromisoformat(first) if first else None
            numbers = {
                f: int(d if data.get(f) is None else data[f])
                for f, d in (("attempt", 1), ("replay", 0), ("deferrals", 0))
            }
        except (TypeError, ValueError):
            raise ClientError(400, "invalid_task", "attempt/replay/deferrals/first_attempt_at malformed") from None
        if first_at is not None and first_at.tzinfo is None:
            raise ClientError(400, "invalid_task", "first_attempt_at needs a timezone", "first_attempt_at")
        if numbers["attempt"] < 1 or numbers["replay"] < 0 or numbers["deferrals"] < 0:
            raise ClientError(400, "invalid_task", "attempt >= 1, replay >= 0, deferrals >= 0")
        return cls(
            kind=kind,
            key=key,
            first_attempt_at=first_at,
            first_error=data.get("first_error"),
            last_error=data.get("last_error"),
            **numbers,
        )

    def retried(self, error: str) -> Task:
        return replace(self, attempt=self.attempt + 1, first_error=self.first_error or error, last_error=error)

    def deferred(self) -> Task:
        return replace(self, deferrals=self.deferrals + 1)
