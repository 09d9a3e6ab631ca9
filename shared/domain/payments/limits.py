"""Payout limits, per customer and currency: a maximum single payout and a rolling 24 h outflow that
counts the holds still open. `check_limits` takes exactly what the Datastore transaction that places
the payout's hold reads (the limits record, the customer's outflows of the last 24 h, the amounts of
its open holds), so enforcing it there (a later step) is one call: P5."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.domain.money import MAX_AMOUNT, normalise_currency
from shared.domain.payments.errors import PaymentError

WINDOW = timedelta(hours=24)
LimitName = Literal["max_single", "daily_outflow"]  # in order of precedence


@dataclass(frozen=True)
class PayoutLimits:
    """A customer's limits in one currency (int minor units; changeable at runtime by an operator)."""

    customer: str
    currency: str
    max_single: int
    daily_outflow: int

    def __post_init__(self):
        for name in ("max_single", "daily_outflow"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
                raise ValueError(f"{name} is an int of minor units >= 0, got {value!r}")
        object.__setattr__(self, "currency", normalise_currency(self.currency))


@dataclass(frozen=True)
class Outflow:
    """A payout that left (or is leaving) the wallet: its amount and when it was requested. Paid and
    submitted payouts whose hold is captured count here; failed, canceled and returned ones do not."""

    amount: int
    at: datetime


@dataclass(frozen=True)
class LimitCheck:
    """ok, or the limit a payout would break: which, its value, and how much is left under it."""

    ok: bool
    limit: LimitName | None = None
    limit_value: int | None = None
    remaining: int | None = None

    @property
    def code(self) -> str | None:
        return None if self.ok else "limit_exceeded"

    def raise_if_exceeded(self) -> None:
        if not self.ok:
            raise PaymentError("limit_exceeded", f"{self.limit} is {self.limit_value}; {self.remaining} left")


def used_today(recent_outflows: Iterable[Outflow], pending_holds: Iterable[int], now: datetime) -> int:
    """What counts against the rolling 24 h limit: outflows requested in (now - 24 h, now], plus every
    open hold whatever its age (money not yet gone is still reserved)."""
    since = now - WINDOW
    return sum(o.amount for o in recent_outflows if since < o.at <= now) + sum(pending_holds)


def check_limits(
    limits: PayoutLimits, amount: int, recent_outflows: Iterable[Outflow], pending_holds: Iterable[int], now: datetime
) -> LimitCheck:
    """Whether a payout of `amount` stays within both limits (P5). `pending_holds`: the amounts of the
    customer's open payout holds in this currency (their payouts are not in `recent_outflows`)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError("invalid_amount", f"a payout is a positive int of minor units, got {amount!r}")
    if amount > limits.max_single:
        return LimitCheck(False, "max_single", limits.max_single, limits.max_single)
    left = max(0, limits.daily_outflow - used_today(recent_outflows, pending_holds, now))
    if amount > left:
        return LimitCheck(False, "daily_outflow", limits.daily_outflow, left)
    return LimitCheck(True)
