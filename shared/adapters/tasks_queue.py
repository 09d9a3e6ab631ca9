"""Cloud Tasks adapter. Locally the gcloud-tasks-emulator speaks plain gRPC; google-cloud-tasks has no
emulator variable, so we hand it an insecure channel (CLOUD_TASKS_EMULATOR_HOST)."""

from __future__ import annotations

import json
import os
from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

from shared import logs
from shared.config import Settings

_clients: dict[str, tasks_v2.CloudTasksClient] = {}


def region() -> str:
    return os.environ.get("LEDGERLINE_REGION", "us-central1")


def client(cfg: Settings) -> tasks_v2.CloudTasksClient:
    key = cfg.tasks_emulator_host or "cloud"
    if key not in _clients:
        if cfg.tasks_emulator_host:
            import grpc
            from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

            channel = grpc.insecure_channel(cfg.tasks_emulator_host)
            _clients[key] = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        else:
            _clients[key] = tasks_v2.CloudTasksClient()
    return _clients[key]


def queue_path(cfg: Settings, queue: str) -> str:
    return tasks_v2.CloudTasksClient.queue_path(cfg.project, region(), queue)


def enqueue(
    cfg: Settings,
    queue: str,
    url: str,
    payload: dict,
    *,
    task_id: str,
    schedule_at: datetime | None = None,
    service_account: str | None = None,
    audience: str | None = None,
) -> bool:
    """Enqueue an HTTP POST task named task_id. Returns False when a task of that name exists
    already (a double enqueue is a no-op). The task carries the current trace as `traceparent`
    (Cloud Tasks passes a task's headers on to its target), so the target logs under the same trace."""
    path = queue_path(cfg, queue)
    headers = {"Content-Type": "application/json"}
    parent = logs.traceparent()
    if parent:
        headers["traceparent"] = parent
    http_request = {
        "http_method": tasks_v2.HttpMethod.POST,
        "url": url,
        "headers": headers,
        "body": json.dumps(payload, sort_keys=True).encode(),
    }
    if service_account:
        http_request["oidc_token"] = {"service_account_email": service_account, "audience": audience or url}
    task = {"name": f"{path}/tasks/{task_id}", "http_request": http_request}
    if schedule_at is not None:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(schedule_at)
        task["schedule_time"] = ts
    try:
        client(cfg).create_task(parent=path, task=task)
    except gexc.AlreadyExists:
        return False
    return True
