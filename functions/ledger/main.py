"""ledger: canonical events (Pub/Sub push) -> balanced double-entry transactions. An exception answers
5xx, so Pub/Sub redelivers and, after max_delivery_attempts, dead-letters the message. A rejection
(e.g. a capture of an expired hold) is recorded by the ledger and acknowledged: retrying cannot help."""

import logging

import functions_framework
from pydantic import ValidationError

from shared import datastore_store, logs, pubsub_bus
from shared.config import settings
from shared.errors import PermanentError
from shared.events import CanonicalEvent
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
    post_event(cfg, event, store=datastore_store.DatastoreLedger(datastore_store.client(cfg)))
