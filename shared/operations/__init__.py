"""Operations an auditor can follow (issue 19; docs/operations.md): the break desk, maker-checker
requests and the operator audit log, over the store. The pure rules are shared.domain.operations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operations:
    audit: object  # shared.operations.audit.AuditLog
    requests: object  # shared.operations.requests.Requests
    desk: object  # shared.operations.breaks.BreakDesk
    retention: object | None = None  # shared.operations.retention.Retention (needs the inbox)
    inbox: object | None = None  # shared.intake.inbox.Inbox: what a republish dead letter would move


def assemble(
    store,
    *,
    clock,
    thresholds,
    publish,
    schedule,
    after_commit=None,
    stream=None,
    inbox=None,
    payout_limits=None,
    request_sweep=None,
) -> Operations:
    """The operations services over one store, each request kind with its planner (one place: the
    composition root and the tests' memory backend both call it)."""
    from shared.operations import movements
    from shared.operations.audit import AuditLog
    from shared.operations.breaks import BreakDesk
    from shared.operations.requests import Requests

    audit = AuditLog(store, stream=stream, request_sweep=request_sweep)
    requests = Requests(store, thresholds, clock, audit_log=audit)
    if after_commit is not None:
        requests.after_commit = after_commit
    desk = BreakDesk(store, requests, clock)
    requests.planners.update(
        {
            "write_off": desk.plan,
            "adjusting_entry": desk.plan,
            "reverse": movements.reverse_planner(clock, desk.on_reversal),
            "manual_transfer": movements.transfer_planner(clock),
            "dead_letter_replay": movements.replay_planner(store, publish, schedule, clock),
        }
    )
    if payout_limits is not None:  # () -> shared.payments.limits.PayoutLimitsBook, built on first use
        requests.planners["limit_change"] = movements.limit_planner(payout_limits)
    retention = None
    if inbox is not None:
        from shared.operations.retention import Retention

        retention = Retention(store, inbox, clock)
        requests.planners["erasure"] = retention.plan
    return Operations(audit, requests, desk, retention, inbox)
