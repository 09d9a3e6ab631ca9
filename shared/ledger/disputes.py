"""Disputes as operators see them: one `Dispute` record per partner dispute, with its timeline and a
state derived from it. Pure: the ledger service (shared.ledger.posting) reads and writes the record.

Money never moves here: it moves per balance transaction (dispute.funds_withdrawn /
dispute.funds_reinstated, shared.domain.ledger.rules). An inquiry (Stripe `warning_*` statuses) has
no balance transaction at all: this record is where it is visible (`python -m shared.cli disputes`).

The state is a function of the SET of events seen, never of their order: a redelivery changes nothing,
and any arrival order gives the same record (the permutation property test checks it). The current
status is the one of the status event that sorts last by (final?, occurred_at, lifecycle rank, event
id): a final status (won, lost, warning_closed, prevented) is never overtaken by a late, older one.
"""

from __future__ import annotations

import json
from datetime import datetime

from shared.domain import kinds
from shared.domain.events import CanonicalEvent

KIND = "Dispute"
DISPUTE_KINDS = tuple(k.name for k in kinds.KINDS if k.dispute)
# Stripe's Dispute.status values (docs.stripe.com/api/disputes/object) in lifecycle order; opened /
# won / lost stand for the kinds of partners that send no status.
LIFECYCLE = (
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "opened",
    "under_review",
    "warning_closed",
    "prevented",
    "won",
    "lost",
)
FINAL = frozenset({"warning_closed", "prevented", "won", "lost"})
# the status a kind stands for, for partners without a status lifecycle (Adyen CHARGEBACK, generic partners)
_STATUS_OF_KIND = {k.name: k.dispute_status for k in kinds.KINDS if k.dispute_status}


def key(partner: str, dispute_id: str) -> str:
    return f"{partner}:{dispute_id}"


def status_of(event: CanonicalEvent) -> str | None:
    return event.dispute_status if event.kind == "dispute.status" else _STATUS_OF_KIND.get(event.kind)


def entry_for(event: CanonicalEvent, transaction_id: str | None) -> dict:
    """What the timeline keeps of one event (all of it derived from the event: a redelivery is equal)."""
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "partner_event_type": event.partner_event_type,
        "status": status_of(event),
        "amount": event.amount,
        "fee": event.fee,
        "currency": event.currency,
        "occurred_at": event.occurred_at.isoformat(),
        "transaction_id": transaction_id,
        # Only when set (timelines recorded before the field existed stay equal on a redelivery).
        **(
            {"unbooked_fee": event.unbooked_fee, "unbooked_fee_currency": event.unbooked_fee_currency}
            if event.unbooked_fee is not None
            else {}
        ),
    }


def _rank(entry: dict) -> tuple:
    status = entry["status"]
    lifecycle = LIFECYCLE.index(status) if status in LIFECYCLE else -1
    return (status in FINAL, entry["occurred_at"], lifecycle, entry["event_id"])


def summary(timeline: list[dict]) -> dict:
    """The derived state of a dispute from its timeline (any order)."""
    statuses = [e for e in timeline if e["status"] is not None]
    current = max(statuses, key=_rank)["status"] if statuses else None
    money = {
        kind: [e for e in timeline if e["kind"] == kind and e["transaction_id"]]
        for kind in ("dispute.funds_withdrawn", "dispute.funds_reinstated")
    }
    withdrawn, reinstated = money["dispute.funds_withdrawn"], money["dispute.funds_reinstated"]
    return {
        "status": current,
        "final": current in FINAL,
        "inquiry": any(e["status"].startswith("warning_") for e in statuses),
        "withdrawn": sum(e["amount"] for e in withdrawn),
        "reinstated": sum(e["amount"] for e in reinstated),
        "fees": sum(e["fee"] for e in withdrawn) - sum(e["fee"] for e in reinstated),
        "transactions": sorted(e["transaction_id"] for e in (*withdrawn, *reinstated)),
        # Dispute fees settled in another currency, not booked by the ledger (stripe.py): visible here
        # for operators; reconciliation's fee booking books the report's fee.
        "unbooked_fees": sorted(
            f"{e['event_id']}:{e['unbooked_fee']}:{e['unbooked_fee_currency']}"
            for e in timeline
            if e.get("unbooked_fee")
        ),
    }


def merged(record: dict | None, event: CanonicalEvent, transaction_id: str | None, now: datetime) -> dict | None:
    """The record with this event in its timeline, or None when it is there already (a redelivery)."""
    record = record or {
        "partner": event.partner,
        "dispute_id": event.reference,
        "payment_reference": event.payment_reference,
        "customer": None,
        "amount": None,
        "currency": event.currency,
        "timeline": "[]",
        "created_at": now,
    }
    timeline = json.loads(record["timeline"])
    entry = entry_for(event, transaction_id)
    if entry in timeline:
        return None
    # Same event id, other content (e.g. the posting's transaction id learned later): the newer view.
    timeline = sorted(
        [e for e in timeline if e["event_id"] != event.event_id] + [entry],
        key=lambda e: (e["occurred_at"], e["event_id"]),
    )
    out = {
        **record,
        "timeline": json.dumps(timeline, sort_keys=True, separators=(",", ":")),
        "customer": record["customer"] or event.customer,
        "payment_reference": record["payment_reference"] or event.payment_reference,
        "updated_at": now,
        **summary(timeline),
    }
    statuses = [e for e in timeline if e["kind"] in ("dispute.status", "dispute.opened")]
    if statuses:  # the disputed amount as the partner states it (not the balance transactions')
        latest = max(statuses, key=_rank)
        out["amount"], out["currency"] = latest["amount"], latest["currency"]
    return out
