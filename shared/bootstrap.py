"""The adapters each function needs, wired once: publish to the canonical topic, schedule a retries
task, and the retries handlers. Entry points stay thin; tests build the same callables."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from shared.adapters import datastore_indexes, datastore_store, pubsub_bus, tasks_queue
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.adapters.datastore_indexes import CompositeQuery
from shared.config import Settings
from shared.errors import PermanentError
from shared.intake.service import Intake
from shared.ledger import posting
from shared.recovery import faults
from shared.recovery.policies import POLICIES, Task
from shared.recovery.service import Handler, Publish, Reschedule, Schedule
from shared.topology import CANONICAL_EVENTS_TOPIC, RETRIES_QUEUE

log = logging.getLogger("ledgerline.wiring")


def publisher(cfg: Settings) -> Publish:
    return lambda data, attributes: pubsub_bus.publish(cfg, CANONICAL_EVENTS_TOPIC, data, attributes)


def scheduler(cfg: Settings) -> Schedule:
    """Enqueue a retries task (named after kind/key/replay/attempt: a double enqueue is a no-op)."""

    def schedule(task: Task, at: datetime) -> bool:
        return tasks_queue.enqueue(
            cfg,
            RETRIES_QUEUE,
            cfg.function_urls["retries"] + "/tasks",
            task.to_json(),
            task_id=task.name,
            schedule_at=at,
            service_account=cfg.tasks_invoker_sa,
            audience=cfg.function_urls["retries"],
        )

    return schedule


def first_retry_at(kind: str, now: datetime) -> datetime:
    """When to run the first retry of work that just failed inline (the inline call was attempt 0)."""
    return now + timedelta(seconds=POLICIES[kind].delay_seconds(1, random.Random()))  # noqa: S311 - jitter


_last_sweep: dict[str, int] = {}


def defer_stream(cfg: Settings) -> None:
    """Ask for a batched outbox sweep in the next second, after this commit: one task per second (the
    name carries the second, so the cloud dedupes it across instances, and a task of this second runs
    at the next one, after every commit of this second; this process also skips re-asking). Safety
    nets: a sweep that leaves records behind schedules the next one, and Cloud Scheduler runs one a
    minute (topology.json scheduler.jobs)."""
    second = int(datetime.now(tz=UTC).timestamp())
    if _last_sweep.get("second") == second:
        return
    scheduler(cfg)(Task("stream-pending", f"second-{second}"), datetime.fromtimestamp(second + 1, tz=UTC))
    _last_sweep["second"] = second


def handlers(cfg: Settings, *, clock) -> dict[str, Handler]:
    db = datastore_store.client(cfg)
    store = datastore_store.DatastoreLedger(db)
    publish = publisher(cfg)

    def republish_inbox(key: str) -> str:
        faults.check(cfg, db, "pubsub")
        outcome = intake_service(cfg).republish(key)
        if outcome == "missing":
            raise PermanentError(f"no inbox event {key}")
        return f"republish: {outcome}"

    def stream(key: str) -> str:
        faults.check(cfg, db, "bigquery")
        return f"streamed {len(posting.stream_outbox(cfg, store, key))} transaction(s)"

    def stream_pending(key: str) -> str:
        faults.check(cfg, db, "bigquery")
        total = 0
        for _ in range(10):  # up to 5,000 transactions per task; the next sweep takes the rest
            streamed = posting.stream_pending(cfg, store)
            total += streamed
            if streamed < 500:
                break
        left = [k for k, v in store.snapshot(("Outbox",))["Outbox"].items() if not v.get("quarantined")]
        if left:  # arrived meanwhile, or more than this task takes: the next sweep, next second
            defer_stream(cfg)
        return f"streamed {total} pending transaction(s), {len(left)} left for the next sweep"

    def redrive_stale(key: str) -> str:
        faults.check(cfg, db, "pubsub")
        stale = intake_service(cfg).redrive_stale(ledger=store, now=clock())
        return f"re-drove {len(stale)} stale inbox event(s)"

    def expire_holds(key: str) -> str:
        faults.check(cfg, db, "datastore")
        results = posting.expire_due_holds(store, clock=clock)
        if any(r.status == "posted" for r in results):
            defer_stream(cfg)
        return f"expired {sum(r.status == 'posted' for r in results)} hold(s)"

    def park_expiry(key: str) -> str:
        faults.check(cfg, db, "datastore")
        key = key.split("@", 1)[0]  # "<event id>@<deadline>": the event ids never contain "@"
        outcome, record = posting.expire_parked(store, key, clock=clock)
        if outcome == "not_due":
            raise Reschedule(record["deadline"], "parked event not due yet")
        if outcome == "redrive":
            posting.redrive(store, key, record, publish)
        return f"parked event: {outcome}"

    return {
        "republish": Handler("pubsub", republish_inbox),
        "stream": Handler("bigquery", stream),
        "stream-pending": Handler("bigquery", stream_pending),
        "expire-holds": Handler("datastore", expire_holds),
        "redrive-stale": Handler("pubsub", redrive_stale),
        "park-expiry": Handler("datastore", park_expiry),
    }


# ----------------------------------------------------------------------------- customer API

# Entries of an account in ledger order: transactions whose `accounts` list holds it, by recorded_at.
TRANSACTIONS_OF_ACCOUNT = CompositeQuery(
    "JournalTransaction", equals=("accounts",), inequality="recorded_at", order=("recorded_at",)
)
# Dead letters of a status, newest first; with a cursor, at or before the cursor's created_at.
DEAD_LETTERS_BY_STATUS = CompositeQuery("DeadLetter", equals=("status",), order=("-created_at",))
DEAD_LETTERS_BY_STATUS_BEFORE = CompositeQuery(
    "DeadLetter", equals=("status",), inequality="created_at", order=("-created_at",)
)


def api_backend(cfg: Settings):
    """The customer API's service over Datastore, Pub/Sub (replays) and Cloud Tasks (retries)."""
    from shared.api.service import Backend

    db = datastore_store.client(cfg)
    store = datastore_store.DatastoreLedger(db)
    schedule = scheduler(cfg)

    def transactions_of(account: str, since: datetime):
        found = datastore_indexes.fetch(db, TRANSACTIONS_OF_ACCOUNT, {"accounts": account}, (">=", since))
        return ((e.key.name, dict(e)) for e in found)

    def dead_letters(status: str, before: datetime | None):
        if before is None:
            found = datastore_indexes.fetch(db, DEAD_LETTERS_BY_STATUS, {"status": status})
        else:
            found = datastore_indexes.fetch(db, DEAD_LETTERS_BY_STATUS_BEFORE, {"status": status}, ("<=", before))
        return ((e.key.name, dict(e)) for e in found)

    return Backend(
        store,
        transactions_of,
        dead_letters,
        publish=publisher(cfg),
        schedule=schedule,
        after_commit=lambda transaction_id: stream_after_commit(cfg, store, transaction_id),
    )


