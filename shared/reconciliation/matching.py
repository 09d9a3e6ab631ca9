"""The matching cascade: two record frames → matches (with the rule that paired them and why) and
breaks (what disagrees, with a reason code). Vectorised in polars: the million-row path is one hash
pass per side for duplicates and one full join; every later stage only sees the leftovers.

Stages, in order (a row leaves the cascade at the first stage that decides it):
  m. manual           an operator's manual match (shared.operations.breaks): the ledger row named by its
                      transaction id, the partner / bank row by its reference, each exactly one row of its
                      side → paired, then compared like stage 1 (a pair whose rows are not there, or not
                      alone, is left to the cascade).
  0. duplicate        same (kind, reference, amount, currency) twice on one side → one `duplicate` break
                      (detail internal for the ledger, external for a partner or the bank); one copy goes on.
  1. exact_reference  same (kind, reference), unique on both sides → matched; the pair is then compared:
                      currency → `currency_mismatch`, amount → `amount_mismatch`, fee → `fee_variance`.
  2. payment_reference same (kind, payment_reference, currency, amount): e.g. a Stripe refund the ledger
                      knows by its charge and the report by its refund id.
  3. composite        same (kind, currency, amount, date).
  4. tolerance        same (kind, currency), |amount difference| <= amount_tolerance and dates within
                      date_window business days; the mutually best candidate only (`amount_mismatch` if
                      the amounts differ at all: paired, so one break instead of two missing ones).
  4b. payment_reference_only  same (kind, payment_reference), one row each side: paired and compared
                      (→ amount_mismatch / currency_mismatch instead of two missing rows).
  5. grouping         (payout ↔ bank leg) several payouts of one day and currency against one bank line.
At stages 2-5 a row with several equally good candidates is never paired: it becomes an `ambiguous`
break listing the candidates, and they leave the cascade with it.
Leftovers: a status sibling on the other side (payout vs payout_failed, dispute vs dispute_won with
the same reference) → `status_mismatch`; dated within timing_window business days of as_of →
`timing` (expected later); else the leg's missing reason: `missing_in_ledger` / `missing_at_bank` /
`missing_at_partner` (on the bank ↔ ledger leg a bank line the ledger lacks is `missing_in_ledger`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import polars as pl

from shared.domain.operations.matches import ManualPair, side_key
from shared.reconciliation.frame import scale_expr

REASONS = (
    "missing_in_ledger",
    "missing_at_partner",
    "missing_at_bank",
    "amount_mismatch",
    "currency_mismatch",
    "duplicate",
    "status_mismatch",
    "fee_variance",
    "timing",
    "ambiguous",
)
SEVERITIES = ("low", "medium", "high", "critical")
STATUS_SIBLINGS = {
    "payout": "payout_failed",
    "payout_failed": "payout",
    "dispute": "dispute_won",
    "dispute_won": "dispute",
}

BREAK_SCHEMA: dict[str, pl.DataType] = {
    "leg": pl.String(),  # partner_ledger | payout_bank | payout_composition | bank_ledger
    "reason": pl.String(),
    "detail": pl.String(),  # duplicate: internal / external; mismatch: which sides
    "side": pl.String(),  # the side the row is on (for missing_*: the side that has it)
    "kind": pl.String(),
    "reference": pl.String(),
    "currency": pl.String(),
    "amount": pl.Int64(),  # the row's amount (signed minor units)
    "fee": pl.Int64(),  # the row's fee (a write-off of a missing row books it: shared.domain.operations.adjustments)
    "counter_amount": pl.Int64(),  # the other side's amount, when paired
    "difference": pl.Int64(),  # amount - counter_amount (fee_variance: fee difference)
    "date": pl.Date(),
    "row_ref": pl.String(),
    "counter_row_ref": pl.String(),
    "rule": pl.String(),  # the stage that decided
    "explanation": pl.String(),
}
MATCH_SCHEMA: dict[str, pl.DataType] = {
    "leg": pl.String(),
    "rule": pl.String(),
    "left_row_ref": pl.String(),
    "right_row_ref": pl.String(),
    "kind": pl.String(),
    "reference": pl.String(),
    "currency": pl.String(),
    "explanation": pl.String(),
}
_COLS = ["row_ref", "kind", "reference", "payment_reference", "amount", "fee", "currency", "_d"]


@dataclass(frozen=True)
class MatchParams:
    amount_tolerance: int = 0  # minor units, tolerance stage
    date_window: int = 2  # business days, tolerance stage
    timing_window: int = 2  # business days before as_of within which a missing counterpart is `timing`
    fee_check: bool = True  # compare partner fees with ledger fees (off for partners whose events carry none)
    holidays: tuple[date, ...] = ()
    severity_medium: int = 100  # major units of the break's currency
    severity_high: int = 10_000
    age_escalation: tuple[int, int] = (5, 20)  # business days: +1 level, +2 levels
    extra: dict = field(default_factory=dict)

    def fingerprint(self) -> dict:
        data = asdict(self)
        data["holidays"] = [d.isoformat() for d in self.holidays]
        return data


@dataclass(frozen=True)
class Leg:
    name: str
    left: str  # side names, e.g. "partner" / "ledger" / "bank"
    right: str
    missing_on_right: str  # reason for a left row the right side lacks
    date_column: str = "date"
    fee_check: bool = True
    missing_on_left: str = "missing_at_partner"  # reason for a right row the left side lacks


def _prep(frame: pl.DataFrame, date_column: str) -> pl.DataFrame:
    return frame.select(*_COLS[:-1], pl.col(date_column).alias("_d"))


def _empty_breaks() -> pl.DataFrame:
    return pl.DataFrame(schema=BREAK_SCHEMA)


def break_rows(frame: pl.DataFrame, **values) -> pl.DataFrame:
    """Break rows from `frame`: each BREAK_SCHEMA column from `values` (expr or literal) or frame column."""
    exprs = []
    for name, dtype in BREAK_SCHEMA.items():
        value = values.get(name, pl.col(name) if name in frame.columns else None)
        expr = value if isinstance(value, pl.Expr) else pl.lit(value)
        exprs.append(expr.cast(dtype).alias(name))
    return frame.select(exprs)


def _matches(frame: pl.DataFrame, leg: str, rule: str, explanation: pl.Expr | str) -> pl.DataFrame:
    expl = explanation if isinstance(explanation, pl.Expr) else pl.lit(explanation)
    return frame.select(
        pl.lit(leg).alias("leg"),
        pl.lit(rule).alias("rule"),
        pl.col("row_ref").alias("left_row_ref"),
        pl.col("row_ref_r").alias("right_row_ref"),
        pl.col("kind"),
        pl.col("reference"),
        pl.col("currency"),
        expl.cast(pl.String).alias("explanation"),
    )


def _duplicates(
    side: pl.DataFrame, leg: str, name: str, detail: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(unique rows for stage 1, rows sharing a key that are not exact copies, duplicate breaks)."""
    mask = side.select(pl.struct("kind", "reference").is_duplicated() & pl.col("reference").is_not_null()).to_series()
    if not mask.any():
        return side, side.clear(), _empty_breaks()
    shared = side.filter(mask)
    unique = side.filter(~mask)
    exact = ["kind", "reference", "amount", "currency"]
    groups = (
        shared.sort("row_ref")
        .group_by(exact, maintain_order=True)
        .agg(pl.col("row_ref"), pl.col("_d").first(), pl.col("fee").first(), pl.col("payment_reference").first())
    )
    copies = groups.filter(pl.col("row_ref").list.len() > 1)
    breaks = break_rows(
        copies,
        leg=leg,
        reason="duplicate",
        detail=detail,
        side=name,
        date=pl.col("_d"),
        row_ref=pl.col("row_ref").list.first(),
        counter_row_ref=pl.col("row_ref").list.slice(1).list.join(","),
        difference=pl.col("amount") * (pl.col("row_ref").list.len() - 1),
        rule="duplicate",
        explanation=pl.format(
            "{} rows on the {} side with the same kind, reference, amount and currency ({} extra)",
            pl.col("row_ref").list.len(),
            pl.lit(name),
            pl.col("row_ref").list.len() - 1,
        ),
    )
    kept = groups.with_columns(pl.col("row_ref").list.first()).select(_COLS)
    # keys still shared after dropping exact copies (e.g. partial refunds): not unique → later stages
    still = kept.filter(kept.select("kind", "reference").is_duplicated())
    unique = pl.concat([unique, kept.filter(~kept.select("kind", "reference").is_duplicated())])
    return unique, still, breaks


