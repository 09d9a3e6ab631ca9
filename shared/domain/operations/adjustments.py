"""Adjusting entries for breaks (pure): the legs a write-off posts and the correction it makes to the
reconciliation's ledger side, the checks an operator's own legs pass, and the idempotent keys.

A write-off, on the partner ↔ ledger leg (amounts as the frames sign them: + into the partner's
clearing account; net = amount − fee is what clearing moves by), books the difference against
`write_off:<partner>` (a debit there is a loss, a credit a gain):

    break                clearing            fees:<p>     write_off:<p>   the ledger side then
    amount_mismatch      + difference        —            − difference    that row's amount + difference
    fee_variance         − difference        —            + difference    that row's fee + difference
    missing_in_ledger    + (amount − fee)    + fee        − amount        a row like the partner's
    missing_at_partner   − (amount − fee)    − fee        + amount        without that row

(+ is a debit, − a credit.) The correction is recorded with the posting (`BreakCorrection`) and every
later run applies it to its ledger side (shared.reconciliation.ledger_side.apply_corrections), so the
difference written off is not found again — and one the partner restates later is a new difference,
written off on its own. Any other break (timing: wait for it; duplicates, currency or status
differences, the bank legs) is corrected with explicit legs (`check_legs`), which never touch a
customer's wallet: moving a customer's money by hand is a manual transfer, not an adjustment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.domain.ledger.accounts import account_rule
from shared.domain.ledger.errors import UnknownAccount
from shared.domain.ledger.model import Leg
from shared.domain.money import MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.domain.operations.workflow import Work, WorkflowError

WRITE_OFF_REASONS = ("amount_mismatch", "fee_variance", "missing_in_ledger", "missing_at_partner")
MAX_LEGS = 20


def key(break_id: str, action: str, work: Work) -> str:
    """A write-off's key: the same break, action and round is the same transaction; a break that
    reopened (a new round) can be written off again (a new difference)."""
    rounds = sum(1 for step in work.history if step.action == "reopened")
    return f"{break_id}:{action}:{rounds}"


def _int(brk: Mapping, name: str) -> int:
    value = brk.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise WorkflowError("write_off_unsupported", f"the break's {name} is not an integer amount")
    return value


def write_off(brk: Mapping) -> tuple[tuple[Leg, ...], dict]:
    """(the legs, the correction of the ledger side) of writing the break off, or WorkflowError."""
    reason = brk.get("reason_code") or brk.get("reason")
    if brk.get("leg") != "partner_ledger" or reason not in WRITE_OFF_REASONS:
        raise WorkflowError(
            "write_off_unsupported",
            f"a {reason} break on the {brk.get('leg')} leg is corrected with an adjusting entry's own legs",
        )
    try:
        currency = normalise_currency(brk.get("currency"))
    except UnknownCurrency:
        raise WorkflowError("write_off_unsupported", "the break has no known currency") from None
    partner = brk["partner"]
    clearing, fees, write_off_account = f"partner:{partner}:clearing", f"fees:{partner}", f"write_off:{partner}"
    amount, fee, difference = _int(brk, "amount"), _int(brk, "fee"), _int(brk, "difference")
    if reason == "amount_mismatch":
        moves = {clearing: difference, write_off_account: -difference}
        correction = {"op": "adjust", "target": brk.get("counter_row_ref"), "amount": difference, "fee": 0}
    elif reason == "fee_variance":
        moves = {clearing: -difference, write_off_account: difference}
        correction = {"op": "adjust", "target": brk.get("counter_row_ref"), "amount": 0, "fee": difference}
    elif reason == "missing_in_ledger":
        moves = {clearing: amount - fee, fees: fee, write_off_account: -amount}
        correction = {"op": "add", "kind": brk.get("kind"), "reference": brk.get("reference"), "amount": amount,
                      "fee": fee, "date": brk.get("date")}  # fmt: skip
    else:  # missing_at_partner: the ledger's row, which the partner never moved
        moves = {clearing: -(amount - fee), fees: -fee, write_off_account: amount}
        correction = {"op": "drop", "target": brk.get("row_ref")}
    legs = tuple(
        Leg(account, "debit" if value > 0 else "credit", abs(value), currency)
        for account, value in moves.items()
        if value
    )
    if not legs or (correction["op"] != "add" and not correction.get("target")):
        raise WorkflowError("write_off_unsupported", "the break has no difference to write off")
    if any(leg.amount > MAX_AMOUNT for leg in legs):
        raise WorkflowError("write_off_unsupported", "the difference is beyond the ledger's largest amount")
    return legs, {**correction, "currency": currency, "reason": reason, "break_id": brk.get("break_id")}


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
        except (UnknownCurrency, ValueError, TypeError, AttributeError) as exc:
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
