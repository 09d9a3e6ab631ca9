"""ledger: canonical events (Pub/Sub push) -> balanced double-entry transactions.

- posted / replayed: 2xx; then the events parked behind this one are re-driven (published again).
- parked (its predecessor has not arrived): recorded durably, 2xx; a retries task checks it at its
  deadline and dead-letters it if the predecessor never came.
- streaming to BigQuery failed after the commit: a retries task streams it later; 2xx.
- a rejection (e.g. a capture of an expired hold) is recorded by the ledger and acknowledged.
- anything else (poison message, Datastore down): the failure is noted (DeliveryFailure, for the
  dead-letter record) and we answer 5xx, so Pub/Sub redelivers with backoff and, after
  max_delivery_attempts, dead-letters the message (the retries function records it)."""

import logging
from datetime import UTC, datetime, timedelta

import functions_framework
from pydantic import ValidationError

from shared import datastore_store, logs, pubsub_bus, wiring
from shared.config import settings
from shared.errors import PermanentError
from shared.events import CanonicalEvent
from shared.posting import outbox_streamer, post_event, redrive, released_by
from shared.recovery import note_delivery_failure
from shared.retry import Task

log = logging.getLogger("ledgerline.ledger")
_streamers: dict = {}


def _streamer(cfg, store):
    """One group committer per process: concurrent deliveries share BigQuery insert calls."""
    if "entries" not in _streamers:
        _streamers["entries"] = outbox_streamer(cfg, store)
    return _streamers["entries"]


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
            on_stream_failure=lambda outbox_id, _exc: schedule(
                Task("stream", outbox_id), wiring.first_retry_at("stream", now)
            ),
            streamer=_streamer(cfg, store),
        )
        if result is not None and result.status == "parked":
            schedule(Task("park-expiry", event.event_id), result.record["deadline"])
        publish = wiring.publisher(cfg)
        for name, record in released_by(store, event, result).items():
            redrive(store, name, record, publish)
            log.info("parked event re-driven", extra={"event_id": name, "by": event.event_id})
    except Exception as exc:
        note_delivery_failure(store, attributes.get("event_id") or message_id or "unknown", exc, now)
        raise
