"""webhooks: ledgerline's customer events to its tenants' endpoints (docs/webhooks.md).

  POST /tasks    run one task {kind, key, ...} (shared.recovery.policies.Task):
                 webhook-fanout (events -> deliveries), webhook-deliver (key = delivery id),
                 webhook-replay (key = replay id), webhook-sweep (Cloud Scheduler, every minute)
  GET  /healthz

A task answers 2xx once its outcome is durable (attempt recorded and the next one scheduled, or the
delivery final, or a dead letter recorded); 5xx only if even that failed, so the queue runs it again.
Authenticated by OIDC in the cloud (shared.auth); locally off."""

import logging

import functions_framework

from shared import bootstrap, logs
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import handle_errors, json_response, posted_task, task_response
from shared.recovery.policies import WEBHOOKS_TASK_KINDS
from shared.recovery.service import run_task

log = logging.getLogger("ledgerline.webhooks")
handle_errors(functions_framework.errorhandler, log, refused="webhooks task refused")


@functions_framework.http
def webhooks(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    verify_invoker(
        cfg, request.headers, cfg.function_urls["webhooks"], (cfg.tasks_invoker_sa, cfg.scheduler_invoker_sa)
    )
    task = posted_task(request)
    root = bootstrap.root(cfg)
    ports = bootstrap.webhooks(root)
    if task.kind not in WEBHOOKS_TASK_KINDS:
        raise ClientError(400, "unknown_task_kind", f"the webhooks function runs {', '.join(ports.handlers)}", "kind")
    return task_response(
        lambda: run_task(
            task, handler=ports.handlers[task.kind], store=root.store, schedule=ports.schedule, now=root.clock()
        ),
        log,
        {"key": task.key},
    )
