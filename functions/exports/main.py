"""exports: statement exports of long ranges (POST /v1/accounts/{id}/statements/exports, docs/api.md),
rendered on their own instances (topology: 2 GiB, 900 s, one export per instance) so a 200,000-entry
PDF never shares the small retries instances' memory or deadline.

  POST /tasks    run one task {kind, key, ...} (shared.recovery.policies.Task): statement-export
                 (key = the export id): the file to the reports bucket, the export record `done`
  GET  /healthz

A task answers 2xx once its outcome is durable (the export done or failed, or its next attempt
scheduled on the exports queue, or a dead letter recorded); 5xx only if even that failed, so the queue
runs it again. Authenticated by OIDC in the cloud (shared.auth); locally off."""

import logging

import functions_framework

from shared import bootstrap, logs
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import handle_errors, json_response, posted_task, task_response
from shared.recovery.policies import EXPORTS_TASK_KINDS
from shared.recovery.service import run_task

log = logging.getLogger("ledgerline.exports")
handle_errors(functions_framework.errorhandler, log, refused="exports task refused")


@functions_framework.http
def exports(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)  # a task continues its enqueuer's trace (traceparent)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    verify_invoker(cfg, request.headers, cfg.function_urls["exports"], (cfg.tasks_invoker_sa,))
    task = posted_task(request)
    if task.kind not in EXPORTS_TASK_KINDS:
        runs = ", ".join(EXPORTS_TASK_KINDS)
        raise ClientError(400, "unknown_task_kind", f"the exports function runs {runs}", "kind")
    root = bootstrap.root(cfg)
    handlers = bootstrap.export_handlers(root)
    return task_response(
        lambda: run_task(task, handler=handlers[task.kind], store=root.store, schedule=root.schedule, now=root.clock()),
        log,
        {"task": request.headers.get("X-CloudTasks-TaskName"), "task_kind": task.kind, "key": task.key},
    )
