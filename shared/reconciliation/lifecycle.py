"""Break lifecycle across runs, pure: previous open breaks + this run's breaks → opened, still open,
closed (with the run that resolved them). Break ids are deterministic (run.with_ids), so the same
discrepancy found again is the same break; age counts from the first run that saw it.

Invariants: a break is closed at most once and only by a run whose window covered it (a break outside
the re-examined window stays open untouched); every closed break names its closing run; a break whose
key reappears under another reason (timing → missing_in_ledger once the wait is over) is closed as
superseded by the new one, which carries the old opening date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date

import polars as pl


@dataclass(frozen=True)
class Break:
    break_id: str
    key_id: str
    leg: str
    reason: str
    side: str
    kind: str | None
    reference: str | None
    currency: str | None
    amount: int | None
    date: date | None
    severity: str
    age_days: int
    detail: str | None = None
    counter_amount: int | None = None
    difference: int | None = None
    row_ref: str | None = None
    counter_row_ref: str | None = None
    rule: str | None = None
    explanation: str | None = None
    status: str = "open"  # open | closed
    opened_run: str | None = None
    opened_on: date | None = None
    last_seen_run: str | None = None
    closed_run: str | None = None
    closed_on: date | None = None
    resolution: str | None = None  # resolved | counterpart_arrived | superseded:<break_id>
    fee: int | None = None  # the row's fee (BREAK_SCHEMA)

    def record(self) -> dict:
        """Plain dict for Datastore / BigQuery (dates as ISO strings)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out


_FIELDS = set(Break.__dataclass_fields__)


def breaks_from_frame(frame: pl.DataFrame) -> list[Break]:
    return [Break(**{k: v for k, v in row.items() if k in _FIELDS}) for row in frame.iter_rows(named=True)]


@dataclass(frozen=True)
class Lifecycle:
    opened: list[Break] = field(default_factory=list)
    still_open: list[Break] = field(default_factory=list)
    closed: list[Break] = field(default_factory=list)


def carry_forward(
    previous_open: Iterable[Break],
    new_run_breaks: Iterable[Break],
    run_id: str,
    *,
    run_date: date,
    window: tuple[date, date] | None = None,
) -> Lifecycle:
    """previous_open: breaks open before this run (as stored); new_run_breaks: what this run found;
    window: the dates this run re-examined (None: everything). Returns what to write back."""
    previous = {b.break_id: b for b in previous_open}
    found = {b.break_id: b for b in new_run_breaks}
    by_key = {b.key_id: b for b in found.values()}
    opened, still_open, closed = [], [], []
    for break_id, new in sorted(found.items()):
        old = previous.get(break_id)
        if old is not None:
            still_open.append(replace(new, opened_run=old.opened_run, opened_on=old.opened_on, last_seen_run=run_id))
            continue
        predecessor = next((p for p in previous.values() if p.key_id == new.key_id), None)
        opened_on = predecessor.opened_on if predecessor else run_date
        opened_run = predecessor.opened_run if predecessor else run_id
        opened.append(replace(new, opened_run=opened_run, opened_on=opened_on, last_seen_run=run_id))
    for break_id, old in sorted(previous.items()):
        if break_id in found:
            continue
        covered = window is None or old.date is None or window[0] <= old.date <= window[1]
        if not covered:
            still_open.append(old)
            continue
        successor = by_key.get(old.key_id)
        resolution = (
            f"superseded:{successor.break_id}"
            if successor
            else ("counterpart_arrived" if old.reason == "timing" else "resolved")
        )
        closed.append(replace(old, status="closed", closed_run=run_id, closed_on=run_date, resolution=resolution))
    return Lifecycle(opened, still_open, closed)
