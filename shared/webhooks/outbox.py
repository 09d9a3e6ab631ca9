"""Customer events written in the transaction of the change they report (the outbox pattern): an
event exists if and only if its change committed. Each event is numbered in its ordering lane
(tenant, key) by a counter read and written in the same transaction, so the numbers of one key are
1, 2, 3… in commit order; the fan-out (shared.webhooks.fanout) hands them to endpoints in that order.

Kinds: CustomerEvent (key = event id; `tenant`, `type`, `created_at`, `fanout_pending` indexed; the
body as sent in `body`, unindexed), EventLane (key = tenant|ordering key: the last number given)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from shared.domain.webhooks.delivery import RETENTION
from shared.domain.webhooks.events import Draft, envelope
from shared.recovery.policies import Task

log = logging.getLogger("ledgerline.webhooks")

EVENT = "CustomerEvent"
LANE = "EventLane"


def lane_name(tenant: str, key: str) -> str:
    return f"{tenant}|{key}"


def event_id(tenant: str, key: str, sequence: int) -> str:
    """Deterministic: one id per lane position (a retried transaction writes the same id)."""
    return "evt_" + hashlib.sha256(f"{tenant}\0{key}\0{sequence}".encode()).hexdigest()[:32]


def tenant_reader(tx) -> Callable[[str], str | None]:
    """customer -> owning tenant, read inside the transaction (shared.api.tenants: TenantCustomer)."""
    seen: dict[str, str | None] = {}

    def tenant_of(customer: str) -> str | None:
        if customer not in seen:
            seen[customer] = (tx.get("TenantCustomer", customer) or {}).get("tenant")
        return seen[customer]

    return tenant_of


def emit(tx, drafts: Iterable[Draft], now: datetime) -> list[str]:
    """Write the drafts as numbered events inside `tx`. Returns their ids. Marks the transaction
    (`tx.emitted`): the store asks for a fan-out after it commits (its `on_events`)."""
    ids = []
    for draft in drafts:
        lane = lane_name(draft.tenant, draft.key)
        sequence = (tx.get(LANE, lane) or {}).get("seq", 0) + 1
        tx.put(LANE, lane, {"seq": sequence, "updated_at": now})
        eid = event_id(draft.tenant, draft.key, sequence)
        body = json.dumps(envelope(eid, draft, sequence, now), separators=(",", ":"), sort_keys=True)
        tx.put(
            EVENT,
            eid,
            {
                "tenant": draft.tenant,
                "type": draft.type,
                "key": draft.key,
                "seq": sequence,
                "created_at": now,
                "body": body,
                "fanout_pending": True,
                "expires_at": now + RETENTION,  # the TTL policy's field (docs/webhooks.md "Retention")
            },
            unindexed=("body", "key", "seq", "expires_at"),
        )
        ids.append(eid)
    if ids:
        tx.emitted = True
    return ids


class FanoutRequests:
    """After a commit that emitted events: ask for a fan-out in the next second (one `webhook-fanout`
    task per second, named after the second, so instances dedupe; this instance skips asking twice in
    one second). Safety net: Cloud Scheduler runs a fan-out every minute. Never raises: the events
    are durable, the periodic fan-out catches up."""

    def __init__(self, schedule, clock: Callable[[], datetime]):
        self._schedule = schedule
        self._clock = clock
        self._last: int | None = None

    def __call__(self) -> None:
        second = int(self._clock().timestamp())
        if self._last == second:
            return
        self._last = second  # first: the commits of this second do not all wait on one slow enqueue
        try:
            self._schedule(Task("webhook-fanout", f"second-{second}"), datetime.fromtimestamp(second + 1, tz=UTC))
        except Exception as exc:
            log.warning("fan-out not scheduled; the minute sweep will take the events", extra={"error": str(exc)})
