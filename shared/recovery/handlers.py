"""The retries function's task handlers, one per task kind (shared.recovery.policies.POLICIES): what
each kind does, over the ports it needs. shared.bootstrap builds them; shared.recovery.service runs
one with its policy, classification and circuit breaker. Every handler is idempotent (Cloud Tasks may
run a task twice) and returns a short description of what it did."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.config import Settings
from shared.errors import PermanentError
from shared.ledger import holds, outbox, parking
from shared.ledger.store import LedgerStore
from shared.recovery.service import Handler, Publish, Reschedule


@dataclass(frozen=True)
class Ports:
    cfg: Settings
    store: LedgerStore
    publish: Publish  # the canonical-events topic
    request_stream: Callable[[], None]  # ask for the next outbox sweep
    stream: Callable  # the entry sink (BigQuery): (cfg, table, rows, row ids)
    republish: Callable[[str], str]  # inbox event key -> "published" | "already_published" | "missing" …
    redrive_stale: Callable[[datetime], list]  # intake's safety net: re-drive stale inbox events as of now
    check_fault: Callable[[str], None]  # fault injection (local, tests and chaos): raises when a fault is set
    clock: Callable[[], datetime]
    operations: Callable[[], object] = lambda: None  # shared.operations.Operations, built on first use


def handlers(p: Ports) -> dict[str, Handler]:
    def republish_inbox(key: str) -> str:
        p.check_fault("pubsub")
        outcome = p.republish(key)
        if outcome == "missing":
            raise PermanentError(f"no inbox event {key}")
        return f"republish: {outcome}"

    def stream(key: str) -> str:
        p.check_fault("bigquery")
        return f"streamed {len(outbox.stream_outbox(p.cfg, p.store, key, p.stream))} transaction(s)"

    def stream_pending(key: str) -> str:
        p.check_fault("bigquery")
        total, left = outbox.sweep(p.cfg, p.store, p.stream)
        if left:  # arrived meanwhile, or more than this task takes: the next sweep, next second
            p.request_stream()
        return f"streamed {total} pending transaction(s), {left} left for the next sweep"

    def redrive_stale(key: str) -> str:
        p.check_fault("pubsub")
        return f"re-drove {len(p.redrive_stale(p.clock()))} stale inbox event(s)"

    def expire_holds(key: str) -> str:
        p.check_fault("datastore")
        results = holds.expire_due_holds(p.store, clock=p.clock)
        if any(r.status == "posted" for r in results):
            p.request_stream()
        return f"expired {sum(r.status == 'posted' for r in results)} hold(s)"

    def park_expiry(key: str) -> str:
        p.check_fault("datastore")
        name = parking.event_of_expiry_task(key)
        outcome, record = parking.expire_parked(p.store, name, clock=p.clock)
        if outcome == "not_due":
            raise Reschedule(record["deadline"], "parked event not due yet")
        if outcome == "redrive":
            parking.redrive(p.store, name, record, p.publish)
        return f"parked event: {outcome}"

    def retention_sweep(key: str) -> str:
        p.check_fault("datastore")
        out = p.operations().retention.sweep()
        return f"redacted {out['redacted']} raw bod(ies) past retention (received before {out['cutoff']})"

    def operations_sweep(key: str) -> str:
        p.check_fault("datastore")
        ops = p.operations()
        expired = ops.requests.expire_due()
        streamed = ops.audit.stream_pending()
        return f"expired {len(expired)} operator request(s); streamed {streamed} audit entr(ies)"

    return {
        "retention-sweep": Handler("datastore", retention_sweep),
        "operations-sweep": Handler("datastore", operations_sweep),
        "republish": Handler("pubsub", republish_inbox),
        "stream": Handler("bigquery", stream),
        "stream-pending": Handler("bigquery", stream_pending),
        "expire-holds": Handler("datastore", expire_holds),
        "redrive-stale": Handler("pubsub", redrive_stale),
        "park-expiry": Handler("datastore", park_expiry),
    }
