"""The ledger operation each transition books (P3), built from the existing ledger operations: a hold
on the wallet (no overdraft), its capture, its void, the reversal of the capture, a posted credit or
debit of the wallet. Ids derive from (record, effect) (shared.domain.payments.ids.operation_id): a
retried write replays the operation it already posted, never a second one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments.ids import operation_id
from shared.domain.payments.machine import EFFECTS, Effect

PARTNER = "ledgerline"  # the ledger's `partner` of what ledgerline itself originates


@dataclass(frozen=True)
class Booking:
    """What a record books with: its id, the wallet and the clearing account money moves between, the
    amount and currency, and the hold's expiry (payouts only)."""

    record_id: str
    wallet: str
    clearing: str
    amount: int
    currency: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class EffectRule:
    """One effect: the posting rule name (part of its operation id: never rename one; a changed rule is
    a new name ".v2") and how its operation is built."""

    effect: Effect
    rule: str
    build: Callable[[Booking, str, str, datetime], Operation]


def _common(b: Booking, effect: str, rule: str, at: datetime) -> dict:
    return dict(
        op_id=operation_id(b.record_id, effect, rule),
        rule=rule,
        event_id=f"{PARTNER}:{b.record_id}:{effect}",
        partner=PARTNER,
        body_hash=digest(effect, b.record_id, b.wallet, b.clearing, str(b.amount), b.currency),
        effective_at=at,
    )


def _hold(b: Booking, effect: str, rule: str, at: datetime) -> Operation:
    if b.expires_at is None:
        raise ValueError("a hold needs expires_at")
    legs = (
        Leg(b.wallet, "debit", b.amount, b.currency, "pending"),
        Leg(b.clearing, "credit", b.amount, b.currency, "pending"),
    )
    return Operation(
        kind="hold", legs=legs, expires_at=b.expires_at, enforce_constraints=True, **_common(b, effect, rule, at)
    )


def _on_hold(kind: str) -> Callable[[Booking, str, str, datetime], Operation]:
    def build(b: Booking, effect: str, rule: str, at: datetime) -> Operation:
        hold = operation_id(b.record_id, "hold", rule_of("hold", b))
        extra = dict(amount=b.amount, currency=b.currency) if kind == "capture" else {}
        return Operation(kind=kind, target=hold, **extra, **_common(b, effect, rule, at))

    return build


def _reverse(b: Booking, effect: str, rule: str, at: datetime) -> Operation:
    capture = operation_id(b.record_id, "capture", RULES["capture"].rule)
    return Operation(kind="reverse", target=capture, **_common(b, effect, rule, at))


def _post(debit_wallet: bool) -> Callable[[Booking, str, str, datetime], Operation]:
    def build(b: Booking, effect: str, rule: str, at: datetime) -> Operation:
        debit, credit = (b.wallet, b.clearing) if debit_wallet else (b.clearing, b.wallet)
        legs = (Leg(debit, "debit", b.amount, b.currency), Leg(credit, "credit", b.amount, b.currency))
        return Operation(kind="post", legs=legs, **_common(b, effect, rule, at))

    return build


RULES: dict[str, EffectRule] = {
    r.effect: r
    for r in (
        EffectRule("hold", "payout_hold.v1", _hold),
        EffectRule("capture", "payout_capture.v1", _on_hold("capture")),
        EffectRule("void", "payout_void.v1", _on_hold("void")),
        EffectRule("reverse", "payout_return.v1", _reverse),
        EffectRule("credit", "payin_credit.v1", _post(debit_wallet=False)),
        EffectRule("debit", "refund_debit.v1", _post(debit_wallet=True)),
    )
}
assert tuple(RULES) == EFFECTS, "every effect has exactly one rule"
# A refund reserves its amount on the wallet like a payout (a hold at the request: the money cannot be
# paid out meanwhile, and a wallet that cannot cover it refuses the refund), captured when the
# processor refunded, voided when it failed: the hold effects under rule names of their own.
REFUND_RULES: dict[str, str] = {"hold": "refund_hold.v1", "capture": "refund_capture.v1", "void": "refund_void.v1"}
REFUND_PREFIX = "re_"


def rule_for(effect: str, record_id: str) -> str:
    """The posting rule of `effect` for a record (a refund's hold effects have rule names of their own)."""
    if record_id.startswith(REFUND_PREFIX) and effect in REFUND_RULES:
        return REFUND_RULES[effect]
    return RULES[effect].rule


def rule_of(effect: str, booking: Booking) -> str:
    return rule_for(effect, booking.record_id)


def operation(effect: Effect, booking: Booking, at: datetime) -> Operation:
    """The ledger operation `effect` books for a record (deterministic id: P3)."""
    return RULES[effect].build(booking, effect, rule_of(effect, booking), at)
