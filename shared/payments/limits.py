"""Stored payout limits (docs/payments.md "Limits"): one `PayoutLimits` record per (customer, currency),
changeable at runtime by an operator (API `PUT /v1/operator/payout-limits/{customer}/{currency}`, CLI
`ledgerline payout-limits set`), read by `Payouts.request` INSIDE the transaction that places the
hold (P5).

A customer without a record of its own gets the currency's default (settings:
LEDGERLINE_PAYOUT_DEFAULT_LIMITS, JSON `{"USD": {"max_single": 100000, "daily_outflow": 500000}}`).
A currency without a default has limits of zero: every payout in it is refused `limit_exceeded`
(limit `max_single`, value 0, nothing left) until an operator sets the customer's limits. Failing
closed: a currency nobody configured moves no money out.

Every change writes who, when, the old and the new values on the record itself (`history`), an audit
trail of its own until the operations issue adds the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from shared.domain.money import UnknownCurrency, normalise_currency
from shared.domain.payments.limits import PayoutLimits
from shared.ledger.store import LedgerStore, utcnow
from shared.payments.store import LimitChange, PayoutRecords, Reader, StoredLimits

# currency -> (max_single, daily_outflow), int minor units
Defaults = Mapping[str, tuple[int, int]]
Source = Literal["customer", "default", "none"]


def parse_defaults(raw: str | None) -> dict[str, tuple[int, int]]:
    """LEDGERLINE_PAYOUT_DEFAULT_LIMITS: `{"USD": {"max_single": …, "daily_outflow": …}, …}`; "" or
    unset: no defaults. Anything malformed is a ValueError naming the currency (a bad setting fails at
    start-up, not at the first payout)."""
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("LEDGERLINE_PAYOUT_DEFAULT_LIMITS is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("LEDGERLINE_PAYOUT_DEFAULT_LIMITS is an object of currencies")
    out: dict[str, tuple[int, int]] = {}
    for currency, values in data.items():
        try:
            code = normalise_currency(currency)
        except (UnknownCurrency, AttributeError, TypeError):
            raise ValueError(f"LEDGERLINE_PAYOUT_DEFAULT_LIMITS: {currency!r} is not a currency") from None
        if not isinstance(values, dict) or set(values) != {"max_single", "daily_outflow"}:
            raise ValueError(f"LEDGERLINE_PAYOUT_DEFAULT_LIMITS: {code} needs exactly max_single and daily_outflow")
        checked = PayoutLimits("default", code, values["max_single"], values["daily_outflow"])
        out[code] = (checked.max_single, checked.daily_outflow)
    return out


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits a payout of the customer in the currency is checked against, and where they come
    from: the customer's own record, the currency's default, or none (zero: refused)."""

    limits: PayoutLimits
    source: Source
    stored: StoredLimits | None = None


def effective(
    records: PayoutRecords, reader: Reader, defaults: Defaults, customer: str, currency: str
) -> EffectiveLimits:
    """Read inside the payout's transaction (a Tx) or outside it (the store): the same answer."""
    currency = normalise_currency(currency)
    stored = records.limits(reader, customer, currency)
    if stored is not None:
        return EffectiveLimits(stored.limits, "customer", stored)
    if currency in defaults:
        max_single, daily = defaults[currency]
        return EffectiveLimits(PayoutLimits(customer, currency, max_single, daily), "default")
    return EffectiveLimits(PayoutLimits(customer, currency, 0, 0), "none")


class PayoutLimitsBook:
    """Read and change customers' payout limits (operators)."""

    def __init__(
        self,
        store: LedgerStore,
        records: PayoutRecords,
        defaults: Defaults,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.records = records
        self.defaults = dict(defaults)
        self.clock = clock

    def get(self, customer: str, currency: str) -> EffectiveLimits:
        return effective(self.records, self.store, self.defaults, customer, currency)

    def set(self, customer: str, currency: str, max_single: int, daily_outflow: int, actor: str) -> StoredLimits:
        """Set the customer's own limits (one transaction; the change appended to its history). Setting
        the values it has already changes nothing and writes nothing."""
        new = PayoutLimits(customer, currency, max_single, daily_outflow)  # ValueError: not int minor units
        if not actor:
            raise ValueError("a limit change names who made it")

        def work(tx) -> StoredLimits:
            current = self.records.limits(tx, customer, new.currency)
            if current is not None and (current.limits.max_single, current.limits.daily_outflow) == (
                max_single,
                daily_outflow,
            ):
                return current
            now = self.clock()
            old = (current.limits.max_single, current.limits.daily_outflow) if current else None
            change = LimitChange(now, actor, old, (max_single, daily_outflow))
            if current is None:
                stored = StoredLimits(new, 1, now, actor, (change,))
            else:
                stored = replace(
                    current,
                    limits=new,
                    version=current.version + 1,
                    updated_at=now,
                    updated_by=actor,
                    history=(*current.history, change),
                )
            tx.put(*self.records.limits_row(stored))
            return stored

        return self.store.transact(work)
