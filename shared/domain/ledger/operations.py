"""What the ledger is asked to do: the operation a canonical event asks for (its posting rule, its
transaction id), and the operations ledgerline itself originates (reversal, hold expiry, fee booking,
an operator's adjusting entry or write-off)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain import kinds
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.errors import InvariantViolation, NoPostingRule
from shared.domain.ledger.ids import digest, event_hash, transaction_id
from shared.domain.ledger.model import JournalTransaction, Leg, Operation, OpKind, entries_for
from shared.domain.money import MAX_AMOUNT, normalise_currency

# {kind: (rule, posting rule)}, from the registry (docs/ledger.md "Posting rules")
POSTING_RULES: dict[str, tuple[str, Callable | None]] = {k.name: (k.rule, k.legs) for k in kinds.KINDS}


def payout_id(partner: str, reference: str) -> str:
    """One transaction per payout, whichever event reports it paid (so its failure can reverse it)."""
    return kinds.BY_NAME["payout.paid"].reference_transaction_id(partner, reference)


def hold_id(partner: str, reference: str) -> str:
    """The hold of an authorization (what its capture and void aim at)."""
    return kinds.BY_NAME["authorization.created"].reference_transaction_id(partner, reference)


def operation_for(event: CanonicalEvent) -> Operation | None:
    """The ledger operation a canonical event asks for (its kind's entry in shared.domain.kinds); None
    when the event moves no money."""
    kind = kinds.BY_NAME.get(event.kind)
    if kind is None:
        raise NoPostingRule(f"no posting rule for event kind {event.kind!r}")
    if kind.books is None:
        return None  # recorded only (e.g. a dispute status: kept by shared.ledger.disputes)
    common = dict(
        rule=kind.rule,
        event_id=event.event_id,
        partner=event.partner,
        body_hash=event_hash(event),
        effective_at=event.occurred_at,
    )
    op_id = kind.transaction_id(event)
    if kind.target is not None:
        target = kinds.BY_NAME[kind.target].reference_transaction_id(event.partner, event.reference)
        if kind.books == "capture":
            return Operation(op_id, "capture", target=target, amount=event.amount, currency=event.currency, **common)
        # A reversal of a partner's transaction (a failed payout undoes the paid one: it never invents
        # money) is parked until its target has arrived. One that never arrives stays parked and is
        # dead-lettered with that reason: nothing moved, nothing to post.
        return Operation(op_id, kind.books, target=target, await_target=kind.books == "reverse", **common)
    legs = kind.legs(event)
    if legs is None:
        return None
    return Operation(op_id, kind.books, legs=legs, expires_at=event.expires_at, **common)


def _system_operation(kind: OpKind, rule: str, target: str, effective_at: datetime) -> Operation:
    """An operation ledgerline itself originates about an existing transaction; its id derives from
    (kind, target), so asking twice is the same operation (replayed), never a second one."""
    op_id = transaction_id("ledgerline", f"{kind}:{target}", rule)
    return Operation(
        op_id,
        kind,
        rule,
        f"ledgerline:{kind}:{target}",
        "ledgerline",
        digest(kind, target),
        effective_at,
        target=target,
    )


REVERSAL_RULE = "reversal.v1"


def reversal(target: str, effective_at: datetime) -> Operation:
    """The correction of a posted transaction: its posted legs mirrored, linked both ways, at most once."""
    return _system_operation("reverse", REVERSAL_RULE, target, effective_at)


def expiry(hold: str, effective_at: datetime) -> Operation:
    """Release a hold whose expiry has passed (valid only when now >= its expires_at)."""
    return _system_operation("expire", "hold_expire.v1", hold, effective_at)


FEE_BOOKING_RULE = "fee_booked.v1"


def fee_booking(partner: str, key: str, amount: int, currency: str, effective_at: datetime) -> Operation:
    """An adjusting transaction for a fee the partner reported and the ledger had not booked
    (shared.reconciliation.fees): amount > 0 debits fees:<partner> and credits the partner's clearing
    account, < 0 the reverse. Its id derives from (partner, key): booking the same key twice is the same
    operation (replayed), never a second one."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvariantViolation(f"a fee booking is a non-zero int of minor units, got {amount!r}")
    fees, clearing = f"fees:{partner}", f"partner:{partner}:clearing"
    debit, credit = (fees, clearing) if amount > 0 else (clearing, fees)
    currency = normalise_currency(currency)
    legs = (Leg(debit, "debit", abs(amount), currency), Leg(credit, "credit", abs(amount), currency))
    return Operation(
        transaction_id(partner, key, FEE_BOOKING_RULE),
        "post",
        FEE_BOOKING_RULE,
        f"ledgerline:fee:{partner}:{key}",
        partner,
        digest("fee", partner, key, str(amount), currency),
        effective_at,
        legs=legs,
    )


ADJUSTMENT_RULE = "adjustment.v1"
WRITE_OFF_RULE = "write_off.v1"
MANUAL_TRANSFER_RULE = "manual_transfer.v1"
OPERATOR_RULES = (ADJUSTMENT_RULE, WRITE_OFF_RULE, MANUAL_TRANSFER_RULE)


def adjustment(key: str, legs: tuple[Leg, ...], effective_at: datetime, rule: str = ADJUSTMENT_RULE) -> Operation:
    """An operator's adjusting entry or write-off (shared.operations, after its approval): the legs
    given, never an edit of an existing entry. Its id derives from `key` (the break, the action and
    the round: shared.domain.operations.adjustments.key), so executing it twice is the same operation
    (replayed), never a second one; the body hash covers the legs, so another body under the same key
    is a conflict."""
    if rule not in OPERATOR_RULES:
        raise InvariantViolation(f"{rule!r} is not an operator's rule")
    if not legs:
        raise InvariantViolation("an adjusting entry has legs")
    legs = tuple(Leg(leg.account, leg.direction, leg.amount, normalise_currency(leg.currency)) for leg in legs)
    body = digest(rule, key, *(f"{leg.account}|{leg.direction}|{leg.amount}|{leg.currency}" for leg in legs))
    return Operation(
        transaction_id("ledgerline", f"adjust:{key}", rule),
        "post",
        rule,
        f"ledgerline:adjust:{key}",
        "ledgerline",
        body,
        effective_at,
        legs=legs,
        enforce_constraints=rule == MANUAL_TRANSFER_RULE,  # a customer's wallet never goes below its limit
    )


def journal_for(event: CanonicalEvent) -> JournalTransaction | None:
    """The balanced journal of a posting event (validation at intake; the engine re-derives it)."""
    op = operation_for(event)
    if op is None or not op.legs:
        return None
    return JournalTransaction(
        op.op_id, op.rule, op.event_id, op.partner, op.body_hash, entries_for(op.op_id, op.legs, salt=0)
    )
