"""retries: the Cloud Tasks HTTP target that turns failures into scheduled, bounded, observable
recovery, and the sink of the Pub/Sub dead-letter topic.

  POST /tasks                          run one task {kind, key, attempt, ...} (shared.recovery.policies.Task)
  POST /projects/<p>/topics/<topic>    Pub/Sub push from the dead-letter topic -> dead-letter store
  GET  /healthz

Answers 2xx once the outcome is durable (done, next attempt scheduled, or dead letter recorded);
5xx only if even that failed, so the queue's own retry config (the safety net) runs it again.
Authenticated by OIDC in the cloud (shared.auth); locally off."""

import logging
from datetime import UTC, datetime

import functions_framework

from shared import bootstrap as wiring
from shared import logs
from shared.adapters import datastore_store
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import error_response, json_response, server_error
from shared.recovery.policies import Task
from shared.recovery.service import record_pubsub_dead_letter, run_task

log = logging.getLogger("ledgerline.retries")


def _now() -> datetime:
    return datetime.now(tz=UTC)


@functions_framework.http
def retries(request):
    cfg = settings()
    logs.configure(cfg.project)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok", "fault_injection": cfg.fault_injection})
    try:
        verify_invoker(cfg, request.headers, cfg.function_urls["retries"], (cfg.tasks_invoker_sa, cfg.push_invoker_sa))
        if request.method != "POST":
            raise ClientError(405, "method_not_allowed", "tasks are POSTed", "method")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ClientError(400, "invalid_task", "POST a JSON object")
        store = datastore_store.DatastoreLedger(datastore_store.client(cfg))
        if request.path.startswith("/projects/"):
            failures = store.get("DeliveryFailure", _event_key(body))
            name = record_pubsub_dead_letter(store, body, failures, _now())
            return json_response(200, {"status": "dead_letter_recorded", "dead_letter": name})
        if request.path != "/tasks":
            raise ClientError(404, "not_found", "POST tasks to /tasks", "path")
        task = Task.from_json(body)
    except ClientError as exc:
        log.warning("task refused", extra={"code": exc.code, "status": exc.status})
        return error_response(exc)
    handler = wiring.handlers(cfg, clock=_now)[task.kind]
    meta = {"task": request.headers.get("X-CloudTasks-TaskName"), "task_kind": task.kind, "key": task.key}
    try:
        outcome = run_task(task, handler=handler, store=store, schedule=wiring.scheduler(cfg), now=_now())
    except Exception:
        log.exception("could not record the task's outcome; the queue will retry it", extra=meta)
        return server_error("downstream_unavailable", "task outcome not recorded; retry later", 503)
    body = {"status": outcome.status, "detail": outcome.detail}
    if outcome.next_at:
        body["next_at"] = outcome.next_at.isoformat()
    return json_response(200, body)


def _event_key(push: dict) -> str:
    message = push.get("message") or {}
    attributes = message.get("attributes") or {}
    return str(attributes.get("event_id") or message.get("messageId") or message.get("message_id") or "unknown")
