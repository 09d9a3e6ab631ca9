"""The one composition root: which adapter plays each port, for every function and the CLI.

`root()` is this process's `Root` (built on first use, per Settings); each of its parts is built
lazily the first time it is asked for, so a function only connects to what it uses, cold starts stay
cheap and unit tests need no credentials. Nothing here decides anything: behaviour lives in the
services (shared.intake, shared.ledger, shared.recovery, shared.reconciliation, shared.api) and the
adapters (shared.adapters); this module only says which one goes where.

    Datastore       store (the ledger's LedgerStore), db (inbox, faults)   shared.adapters.datastore_store
    Pub/Sub         publish (canonical-events topic)                        shared.adapters.pubsub_bus
    Cloud Tasks     schedule (retries queue)                                shared.adapters.tasks_queue
    BigQuery        stream (entries, reconciliation tables)                 shared.adapters.bigquery_sink
    GCS / directory reports (settlement reports, bank statements)           shared.adapters.gcs_reports

Tests replace a part by constructing `Root(cfg)` and setting attributes, or by monkeypatching
`root`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property

from shared.adapters import bigquery_sink, datastore_store, gcs_reports, pubsub_bus, tasks_queue
from shared.api.service import Backend
from shared.config import Settings, settings
from shared.intake.service import redrive_stale, republish
from shared.ledger.outbox import StreamRequests
from shared.ledger.service import LedgerService
from shared.recovery import faults
from shared.recovery.handlers import Ports, handlers
from shared.recovery.policies import Task, first_retry_at
from shared.recovery.service import Handler, Publish, Schedule
from shared.topology import CANONICAL_EVENTS_TOPIC, RETRIES_QUEUE


def _now() -> datetime:
    return datetime.now(tz=UTC)


class Root:
    def __init__(self, cfg: Settings, clock=_now):
        self.cfg = cfg
        self.clock = clock

    # ------------------------------------------------------------------------- adapters

    @cached_property
    def db(self):
        return datastore_store.client(self.cfg)

    @cached_property
    def store(self) -> datastore_store.DatastoreLedger:
        return datastore_store.DatastoreLedger(self.db)

    @cached_property
    def publish(self) -> Publish:
        cfg = self.cfg
        return lambda data, attributes: pubsub_bus.publish(cfg, CANONICAL_EVENTS_TOPIC, data, attributes)

    @cached_property
    def schedule(self) -> Schedule:
        """Enqueue a retries task (named after kind/key/replay/attempt: a double enqueue is a no-op)."""
        cfg = self.cfg

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

    def stream(self, table: str, rows: list[dict], row_ids: list[str]) -> None:
        bigquery_sink.stream(self.cfg, table, rows, row_ids)

    @cached_property
    def reports(self) -> gcs_reports.LocalReports | gcs_reports.GcsReports:
        return gcs_reports.reports(self.cfg)

    def check_fault(self, downstream: str) -> None:
        faults.check(self.cfg, self.db, downstream)

    # ------------------------------------------------------------------------- services

    @cached_property
    def request_stream(self) -> StreamRequests:
        return StreamRequests(self.schedule)

    @cached_property
    def ledger(self) -> LedgerService:
        return LedgerService(
            self.cfg,
            self.store,
            request_stream=self.request_stream,
            publish=self.publish,
            schedule=self.schedule,
            park_ttl=timedelta(seconds=self.cfg.park_ttl_seconds),
            clock=self.clock,
        )

    def enqueue_republish(self, key: str) -> bool:
        """intake: a publish that failed inline is retried by a `republish` task."""
        return self.schedule(Task("republish", key), first_retry_at("republish", self.clock()))

    @cached_property
    def retry_handlers(self) -> dict[str, Handler]:
        cfg = self.cfg
        return handlers(
            Ports(
                cfg=cfg,
                store=self.store,
                publish=self.publish,
                request_stream=self.request_stream,
                republish=lambda key: republish(cfg, key, db=self.db, publish=self.publish),
                redrive_stale=lambda now: redrive_stale(
                    cfg, db=self.db, ledger=self.store, publish=self.publish, now=now
                ),
                check_fault=self.check_fault,
                clock=self.clock,
            )
        )

    @cached_property
    def api_backend(self) -> Backend:
        """The customer API's service over Datastore, Pub/Sub (replays) and Cloud Tasks (retries)."""
        return Backend(
            self.store,
            self.store.transactions_of,
            self.store.dead_letters,
            publish=self.publish,
            schedule=self.schedule,
            after_commit=self.ledger.stream_after_commit,
        )

    def book_fee(self, op, record: dict):
        """reconciliation's `book`: a fee booking with its FeeBooking record in one transaction."""
        return self.ledger.execute(op, also=(("FeeBooking", op.op_id, record),))

    def canonical_of(self, keys: list[str]):
        """reconciliation: the canonical events of inbox records, by key."""
        return datastore_store.inbox_canonical(self.db, keys)


_roots: list[Root] = []


def root(cfg: Settings | None = None) -> Root:
    """This process's composition root for `cfg` (default: the process's settings)."""
    cfg = cfg if cfg is not None else settings()
    for built in _roots:
        if built.cfg is cfg:
            return built
    built = Root(cfg)
    _roots.append(built)
    return built


# Shorthands kept for callers that need one port of the root.


def publisher(cfg: Settings) -> Publish:
    return root(cfg).publish


def scheduler(cfg: Settings) -> Schedule:
    return root(cfg).schedule
