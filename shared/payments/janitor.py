"""The payments janitor (Cloud Scheduler, every 5 minutes; docs/payments.md "Janitor"): every payout
still on its way whose last change is older than `stale_after` gets a fresh step. A step normally
schedules its own next run; the janitor is the safety net for a step whose task was lost (an enqueue
that failed after the record was written, a queue purged) — the step itself decides what to do (query
the partner's status, poll the settlement, dead-letter what is past its deadline). Each round's tasks
are a new generation of names (`replay` = the round), so a round never collides with a live task."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.payments.store import PayoutRecords
from shared.recovery.policies import Task
from shared.recovery.service import Schedule

OPEN_STATUSES = ("pending", "submitting", "submitted")
STALE_AFTER = timedelta(minutes=10)


def sweep(
    store, records: PayoutRecords, schedule: Schedule, now: datetime, stale_after: timedelta = STALE_AFTER
) -> list[str]:
    """Schedule a step for every stale open payout; returns their ids."""
    round_ = int(now.timestamp() // 60)
    stale = []
    for status in OPEN_STATUSES:
        for name in records.payout_ids_in(store, status):
            found = records.payout(store, name)
            if found is None or found.payout.status not in OPEN_STATUSES:
                continue
            last = found.payout.timeline[-1].at if found.payout.timeline else found.payout.requested_at
            if now - last >= stale_after:
                schedule(Task("payout-step", name, replay=round_), now)
                stale.append(name)
    return stale