def _pairs_on(
    left: pl.DataFrame, right: pl.DataFrame, keys: list[str], leg: Leg, rule: str, params: MatchParams
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Unique-candidate pairing on equal `keys`: (pairs, ambiguous breaks, left rest, right rest)."""
    usable_l = left.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
    usable_r = right.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
    cand = usable_l.join(usable_r, on=keys, how="inner", suffix="_r")
    for k in keys:
        cand = cand.with_columns(pl.col(k).alias(f"{k}_r")) if f"{k}_r" not in cand.columns else cand
    cand = cand.with_columns(pl.lit(0, pl.Int64).alias("_score"))
    return _resolve(cand, left, right, leg, rule, params)


def _resolve(
    cand: pl.DataFrame, left: pl.DataFrame, right: pl.DataFrame, leg: Leg, rule: str, params: MatchParams
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Candidates (left cols, right cols suffixed _r, _score: lower is better) → mutual unique best pairs;
    a left row whose best score is shared by several candidates (or whose best candidate is shared) is
    ambiguous: one break listing the candidates, and every row involved leaves the cascade."""
    if cand.is_empty():
        return cand, _empty_breaks(), left, right
    cand = cand.with_columns(
        pl.col("_score").min().over("row_ref").alias("_lbest"), pl.col("_score").min().over("row_ref_r").alias("_rbest")
    )
    best_l = cand.filter(pl.col("_score") == pl.col("_lbest"))
    best_l = best_l.with_columns(pl.len().over("row_ref").alias("_nl"), pl.len().over("row_ref_r").alias("_nr"))
    clean = (pl.col("_nl") == 1) & (pl.col("_nr") == 1) & (pl.col("_score") == pl.col("_rbest"))
    pairs = best_l.filter(clean)
    # a right row that is some left row's best but not unique, or whose own best is elsewhere, stays out
    contested = best_l.filter(~clean)
    contested = contested.filter(~pl.col("row_ref_r").is_in(pairs["row_ref_r"].implode()))
    amb = contested.group_by("row_ref", maintain_order=True).agg(
        pl.col("kind").first(),
        pl.col("reference").first(),
        pl.col("currency").first(),
        pl.col("amount").first(),
        pl.col("_d").first(),
        pl.col("row_ref_r").sort(),
    )
    ambiguous = break_rows(
        amb,
        leg=leg.name,
        reason="ambiguous",
        side=leg.left,
        date=pl.col("_d"),
        counter_row_ref=pl.col("row_ref_r").list.join(","),
        rule=rule,
        explanation=pl.format(
            "{} equally good {} candidates by rule {}: not paired automatically",
            pl.col("row_ref_r").list.len(),
            pl.lit(leg.right),
            pl.lit(rule),
        ),
    )
    used_l = pl.concat([pairs["row_ref"], contested["row_ref"]]).implode()
    used_r = pl.concat([pairs["row_ref_r"], contested["row_ref_r"]]).implode()
    return (
        pairs,
        ambiguous,
        left.filter(~pl.col("row_ref").is_in(used_l)),
        right.filter(~pl.col("row_ref").is_in(used_r)),
    )


def _compare(pairs: pl.DataFrame, leg: Leg, rule: str, check_fee: bool) -> pl.DataFrame:
    """Breaks for paired rows that still disagree (currency, then amount, then fee)."""
    currency = pl.col("currency") != pl.col("currency_r")
    amount = pl.col("amount") != pl.col("amount_r")
    fee = (pl.col("fee") != pl.col("fee_r")) if check_fee else pl.lit(False)
    bad = pairs.filter(currency | amount | fee)
    if bad.is_empty():
        return _empty_breaks()
    reason = (
        pl.when(currency)
        .then(pl.lit("currency_mismatch"))
        .when(amount)
        .then(pl.lit("amount_mismatch"))
        .otherwise(pl.lit("fee_variance"))
    )
    return break_rows(
        bad,
        leg=leg.name,
        reason=reason,
        detail=pl.format("{} vs {}", pl.lit(leg.left), pl.lit(leg.right)),
        side=leg.left,
        counter_amount=pl.col("amount_r"),
        difference=pl.when(currency | amount)
        .then(pl.col("amount") - pl.col("amount_r"))
        .otherwise(pl.col("fee") - pl.col("fee_r")),
        date=pl.col("_d"),
        counter_row_ref=pl.col("row_ref_r"),
        rule=rule,
        explanation=pl.when(currency)
        .then(pl.format("paired by {}: currency {} vs {}", pl.lit(rule), pl.col("currency"), pl.col("currency_r")))
        .when(amount)
        .then(
            pl.format("paired by {}: amount {} vs {} (minor units)", pl.lit(rule), pl.col("amount"), pl.col("amount_r"))
        )
        .otherwise(pl.format("paired by {}: fee {} vs {} (minor units)", pl.lit(rule), pl.col("fee"), pl.col("fee_r"))),
    )


def _bdays(a: pl.Expr, b: pl.Expr, holidays: tuple[date, ...]) -> pl.Expr:
    """Business days between two dates, unsigned."""
    lo, hi = pl.min_horizontal(a, b), pl.max_horizontal(a, b)
    return pl.business_day_count(lo, hi, holidays=list(holidays))


def _manual(
    left_p: pl.DataFrame, right_p: pl.DataFrame, leg: Leg, pairs: tuple[ManualPair, ...]
) -> tuple[pl.DataFrame | None, pl.DataFrame, pl.DataFrame]:
    """(the manual pairs found — one row each side —, what is left of each side)."""
    lkey, rkey = side_key(leg.left), side_key(leg.right)
    chosen_l, chosen_r, ids = [], [], []
    for pair in pairs:
        if pair.leg != leg.name:
            continue
        lrows, rrows = left_p.filter(pl.col(lkey) == pair.left), right_p.filter(pl.col(rkey) == pair.right)
        if lrows.height != 1 or rrows.height != 1:
            continue
        if lrows["row_ref"][0] in chosen_l or rrows["row_ref"][0] in chosen_r:
            continue
        chosen_l.append(lrows["row_ref"][0])
        chosen_r.append(rrows["row_ref"][0])
        ids.append(pair.match_id)
    if not ids:
        return None, left_p, right_p
    order = pl.DataFrame({"row_ref": chosen_l, "_rr": chosen_r, "_match": ids})
    lrows = order.join(left_p, on="row_ref", how="left")
    rrows = order.select(pl.col("_rr").alias("row_ref")).join(right_p, on="row_ref", how="left")
    pairs_frame = pl.concat([lrows, rrows.rename({c: f"{c}_r" for c in rrows.columns})], how="horizontal")
    rest_l = left_p.filter(~pl.col("row_ref").is_in(chosen_l))
    rest_r = right_p.filter(~pl.col("row_ref").is_in(chosen_r))
    return pairs_frame, rest_l, rest_r


def reconcile_leg(
    left: pl.DataFrame,
    right: pl.DataFrame,
    leg: Leg,
    as_of: date,
    params: MatchParams,
    manual: tuple[ManualPair, ...] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One leg of the cascade (module docstring) → (matches, breaks)."""
    left_p, right_p = _prep(left, leg.date_column), _prep(right, leg.date_column)
    matches, breaks = [], []
    hand, left_p, right_p = _manual(left_p, right_p, leg, manual)
    if hand is not None:
        matches.append(_matches(hand, leg.name, "manual", pl.format("manual match {}", pl.col("_match"))))
        breaks.append(_compare(hand, leg, "manual", leg.fee_check and params.fee_check))
    detail = {"ledger": "internal"}
    left_u, left_multi, dup_l = _duplicates(left_p, leg.name, leg.left, detail.get(leg.left, "external"))
    right_u, right_multi, dup_r = _duplicates(right_p, leg.name, leg.right, detail.get(leg.right, "external"))
    breaks += [dup_l, dup_r]

    # 1. exact reference: one full join of the unique rows
    joined = left_u.join(right_u, on=["kind", "reference"], how="full", suffix="_r", coalesce=False)
    both = pl.col("row_ref").is_not_null() & pl.col("row_ref_r").is_not_null()
    pairs = joined.filter(both)
    matches.append(_matches(pairs, leg.name, "exact_reference", "same kind and reference on both sides"))
    breaks.append(_compare(pairs, leg, "exact_reference", leg.fee_check and params.fee_check))
    rest_l = pl.concat([joined.filter(pl.col("row_ref_r").is_null()).select(_COLS), left_multi])
    right_only = joined.filter(pl.col("row_ref").is_null()).select([pl.col(f"{c}_r").alias(c) for c in _COLS])
    rest_r = pl.concat([right_only, right_multi])

    # 2.-3. exact keys on the leftovers
    for rule, keys, why in (
        (
            "payment_reference",
            ["kind", "payment_reference", "currency", "amount"],
            "same kind, payment reference, currency and amount",
        ),
        ("composite", ["kind", "currency", "amount", "_d"], "same kind, currency, amount and date"),
    ):
        got, amb, rest_l, rest_r = _pairs_on(rest_l, rest_r, keys, leg, rule, params)
        matches.append(
            _matches(
                got, leg.name, rule, pl.format("{}: {} = {}", pl.lit(why), pl.col("reference"), pl.col("reference_r"))
            )
        )
        breaks += [amb, _compare(got, leg, rule, leg.fee_check and params.fee_check)]

    # 4. tolerance
    cand = rest_l.join(rest_r, on=["kind", "currency"], how="inner", suffix="_r")
    cand = cand.with_columns(pl.col("kind").alias("kind_r"), pl.col("currency").alias("currency_r"))
    days = _bdays(pl.col("_d"), pl.col("_d_r"), params.holidays)
    diff = (pl.col("amount") - pl.col("amount_r")).abs()
    cand = cand.filter((diff <= params.amount_tolerance) & (days <= params.date_window))
    cand = cand.with_columns((diff * 1000 + days).cast(pl.Int64).alias("_score"))
    got, amb, rest_l, rest_r = _resolve(cand, rest_l, rest_r, leg, "tolerance", params)
    matches.append(
        _matches(
            got,
            leg.name,
            "tolerance",
            pl.format(
                "within tolerance: amount difference {} (max {}), {} business day(s) apart (max {})",
                (pl.col("amount") - pl.col("amount_r")).abs(),
                pl.lit(params.amount_tolerance),
                _bdays(pl.col("_d"), pl.col("_d_r"), params.holidays),
                pl.lit(params.date_window),
            ),
        )
    )
    breaks += [amb, _compare(got, leg, "tolerance", leg.fee_check and params.fee_check)]

    # 4b. the underlying payment alone (amount or currency may differ): paired and compared, so a refund
    # known by different ids on each side gives one amount/currency break, not two missing ones
    got, amb, rest_l, rest_r = _pairs_on(
        rest_l, rest_r, ["kind", "payment_reference"], leg, "payment_reference_only", params
    )
    matches.append(
        _matches(
            got,
            leg.name,
            "payment_reference_only",
            pl.format("same kind and payment reference {}, one row each side", pl.col("payment_reference")),
        )
    )
    breaks += [amb, _compare(got, leg, "payment_reference_only", leg.fee_check and params.fee_check)]

    # 5. grouping (N:1): several left rows of one day and currency against one right row
    if leg.name == "payout_bank" and not rest_l.is_empty() and not rest_r.is_empty():
        groups = (
            rest_l.group_by(["kind", "currency", "_d"])
            .agg(pl.col("row_ref"), pl.col("amount").sum(), pl.col("reference"), pl.len().alias("_n"))
            .filter(pl.col("_n") > 1)
        )
        cand = groups.join(rest_r, on=["kind", "currency", "_d", "amount"], how="inner", suffix="_r")
        cand = cand.with_columns(pl.len().over("row_ref_r").alias("_c"))
        unique = cand.filter(pl.col("_c") == 1)
        if not unique.is_empty():
            exploded = unique.explode(["row_ref", "reference"])
            matches.append(
                _matches(
                    exploded,
                    leg.name,
                    "grouping",
                    pl.format(
                        "{} {} rows of one day sum to the {} line", pl.col("_n"), pl.lit(leg.left), pl.lit(leg.right)
                    ),
                )
            )
            rest_l = rest_l.filter(~pl.col("row_ref").is_in(exploded["row_ref"].implode()))
            rest_r = rest_r.filter(~pl.col("row_ref").is_in(unique["row_ref_r"].implode()))

    breaks.append(_leftovers(rest_l, right_p, leg, leg.left, leg.missing_on_right, as_of, params))
    breaks.append(_leftovers(rest_r, left_p, leg, leg.right, leg.missing_on_left, as_of, params))
    return pl.concat(matches, how="vertical_relaxed").cast(MATCH_SCHEMA), pl.concat(breaks)


def _leftovers(
    rows: pl.DataFrame, other: pl.DataFrame, leg: Leg, side: str, missing: str, as_of: date, params: MatchParams
) -> pl.DataFrame:
    if rows.is_empty():
        return _empty_breaks()
    siblings = (
        other.filter(pl.col("kind").is_in(list(STATUS_SIBLINGS)) & pl.col("reference").is_not_null())
        .select(
            pl.col("kind").replace_strict(STATUS_SIBLINGS).alias("_sibling"),
            "reference",
            pl.col("row_ref").alias("_sib_ref"),
        )
        .unique(["_sibling", "reference"], keep="first")
    )
    rows = rows.join(siblings, left_on=["kind", "reference"], right_on=["_sibling", "reference"], how="left")
    recent = pl.business_day_count(pl.col("_d"), pl.lit(as_of), holidays=list(params.holidays)) < params.timing_window
    status = pl.col("_sib_ref").is_not_null()
    other_name = leg.right if side == leg.left else leg.left
    reason = (
        pl.when(status).then(pl.lit("status_mismatch")).when(recent).then(pl.lit("timing")).otherwise(pl.lit(missing))
    )
    return break_rows(
        rows,
        leg=leg.name,
        reason=reason,
        detail=pl.when(status)
        .then(
            pl.format(
                "{} has {}, {} has {}",
                pl.lit(side),
                pl.col("kind"),
                pl.lit(other_name),
                pl.col("kind").replace_strict(STATUS_SIBLINGS, default=None),
            )
        )
        .otherwise(pl.format("not on the {} side", pl.lit(other_name))),
        side=side,
        date=pl.col("_d"),
        counter_row_ref=pl.col("_sib_ref"),
        rule="unmatched",
        explanation=pl.when(status)
        .then(
            pl.format(
                "{} {}: status differs between {} and {}",
                pl.col("kind"),
                pl.col("reference"),
                pl.lit(side),
                pl.lit(other_name),
            )
        )
        .when(recent)
        .then(
            pl.format(
                "no {} counterpart yet; dated within {} business day(s) of {}: expected later",
                pl.lit(other_name),
                pl.lit(params.timing_window),
                pl.lit(as_of.isoformat()),
            )
        )
        .otherwise(pl.format("no {} counterpart by any rule", pl.lit(other_name))),
    )


def grade(breaks: pl.DataFrame, as_of: date, params: MatchParams) -> pl.DataFrame:
    """Add age_days (business days since the row's date) and severity (by amount in major units of the
    break's currency, escalated by age; timing starts at low whatever the amount)."""
    scale = scale_expr(pl.col("currency")).fill_null(100)
    magnitude = pl.coalesce(pl.col("difference"), pl.col("amount")).abs().fill_null(0)
    base = (
        pl.when(pl.col("reason") == "timing")
        .then(0)
        .when(magnitude >= scale * params.severity_high)
        .then(2)
        .when(magnitude >= scale * params.severity_medium)
        .then(1)
        .otherwise(0)
    )
    age = pl.business_day_count(pl.col("date"), pl.lit(as_of), holidays=list(params.holidays)).clip(lower_bound=0)
    bump = pl.when(age >= params.age_escalation[1]).then(2).when(age >= params.age_escalation[0]).then(1).otherwise(0)
    level = pl.min_horizontal(base + bump, pl.lit(len(SEVERITIES) - 1))
    return breaks.with_columns(
        age.cast(pl.Int64).alias("age_days"),
        level.replace_strict(dict(enumerate(SEVERITIES)), return_dtype=pl.String).alias("severity"),
    )
