"""Properties: a dataset reconciled against itself has no break; removing or perturbing k rows yields
exactly the k corresponding breaks (hypothesis picks size, seed and rows)."""

from datetime import date

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.reconciliation import MatchParams, reconcile
from tests.planted import dataset, found

AS_OF = date(2026, 11, 20)
PARAMS = MatchParams(amount_tolerance=5)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def clean(n: int, seed: int):
    return dataset(n, seed=seed, as_of=AS_OF, plant=False)


@FAST
@given(n=st.integers(50, 3000), seed=st.integers(0, 10_000))
def test_self_reconciliation_has_no_breaks(n, seed):
    d = clean(n, seed)
    ledger = d.partner.with_columns(pl.lit("ledger").alias("source"))
    assert reconcile(d.partner, ledger, d.bank, as_of=AS_OF, params=PARAMS).breaks.is_empty()
    assert reconcile(d.partner, d.ledger, d.bank, as_of=AS_OF, params=PARAMS).breaks.is_empty()


def members(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("kind") != "payout")


@FAST
@given(n=st.integers(100, 3000), seed=st.integers(0, 10_000), data=st.data())
def test_removing_k_ledger_rows_gives_exactly_k_missing(n, seed, data):
    d = clean(n, seed)
    refs = members(d.ledger)["row_ref"].to_list()
    gone = data.draw(st.lists(st.sampled_from(refs), min_size=1, max_size=8, unique=True))
    ledger = d.ledger.filter(~pl.col("row_ref").is_in(gone))
    breaks = reconcile(d.partner, ledger, d.bank, as_of=AS_OF, params=PARAMS).breaks
    # planted.dataset numbers rows: ledger txn_<i> is partner report.csv:<i + 2>
    partner_rows = [f"report.csv:{int(ref.removeprefix('txn_')) + 2}" for ref in gone]
    assert breaks.height == len(gone)
    assert set(breaks["reason"]) == {"missing_in_ledger"}
    assert set(breaks["side"]) == {"partner"}
    assert set(breaks["row_ref"]) == set(partner_rows)


@FAST
@given(n=st.integers(1000, 4000), seed=st.integers(0, 10_000), data=st.data())
def test_removing_k_unsettled_partner_rows_gives_exactly_k_missing_at_partner(n, seed, data):
    d = clean(n, seed)
    pool = members(d.partner).filter(pl.col("payout_ref").is_null())["row_ref"].to_list()
    gone = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8, unique=True))
    partner = d.partner.filter(~pl.col("row_ref").is_in(gone))
    breaks = reconcile(partner, d.ledger, d.bank, as_of=AS_OF, params=PARAMS).breaks
    assert breaks.height == len(gone)
    assert set(breaks["reason"]) == {"missing_at_partner"} and set(breaks["side"]) == {"ledger"}


@FAST
@given(
    n=st.integers(100, 3000),
    seed=st.integers(0, 10_000),
    how=st.sampled_from(["amount", "currency", "fee"]),
    data=st.data(),
)
def test_perturbing_k_ledger_rows_gives_exactly_k_mismatches(n, seed, how, data):
    d = clean(n, seed)
    pool = members(d.ledger).filter(pl.col("kind") == "payment")["row_ref"].to_list()
    hit = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8, unique=True))
    delta = data.draw(st.integers(1, 10_000).map(lambda v: v * data.draw(st.sampled_from([-1, 1]))))
    sel = pl.col("row_ref").is_in(hit)
    if how == "amount":
        ledger = d.ledger.with_columns(
            pl.when(sel).then(pl.col("amount") + delta).otherwise(pl.col("amount")).alias("amount")
        )
    elif how == "fee":
        ledger = d.ledger.with_columns(
            pl.when(sel).then(pl.col("fee") + abs(delta)).otherwise(pl.col("fee")).alias("fee")
        )
    else:
        ledger = d.ledger.with_columns(pl.when(sel).then(pl.lit("CHF")).otherwise(pl.col("currency")).alias("currency"))
    ledger = ledger.with_columns((pl.col("amount") - pl.col("fee")).alias("net"))
    breaks = reconcile(d.partner, ledger, d.bank, as_of=AS_OF, params=PARAMS).breaks
    reason = {"amount": "amount_mismatch", "currency": "currency_mismatch", "fee": "fee_variance"}[how]
    assert breaks.height == len(hit)
    assert set(breaks["reason"]) == {reason}
    assert set(breaks["counter_row_ref"]) == set(hit)


@FAST
@given(n=st.integers(2000, 6000), seed=st.integers(0, 10_000))
def test_planted_breaks_of_every_type_are_found_exactly(n, seed):
    d = dataset(n, seed=seed, as_of=AS_OF, tolerance=5)
    result = reconcile(d.partner, d.ledger, d.bank, as_of=AS_OF, params=PARAMS)
    assert found(result.breaks) == d.expected
    assert {r for _, r, _, _ in d.expected} >= {
        "missing_in_ledger",
        "missing_at_partner",
        "missing_at_bank",
        "amount_mismatch",
        "currency_mismatch",
        "duplicate",
        "status_mismatch",
        "fee_variance",
        "timing",
    }
