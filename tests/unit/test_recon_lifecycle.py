"""Break lifecycle across runs: carried forward with their first-seen date, closed with the run that
resolved them, timing breaks closing when the counterpart lands, supersession, windows."""

from datetime import date

import polars as pl

from shared.reconciliation import MatchParams, breaks_from_frame, carry_forward, reconcile
from tests.planted import dataset

D1, D2 = date(2026, 11, 19), date(2026, 11, 20)
PARAMS = MatchParams(amount_tolerance=5)


def test_timing_break_closes_when_the_counterpart_lands_in_a_later_run():
    d = dataset(2000, seed=3, as_of=D1, plant=False)
    late = d.ledger.filter(pl.col("kind") == "payment").row(0, named=True)["row_ref"]
    # day 1: the partner reports a capture of the last day; the ledger has not posted it yet
    i = int(late.removeprefix("txn_"))
    partner = d.partner.with_columns(
        pl.when(pl.col("row_ref") == f"report.csv:{i + 2}").then(pl.lit(D1)).otherwise(pl.col("date")).alias("date")
    )
    ledger_day1 = d.ledger.filter(pl.col("row_ref") != late)
    run1 = reconcile(partner, ledger_day1, d.bank, as_of=D1, params=PARAMS)
    assert run1.breaks["reason"].to_list() == ["timing"]
    first = carry_forward([], breaks_from_frame(run1.breaks), "run_1", run_date=D1)
    assert len(first.opened) == 1 and first.opened[0].opened_run == "run_1"
    # day 2: the posting arrived (effective the next day: paired by tolerance) → the break closes
    ledger_day2 = d.ledger.with_columns(
        pl.when(pl.col("row_ref") == late).then(pl.lit(D2)).otherwise(pl.col("date")).alias("date")
    )
    run2 = reconcile(partner, ledger_day2, d.bank, as_of=D2, params=PARAMS)
    assert run2.breaks.is_empty()
    second = carry_forward(first.opened, breaks_from_frame(run2.breaks), "run_2", run_date=D2, window=(D1, D2))
    assert second.opened == [] and second.still_open == []
    (closed,) = second.closed
    assert (closed.status, closed.closed_run, closed.resolution) == ("closed", "run_2", "counterpart_arrived")


def test_timing_that_never_resolves_is_superseded_by_missing_and_keeps_its_age():
    d = dataset(2000, seed=4, as_of=D1, plant=False)
    gone = d.ledger.filter(pl.col("kind") == "payment").row(0, named=True)["row_ref"]
    i = int(gone.removeprefix("txn_"))
    partner = d.partner.with_columns(
        pl.when(pl.col("row_ref") == f"report.csv:{i + 2}").then(pl.lit(D1)).otherwise(pl.col("date")).alias("date")
    )
    ledger = d.ledger.filter(pl.col("row_ref") != gone)
    run1 = reconcile(partner, ledger, d.bank, as_of=D1, params=PARAMS)
    first = carry_forward([], breaks_from_frame(run1.breaks), "run_1", run_date=D1)
    later = date(2026, 11, 25)
    run2 = reconcile(partner, ledger, d.bank, as_of=later, params=PARAMS)
    assert run2.breaks["reason"].to_list() == ["missing_in_ledger"]
    second = carry_forward(first.opened, breaks_from_frame(run2.breaks), "run_2", run_date=later)
    (old,) = second.closed
    (new,) = second.opened
    assert old.resolution == f"superseded:{new.break_id}"
    assert (new.opened_run, new.opened_on) == ("run_1", D1)  # the discrepancy's age is kept


def test_rerun_keeps_breaks_open_and_window_protects_unexamined_breaks():
    d = dataset(3000, seed=5, as_of=D2)
    result = reconcile(d.partner, d.ledger, d.bank, as_of=D2, params=PARAMS)
    found = breaks_from_frame(result.breaks)
    first = carry_forward([], found, "run_1", run_date=D2)
    again = carry_forward(first.opened, found, "run_1b", run_date=D2)
    assert again.opened == [] and again.closed == []
    assert len(again.still_open) == len(found)
    assert {b.opened_run for b in again.still_open} == {"run_1"} and {b.last_seen_run for b in again.still_open} == {
        "run_1b"
    }
    # a run that found nothing but only looked at today closes only today's breaks
    window = (D2, D2)
    third = carry_forward(first.opened, [], "run_2", run_date=D2, window=window)
    assert all(b.date == D2 for b in third.closed)
    assert all(b.date is None or b.date < D2 for b in third.still_open)
    assert len(third.closed) + len(third.still_open) == len(found)
    assert all(b.closed_run == "run_2" and b.resolution for b in third.closed)


def test_break_records_are_plain_values():
    d = dataset(2000, seed=6, as_of=D2)
    (b, *_) = breaks_from_frame(reconcile(d.partner, d.ledger, d.bank, as_of=D2, params=PARAMS).breaks)
    record = b.record()
    assert isinstance(record["date"], str) and record["break_id"].startswith("brk_")
    assert all(isinstance(v, str | int | type(None)) for v in record.values())
