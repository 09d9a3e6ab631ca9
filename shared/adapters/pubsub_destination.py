"""Webhooks to a tenant's own Pub/Sub topic (a `pubsub://projects/<p>/topics/<t>` endpoint, cloud only:
docs/webhooks.md "Pub/Sub destinations"). The tenant grants the webhooks function's service account
roles/pubsub.publisher on that topic; ledgerline publishes the body as sent over HTTPS, the webhook-*
headers as attributes, with the event's ordering key (a subscription with message ordering enabled
receives a key's events in order). The answer has the sender's shape (shared.webhooks.service.Answer):
published is 200; a refusal or an outage is no answer, with an error, retried on the schedule."""

from __future__ import annotations

import time

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from shared.adapters.webhook_http import Answer

_publisher: pubsub_v1.PublisherClient | None = None


def publisher() -> pubsub_v1.PublisherClient:
    global _publisher
    if _publisher is None:
        _publisher = pubsub_v1.PublisherClient(
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001, max_messages=100),
        )
    return _publisher


def publish(topic: str, body: bytes, headers: dict[str, str], ordering_key: str, timeout_s: float = 15.0) -> Answer:
    """Publish one attempt to `topic` ("projects/<p>/topics/<t>") and wait for the server's ack."""
    started = time.monotonic()
    attributes = {k: v for k, v in headers.items() if k.startswith("webhook-")}
    client = publisher()
    try:
        future = client.publish(topic, body, ordering_key=ordering_key, **attributes)
        message_id = future.result(timeout=timeout_s)
    except Exception as exc:  # never raises for the destination: the attempt failed, the schedule retries
        # a failed publish pauses its ordering key in the client until resumed
        client.resume_publish(topic, ordering_key)
        return Answer(None, {}, b"", _ms(started), _error(exc))
    return Answer(200, {}, message_id.encode(), _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _error(exc: Exception) -> str:
    if isinstance(exc, gexc.PermissionDenied):
        return "pubsub: permission_denied (grant the webhooks service account roles/pubsub.publisher)"
    if isinstance(exc, gexc.NotFound):
        return "pubsub: topic_not_found"
    if isinstance(exc, TimeoutError | gexc.DeadlineExceeded):
        return "timeout"
    return f"pubsub: {type(exc).__name__}"
