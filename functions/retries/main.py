"""retries: the Cloud Tasks HTTP target that turns failures into scheduled, bounded, observable
recovery, and the sink of the Pub/Sub dead-letter topic.

  POST /tasks                          run one task {kind, key, attempt, ...} (shared.recovery.policies.Task)
  POST /projects/<p>/topics/<topic>    Pub/Sub push from the dead-letter topic -> dead-letter store
  GET  /healthz

Answers 2xx once the outcome is durable (done, next attempt scheduled, or dead letter recorded);
5xx only if even that failed, so the queue's own retry config (the safety net) runs it again.
Authenticated by OIDC in the cloud (shared.auth); locally off. The handlers of each task kind are
shared.recovery.handlers, built by shared.bootstrap."""

import logging

import functions_framework

from shared import bootstrap, logs
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import handle_errors, json_response, task_response
from shared.recovery.policies import Task
from shared.recovery.service import pubsub_dead_letter_key, record_pubsub_dead_letter, run_task

log = logging.getLogger("ledgerline.retries")
handle_errors(functions_framework.errorhandler, log, refused="task refused")


@functions_framework.http
def retries(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)  # a task continues its enqueuer's trace (traceparent)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok", "fault_injection": cfg.fault_injection})
    verify_invoker(
        cfg,
        request.headers,
        cfg.function_urls["retries"],
        (cfg.tasks_invoker_sa, cfg.push_invoker_sa, cfg.scheduler_invoker_sa),
    )
    if request.method != "POST":
        raise ClientError(405, "method_not_allowed", "tasks are POSTed", "method")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_task", "POST a JSON object")
    root = bootstrap.root(cfg)
    if request.path.startswith("/projects/"):
        logs.begin(cfg.project, request.headers, logs.push_attributes(body))  # authenticated: its publisher's trace
        failures = root.store.get("DeliveryFailure", pubsub_dead_letter_key(body))
        name = record_pubsub_dead_letter(root.store, body, failures, root.clock())
        return json_response(200, {"status": "dead_letter_recorded", "dead_letter": name})
    if request.path != "/tasks":
        raise ClientError(404, "not_found", "POST tasks to /tasks", "path")
    task = Task.from_json(body)
    handlers = bootstrap.retry_handlers(root)
    if task.kind not in handlers:  # a payments step sent to the wrong queue
        raise ClientError(400, "unknown_task_kind", f"the retries function runs {', '.join(handlers)}", "kind")
    meta = {"task": request.headers.get("X-CloudTasks-TaskName"), "task_kind": task.kind, "key": task.key}
    return task_response(
        lambda: run_task(task, handler=handlers[task.kind], store=root.store, schedule=root.schedule, now=root.clock()),
        log,
        meta,
    )
