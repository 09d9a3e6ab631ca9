"""The payments janitor (Cloud Scheduler, every 5 minutes; docs/payments.md "Janitor"): every payout,
pay-in and refund still on its way whose last change is older than `stale_after` gets a fresh step. A
step normally schedules its own next run; the janitor is the safety net for a step whose task was lost
(the API's hand-off that failed after the record was committed, a queue purged) — the step itself
decides what to do (query the partner's status, poll the settlement, dead-letter what is past its
deadline). Each round's tasks are a new generation of names (`replay` = the round), so a round never
collides with a live task."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.recovery.policies import Task
from shared.recovery.service import Schedule

OPEN_PAYOUTS = ("pending", "submitting", "submitted")
STALE_AFTER = timedelta(minutes=10)


def sweep(store, payouts, payins, schedule: Schedule, now: datetime, stale_after: timedelta = STALE_AFTER) -> list[str]:
    """Schedule a step for every stale open payout, pay-in and refund; returns their ids. `payouts` /
    `payins`: the records' codecs (shared.adapters.payout_rows.PayoutRows, payment_rows.PaymentRows)."""
    round_ = int(now.timestamp() // 60)
    stale = []

    def due(last: datetime) -> bool:
        return now - last >= stale_after

    for status in OPEN_PAYOUTS:
        for name in payouts.payout_ids_in(store, status):
            found = payouts.payout(store, name)
            if found is None or found.payout.status not in OPEN_PAYOUTS:
                continue
            p = found.payout
            if due(p.timeline[-1].at if p.timeline else p.requested_at):
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
            if due(record.timeline[-1].at if record.timeline else record.requested_at):
                schedule(Task(task_kind, name, replay=round_), now)
                stale.append(name)
    return stale
