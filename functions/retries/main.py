"""retries: Cloud Tasks HTTP target. Today: republish inbox events whose first publish failed.
Idempotent (Cloud Tasks may deliver a task twice). Later issues add backoff kinds and dead letters."""

import logging

import functions_framework

from shared import datastore_store, logs, pubsub_bus
from shared.config import settings
from shared.errors import ClientError
from shared.http import error_response, json_response, server_error
from shared.intake import republish
from shared.topology import CANONICAL_EVENTS_TOPIC

log = logging.getLogger("ledgerline.retries")


@functions_framework.http
def retries(request):
    cfg = settings()
    logs.configure(cfg.project)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    task = request.get_json(silent=True)
    if request.method != "POST" or not isinstance(task, dict):
        return error_response(ClientError(400, "invalid_task", "POST a JSON task object"))
    if task.get("kind") != "republish" or not isinstance(task.get("inbox_key"), str):
        return error_response(ClientError(400, "unknown_task_kind", "supported: {kind: republish, inbox_key}", "kind"))
    meta = {"task": request.headers.get("X-CloudTasks-TaskName"), "inbox_key": task["inbox_key"]}
    try:
        outcome = republish(
            cfg,
            task["inbox_key"],
            db=datastore_store.client(cfg),
            publish=lambda data, attrs: pubsub_bus.publish(cfg, CANONICAL_EVENTS_TOPIC, data, attrs),
        )
    except Exception:
        log.exception("republish failed; Cloud Tasks will retry", extra=meta)
        return server_error("downstream_unavailable", "republish failed; retry later", 503)
    log.info(f"republish: {outcome}", extra=meta)
    return json_response(200, {"status": outcome})
