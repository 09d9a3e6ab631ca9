"""payments: moves money through partners, one step at a time (docs/payments.md).

  POST /tasks                          run one step {kind, key, ...} (shared.recovery.policies.Task):
                                       payout-step (key = payout id), payments-janitor (Cloud Scheduler)
  POST /projects/<p>/topics/<topic>    Pub/Sub push of a partner's outcome webhook (canonical events of
                                       consumer "payments"; the others are acknowledged and left alone)
  GET  /healthz

A step answers 2xx once its outcome is durable (advanced, next step scheduled, or dead letter
recorded); 5xx only if even that failed, so the queue runs it again. A webhook answers 2xx once
applied (or found to be a replay), 5xx when our storage failed (Pub/Sub redelivers, then
dead-letters). Authenticated by OIDC in the cloud (shared.auth); locally off."""

import logging

import functions_framework

from shared import bootstrap, logs
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import handle_errors, json_response, task_response
from shared.payments import consumer, janitor
from shared.recovery.policies import PAYMENTS_TASK_KINDS, Task
from shared.recovery.service import run_task

log = logging.getLogger("ledgerline.payments")
handle_errors(functions_framework.errorhandler, log, refused="payments request refused")


@functions_framework.http
def payments(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)  # a task continues its enqueuer's trace (traceparent)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    verify_invoker(
        cfg,
        request.headers,
        cfg.function_urls["payments"],
        (cfg.tasks_invoker_sa, cfg.push_invoker_sa, cfg.scheduler_invoker_sa),
    )
    if request.method != "POST":
        raise ClientError(405, "method_not_allowed", "steps and events are POSTed", "method")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_request", "POST a JSON object")
    root = bootstrap.root(cfg)
    if request.path.startswith("/projects/"):
        logs.begin(cfg.project, request.headers, logs.push_attributes(body))  # authenticated: its publisher's trace
        answer = consumer.on_push(bootstrap.payments(root), body)
        return json_response(200, answer)
    if request.path != "/tasks":
        raise ClientError(404, "not_found", "POST steps to /tasks", "path")
    task = Task.from_json(body)
    ports = bootstrap.payments(root)
    if task.kind not in PAYMENTS_TASK_KINDS or task.kind not in ports.handlers:
        raise ClientError(400, "unknown_task_kind", f"the payments function runs {', '.join(ports.handlers)}", "kind")
    if janitor.superseded(root.store, task):  # the janitor started a newer chain for this record
        return json_response(200, {"status": "superseded", "detail": f"{task.kind} {task.key}: a newer chain runs"})
    return task_response(
        lambda: run_task(
            task, handler=ports.handlers[task.kind], store=root.store, schedule=ports.schedule, now=root.clock()
        ),
        log,
        {"key": task.key},
    )
