"""Out-of-order events: an event whose predecessor has not arrived is parked (durable, acknowledged),
re-driven when the predecessor posts, and dead-lettered at its deadline if it never does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.engine import Result
from shared.domain.ledger.errors import PredecessorMissing
from shared.ledger.dispute_lifecycle import WITHDRAWAL_INDEX, withdrawal_key
from shared.ledger.store import LedgerStore, aware, utcnow
from shared.recovery.dead_letters import dead_letter_record

PARK_TTL = timedelta(hours=72)  # Stripe retries a webhook for up to 3 days: a predecessor can be that late
PREDECESSOR_KINDS = kinds.PREDECESSOR_KINDS  # what parked events wait for
PAYMENT_INDEX_KINDS = kinds.indexing("payment")  # their posting writes PaymentIndex
WITHDRAWAL_KINDS = kinds.indexing("withdrawal")  # their posting writes WITHDRAWAL_INDEX


def expiry_task_key(event_id: str, deadline: datetime) -> str:
    """The key of a parked event's `park-expiry` task: the deadline is in it, so a re-parked event gets
    its own task (task names stay reserved for a while after a task ran)."""
    return f"{event_id}@{int(deadline.timestamp())}"


def event_of_expiry_task(key: str) -> str:
    """The parked event an expiry task is about ("<event id>@<deadline>": event ids never hold "@")."""
    return key.split("@", 1)[0]


def payment_index_keys(event: CanonicalEvent) -> list[str]:
    """The PaymentIndex names of a payment: its reference and its other id (Stripe's charge id)."""
    return [f"{event.partner}:{ref}" for ref in (event.reference, event.payment_reference) if ref]


def park(
    store: LedgerStore, event: CanonicalEvent, missing: PredecessorMissing, clock=utcnow, ttl: timedelta = PARK_TTL
) -> Result | None:
    """Record the event as waiting for `missing.waiting_on`, in a transaction that reads that record:
    if the predecessor commits concurrently, one of the two transactions is retried, so a predecessor
    can never land unseen between "missing" and "parked" (its poster queries Parked after its commit).
    Returns None when the predecessor is there after all (post again). Idempotent: a redelivery keeps
    the first parked_at and deadline."""
    kind, name = missing.waiting_on

    def work(tx):
        if tx.get(kind, name) is not None:
            return None
        now = clock()
        previous = tx.get("Parked", event.event_id) or {}
        waiters = tx.get("Waiting", f"{kind}:{name}") or {"events": []}
        if event.event_id not in waiters["events"]:  # the index the predecessor's poster reads by key
            tx.put("Waiting", f"{kind}:{name}", {"events": sorted([*waiters["events"], event.event_id])})
        record = {
            "event_id": event.event_id,
            "partner": event.partner,
            "kind": event.kind,
            "waiting_on": f"{kind}:{name}",
            "reason": str(missing),
            "message": event.to_message().decode(),
            "parked_at": previous.get("parked_at", now),
            "deadline": previous.get("deadline", now + ttl),
            "deliveries": previous.get("deliveries", 0) + 1,
        }
        tx.put("Parked", event.event_id, record)
        return Result("parked", event.event_id, reason=str(missing), record=record)

    return store.transact(work)


def released_by(store: LedgerStore, event: CanonicalEvent, result: Result | None) -> dict[str, dict]:
    """Parked events waiting for what this event just wrote (its transaction, its payment index), to be
    re-driven. Also on a replay: a redelivery finishes a release that failed halfway."""
    if result is None or result.status not in ("posted", "replayed") or event.kind not in PREDECESSOR_KINDS:
        return {}
    keys = [f"JournalTransaction:{result.transaction_id}"]
    if event.kind in PAYMENT_INDEX_KINDS:
        keys += [f"PaymentIndex:{key}" for key in payment_index_keys(event)]
    if event.kind in WITHDRAWAL_KINDS:
        keys.append(f"{WITHDRAWAL_INDEX}:{withdrawal_key(event)}")
    waiting = sorted({name for w in store.get_multi("Waiting", keys).values() for name in w["events"]})
    return dict(sorted(store.get_multi("Parked", waiting).items())) if waiting else {}


def redrive(store: LedgerStore, name: str, record: dict, publish: Callable[[bytes, dict[str, str]], object]) -> None:
    """Send a parked event through the normal path again (publish first, then forget the parking: a
    crash in between only re-drives it twice, and the ledger replays the second)."""
    publish(
        record["message"].encode(),
        {"event_id": record["event_id"], "partner": record["partner"], "redrive": "parked"},
    )
    store.transact(lambda tx: _unpark(tx, name, record["waiting_on"]))


def _unpark(tx, name: str, waiting_on: str) -> None:
    tx.delete("Parked", name)
    waiters = tx.get("Waiting", waiting_on)
    if waiters is not None:
        rest = [e for e in waiters["events"] if e != name]
        if rest:
            tx.put("Waiting", waiting_on, {"events": rest})
        else:
            tx.delete("Waiting", waiting_on)


def expire_parked(store: LedgerStore, name: str, clock=utcnow) -> tuple[str, dict | None]:
    """At a parked event's deadline: ("released", None) if it was re-driven already, ("not_due",
    record) before the deadline, ("redrive", record) if its predecessor is there after all, else
    ("dead_letter", record): the record is moved to the dead letters in one transaction."""

    def work(tx):
        record = tx.get("Parked", name)
        if record is None:
            return "released", None
        kind, _, key = record["waiting_on"].partition(":")
        if tx.get(kind, key) is not None:
            return "redrive", record
        now = clock()
        if aware(record["deadline"]) > now:
            return "not_due", record
        tx.put(
            "DeadLetter",
            f"parked:{name}",
            dead_letter_record(
                source="parked",
                kind="canonical-event",
                key=name,
                payload=record["message"],
                reason_code="predecessor_missing",
                reason=f"{record['reason']} (parked {record['parked_at']:%Y-%m-%dT%H:%M:%SZ}, deadline passed)",
                attempts=record.get("deliveries", 1),
                first_error=record["reason"],
                last_error=record["reason"],
                first_attempt_at=record["parked_at"],
                now=now,
                attributes={"event_id": record["event_id"], "partner": record["partner"]},
            ),
        )
        _unpark(tx, name, record["waiting_on"])
        return "dead_letter", record

    return store.transact(work)
