"""Posting rules (docs/ledger.md): the legs each canonical event kind books. Pure functions of the event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.domain.ledger.model import Leg

if TYPE_CHECKING:
    from shared.domain.events import CanonicalEvent


def _owner(event: CanonicalEvent) -> str:
    return f"customer:{event.customer}:wallet" if event.customer else "suspense"


def _legs(event: CanonicalEvent, *pairs: tuple[str, str, int]) -> tuple[Leg, ...]:
    return tuple(Leg(acct, direction, amount, event.currency) for acct, direction, amount in pairs if amount > 0)


def _payment_captured(e: CanonicalEvent):
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return "post", _legs(
        e, (clearing, "debit", e.amount - e.fee), (fees, "debit", e.fee), (_owner(e), "credit", e.amount)
    )


def _from_wallet_to_clearing(e: CanonicalEvent):
    return "post", _legs(e, (_owner(e), "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount))


def _from_clearing_to_wallet(e: CanonicalEvent):
    return "post", _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))


def _dispute_lost(e: CanonicalEvent):
    if e.fee == 0:
        return None  # funds already left with dispute.opened; nothing more moves
    return "post", _legs(e, (f"fees:{e.partner}", "debit", e.fee), (f"partner:{e.partner}:clearing", "credit", e.fee))


def _dispute_funds_withdrawn(e: CanonicalEvent):
    """The disputed amount leaves the customer's wallet; the dispute fee, charged on top, is ours."""
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return "post", _legs(
        e, (_owner(e), "debit", e.amount), (fees, "debit", e.fee), (clearing, "credit", e.amount + e.fee)
    )


def _dispute_funds_reinstated(e: CanonicalEvent):
    """The disputed amount comes back to the wallet; a refunded dispute fee (fee > 0) back to fees."""
    clearing = f"partner:{e.partner}:clearing"
    return "post", _legs(
        e,
        (clearing, "debit", e.amount + e.fee),
        (_owner(e), "credit", e.amount),
        (f"fees:{e.partner}", "credit", e.fee),
    )


def _records_only(e: CanonicalEvent):
    return None  # kept by the ledger service (shared.ledger.disputes), no money moves


def _payout_paid(e: CanonicalEvent):
    return "post", _legs(
        e, (f"bank:{e.bank}:operating", "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount)
    )


def _ach_received(e: CanonicalEvent):
    return "post", _legs(e, (f"bank:{e.bank}:operating", "debit", e.amount), (_owner(e), "credit", e.amount))


def _ach_returned(e: CanonicalEvent):
    return "post", _legs(e, (_owner(e), "debit", e.amount), (f"bank:{e.bank}:operating", "credit", e.amount))


def _authorization(e: CanonicalEvent):
    legs = _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))
    return "hold", tuple(replace(leg, phase="pending") for leg in legs)


POSTING_RULES: dict[str, tuple[str, Callable]] = {
    "payment.captured": ("payment_captured.v1", _payment_captured),
    "payment.refunded": ("payment_refunded.v1", _from_wallet_to_clearing),
    "dispute.opened": ("dispute_opened.v1", _from_wallet_to_clearing),
    "dispute.won": ("dispute_won.v1", _from_clearing_to_wallet),
    "dispute.lost": ("dispute_lost.v1", _dispute_lost),
    "dispute.status": ("dispute_status.v1", _records_only),
    "dispute.funds_withdrawn": ("dispute_funds_withdrawn.v1", _dispute_funds_withdrawn),
    "dispute.funds_reinstated": ("dispute_funds_reinstated.v1", _dispute_funds_reinstated),
    "payout.paid": ("payout_paid.v1", _payout_paid),
    "payout.failed": ("payout_failed.v1", None),
    "ach.credit.received": ("ach_credit_received.v1", _ach_received),
    "ach.credit.returned": ("ach_credit_returned.v1", _ach_returned),
    "ach.debit.sent": ("ach_debit_sent.v1", _ach_returned),  # same legs: wallet -> bank
    "ach.debit.returned": ("ach_debit_returned.v1", _ach_received),  # same legs: bank -> wallet
    "authorization.created": ("hold.v1", _authorization),
    "authorization.captured": ("hold_capture.v1", None),
    "authorization.voided": ("hold_void.v1", None),
}
