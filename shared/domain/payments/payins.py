"""The pay-in (`Payment`: a customer pays in through the card processor) and its `Refund`. Simpler than
a payout: the processor runs the attempt (its PaymentIntent / Refund, created with our id as its
idempotency key and in its metadata); ledgerline only follows the outcome its webhook reports. The
wallet moves on `succeeded` only: a payment credits it, a refund debits it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, TypeVar

from shared.domain.ledger.model import Operation
from shared.domain.money import MAX_AMOUNT, normalise_currency
from shared.domain.payments import effects
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.machine import Machine, TimelineEntry, Transition, machine
from shared.domain.payments.payouts import HOLD_LIFETIME

PaymentState = Literal["processing", "succeeded", "failed"]
PaymentEventName = Literal["requested", "succeeded", "failed"]
PROCESSOR = "stripe"

PAYMENT: Machine = machine(
    "payment",
    ("processing", "succeeded", "failed"),
    (
        Transition(None, "requested", "processing", None, "the processor is charging the payment method"),
        Transition("processing", "succeeded", "succeeded", "credit", "charged: processor clearing → wallet"),
        Transition("processing", "failed", "failed", None, "declined: nothing moved"),
    ),
)
REFUND: Machine = machine(
    "refund",
    ("processing", "succeeded", "failed"),
    (
        Transition(None, "requested", "processing", "hold", "the amount is held on the wallet (no overdraft)"),
        Transition("processing", "succeeded", "succeeded", "capture", "refunded: wallet → processor clearing"),
        Transition("processing", "failed", "failed", "void", "the refund failed: the hold is released"),
    ),
)


@dataclass(frozen=True)
class Payment:
    """A pay-in: the customer whose wallet it credits, the amount (int minor units) and currency, the
    processor and its payment-method id, its state and the timeline of the events applied to it."""

    payment_id: str
    customer: str
    amount: int
    currency: str
    payment_method: str
    status: PaymentState
    requested_at: datetime
    processor: str = PROCESSOR
    processor_reference: str | None = None
    failure_reason: str | None = None
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def booking(self) -> effects.Booking:
        wallet, clearing = f"customer:{self.customer}:wallet", f"partner:{self.processor}:clearing"
        return effects.Booking(self.payment_id, wallet, clearing, self.amount, self.currency)


@dataclass(frozen=True)
class Refund:
    """A (partial) refund of a succeeded payment: the amount, its state, its timeline."""

    refund_id: str
    payment: Payment
    amount: int
    status: PaymentState
    requested_at: datetime
    processor_reference: str | None = None
    failure_reason: str | None = None
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def booking(self) -> effects.Booking:
        p = self.payment
        wallet, clearing = f"customer:{p.customer}:wallet", f"partner:{p.processor}:clearing"
        return effects.Booking(
            self.refund_id, wallet, clearing, self.amount, p.currency, self.requested_at + HOLD_LIFETIME
        )


R = TypeVar("R", Payment, Refund)


@dataclass(frozen=True)
class ProcessorEvent:
    """What the processor reported about a payment or a refund: succeeded or failed, when, its own id
    of the object, why it failed (its decline code)."""

    name: Literal["succeeded", "failed"]
    at: datetime
    processor_reference: str | None = None
    reason: str | None = None


def _amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise PaymentError("invalid_amount", f"a positive int of minor units, got {amount!r}")
    return amount


def request_payment(
    payment_id: str, customer: str, amount: int, currency: str, payment_method: str, at: datetime
) -> Payment:
    """A new pay-in in `processing` (nothing moves until the processor says it succeeded)."""
    return Payment(
        payment_id,
        customer,
        _amount(amount),
        normalise_currency(currency),
        payment_method,
        "processing",
        at,
        timeline=(TimelineEntry(at, "requested", None, "processing"),),
    )


def request_refund(
    refund_id: str, payment: Payment, refunds: tuple[Refund, ...], amount: int | None, at: datetime
) -> Refund:
    """A refund of `amount` (None: what is left) of a succeeded payment, given its refunds so far:
    processing and failed ones count (a processing refund may still succeed), failed ones do not."""
    if payment.status != "succeeded":
        raise PaymentError("payment_not_succeeded", f"{payment.payment_id} is {payment.status}")
    taken = sum(r.amount for r in refunds if r.payment.payment_id == payment.payment_id and r.status != "failed")
    left = payment.amount - taken
    wanted = left if amount is None else _amount(amount)
    if wanted <= 0 or wanted > left:
        raise PaymentError("refund_exceeds_payment", f"{left} of {payment.amount} is refundable")
    return Refund(
        refund_id, payment, wanted, "processing", at, timeline=(TimelineEntry(at, "requested", None, "processing"),)
    )


def refund_hold(refund: Refund) -> Operation:
    """The hold a refund places on the wallet when it is requested (its `requested` row)."""
    row = REFUND.row(None, "requested")
    assert row is not None and row.effect is not None
    return effects.operation(row.effect, refund.booking, refund.requested_at)


def advance(record: R, event: ProcessorEvent) -> tuple[R, Operation | None]:
    """Apply the processor's outcome to a payment or a refund: (the new record, the operation its row
    books or None). The same outcome again is a no-op (P2); the other outcome after a final state is
    PaymentError("already_final")."""
    table = PAYMENT if isinstance(record, Payment) else REFUND
    if record.status == event.name:
        return record, None
    if record.status in table.final:
        raise PaymentError("already_final", f"{record.status} already")
    row = table.row(record.status, event.name)
    if row is None:
        raise PaymentError("illegal_transition", f"{event.name} is not allowed in {record.status}")
    changed = replace(
        record,
        status=row.target,
        processor_reference=event.processor_reference or record.processor_reference,
        failure_reason=event.reason if row.target == "failed" else record.failure_reason,
        timeline=(*record.timeline, TimelineEntry(event.at, event.name, row.source, row.target, None, event.reason)),
    )
    op = effects.operation(row.effect, record.booking, event.at) if row.effect is not None else None
    return changed, op
