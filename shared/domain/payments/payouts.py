"""The payout: money leaving a customer's wallet for a bank account, through a partner. Its states and
transitions are one table (`PAYOUT`); `request_payout` creates the record with its hold, `transition`
applies one event: it returns the new record and the ledger operation the row books (None: nothing
moves), or refuses with a PaymentError (nothing changed). Replaying an event is a no-op (P2).

    pending ──submit──▶ submitting ──accepted──▶ submitted ──settled──▶ paid ──returned──▶ returned
       │                  │  ▲ submit / declined / unknown / not_executed (attempts)  │
       └─cancel─▶ canceled └─fail─▶ failed ◀──────────────rejected─────────────────────┘
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from shared.domain.ledger.model import Operation
from shared.domain.money import MAX_AMOUNT, normalise_currency
from shared.domain.payments import effects
from shared.domain.payments.destinations import Destination
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.ids import partner_idempotency_key
from shared.domain.payments.machine import Machine, TimelineEntry, Transition, machine

PayoutState = Literal["pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"]
PayoutEventName = Literal[
    "requested", "submit", "accepted", "declined", "unknown", "not_executed", "fail", "rejected", "settled",
    "returned", "cancel",
]  # fmt: skip

PAYOUT: Machine = machine(
    "payout",
    ("pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"),
    (
        Transition(None, "requested", "pending", "hold", "the customer asked: the wallet's funds are held"),
        Transition("pending", "submit", "submitting", None, "the first attempt starts at a partner"),
        Transition("pending", "cancel", "canceled", "void", "canceled before submission: the hold is released"),
        Transition("submitting", "submit", "submitting", None, "a new attempt (the earlier ones did not execute)"),
        Transition("submitting", "declined", "submitting", None, "the partner refused the attempt before accepting"),
        Transition("submitting", "unknown", "submitting", None, "the attempt may have executed: query its status"),
        Transition("submitting", "not_executed", "submitting", None, "the attempt is confirmed not executed"),
        Transition("submitting", "accepted", "submitted", None, "the partner accepted: its reference is kept"),
        Transition("submitting", "fail", "failed", "void", "no partner will execute it: the hold is released"),
        Transition("submitted", "settled", "paid", "capture", "the partner paid: wallet → payouts clearing"),
        Transition("submitted", "rejected", "failed", "void", "the partner failed it after accepting, unpaid"),
        Transition("paid", "returned", "returned", "reverse", "an ACH return: the capture is reversed"),
    ),
)

# An attempt is one submission to one partner under one idempotency key:
#   in_flight     the call is being made (or its answer was lost with the process): may have executed
#   unknown       the partner may have committed: only a status query resolves it
#   accepted      the partner has the transfer
#   declined      the partner refused it before accepting: it did not execute there, and never will
#   not_executed  confirmed not executed (status query "not found", a 429, nothing was sent)
AttemptState = Literal["in_flight", "unknown", "accepted", "declined", "not_executed"]
MAY_HAVE_EXECUTED: frozenset[str] = frozenset({"in_flight", "unknown", "accepted"})
NotExecutedReason = Literal["not_found", "throttled", "not_sent"]
# a "not found" counts only once the partner can no longer be processing the attempt's request (its
# request deadline plus margin): before that, the original request may still be executing
NOT_FOUND_AFTER = timedelta(minutes=2)
# A payout's hold does not expire on its own while the payout is open: the money may have left (an
# unknown attempt, a transfer not yet settled), and a hold released under it would let the wallet
# spend it twice. The payout's own deadlines escalate instead (shared.payments.orchestrator Timing: a
# dead letter for an operator, whose decision captures or voids the hold). The engine wants every hold
# to have an expiry: ten years is "never" for the generic expire-holds sweep.
HOLD_LIFETIME = timedelta(days=3650)
# the account payouts move to when paid, per rail: the hold is placed before routing picks a partner,
# and the capture moves exactly the held legs (shared.domain.ledger.engine), so in-flight and paid
# payouts sit on one account per rail; which bank executed is on the attempt
PAYOUT_CLEARING: dict[str, str] = {"ach": "partner:payouts_ach:clearing"}


@dataclass(frozen=True)
class Attempt:
    """One submission of a payout to a partner: its number (1, 2, …), the partner, the idempotency key
    sent (derived from the payout id and the number), its state, the partner's reference once known,
    the last error (a decline code, why it is unknown), and when it started and last changed."""

    number: int
    partner: str
    idempotency_key: str
    state: AttemptState
    started_at: datetime
    updated_at: datetime
    partner_reference: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Payout:
    """A payout and everything known about it: the customer whose wallet pays, the amount (int minor
    units) and currency, the destination (its account number never shown), the state, its attempts and
    the timeline of every event applied to it."""

    payout_id: str
    customer: str
    amount: int
    currency: str
    destination: Destination
    status: PayoutState
    requested_at: datetime
    attempts: tuple[Attempt, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    failure_reason: str | None = None
    return_code: str | None = None

    @property
    def wallet(self) -> str:
        return f"customer:{self.customer}:wallet"

    @property
    def booking(self) -> effects.Booking:
        """What its ledger operations book with."""
        return effects.Booking(
            self.payout_id,
            self.wallet,
            PAYOUT_CLEARING[self.destination.rail],
            self.amount,
            self.currency,
            self.requested_at + HOLD_LIFETIME,
        )

    @property
    def partner_reference(self) -> str | None:
        return next((a.partner_reference for a in self.attempts if a.state == "accepted"), None)

    def attempt(self, number: int) -> Attempt:
        found = next((a for a in self.attempts if a.number == number), None)
        if found is None:
            raise PaymentError("unknown_attempt", f"{self.payout_id} has no attempt {number}")
        return found


# what each event must carry: (attempt number, partner, partner_reference, reason)
_NEEDS: dict[str, tuple[bool, bool, bool, bool]] = {
    "requested": (False, False, False, False),
    "submit": (True, True, False, False),
    "accepted": (True, False, True, False),
    "declined": (True, False, False, True),
    "unknown": (True, False, False, True),
    "not_executed": (True, False, False, True),
    "fail": (False, False, False, True),
    "rejected": (False, False, False, True),
    "settled": (False, False, False, False),
    "returned": (False, False, False, True),
    "cancel": (False, False, False, False),
}
assert set(_NEEDS) == set(PAYOUT.events), "every payout event declares what it carries"


@dataclass(frozen=True)
class PayoutEvent:
    """Something that happened to a payout: its name (a column of the table), when, and what it says.
    attempt: the attempt it concerns (submit, accepted, declined, unknown, not_executed); partner: where
    an attempt is submitted; partner_reference: the partner's id of an accepted transfer; reason: a
    decline code, why an outcome is unknown, why an attempt did not execute ("not_found", "throttled",
    "not_sent"), why the payout failed, an ACH return's R-code."""

    name: PayoutEventName
    at: datetime
    attempt: int | None = None
    partner: str | None = None
    partner_reference: str | None = None
    reason: str | None = None

    def __post_init__(self):
        needs = _NEEDS.get(self.name)
        if needs is None:
            raise ValueError(f"{self.name!r} is not a payout event")
        given = (self.attempt is not None, bool(self.partner), bool(self.partner_reference), bool(self.reason))
        missing = [
            n
            for n, need, has in zip(("attempt", "partner", "partner_reference", "reason"), needs, given, strict=True)
            if need and not has
        ]
        if missing:
            raise ValueError(f"a {self.name} event needs {', '.join(missing)}")
        if self.name == "not_executed" and self.reason not in ("not_found", "throttled", "not_sent"):
            raise ValueError("not_executed: reason is not_found, throttled or not_sent")


