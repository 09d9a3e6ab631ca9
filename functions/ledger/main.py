"""ledger: canonical events (Pub/Sub push) -> balanced double-entry transactions.

- posted / replayed: 2xx; then the events parked behind this one are re-driven (published again).
- parked (its predecessor has not arrived): recorded durably, 2xx; a retries task checks it at its
  deadline and dead-letters it if the predecessor never came.
- entries reach BigQuery by a batched sweep: each posting asks for a `stream-pending` retries task
  about a second later (one per second), which streams every pending outbox record in one call.
- a rejection (e.g. a capture of an expired hold) is recorded by the ledger and acknowledged.
- anything else (poison message, Datastore down): the failure is noted (DeliveryFailure, for the
  dead-letter record) and we answer 5xx, so Pub/Sub redelivers with backoff and, after
  max_delivery_attempts, dead-letters the message (the retries function records it).

The posting and everything after its commit is the ledger service (shared.ledger.service)."""

import logging

import functions_framework
from pydantic import ValidationError

from shared import bootstrap, logs
from shared.adapters import pubsub_bus
from shared.config import settings
from shared.domain.events import CanonicalEvent
from shared.errors import PermanentError
from shared.recovery.service import note_delivery_failure

log = logging.getLogger("ledgerline.ledger")


@functions_framework.cloud_event
def ledger(cloud_event):
    cfg = settings()
    logs.begin(cfg.project)  # a fresh trace first: a push that cannot be decoded logs under none of the last one's
    data, attributes, message_id = pubsub_bus.push_message(cloud_event)
    logs.begin(cfg.project, attributes=attributes)
    root = bootstrap.root(cfg)
    now = root.clock()
    try:
        root.ledger.post(_canonical(data, message_id))
    except Exception as exc:
        note_delivery_failure(root.store, attributes.get("event_id") or message_id or "unknown", exc, now)
        raise


def _canonical(data: bytes, message_id: str | None) -> CanonicalEvent:
    try:
        return CanonicalEvent.model_validate_json(data)
    except ValidationError as exc:
        log.error("poison message: not a canonical event", extra={"message_id": message_id, "errors": exc.errors()})
        raise PermanentError(f"message {message_id} is not a canonical event: {exc.error_count()} error(s)") from exc
