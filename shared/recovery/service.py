"""Recovery service: run a retries task once (with its policy, classification and circuit breaker),
record dead letters, list and replay them. Adapters (the store, publish, enqueue, the handlers) are
passed in, so this runs the same against Datastore + Cloud Tasks + Pub/Sub and in unit tests.

Idempotency: Cloud Tasks may run a task twice. Every handler is idempotent (republish checks the
inbox marker, streaming uses insertId = entry id and deletes the outbox record after, a parked
event's expiry is one transaction), the next attempt's task name is derived from (kind, key, replay,
attempt), so a duplicate run schedules nothing new, and a dead letter's key is derived from (source,
kind, key), so recording it twice writes one record.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.recovery.dead_letters import Filter, dead_letter_id, dead_letter_record, replay_plan
from shared.recovery.policies import POLICIES, CircuitBreaker, Task, classify, retry_after_seconds

log = logging.getLogger("ledgerline.retries")

Schedule = Callable[[Task, datetime], bool]  # enqueue the task to run at that time; False: existed
Publish = Callable[[bytes, dict[str, str]], object]


@dataclass(frozen=True)
class Reschedule(Exception):
    """A handler's answer "not yet, run me again at `at`" (e.g. a parked event before its deadline).
    Not a failure: no attempt is used."""

    at: datetime
    detail: str = "not due"


@dataclass(frozen=True)
class Outcome:
    status: str  # done | retry_scheduled | deferred | rescheduled | dead_letter
    detail: str = ""
    next_at: datetime | None = None


@dataclass(frozen=True)
class Handler:
    downstream: str  # what the circuit breaker guards: pubsub, bigquery, datastore
    run: Callable[[str], str]  # key -> short description of what was done


_breakers: dict[str, CircuitBreaker] = {}


def breaker(downstream: str) -> CircuitBreaker:
    return _breakers.setdefault(downstream, CircuitBreaker())


def run_task(
    task: Task,
    *,
    handler: Handler,
    store,
    schedule: Schedule,
    now: datetime,
    rng: random.Random | None = None,
    circuit: CircuitBreaker | None = None,
) -> Outcome:
    rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
    policy = POLICIES[task.kind]
    circuit = circuit or breaker(handler.downstream)
    task = replace(task, first_attempt_at=task.first_attempt_at or now)
    meta = {"task_kind": task.kind, "key": task.key, "attempt": task.attempt, "downstream": handler.downstream}
    if not circuit.allow(now):
        at = circuit.retry_at(now) + timedelta(seconds=rng.random())
        if at > task.first_attempt_at + policy.max_age:
            return _dead(store, task, "exhausted", f"circuit for {handler.downstream} open past max age", now)
        schedule(task.deferred(), at)
        log.warning("circuit open: task deferred", extra={**meta, "until": at.isoformat()})
        return Outcome("deferred", f"{handler.downstream} circuit open", at)
    try:
        detail = handler.run(task.key)
    except Reschedule as later:
        circuit.success()
        schedule(replace(task, deferrals=task.deferrals + 1), later.at)
        return Outcome("rescheduled", later.detail, later.at)
    except Exception as exc:
        kind = classify(exc)
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if kind == "transient":
            circuit.failure(now)
        else:
            circuit.success()  # the downstream answered: it is up
        if kind == "permanent":
            log.error("task failed permanently", extra={**meta, "error": error})
            return _dead(store, task.retried(error), "permanent", error, now, attempts=task.attempt)
        at = policy.next_run(
            attempt=task.attempt,
            first_attempt_at=task.first_attempt_at,
            now=now,
            rng=rng,
            classification=kind,
            retry_after_s=retry_after_seconds(exc, now),
        )
        if at is None:
            reason = f"gave up after {task.attempt} attempts over {now - task.first_attempt_at}: {error}"
            return _dead(store, task.retried(error), "exhausted", reason, now, attempts=task.attempt)
        schedule(task.retried(error), at)
        log.warning(f"task failed ({kind}); retry scheduled", extra={**meta, "error": error, "at": at.isoformat()})
        return Outcome("retry_scheduled", error, at)
    circuit.success()
    log.info(f"task done: {detail}", extra=meta)
    return Outcome("done", detail)


def _dead(store, task: Task, code: str, reason: str, now: datetime, attempts: int | None = None) -> Outcome:
    record_dead_letter(
        store,
        source="task",
        kind=task.kind,
        key=task.key,
        payload=json.dumps({"kind": task.kind, "key": task.key}),
        reason_code=code,
        reason=reason,
        attempts=attempts if attempts is not None else task.attempt,
        first_error=task.first_error,
        last_error=task.last_error,
        first_attempt_at=task.first_attempt_at or now,
        now=now,
        attributes={"replay": str(task.replay)},
    )
    return Outcome("dead_letter", reason)


def record_dead_letter(store, *, source: str, kind: str, key: str, now: datetime, **fields) -> str:
    """Write (or refresh) one dead letter in a transaction; logged as "dead letter" (alerted on)."""
    name = dead_letter_id(source, kind, key)

    def work(tx):
        tx.put(
            "DeadLetter",
            name,
            dead_letter_record(
                source=source, kind=kind, key=key, now=now, previous=tx.get("DeadLetter", name), **fields
            ),
        )

    store.transact(work)
    log.error(
        "dead letter",
        extra={"dead_letter": name, "source": source, "kind": kind, "reason_code": fields.get("reason_code")},
    )
    return name


def pubsub_dead_letter_key(push: dict) -> str:
    """The event a dead-letter push is about: its event_id attribute, else the message id."""
    message = push.get("message") or {}
    attributes = message.get("attributes") or {}
    return str(attributes.get("event_id") or message.get("messageId") or message.get("message_id") or "unknown")


def record_pubsub_dead_letter(store, push: dict, failures: dict | None, now: datetime) -> str:
    """A message the dead-letter topic pushed to us: keep it with the last error the ledger recorded."""
    message = push.get("message") or {}
    attributes = dict(message.get("attributes") or {})
    raw = base64.b64decode(message.get("data") or "")
    try:
        payload = raw.decode()
    except UnicodeDecodeError:
        payload = "base64:" + base64.b64encode(raw).decode()
    key = pubsub_dead_letter_key(push)
    failures = failures or {}
    attempts = int(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount") or failures.get("attempts") or 0)
    source_sub = attributes.get("CloudPubSubDeadLetterSourceSubscription", "the push subscription")
    return record_dead_letter(
        store,
        source="pubsub",
        kind="canonical-event",
        key=key,
        now=now,
        payload=payload,
        reason_code="max_delivery_attempts",
        reason=f"{source_sub} gave up after {attempts or 'max'} deliveries: "
        + (failures.get("last_error") or "no error recorded"),
        attempts=attempts,
        first_error=failures.get("first_error"),
        last_error=failures.get("last_error"),
        first_attempt_at=failures.get("first_at", now),
        attributes={k: v for k, v in attributes.items() if not k.startswith("CloudPubSubDeadLetter")},
    )


def list_dead_letters(records: dict[str, dict], selection: Filter) -> list[tuple[str, dict]]:
    return sorted(
        ((name, r) for name, r in records.items() if selection.matches(r)),
        key=lambda item: (item[1]["created_at"], item[0]),
    )


def replay(
    store, name: str, record: dict, *, publish: Publish, schedule: Schedule, now: datetime, dry_run: bool = False
) -> dict:
    """Send one dead letter through the normal idempotent path again. Dry run: say what would happen."""
    plan = {"dead_letter": name, **replay_plan(record)}
    if dry_run:
        return {**plan, "dry_run": True}

    def mark(tx):
        current = tx.get("DeadLetter", name) or record
        tx.put(
            "DeadLetter", name, {**current, "status": "replayed", "replays": current["replays"] + 1, "replayed_at": now}
        )
        return current

    # Marked BEFORE it is sent: a replay that fails again at once re-records the dead letter as open,
    # after this mark, so the failure stays visible (marking after could hide it as "replayed").
    before = store.transact(mark)
    try:
        if plan["action"] == "publish":
            attributes = {**plan["attributes"], "replay": str(record["replays"] + 1)}
            publish(record["payload"].encode(), attributes)
        else:
            schedule(Task(kind=record["kind"], key=record["key"], replay=plan["replay"]), now)
    except Exception:
        store.transact(lambda tx: tx.put("DeadLetter", name, before))  # nothing was sent: open again
        raise
    log.info("dead letter replayed", extra={"dead_letter": name, "action": plan["action"]})
    return {**plan, "dry_run": False}


def note_delivery_failure(store, key: str, exc: BaseException, now: datetime) -> None:
    """Remember why a Pub/Sub delivery failed (first and last error, count), so the dead letter the
    subscription may produce later says why. Best effort: never masks the original error."""
    error = f"{type(exc).__name__}: {exc}"[:1000]
    try:
        previous = store.get("DeliveryFailure", key) or {}
        store.record(
            "DeliveryFailure",
            key,
            {
                "attempts": previous.get("attempts", 0) + 1,
                "first_error": previous.get("first_error", error),
                "last_error": error,
                "first_at": previous.get("first_at", now),
                "last_at": now,
            },
        )
    except Exception:
        log.exception("could not note the delivery failure", extra={"key": key})
