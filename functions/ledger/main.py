"""ledger: canonical events (Pub/Sub push) -> balanced double-entry transactions.

- posted / replayed: 2xx; then the events parked behind this one are re-driven (published again).
- parked (its predecessor has not arrived): recorded durably, 2xx; a retries task checks it at its
  deadline and dead-letters it if the predecessor never came.
- entries reach BigQuery by a batched sweep: each posting asks for a `stream-pending` retries task
  about a second later (one per second), which streams every pending outbox record in one call.
- a rejection (e.g. a capture of an expired hold) is recorded by the ledger and acknowledged.
- anything else (poison message, Datastore down): the failure is noted (DeliveryFailure, for the
  dead-letter record) and we answer 5xx, so Pub/Sub redelivers with backoff and, after
  max_delivery_attempts, dead-letters the message (the retries function records it)."""

import logging
from datetime import UTC, datetime, timedelta

import functions_framework
from pydantic import ValidationError

from shared import bootstrap as wiring
from shared import logs
from shared.adapters import datastore_store, pubsub_bus
from shared.config import settings
from shared.domain.events import CanonicalEvent
from shared.errors import PermanentError
from shared.ledger.parking import redrive, released_by
from shared.ledger.posting import post_event
from shared.recovery.policies import Task
from shared.recovery.service import note_delivery_failure

log = logging.getLogger("ledgerline.ledger")


@functions_framework.cloud_event
def ledger(cloud_event):
    cfg = settings()
    logs.configure(cfg.project)
    data, attributes, message_id = pubsub_bus.push_message(cloud_event)
    logs.set_trace(attributes.get("trace"))
    store = datastore_store.DatastoreLedger(datastore_store.client(cfg))
    schedule = wiring.scheduler(cfg)
    now = datetime.now(tz=UTC)
    try:
        try:
            event = CanonicalEvent.model_validate_json(data)
        except ValidationError as exc:
            log.error("poison message: not a canonical event", extra={"message_id": message_id, "errors": exc.errors()})
            raise PermanentError(
                f"message {message_id} is not a canonical event: {exc.error_count()} error(s)"
            ) from exc
        result = post_event(
            cfg,
            event,
            store=store,
            park_ttl=timedelta(seconds=cfg.park_ttl_seconds),
            defer_stream=lambda: wiring.defer_stream(cfg),
        )
        if result is not None and result.status == "parked":
            # The deadline is in the key: a re-parked event gets its own task (names stay reserved
            # for a while after a task ran).
            deadline = result.record["deadline"]
            schedule(Task("park-expiry", f"{event.event_id}@{int(deadline.timestamp())}"), deadline)
        publish = wiring.publisher(cfg)
        for name, record in released_by(store, event, result).items():
            redrive(store, name, record, publish)
            log.info("parked event re-driven", extra={"event_id": name, "by": event.event_id})
    except Exception as exc:
        note_delivery_failure(store, attributes.get("event_id") or message_id or "unknown", exc, now)
        raise
