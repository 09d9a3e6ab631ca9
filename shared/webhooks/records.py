"""The webhook records as the services read them, and their rows (kind, name, data) in the ledger
store. Kinds:
  WebhookEndpoint  key = endpoint id; `tenant` indexed; secrets sealed (shared.payments.vault)
  WebhookDelivery  key = delivery id (endpoint x event [x replay]); `endpoint`, `status`,
                   `next_attempt_at` indexed; `after` / `next` chain the deliveries of one endpoint
                   and ordering key
  WebhookAttempt   key = <delivery>#<n>; `endpoint`, `at` indexed
  DeliveryLane     key = tenant|ordering key: the last event number fanned out, each endpoint's tail
  CustomerEvent, EventLane: shared.webhooks.outbox"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from shared.domain.webhooks.delivery import RETENTION
from shared.domain.webhooks.endpoints import Endpoint, Secret

ENDPOINT = "WebhookEndpoint"
DELIVERY = "WebhookDelivery"
ATTEMPT = "WebhookAttempt"
DELIVERY_LANE = "DeliveryLane"


def delivery_id(endpoint_id: str, event_id: str, replay: str | None = None) -> str:
    raw = f"{endpoint_id}\0{event_id}\0{replay or ''}"
    return "dlv_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


# ----------------------------------------------------------------------------- endpoints


def endpoint_row(ep: Endpoint, sealed_secrets: list[dict]) -> tuple[str, str, dict]:
    """`sealed_secrets`: [{value: sealed, created_at, expires_at}] (the service seals)."""
    return (
        ENDPOINT,
        ep.endpoint_id,
        {
            "tenant": ep.tenant,
            "url": ep.url,
            "types": list(ep.types),
            "description": ep.description,
            "enabled": ep.enabled,
            "created_at": ep.created_at,
            "secrets": json.dumps([_secret_json(x) for x in sealed_secrets], separators=(",", ":")),
            "version": ep.version,
            "disabled_reason": ep.disabled_reason,
            "failing_since": ep.failing_since,
            "rate_limit": ep.rate_limit,
            "verified": ep.verified,
            "metadata": json.dumps(dict(ep.metadata), sort_keys=True),
        },
    )


def _secret_json(sealed: dict) -> dict:
    at = sealed.get("expires_at")
    return {**sealed, "created_at": sealed["created_at"].isoformat(), "expires_at": at.isoformat() if at else None}


def sealed_secrets_of(row: dict) -> list[dict]:
    """[{value (sealed), created_at, expires_at}] as stored."""
    out = []
    for x in json.loads(row.get("secrets") or "[]"):
        at = x.get("expires_at")
        out.append(
            {
                **x,
                "created_at": datetime.fromisoformat(x["created_at"]),
                "expires_at": datetime.fromisoformat(at) if at else None,
            }
        )
    return out


def endpoint(name: str, row: dict, opened: list[Secret]) -> Endpoint:
    return Endpoint(
        endpoint_id=name,
        tenant=row["tenant"],
        url=row["url"],
        types=tuple(row.get("types") or ()),
        description=row.get("description"),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        secrets=tuple(opened),
        version=int(row.get("version", 1)),
        disabled_reason=row.get("disabled_reason"),
        failing_since=row.get("failing_since"),
        rate_limit=float(row.get("rate_limit") or 50.0),
        verified=bool(row.get("verified", True)),
        metadata=tuple(sorted(json.loads(row.get("metadata") or "{}").items())),
    )


# ----------------------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    tenant: str
    endpoint: str
    event: str
    key: str
    seq: int
    status: str  # pending | delivered | failed | skipped
    created_at: datetime
    after: str | None = None  # the delivery before it on its chain
    next: str | None = None  # the delivery after it (set when that one is fanned out)
    attempts: int = 0
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    finished_at: datetime | None = None
    replay: str | None = None  # the replay job that made it (None: the fan-out)
    restarts: int = 0  # dead-letter replays that restarted it
    restart_base: int = 0  # attempts made before the last restart (the schedule counts from there)
    # The task chain that drives it: its tasks' keys are `<id>@<chain>`; whoever gives it a new task
    # (the fan-out, its predecessor's wake-up, the sweep, a restart) first increments this in a
    # transaction, so a superseded task (late, duplicated, lost and found) does nothing. 0: no task yet.
    chain: int = 0

    @property
    def attempts_in_run(self) -> int:
        """Attempts since it (re)started: what the schedule counts."""
        return self.attempts - self.restart_base

    def task_key(self) -> str:
        return f"{self.delivery_id}@{self.chain}"


def delivery(name: str, row: dict) -> Delivery:
    return Delivery(
        delivery_id=name,
        tenant=row["tenant"],
        endpoint=row["endpoint"],
        event=row["event"],
        key=row["key"],
        seq=int(row["seq"]),
        status=row["status"],
        created_at=row["created_at"],
        after=row.get("after"),
        next=row.get("next"),
        attempts=int(row.get("attempts", 0)),
        first_attempt_at=row.get("first_attempt_at"),
        next_attempt_at=row.get("next_attempt_at"),
        last_status=row.get("last_status"),
        last_error=row.get("last_error"),
        finished_at=row.get("finished_at"),
        replay=row.get("replay"),
        restarts=int(row.get("restarts", 0)),
        restart_base=int(row.get("restart_base", 0)),
        chain=int(row.get("chain", 0)),
    )


def delivery_row(d: Delivery) -> tuple[str, str, dict]:
    return (
        DELIVERY,
        d.delivery_id,
        {
            "tenant": d.tenant,
            "endpoint": d.endpoint,
            "event": d.event,
            "key": d.key,
            "seq": d.seq,
            "status": d.status,
            "created_at": d.created_at,
            "after": d.after,
            "next": d.next,
            "attempts": d.attempts,
            "first_attempt_at": d.first_attempt_at,
            "next_attempt_at": d.next_attempt_at,
            "last_status": d.last_status,
            "last_error": d.last_error,
            "finished_at": d.finished_at,
            "replay": d.replay,
            "restarts": d.restarts,
            "restart_base": d.restart_base,
            "chain": d.chain,
            "expires_at": d.created_at + RETENTION,
        },
    )


def attempt_row(
    d: Delivery, number: int, at: datetime, status: int | None, error: str | None, elapsed_ms: int, response: str
) -> tuple[str, str, dict]:
    return (
        ATTEMPT,
        f"{d.delivery_id}#{number}",
        {
            "tenant": d.tenant,
            "endpoint": d.endpoint,
            "delivery": d.delivery_id,
            "event": d.event,
            "number": number,
            "at": at,
            "status_code": status,
            "error": error,
            "elapsed_ms": elapsed_ms,
            "response": response[:256],
            "expires_at": at + RETENTION,
        },
    )
