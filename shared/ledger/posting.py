"""The ledger service's posting path: a canonical event -> the operation its kind asks for ->
executed once (shared.ledger.transactions), with the indexes that commit with it, the dispute
records, parking of out-of-order events and streaming after the commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.engine import Result
from shared.domain.ledger.errors import PredecessorMissing
from shared.domain.ledger.operations import operation_for
from shared.ledger.dispute_lifecycle import (
    WITHDRAWAL_INDEX,
    is_legacy,
    legacy_index_entry,
    record_dispute,
    require_withdrawal,
    settle_legacy,
    supersedes_legacy,
    withdrawal_key,
)
from shared.ledger.parking import PARK_TTL, PAYMENT_INDEX_KINDS, WITHDRAWAL_KINDS, park, payment_index_keys
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute

log = logging.getLogger("ledgerline.ledger")

# Follow-up events whose partner payload does not name the customer (a Stripe dispute names only the
# payment): the customer is the one of the payment, remembered in PaymentIndex when it was captured.
NEEDS_PAYMENT_OWNER = kinds.waiting_for("payment")


def resolve_owner(store: LedgerStore, event: CanonicalEvent) -> CanonicalEvent:
    if event.kind not in NEEDS_PAYMENT_OWNER or event.customer is not None or not event.payment_reference:
        return event
    key = f"{event.partner}:{event.payment_reference}"
    index = store.get("PaymentIndex", key)
    if index is None:
        raise PredecessorMissing(f"payment {event.payment_reference} has not arrived yet", ("PaymentIndex", key))
    return event.model_copy(update={"customer": index["customer"]})


def post_once(
    event: CanonicalEvent, *, store: LedgerStore, clock: Callable[[], datetime] = utcnow, park_ttl: timedelta = PARK_TTL
) -> Result | None:
    """Post one canonical event exactly once; None when its kind moves no money. An event whose
    predecessor has not arrived is parked (Result "parked"): durable, acknowledged, re-driven by
    `released_by` when the predecessor posts. Nothing after the commit happens here."""
    for _ in range(3):  # the predecessor may land between the failed posting and the park: post again
        try:
            return _commit(event, store)
        except PredecessorMissing as missing:
            parked = park(store, event, missing, clock, park_ttl)
            if parked is not None:
                log.warning(
                    "event parked: predecessor missing",
                    extra={
                        "event_id": event.event_id,
                        "reason": parked.reason,
                        "waiting_on": parked.record["waiting_on"],
                    },
                )
                return parked
    raise RuntimeError(f"{event.event_id}: predecessor neither missing nor usable")  # pragma: no cover


def _commit(event: CanonicalEvent, store: LedgerStore) -> Result | None:
    # A reinstatement waits for its withdrawal first: once that posted, the payment it needed is known
    # too, so a parked event waits on one record and is re-driven once (never parked again on another).
    require_withdrawal(store, event)
    event = resolve_owner(store, event)
    op = operation_for(event)
    if op is None:
        record_dispute(store, event, None)
        if supersedes_legacy(event):
            settle_legacy(store, event.partner, event.reference, event.occurred_at, superseded=True)
        log.info("event moves no money", extra={"event_id": event.event_id, "kind": event.kind})
        return None
    index = ()
    if event.kind in PAYMENT_INDEX_KINDS:  # rewritten on every redelivery: idempotent
        index = tuple(
            ("PaymentIndex", key, {"customer": event.customer, "transaction_id": op.op_id})
            for key in payment_index_keys(event)
        )
    elif event.kind in WITHDRAWAL_KINDS:
        index = ((WITHDRAWAL_INDEX, withdrawal_key(event), {"transaction_id": op.op_id}),)
    elif is_legacy(event):
        index = (legacy_index_entry(event, op.op_id),)
    result = execute(store, op, also=index)  # the index commits with the posting: no extra round trips
    if result.status in ("posted", "replayed"):
        record_dispute(store, event, op.op_id)
        if supersedes_legacy(event) or is_legacy(event):  # after the commit: either order meets
            settle_legacy(store, event.partner, event.reference, event.occurred_at, superseded=supersedes_legacy(event))
    log.info(
        f"transaction {result.status}",
        extra={
            "event_id": event.event_id,
            "transaction_id": op.op_id,
            "status": result.status,
            "reason": result.reason,
        },
    )
    return result
