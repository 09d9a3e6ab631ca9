"""Posting rules (docs/ledger.md): the legs an event kind books, as pure functions of the event. The
event-kind registry (shared.domain.kinds) says which kind books with which of them; None = nothing
moves for that event (it is still recorded where its kind says)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from shared.domain.ledger.model import Leg

if TYPE_CHECKING:
    from shared.domain.events import CanonicalEvent

Legs = tuple[Leg, ...]


def _owner(event: CanonicalEvent) -> str:
    return f"customer:{event.customer}:wallet" if event.customer else "suspense"


def _legs(event: CanonicalEvent, *pairs: tuple[str, str, int]) -> Legs:
    return tuple(Leg(acct, direction, amount, event.currency) for acct, direction, amount in pairs if amount > 0)


def payment_captured(e: CanonicalEvent) -> Legs:
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return _legs(e, (clearing, "debit", e.amount - e.fee), (fees, "debit", e.fee), (_owner(e), "credit", e.amount))


def wallet_to_clearing(e: CanonicalEvent) -> Legs:
    return _legs(e, (_owner(e), "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount))


def clearing_to_wallet(e: CanonicalEvent) -> Legs:
    return _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))


def dispute_lost(e: CanonicalEvent) -> Legs | None:
    if e.fee == 0:
        return None  # funds already left with dispute.opened; nothing more moves
    return _legs(e, (f"fees:{e.partner}", "debit", e.fee), (f"partner:{e.partner}:clearing", "credit", e.fee))


def dispute_funds_withdrawn(e: CanonicalEvent) -> Legs:
    """The disputed amount leaves the customer's wallet; the dispute fee, charged on top, is ours."""
    clearing, fees = f"partner:{e.partner}:clearing", f"fees:{e.partner}"
    return _legs(e, (_owner(e), "debit", e.amount), (fees, "debit", e.fee), (clearing, "credit", e.amount + e.fee))


def dispute_funds_reinstated(e: CanonicalEvent) -> Legs:
    """The disputed amount comes back to the wallet; a refunded dispute fee (fee > 0) back to fees."""
    clearing = f"partner:{e.partner}:clearing"
    return _legs(
        e,
        (clearing, "debit", e.amount + e.fee),
        (_owner(e), "credit", e.amount),
        (f"fees:{e.partner}", "credit", e.fee),
    )


def payout_paid(e: CanonicalEvent) -> Legs:
    return _legs(
        e, (f"bank:{e.bank}:operating", "debit", e.amount), (f"partner:{e.partner}:clearing", "credit", e.amount)
    )


def bank_to_wallet(e: CanonicalEvent) -> Legs:
    return _legs(e, (f"bank:{e.bank}:operating", "debit", e.amount), (_owner(e), "credit", e.amount))


def wallet_to_bank(e: CanonicalEvent) -> Legs:
    return _legs(e, (_owner(e), "debit", e.amount), (f"bank:{e.bank}:operating", "credit", e.amount))


def authorization(e: CanonicalEvent) -> Legs:
    """A hold: the captured legs of a payment without its fee, pending until captured, voided or expired."""
    legs = _legs(e, (f"partner:{e.partner}:clearing", "debit", e.amount), (_owner(e), "credit", e.amount))
    return tuple(replace(leg, phase="pending") for leg in legs)