def request_payout(
    payout_id: str, customer: str, amount: int, currency: str, destination: Destination, at: datetime
) -> tuple[Payout, Operation]:
    """A new payout in `pending` and its hold on the wallet (the `requested` row). Limits and routes
    are checked by the caller first (shared.domain.payments.limits, routing), in the same transaction."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise PaymentError("invalid_amount", f"a payout is a positive int of minor units, got {amount!r}")
    if destination.rail not in PAYOUT_CLEARING:
        raise PaymentError("no_route", f"no payouts on rail {destination.rail!r}")
    row = PAYOUT.row(None, "requested")
    assert row is not None and row.effect is not None
    payout = Payout(
        payout_id,
        customer,
        amount,
        normalise_currency(currency),
        destination,
        "pending",
        at,
        timeline=(TimelineEntry(at, "requested", None, "pending"),),
    )
    return payout, effects.operation(row.effect, payout.booking, at)


def _applied(payout: Payout, event: PayoutEvent) -> TimelineEntry | None:
    return next((t for t in payout.timeline if t.event == event.name and t.attempt == event.attempt), None)


def _replay(payout: Payout, event: PayoutEvent) -> bool:
    """True when the event was applied already (P2); PaymentError when it says something else now."""
    if _applied(payout, event) is None:
        return False
    if event.name == "submit" and payout.attempt(event.attempt or 0).partner != event.partner:
        raise PaymentError("conflicting_event", f"attempt {event.attempt} was submitted to another partner")
    if event.name == "accepted" and payout.attempt(event.attempt or 0).partner_reference != event.partner_reference:
        raise PaymentError("conflicting_event", f"attempt {event.attempt} was accepted with another reference")
    return True


def _attempts_after(payout: Payout, event: PayoutEvent) -> tuple[Attempt, ...]:
    """The attempts once the event is applied, after its attempt rules (P4)."""
    if event.name in ("submit", "fail"):
        open_ = [a.number for a in payout.attempts if a.state in MAY_HAVE_EXECUTED]
        if open_:
            raise PaymentError("attempt_unresolved", f"attempt {open_[0]} may have executed")
    if event.name == "submit":
        number = event.attempt or 0
        if number != len(payout.attempts) + 1:
            raise PaymentError("attempt_out_of_order", f"the next attempt is {len(payout.attempts) + 1}, not {number}")
        key = partner_idempotency_key(payout.payout_id, number)
        started = Attempt(number, event.partner or "", key, "in_flight", event.at, event.at)
        return (*payout.attempts, started)
    if event.attempt is None:
        return payout.attempts
    attempt = payout.attempt(event.attempt)
    if attempt.state not in ("in_flight", "unknown"):
        raise PaymentError("attempt_resolved", f"attempt {attempt.number} is {attempt.state} already")
    if event.name == "not_executed":
        if attempt.state == "unknown" and event.reason != "not_found":
            raise PaymentError("attempt_unresolved", "only a confirmed not-found resolves an unknown attempt")
        if event.reason == "not_found" and event.at < attempt.started_at + NOT_FOUND_AFTER:
            raise PaymentError("not_found_too_early", f"not before {attempt.started_at + NOT_FOUND_AFTER}")
    state: AttemptState = {"accepted": "accepted", "declined": "declined", "unknown": "unknown"}.get(
        event.name, "not_executed"
    )  # type: ignore[assignment]
    changed = replace(
        attempt,
        state=state,
        updated_at=event.at,
        partner_reference=event.partner_reference or attempt.partner_reference,
        last_error=event.reason if event.name != "accepted" else attempt.last_error,
    )
    return tuple(changed if a.number == attempt.number else a for a in payout.attempts)


def transition(payout: Payout, event: PayoutEvent) -> tuple[Payout, Operation | None]:
    """Apply one event: (the new record, the operation its row books or None). A replayed event
    returns the record unchanged and no operation (P2); an event the table does not allow, or that
    breaks an attempt rule, raises PaymentError and changes nothing (P1, P4)."""
    if _replay(payout, event):
        return payout, None
    if payout.status in PAYOUT.final:
        raise PaymentError("already_final", f"{payout.payout_id} is {payout.status}")
    row = PAYOUT.row(payout.status, event.name)
    if row is None:
        raise PaymentError("illegal_transition", f"{event.name} is not allowed in {payout.status}")
    attempts = _attempts_after(payout, event)
    detail = event.partner_reference or event.reason or event.partner
    changed = replace(
        payout,
        status=row.target,  # type: ignore[arg-type]
        attempts=attempts,
        timeline=(*payout.timeline, TimelineEntry(event.at, event.name, row.source, row.target, event.attempt, detail)),
        failure_reason=event.reason if row.target == "failed" else payout.failure_reason,
        return_code=event.reason if row.target == "returned" else payout.return_code,
    )
    op = effects.operation(row.effect, payout.booking, event.at) if row.effect is not None else None
    return changed, op
