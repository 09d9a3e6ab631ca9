"""Pub/Sub adapter: publish canonical events, decode push deliveries. Locally PUBSUB_EMULATOR_HOST
points the official client at the emulator."""

from __future__ import annotations

import base64

from google.cloud import pubsub_v1

from shared import logs
from shared.config import Settings

_publishers: dict[str, pubsub_v1.PublisherClient] = {}


def publisher() -> pubsub_v1.PublisherClient:
    if "default" not in _publishers:
        _publishers["default"] = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001, max_messages=100)  # webhook latency first
        )
    return _publishers["default"]


def publish(cfg: Settings, topic: str, data: bytes, attributes: dict[str, str], timeout: float = 10.0) -> str:
    """Publish and wait for the server's ack; returns the message id (raises on failure). A message
    without a `trace` attribute gets the current trace's (see shared.logs.begin)."""
    trace = logs.current_trace()
    if trace and "trace" not in attributes:
        attributes = {**attributes, "trace": trace}
    future = publisher().publish(publisher().topic_path(cfg.project, topic), data, **attributes)
    return future.result(timeout=timeout)


def push_message(cloud_event) -> tuple[bytes, dict[str, str], str | None]:
    """(data, attributes, message id) of a Pub/Sub push delivery as a CloudEvent."""
    message = (cloud_event.data or {}).get("message") or {}
    data = base64.b64decode(message.get("data") or b"", validate=True)
    return data, dict(message.get("attributes") or {}), message.get("messageId") or message.get("message_id")