def stream_after_commit(cfg: Settings, store, transaction_id: str) -> None:
    """Entries to BigQuery after a commit made outside the ledger function (API operations, fee
    bookings), off the request path: the batched outbox sweep (a `stream-pending` retries task, one per
    second, as for the ledger function). If it cannot be asked for, stream inline; if that fails too,
    the outbox record stays and `verify` / `restream` see it."""
    try:
        defer_stream(cfg)
        return
    except Exception as exc:
        log.warning(
            "stream task not enqueued; streaming inline",
            extra={"transaction_id": transaction_id, "error": f"{exc}"},
        )
    try:
        posting.stream_outbox(cfg, store, transaction_id)
    except Exception as exc:
        log.error("streaming failed; the outbox keeps it", extra={"transaction_id": transaction_id, "error": f"{exc}"})


def fee_booker(cfg: Settings, store):
    """recon_service.run's `book`: post a fee booking with its FeeBooking record in one transaction,
    then stream its entries."""

    def book(op, record: dict):
        result = posting.execute(store, op, also=(("FeeBooking", op.op_id, record),))
        if result.status == "posted":
            stream_after_commit(cfg, store, result.transaction_id)
        return result

    return book


def intake_service(cfg: Settings) -> Intake:
    """The intake service over the Datastore inbox, the canonical-events topic and the retries queue."""
    return Intake(cfg, DatastoreInbox(datastore_store.client(cfg)), publish=publisher(cfg), schedule=scheduler(cfg))
