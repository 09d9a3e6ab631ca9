"""The ledger service as the functions, the API and reconciliation use it: post a canonical event,
execute an operation. Whatever has to happen after a commit happens here, in one place and only once
the commit is durable (a crash before it loses nothing: every after-commit step has a safety net):

  - ask for the batched outbox sweep that streams the entries to BigQuery (`request_stream`; its
    safety net: the Cloud Scheduler sweep every minute),
  - a parked event: schedule the task that dead-letters it at its deadline (`schedule`; safety net:
    the Pub/Sub redelivery answered 5xx if even that fails),
  - re-drive the events parked behind this posting (`publish`; safety net: a redelivery of this event
    re-drives them again, and each parked event's deadline task).

The ports are plain callables, built by shared.bootstrap: Cloud Tasks and Pub/Sub in the cloud and
locally, lists in unit tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from shared.config import Settings
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.engine import Result
from shared.domain.ledger.model import Operation
from shared.ledger import outbox, parking, posting
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute
from shared.recovery.policies import Task
from shared.recovery.service import Publish, Schedule

log = logging.getLogger("ledgerline.ledger")


@dataclass
class LedgerService:
    cfg: Settings
    store: LedgerStore
    request_stream: Callable[[], None]  # ask for an outbox sweep (shared.ledger.outbox.StreamRequests)
    publish: Publish  # the canonical-events topic: re-drives parked events
    schedule: Schedule  # the retries queue: parked events' deadlines
    stream: Callable  # the entry sink (BigQuery): (cfg, table, rows, row ids), when a sweep cannot be asked for
    park_ttl: timedelta = parking.PARK_TTL
    clock: Callable = utcnow

    def post(self, event: CanonicalEvent) -> Result | None:
        """Post one canonical event exactly once, then the after-commit work."""
        result = posting.post_once(event, store=self.store, clock=self.clock, park_ttl=self.park_ttl)
        outbox.ask_for_sweep(result, self.request_stream)
        if result is not None and result.status == "parked":
            deadline = result.record["deadline"]
            self.schedule(Task("park-expiry", parking.expiry_task_key(event.event_id, deadline)), deadline)
        for name, record in parking.released_by(self.store, event, result).items():
            parking.redrive(self.store, name, record, self.publish)
            log.info("parked event re-driven", extra={"event_id": name, "by": event.event_id})
        return result

    def execute(self, op: Operation, *, also: tuple = (), guard=None) -> Result:
        """Apply one operation exactly once (API operations, fee bookings, reversals), then ask for the
        sweep that streams it. If the sweep cannot be asked for, stream inline; if that fails too, the
        outbox record stays and the periodic sweep, `verify` and `restream` see it."""
        result = execute(self.store, op, self.clock, also=also, guard=guard)
        if result.status == "posted":
            self.stream_after_commit(result.transaction_id)
        return result

    def stream_after_commit(self, transaction_id: str) -> None:
        try:
            self.request_stream()
            return
        except Exception as exc:
            log.warning(
                "stream task not enqueued; streaming inline",
                extra={"transaction_id": transaction_id, "error": f"{exc}"},
            )
        try:
            outbox.stream_outbox(self.cfg, self.store, transaction_id, self.stream)
        except Exception as exc:
            log.error(
                "streaming failed; the outbox keeps it", extra={"transaction_id": transaction_id, "error": f"{exc}"}
            )
