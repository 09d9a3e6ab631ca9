"""The manual movements outside the break desk, as operator requests: the reversal of a posted
transaction, the replay of a dead letter and a change of a customer's payout limits (the only paths
to each: `ledgerline reverse` / `replay` / `payout-limits set` and their API routes submit these), and
an operator's manual transfer between what we owe (wallets, suspense).
Each is a submission (what it moves, for the approval threshold) and a planner (what executing it
does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from shared.domain.ledger.model import Leg
from shared.domain.ledger.operations import MANUAL_TRANSFER_RULE, adjustment, reversal
from shared.domain.money import normalise_currency
from shared.domain.operations.approvals import Request
from shared.domain.payments.limits import PayoutLimits
from shared.operations.requests import Plan, Submission
from shared.recovery.dead_letters import replay_plan
from shared.recovery.policies import WEBHOOKS_TASK_KINDS
from shared.recovery.service import replay


def reverse_submission(store, transaction_id: str) -> Submission:
    """Reverse a posted transaction: it moves what the transaction moved (its posted debits per
    currency). LookupError when there is no such transaction."""
    txn = store.transaction(transaction_id)
    if txn is None:
        raise LookupError(transaction_id)
    amounts: dict[str, int] = {}
    for e in txn.entries:
        if e.direction == "debit" and e.phase == "posted":
            amounts[e.currency] = amounts.get(e.currency, 0) + e.amount
    return Submission("reverse", transaction_id, {"transaction_id": transaction_id}, amounts or None)


def reverse_planner(clock: Callable[[], datetime], on_reversal=None) -> Callable[[Request, dict], Plan]:
    """`on_reversal(tx, target, reversal, actor, reason, now)`: the break desk's part in the reversal's
    transaction (a reversed write-off's correction retired, its break open again)."""

    def plan(req: Request, payload: dict) -> Plan:
        target = payload["transaction_id"]

        def within(tx, result, now) -> dict:
            desk = on_reversal(tx, target, result.transaction_id, req.maker, req.reason, now) if on_reversal else None
            return {"reversal": result.transaction_id, "status": result.status, **({"break": desk} if desk else {})}

        return Plan(operation=reversal(target, effective_at=clock()), within=within, before={"transaction": target})

    return plan


# Dead letters whose replay moves no money by itself: streaming, webhooks out, sweeps. Any other replay
# may post (an event published again, a republished inbox event, a payout step): its amount decides,
# and when it cannot be read, a second operator approves it.
MONEYLESS = frozenset(
    {"stream", "stream-pending", "expire-holds", "operations-sweep", "retention-sweep", *WEBHOOKS_TASK_KINDS}
)


def replay_submission(store, name: str, inbox=None) -> Submission:
    """Replay a dead letter: an event moves its amount (approval at or above the threshold) — its own
    payload's, or for a republish task the inbox event's; a replay that may move money whose amount
    cannot be read always waits for a second operator."""
    record = store.get("DeadLetter", name)
    if record is None:
        raise LookupError(name)
    amounts = _amounts(record.get("payload"))
    if amounts is None and record.get("kind") == "republish" and inbox is not None:
        event = inbox.canonical([record["key"]]).get(record["key"])
        amounts = {event.currency: event.amount} if event is not None and event.amount > 0 else None
    moneyless = record.get("kind") in MONEYLESS
    return Submission(
        "dead_letter_replay",
        name,
        {"dead_letter": name, **_plan_of(record)},
        amounts,
        always=amounts is None and not moneyless,
    )


def _amounts(payload) -> dict[str, int] | None:
    try:
        event = json.loads(payload or "")
        if isinstance(event, dict) and isinstance(event.get("amount"), int) and event["amount"] > 0:
            return {normalise_currency(event["currency"]): event["amount"]}
    except (ValueError, TypeError, AttributeError, KeyError):
        pass  # not an event we can read
    return None


def _plan_of(record: dict) -> dict:
    plan = replay_plan(record)
    return {"action": plan["action"]}


def replay_planner(store, publish, schedule, clock: Callable[[], datetime]) -> Callable[[Request, dict], Plan]:
    def plan(req: Request, payload: dict) -> Plan:
        name = payload["dead_letter"]

        def effect() -> dict:
            record = store.get("DeadLetter", name)
            out = replay(store, name, record, publish=publish, schedule=schedule, now=clock())
            return {"action": out["action"]}

        return Plan(effect=effect, before={"dead_letter": name})

    return plan


def limit_submission(book, customer: str, currency: str, max_single: int, daily_outflow: int) -> Submission:
    """Change a customer's payout limits: a raise moves what it allows (the larger new limit, approved
    at or above the currency's threshold); a cut moves nothing and executes at once."""
    PayoutLimits(customer, currency, max_single, daily_outflow)  # ValueError: not int minor units ≥ 0
    current = book.get(customer, currency).limits
    raises = max_single > current.max_single or daily_outflow > current.daily_outflow
    amounts = {current.currency: max(max_single, daily_outflow)} if raises and max(max_single, daily_outflow) else None
    payload = {
        "customer": customer,
        "currency": current.currency,
        "max_single": max_single,
        "daily_outflow": daily_outflow,
        "before": [current.max_single, current.daily_outflow],
    }
    return Submission("limit_change", f"{customer}|{current.currency}", payload, amounts)


def limit_planner(book_of: Callable[[], object]) -> Callable[[Request, dict], Plan]:
    def plan(req: Request, payload: dict) -> Plan:
        def effect() -> dict:
            stored = book_of().set(
                payload["customer"], payload["currency"], payload["max_single"], payload["daily_outflow"], req.maker
            )
            return {"max_single": stored.limits.max_single, "daily_outflow": stored.limits.daily_outflow}

        return Plan(effect=effect, before={"limits": payload["before"]})

    return plan


def transfer_submission(store, from_account: str, to_account: str, amount: int, currency: str) -> Submission:
    """An operator's manual transfer between two accounts of what we owe — customer wallets and
    suspense (e.g. a payment posted to suspense, attributed to its customer). Two wallets belong to
    one tenant; suspense gives only what it holds, and always with a second operator's approval (what
    sits there is nobody's yet); wallet to wallet or back to suspense: at or above the threshold.
    Anything else is an adjusting entry."""
    from shared.domain.ledger.accounts import account_type
    from shared.domain.ledger.errors import UnknownAccount
    from shared.domain.operations.workflow import WorkflowError
    from shared.ledger.balances import balances

    for field, account in (("from_account", from_account), ("to_account", to_account)):
        try:
            kind = account_type(account)
        except UnknownAccount:
            raise WorkflowError("unknown_account", f"{field}: no such account in the chart of accounts") from None
        if kind != "liability":
            raise WorkflowError("not_transferable", f"{field}: a manual transfer moves what we owe (wallets, suspense)")
    if from_account == to_account:
        raise WorkflowError("same_account", "to_account: another account than from_account")
    code = normalise_currency(currency)
    owners = {a: _tenant_of(store, a) for a in (from_account, to_account) if a.startswith("customer:")}
    if len(owners) == 2 and len(set(owners.values())) != 1:
        raise WorkflowError("cross_tenant", "to_account: the two wallets belong to different tenants")
    if from_account == "suspense":
        held = balances(store, "suspense").get(code)
        if held is None or held.posted < amount:
            raise WorkflowError(
                "insufficient_funds", f"from_account: suspense holds {held.posted if held else 0} {code}"
            )
    payload = {"from_account": from_account, "to_account": to_account, "amount": amount, "currency": code}
    # the same movement twice while the first waits is refused (request_pending): a double click is not two
    target = f"{from_account}>{to_account}:{amount}:{code}"
    return Submission("manual_transfer", target, payload, {code: amount}, always=from_account == "suspense")


def _tenant_of(store, wallet: str) -> str | None:
    record = store.get("TenantCustomer", wallet.split(":")[1])
    return record.get("tenant") if record else None


def transfer_planner(clock: Callable[[], datetime]) -> Callable[[Request, dict], Plan]:
    def plan(req: Request, payload: dict) -> Plan:
        legs = (
            Leg(payload["from_account"], "debit", payload["amount"], payload["currency"]),
            Leg(payload["to_account"], "credit", payload["amount"], payload["currency"]),
        )
        op = adjustment(f"transfer:{req.request_id}", legs, clock(), rule=MANUAL_TRANSFER_RULE)
        return Plan(operation=op, within=lambda tx, result, now: {"transaction": result.transaction_id}, before=payload)

    return plan
