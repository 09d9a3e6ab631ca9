"""Stripe's itemized balance reports → the record frame (format `stripe_report`)."""

from __future__ import annotations

import polars as pl

from shared.reconciliation.formats.csv_cells import (
    as_date,
    currency_problem,
    date_problem,
    fail,
    nonempty,
    read_csv,
    require,
)
from shared.reconciliation.frame import conform, first_problem, to_minor, validate

# Stripe Reports API, itemized balance reports (balance_change_from_activity.itemized.*,
# payout_reconciliation.itemized.*, ending_balance_reconciliation.itemized.*): column names as
# documented. Aliases accept the Dashboard "balance transactions" export (id, type, amount, created…).
STRIPE_ALIASES = {
    "id": "balance_transaction_id",
    "amount": "gross",
    "created (utc)": "created_utc",
    "available on (utc)": "available_on_utc",
    "source": "source_id",
    "type": "type",
}
STRIPE_CATEGORIES = {
    "charge": "payment",
    "payment": "payment",
    "refund": "refund",
    "payment_refund": "refund",
    "dispute": "dispute",
    "dispute_reversal": "dispute_won",
    "payout": "payout",
    "payout_reversal": "payout_failed",
    "payout_failure": "payout_failed",
    "payout_cancel": "payout_failed",
    "fee": "fee",
    "stripe_fee": "fee",
}


def parse_stripe(data: bytes, source: str, decimal_separator: str = ".") -> pl.DataFrame:
    raw = read_csv(data, source)
    raw = raw.rename({c: STRIPE_ALIASES.get(c.lower(), c.lower()) for c in raw.columns if c != "_line"})
    if "reporting_category" not in raw.columns and "type" in raw.columns:
        raw = raw.rename({"type": "reporting_category"})
    created = next((c for c in ("created_utc", "created") if c in raw.columns), "created_utc")
    available = next((c for c in ("available_on_utc", "available_on") if c in raw.columns), None)
    payout_date = next(
        (c for c in ("automatic_payout_effective_at_utc", "automatic_payout_effective_at") if c in raw.columns), None
    )
    require(raw, source, ["balance_transaction_id", "currency", "gross", "fee", "net", "reporting_category", created])
    for optional in ("source_id", "automatic_payout_id", "payout_id", "payment_intent_id", "charge_id"):
        if optional not in raw.columns:
            raw = raw.with_columns(pl.lit("").alias(optional))
    currency = pl.col("currency").str.strip_chars().str.to_uppercase()
    raw = raw.with_columns(currency.alias("_ccy"))
    ccy = pl.col("_ccy")
    gross, gross_p = to_minor(pl.col("gross"), ccy, decimal_separator)
    fee, fee_p = to_minor(pl.col("fee"), ccy, decimal_separator)
    net, net_p = to_minor(pl.col("net"), ccy, decimal_separator)
    raw = raw.with_columns(gross.alias("_gross"), fee.alias("_fee"), net.alias("_net"))
    checks = {
        "balance_transaction_id": pl.when(nonempty(pl.col("balance_transaction_id")).is_null()).then(
            pl.lit("missing balance transaction id")
        ),
        "currency": currency_problem(ccy),
        "gross": pl.when(gross_p.is_null() & pl.col("_gross").is_null())
        .then(pl.lit("missing amount"))
        .otherwise(gross_p),
        "fee": fee_p,
        "net": pl.when(net_p.is_not_null())
        .then(net_p)
        .when(pl.col("_net").is_not_null() & (pl.col("_net") != pl.col("_gross") - pl.col("_fee").fill_null(0)))
        .then(pl.format("net {} is not gross {} minus fee {}", pl.col("net"), pl.col("gross"), pl.col("fee"))),
        created: date_problem(pl.col(created)),
    }
    if available:
        checks[available] = date_problem(pl.col(available), required=False)
    fail(data, source, first_problem(raw, checks))
    category = pl.col("reporting_category").str.strip_chars().str.to_lowercase()
    kind = category.replace_strict(STRIPE_CATEGORIES, default="other")
    source_id = nonempty(pl.col("source_id"))
    intent, charge = nonempty(pl.col("payment_intent_id")), nonempty(pl.col("charge_id"))
    is_payout = kind.is_in(["payout", "payout_failed"])
    payout_ref = pl.when(is_payout).then(pl.coalesce(nonempty(pl.col("payout_id")), source_id))
    payout_ref = payout_ref.otherwise(nonempty(pl.col("automatic_payout_id")))
    fee_col = pl.col("_fee").fill_null(0)
    value_date = as_date(pl.col(available)) if available else as_date(pl.col(created))
    frame = raw.select(
        pl.lit("stripe").alias("source"),
        pl.format("{}:{}", pl.lit(source), pl.col("_line")).alias("row_ref"),
        kind.alias("kind"),
        # Ledger convention (shared.partners.stripe): a capture's reference is its payment intent, a
        # refund/dispute/payout its own object id; the report's source_id is the charge for charges.
        pl.when(kind == "payment")
        .then(pl.coalesce(intent, source_id))
        .otherwise(pl.coalesce(source_id, nonempty(pl.col("balance_transaction_id"))))
        .alias("reference"),
        pl.when(kind == "payment")
        .then(pl.coalesce(charge, source_id))
        .otherwise(pl.coalesce(intent, charge))
        .alias("payment_reference"),
        payout_ref.alias("payout_ref"),
        pl.col("_gross").alias("amount"),
        fee_col.alias("fee"),
        (pl.col("_gross") - fee_col).alias("net"),
        ccy.alias("currency"),
        as_date(pl.col(created)).alias("date"),
        pl.when(is_payout)
        .then(value_date)
        .otherwise(pl.coalesce(as_date(pl.col(payout_date)) if payout_date else pl.lit(None, pl.Date), value_date))
        .alias("value_date"),
        category.alias("status"),
    )
    return validate(conform(frame))
