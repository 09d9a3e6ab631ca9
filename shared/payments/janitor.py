"""The payments janitor (Cloud Scheduler, every 5 minutes; docs/payments.md "Janitor"): every payout,
pay-in and refund still on its way whose last change is older than `stale_after` gets a fresh step. A
step normally schedules its own next run; the janitor is the safety net for a step whose task was lost
(the API's hand-off that failed after the record was committed, a queue purged) — the step itself
decides what to do (query the partner's status, poll the settlement, dead-letter what is past its
deadline). A record whose chain is alive (its next step is due, or was due within `stale_after`: the
`PaymentsStep` lease) or that waits in an open dead letter for an operator is left alone. Each round's
tasks are a new generation (`replay` = the round); the lease names the generation scheduled last, and a
step of another generation that still turns up exits (`superseded`): one chain per record."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task
from shared.recovery.service import Schedule

OPEN_PAYOUTS = ("pending", "submitting", "submitted")
STALE_AFTER = timedelta(minutes=10)
STEP_KINDS = ("payout-step", "payment-step", "refund-step")

# One record per record's step chain: when its next step is due and which generation it is (a task's
# `replay`). Written each time a step is scheduled (shared.bootstrap.payments_schedule), read by the
# janitor (a chain whose next step is due or was due lately is alive: no second chain) and by the
# payments function (a step of an older generation than the record's has been superseded: it exits).
LEASE = "PaymentsStep"


def last_change(payout) -> datetime:
    """When a payout (shared.domain.payments.payouts.Payout) last changed: its timeline's last entry."""
    return payout.timeline[-1].at if payout.timeline else payout.requested_at


def quiet(payout, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
    """Open and unchanged for `stale_after`: what the janitor gives a fresh step, and what operators see
    as stuck (the overview's figure, the payouts list's attention filter): one rule, one threshold."""
    return payout.status in OPEN_PAYOUTS and now - last_change(payout) >= stale_after


def lease_key(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def note_scheduled(store, task: Task, at: datetime) -> None:
    if task.kind in STEP_KINDS:
        store.record(LEASE, lease_key(task.kind, task.key), {"next_at": at, "generation": task.replay})


def superseded(store, task: Task) -> bool:
    """A step of another chain than the one scheduled last for its record (the janitor's, or an
    operator's replay): it exits, so one chain runs per record, whichever was scheduled last."""
    lease = store.get(LEASE, lease_key(task.kind, task.key)) if task.kind in STEP_KINDS else None
    return lease is not None and int(lease.get("generation", 0)) != task.replay


def _alive(store, kind: str, key: str, now: datetime, stale_after: timedelta) -> bool:
    lease = store.get(LEASE, lease_key(kind, key))
    return lease is not None and lease["next_at"] > now - stale_after


def _with_operator(store, kind: str, key: str) -> bool:
    letter = store.get("DeadLetter", dead_letter_id("task", kind, key))
    return letter is not None and letter.get("status") == "open"


def sweep(store, payouts, payins, schedule: Schedule, now: datetime, stale_after: timedelta = STALE_AFTER) -> list[str]:
    """Schedule a step for every stale open payout, pay-in and refund; returns their ids. `payouts` /
    `payins`: the records' codecs (shared.adapters.payout_rows.PayoutRows, payment_rows.PaymentRows)."""
    round_ = int(now.timestamp() // 60)
    stale = []

    def due(kind: str, key: str, last: datetime) -> bool:
        """Quiet for `stale_after`, no chain due lately, and not waiting for an operator."""
        return (
            now - last >= stale_after
            and not _alive(store, kind, key, now, stale_after)
            and not _with_operator(store, kind, key)
        )

    for status in OPEN_PAYOUTS:
        for name in payouts.payout_ids_in(store, status):
            found = payouts.payout(store, name)
            if found is None or found.payout.status not in OPEN_PAYOUTS:
                continue
            p = found.payout
            if due("payout-step", name, last_change(p)):
                schedule(Task("payout-step", name, replay=round_), now)
                stale.append(name)
    for kind, task_kind, read in (
        ("payment", "payment-step", payins.payment),
        ("refund", "refund-step", payins.refund),
    ):
        for name in payins.ids_in(store, kind, "processing"):
            found = read(store, name)
            record = getattr(found, kind, None) if found is not None else None
            if record is None or record.status != "processing":
                continue
            if due(task_kind, name, record.timeline[-1].at if record.timeline else record.requested_at):
                schedule(Task(task_kind, name, replay=round_), now)
                stale.append(name)
    return stale
