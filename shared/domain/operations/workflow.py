"""The break workflow (pure): what operators do with a reconciliation break, and what a later run does
to it. A break (shared.reconciliation.lifecycle: deterministic id, found again by each run) carries a
work record:

    open ──acknowledge──▶ acknowledged ──resolve──▶ resolved        (a counterpart, a manual match, an
      │                        │                                     adjusting entry)
      │                        ├──accept──▶ accepted ──(expiry, or found with another reason or
      │                        │                      amount)──▶ open   (reopened)
      │                        └──write_off──▶ written_off           (an adjusting entry, approved)
      └── a run that no longer finds it ──▶ resolved (counterpart arrived)

resolved and written_off are terminal: the only way out of them, as out of accepted, is `reopen`,
which only a run does (the break found again), or the operator who undoes what closed it (a manual match,
the reversal of the entry). A write-off corrects the reconciliation's ledger side (the run no longer finds
the difference: found again, it is a new one and reopens). An adjusting entry with the operator's own
legs settles the finding it was made for (`covered`): the partner's rows may still differ from the
ledger's, so a run finds the same break again — with that same reason and difference it stays resolved;
with another (a new difference) it reopens. Every step is kept in the history with
who, when and why; a note changes no state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

State = Literal["open", "acknowledged", "resolved", "accepted", "written_off"]
STATES: tuple[State, ...] = ("open", "acknowledged", "resolved", "accepted", "written_off")
TERMINAL: frozenset[str] = frozenset({"resolved", "written_off"})
RESOLUTIONS = ("counterpart_arrived", "manual_match", "adjusting_entry")
SYSTEM = "system"  # the actor of what a run does


class WorkflowError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Finding:
    """What a run says about the break: its reason code and amount (None: the run no longer finds it)."""

    reason: str
    amount: int | None


@dataclass(frozen=True)
class Step:
    at: datetime
    actor: str
    action: str
    state: State  # the state after the step
    reason: str | None = None
    reference: str | None = None  # a transaction, a manual match, an approval request


@dataclass(frozen=True)
class Work:
    break_id: str
    state: State
    finding: Finding
    assignee: str | None = None
    accepted_until: datetime | None = None
    accepted_finding: Finding | None = None  # what was accepted: another reason or amount reopens it
    covered: Finding | None = None  # what an adjusting entry settled: found again as it was, stays resolved
    history: tuple[Step, ...] = ()
    notes: tuple[Step, ...] = field(default=())

    def step(self, at: datetime, actor: str, action: str, state: State, **extra) -> Work:
        return replace(self, state=state, history=(*self.history, Step(at, actor, action, state, **extra)))


def opened(break_id: str, finding: Finding, at: datetime) -> Work:
    return Work(break_id, "open", finding).step(at, SYSTEM, "opened", "open")


def _need_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise WorkflowError("reason_required", "say why: every manual step is recorded with its reason")
    return reason.strip()


def _not_terminal(work: Work, action: str) -> None:
    if work.state in TERMINAL:
        raise WorkflowError("break_closed", f"{work.break_id} is {work.state}: no {action}")


def acknowledge(work: Work, operator: str, at: datetime) -> Work:
    _not_terminal(work, "acknowledge")
    if work.state == "accepted":
        raise WorkflowError("illegal_transition", "an accepted break reopens by itself; nothing to acknowledge")
    if work.state == "acknowledged" and work.assignee == operator:
        return work  # idempotent
    return replace(work, assignee=operator).step(at, operator, "acknowledged", "acknowledged")


def note(work: Work, operator: str, text: str, at: datetime, reference: str | None = None) -> Work:
    """A note (or an attachment by reference) on any break, in any state."""
    text = _need_reason(text)
    return replace(work, notes=(*work.notes, Step(at, operator, "note", work.state, text, reference)))


def resolve(work: Work, operator: str, how: str, reason: str, at: datetime, reference: str) -> Work:
    """Resolved by a manual match or an adjusting entry (`reference`: the match or the transaction)."""
    _not_terminal(work, "resolve")
    if how not in ("manual_match", "adjusting_entry"):
        raise WorkflowError("invalid_resolution", f"an operator resolves by {', '.join(RESOLUTIONS[1:])}")
    if work.state != "acknowledged":
        raise WorkflowError("illegal_transition", "acknowledge the break (take it) before resolving it")
    settled = replace(work, covered=work.finding if how == "adjusting_entry" else None)
    return settled.step(at, operator, how, "resolved", reason=_need_reason(reason), reference=reference)


def undo(work: Work, operator: str, reason: str, at: datetime, reference: str) -> Work:
    """What closed the break is undone — its manual match, or the write-off / adjusting entry reversed
    (`reference`: the match or the transaction): the break is open again. The one way an operator
    reopens a closed break, and only by undoing the step that closed it."""
    last = work.history[-1] if work.history else None
    closing = ("manual_match", "written_off", "adjusting_entry")
    if work.state not in TERMINAL or last is None or last.action not in closing or last.reference != reference:
        raise WorkflowError("illegal_transition", f"{work.break_id} was not closed by {reference}")
    return replace(work, assignee=None, covered=None).step(
        at, operator, "reopened", "open", reason=f"undone: {_need_reason(reason)}", reference=reference
    )


def unmatch(work: Work, operator: str, reason: str, at: datetime, reference: str) -> Work:
    """A manual match undone (`reference`: the match)."""
    last = work.history[-1] if work.history else None
    if last is None or last.action != "manual_match":
        raise WorkflowError("illegal_transition", f"{work.break_id} was not resolved by the manual match {reference}")
    return undo(work, operator, reason, at, reference)


def accept(work: Work, operator: str, reason: str, until: datetime, at: datetime) -> Work:
    """A known difference, accepted until `until`, for its current reason and amount."""
    _not_terminal(work, "accept")
    if work.state != "acknowledged":
        raise WorkflowError("illegal_transition", "acknowledge the break before accepting it")
    if until <= at:
        raise WorkflowError("invalid_expiry", "an acceptance expires in the future")
    accepted = replace(work, accepted_until=until, accepted_finding=work.finding)
    return accepted.step(at, operator, "accepted", "accepted", reason=_need_reason(reason))


def write_off(work: Work, operator: str, reason: str, at: datetime, transaction: str) -> Work:
    """Written off: the adjusting entry to the write-off account posted (`transaction`), after its
    approval (shared.domain.operations.approvals: always approved by a second operator)."""
    _not_terminal(work, "write_off")
    if work.state != "acknowledged":
        raise WorkflowError("illegal_transition", "acknowledge the break before writing it off")
    return work.step(at, operator, "written_off", "written_off", reason=_need_reason(reason), reference=transaction)


def on_run(work: Work, finding: Finding | None, at: datetime, run_id: str) -> Work:
    """What a reconciliation run does to the break's work: it no longer finds it → resolved (the
    counterpart arrived), unless written off or already resolved; it finds it again after it was
    resolved or written off → reopened, unless what closed it was a ledger entry for exactly this
    finding (`covered`); an accepted break reopens when its acceptance expired or the run finds it
    with another reason or amount. Otherwise only the finding is refreshed."""
    if finding is None:
        if work.state in TERMINAL:
            return work
        return work.step(at, SYSTEM, "counterpart_arrived", "resolved", reference=run_id)
    fresh = replace(work, finding=finding)
    if work.state in TERMINAL:
        if work.covered == finding:
            return work  # the posted entry settled this very difference
        return replace(fresh, assignee=None, covered=None).step(
            at, SYSTEM, "reopened", "open", reason="found again", reference=run_id
        )
    if work.state == "accepted":
        expired = work.accepted_until is not None and at >= work.accepted_until
        changed = work.accepted_finding != finding
        if expired or changed:
            why = "acceptance expired" if expired else "found with another reason or amount"
            reopened = replace(fresh, accepted_until=None, accepted_finding=None, assignee=None)
            return reopened.step(at, SYSTEM, "reopened", "open", reason=why, reference=run_id)
    return fresh
