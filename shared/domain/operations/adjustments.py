"""Adjusting entries for breaks (pure): the legs a write-off posts, the checks an operator's own legs
pass, and the idempotent key of each (break, action, round).

A write-off corrects the partner's clearing account by the difference the run found, against
`write_off:<partner>` (a debit there is a loss, a credit a gain), on the partner ↔ ledger leg where the
difference is the clearing account's:

    amount_mismatch      partner amount − ledger amount (the break's `difference`)
    missing_in_ledger    the partner row's amount (the ledger never booked it)
    missing_at_partner   − the ledger row's amount (the partner never moved it)
    fee_variance         − (partner fee − ledger fee): what the partner kept more, out of clearing

Any other break (timing: wait for it; duplicates, status or currency differences, the bank legs) is
corrected with explicit legs (`check_legs`), which never touch a customer's wallet: moving a
customer's money by hand is a manual transfer, not an adjustment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.domain.ledger.accounts import account_rule
from shared.domain.ledger.errors import UnknownAccount
from shared.domain.ledger.model import Leg
from shared.domain.money import MAX_AMOUNT, normalise_currency
from shared.domain.operations.workflow import Work, WorkflowError

WRITE_OFF_SIGNS = {"amount_mismatch": 1, "missing_in_ledger": 1, "missing_at_partner": -1, "fee_variance": -1}
MAX_LEGS = 20


def key(break_id: str, action: str, work: Work) -> str:
    """The adjusting entry's key: the same break, action and round is the same transaction; a break
    that reopened (a new round) can be corrected again."""
    rounds = sum(1 for step in work.history if step.action == "reopened")
    return f"{break_id}:{action}:{rounds}"


def clearing_correction(brk: Mapping) -> int:
    """What a write-off moves on the partner's clearing account (debit > 0), or WorkflowError."""
    reason = brk.get("reason_code") or brk.get("reason")
    if brk.get("leg") != "partner_ledger" or reason not in WRITE_OFF_SIGNS:
        raise WorkflowError(
            "write_off_unsupported",
            f"a {reason} break on the {brk.get('leg')} leg is corrected with an adjusting entry's own legs",
        )
    value = brk.get("difference") if reason in ("amount_mismatch", "fee_variance") else brk.get("amount")
    if not isinstance(value, int) or isinstance(value, bool) or value == 0:
        raise WorkflowError("write_off_unsupported", "the break has no difference to write off")
    return WRITE_OFF_SIGNS[reason] * value


def write_off_legs(brk: Mapping) -> tuple[Leg, ...]:
    partner, currency = brk["partner"], normalise_currency(brk["currency"])
    correction = clearing_correction(brk)
    clearing, write_off = f"partner:{partner}:clearing", f"write_off:{partner}"
    debit, credit = (clearing, write_off) if correction > 0 else (write_off, clearing)
    return (Leg(debit, "debit", abs(correction), currency), Leg(credit, "credit", abs(correction), currency))


def check_legs(raw: Iterable[Mapping]) -> tuple[tuple[Leg, ...], dict[str, int]]:
    """An operator's legs → (legs, amount per currency), or WorkflowError naming the leg at fault:
    known non-customer accounts, positive int minor units, balanced per currency."""
    legs, totals = [], {}
    for i, item in enumerate(raw):
        where = f"legs[{i}]"
        account, direction, amount = item.get("account"), item.get("direction"), item.get("amount")
        try:
            rule = account_rule(account) if isinstance(account, str) else None
        except UnknownAccount:
            rule = None
        if rule is None:
            raise WorkflowError("unknown_account", f"{where}.account: no such account in the chart of accounts")
        if account.startswith("customer:"):
            raise WorkflowError("customer_account", f"{where}.account: a customer's money moves by a manual transfer")
        if direction not in ("debit", "credit"):
            raise WorkflowError("invalid_direction", f"{where}.direction: debit or credit")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
            raise WorkflowError("invalid_amount", f"{where}.amount: a positive integer of minor units")
        try:
            currency = normalise_currency(item.get("currency"))
        except (ValueError, TypeError, AttributeError) as exc:
            raise WorkflowError("invalid_currency", f"{where}.currency: {exc}") from None
        legs.append(Leg(account, direction, amount, currency))
        sign = 1 if direction == "debit" else -1
        totals.setdefault(currency, [0, 0])
        totals[currency][0] += sign * amount
        totals[currency][1] += amount if direction == "debit" else 0
    if not 2 <= len(legs) <= MAX_LEGS:
        raise WorkflowError("invalid_legs", f"an adjusting entry has 2 to {MAX_LEGS} legs")
    unbalanced = sorted(c for c, (net, _) in totals.items() if net != 0)
    if unbalanced:
        raise WorkflowError("unbalanced", f"debits and credits differ in {', '.join(unbalanced)}")
    return tuple(legs), {c: debits for c, (_, debits) in totals.items()}


def amounts_of(legs: Iterable[Leg]) -> dict[str, int]:
    """Per currency, the debits of a balanced set of legs: what the movement moves."""
    out: dict[str, int] = {}
    for leg in legs:
        if leg.direction == "debit":
            out[leg.currency] = out.get(leg.currency, 0) + leg.amount
    return out
