"""ledger: canonical events (Pub/Sub push) -> balanced double-entry transactions. An exception answers
5xx, so Pub/Sub redelivers and, after max_delivery_attempts, dead-letters the message. A rejection
(e.g. a capture of an expired hold) is recorded by the ledger and acknowledged: retrying cannot help.
An event that arrived before its predecessor (a capture before its authorization) is parked: 5xx,
so Pub/Sub redelivers it with backoff; after max_delivery_attempts it is dead-lettered, and
`shared.cli redrive` publishes it again from the inbox."""

import logging

import functions_framework
from pydantic import ValidationError

from shared import datastore_store, logs, pubsub_bus
from shared.config import settings
from shared.errors import PermanentError
from shared.events import CanonicalEvent
from shared.ledger import PredecessorMissing
from shared.posting import post_event

log = logging.getLogger("ledgerline.ledger")


@functions_framework.cloud_event
def ledger(cloud_event):
    cfg = settings()
    logs.configure(cfg.project)
    data, attributes, message_id = pubsub_bus.push_message(cloud_event)
    logs.set_trace(attributes.get("trace"))
    try:
        event = CanonicalEvent.model_validate_json(data)
    except ValidationError as exc:
        log.error("poison message: not a canonical event", extra={"message_id": message_id, "errors": exc.errors()})
        raise PermanentError(f"message {message_id} is not a canonical event") from exc
    try:
        post_event(cfg, event, store=datastore_store.DatastoreLedger(datastore_store.client(cfg)))
    except PredecessorMissing as exc:
        # Parked: Pub/Sub redelivers with backoff until the predecessor has arrived, then dead-letters.
        log.warning(
            "event parked: predecessor missing",
            extra={"event_id": event.event_id, "reason": str(exc), "message_id": message_id},
        )
        raise
