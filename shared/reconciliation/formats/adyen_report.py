"""Adyen's settlement details report → the record frame (format `adyen_report`)."""

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

ADYEN_REQUIRED = [
    "Psp Reference",
    "Creation Date",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Batch Number",
]
ADYEN_FEE_COLUMNS = ["Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)"]
ADYEN_TYPES = {
    "Settled": "payment",
    "SettledBulk": "payment",
    "Refunded": "refund",
    "RefundedBulk": "refund",
    "Chargeback": "dispute",
    "SecondChargeback": "dispute",
    "ChargebackReversed": "dispute_won",
    "Fee": "fee",
    "MiscCosts": "fee",
    "MerchantPayout": "payout",
}


def parse_adyen(data: bytes, source: str) -> pl.DataFrame:
    """Adyen Settlement details report (settlement_detail_report_batch_N.csv).

    currency = Net Currency; net = Net Credit − Net Debit; fee = Commission + Markup + Scheme Fees +
    Interchange (NC); amount = net + fee. When Gross Currency equals Net Currency the gross columns must
    agree with that (amount = Gross Credit − Gross Debit), else the row is refused.

    Amounts are decimals in major units written with Adyen's precision for the currency (its report
    legend: "fixed point number, precision is based on the currency exponent", read as Adyen's table in
    shared.partners.adyen: CLP "1000.00", CVE "1000"); a fraction may have no leading zero (".11").
    They are converted by value, exactly (either reading of that exponent gives the same values): CLP
    "1000.00" is 1000 ISO minor units, CVE "1000" 100000; CLP "1000.50" has no ISO-4217 representation
    and is refused, naming its column. A cell that does not parse is reported as itself, never counted
    as 0 in the gross = net + fees check.
    """
    raw = read_csv(data, source)
    require(raw, source, ADYEN_REQUIRED)
    for column in ADYEN_FEE_COLUMNS:
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit("").alias(column))
    gc = pl.col("Gross Currency").str.strip_chars().str.to_uppercase()
    nc = pl.col("Net Currency").str.strip_chars().str.to_uppercase()
    raw = raw.with_columns(gc.alias("_gc"), nc.alias("_nc"))
    parts = {
        "Gross Debit (GC)": to_minor(pl.col("Gross Debit (GC)"), pl.col("_gc")),
        "Gross Credit (GC)": to_minor(pl.col("Gross Credit (GC)"), pl.col("_gc")),
        "Net Debit (NC)": to_minor(pl.col("Net Debit (NC)"), pl.col("_nc")),
        "Net Credit (NC)": to_minor(pl.col("Net Credit (NC)"), pl.col("_nc")),
        **{c: to_minor(pl.col(c), pl.col("_nc")) for c in ADYEN_FEE_COLUMNS},
    }
    raw = raw.with_columns(*[value.fill_null(0).alias(f"_{name}") for name, (value, _) in parts.items()])
    net = pl.col("_Net Credit (NC)") - pl.col("_Net Debit (NC)")
    gross = pl.col("_Gross Credit (GC)") - pl.col("_Gross Debit (GC)")
    fee = pl.sum_horizontal(*[pl.col(f"_{c}") for c in ADYEN_FEE_COLUMNS])
    filled = {name: pl.col(name).str.strip_chars() != "" for name in parts}
    has_gross = filled["Gross Debit (GC)"] | filled["Gross Credit (GC)"]
    all_parsed = pl.all_horizontal(*[problem.is_null() for _, problem in parts.values()])
    # The cross-check names the net column that holds the row's value (a refund's is Net Debit).
    disagrees = all_parsed & has_gross & (pl.col("_gc") == pl.col("_nc")) & (gross != net + fee)
    mismatch = pl.format("gross {} minus fees {} is not net {} (minor units)", gross, fee, net)
    net_credit_blamed = filled["Net Credit (NC)"] | ~filled["Net Debit (NC)"]
    type_ = pl.col("Type").str.strip_chars()
    checks = {
        "Type": pl.when(type_ == "").then(pl.lit("missing record type")),
        "Creation Date": date_problem(pl.col("Creation Date")),
        "Net Currency": currency_problem(pl.col("_nc")),
        "Gross Currency": pl.when(has_gross).then(currency_problem(pl.col("_gc"))),
        **{name: problem for name, (_, problem) in parts.items()},
        "Net Credit (NC)": pl.coalesce(
            parts["Net Credit (NC)"][1], pl.when(disagrees & net_credit_blamed).then(mismatch)
        ),
        "Net Debit (NC)": pl.coalesce(
            parts["Net Debit (NC)"][1], pl.when(disagrees & ~net_credit_blamed).then(mismatch)
        ),
        "Batch Number": pl.when((type_ == "MerchantPayout") & (pl.col("Batch Number").str.strip_chars() == "")).then(
            pl.lit("a MerchantPayout needs its batch number")
        ),
    }
    fail(data, source, first_problem(raw, checks))
    kind = type_.replace_strict(ADYEN_TYPES, default="other")
    psp, modification = nonempty(pl.col("Psp Reference")), nonempty(pl.col("Modification Reference"))
    batch = nonempty(pl.col("Batch Number"))
    batch_ref = pl.when(batch.is_not_null()).then(pl.format("batch-{}", batch))
    day = as_date(pl.col("Creation Date"))
    frame = raw.select(
        pl.lit("adyen").alias("source"),
        pl.format("{}:{}", pl.lit(source), pl.col("_line")).alias("row_ref"),
        kind.alias("kind"),
        # Ledger convention (shared.partners.adyen): captures are about the payment's pspReference,
        # refunds and chargebacks about their own modification pspReference.
        pl.when(kind == "payment")
        .then(psp)
        .when(kind == "payout")
        .then(batch_ref)
        .otherwise(pl.coalesce(modification, psp, pl.format("{}:{}", type_, pl.col("_line"))))
        .alias("reference"),
        pl.when(kind == "payment").then(modification).otherwise(psp).alias("payment_reference"),
        batch_ref.alias("payout_ref"),
        (net + fee).alias("amount"),
        fee.alias("fee"),
        net.alias("net"),
        pl.col("_nc").alias("currency"),
        day.alias("date"),
        day.alias("value_date"),
        type_.alias("status"),
    )
    return validate(conform(frame))
