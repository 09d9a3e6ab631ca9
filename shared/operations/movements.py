"""The manual movements outside the break desk, as operator requests: the reversal of a posted
transaction and the replay of a dead letter (the only paths to either: `ledgerline reverse` /
`replay` and their API routes submit these). Each is a submission (what it moves, for the approval
threshold) and a planner (what executing it does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from shared.domain.ledger.operations import reversal
from shared.domain.money import normalise_currency
from shared.domain.operations.approvals import Request
from shared.operations.requests import Plan, Submission
from shared.recovery.dead_letters import replay_plan
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


def reverse_planner(clock: Callable[[], datetime]) -> Callable[[Request, dict], Plan]:
    def plan(req: Request, payload: dict) -> Plan:
        target = payload["transaction_id"]
        return Plan(
            operation=reversal(target, effective_at=clock()),
            within=lambda tx, result, now: {"reversal": result.transaction_id, "status": result.status},
            before={"transaction": target},
        )

    return plan


def replay_submission(store, name: str) -> Submission:
    """Replay a dead letter: a canonical event moves its amount (approval above the threshold); a
    task moves nothing by itself (its replay goes through the same idempotent path)."""
    record = store.get("DeadLetter", name)
    if record is None:
        raise LookupError(name)
    amounts = None
    if record.get("kind") == "canonical-event":
        try:
            event = json.loads(record.get("payload") or "")
            if isinstance(event.get("amount"), int) and event["amount"] > 0:
                amounts = {normalise_currency(event["currency"]): event["amount"]}
        except (ValueError, TypeError, AttributeError, KeyError):
            amounts = None  # not an event we can read: replayed as it is, nothing decided on its amount
    return Submission("dead_letter_replay", name, {"dead_letter": name, **_plan_of(record)}, amounts)


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
