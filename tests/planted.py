"""Deterministic datasets with planted breaks, for the property tests and bench/recon.py.

`dataset(n, seed)` builds a clean three-way world (partner report in Stripe's shape, the ledger that
posted it, the bank lines of its payouts) where every row agrees, then plants breaks of every reason on
disjoint rows and returns the set it planted: (leg, reason, side, reference) per expected break.
Everything is vectorised (polars), so 1,000,000 rows build in seconds.

Clean world: member rows (payments 80 %, refunds 12 %, disputes 5 %, disputes won 3 %) with unique amounts
(1000 + 100·i minor units: the planted perturbations (+3, +35) and the ledger-only rows (≡ 50 mod 100) stay
farther than any tolerance from every other row, so no two rows pair by accident), in USD / EUR / JPY; 90 % of
them are settled in payouts of 1,000 rows (explicit payout rows, amount = −Σ net), the rest not paid out yet.
Ledger refunds carry the charge as reference (Stripe intake convention) and match by payment_reference. Some
ledger rows carry another reference and match by composite or tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from shared.reconciliation.frame import conform, validate

CURRENCIES = ("USD", "EUR", "JPY")
PAYOUT_SIZE = 1000


@dataclass(frozen=True)
class Planted:
    partner: pl.DataFrame
    ledger: pl.DataFrame
    bank: pl.DataFrame
    as_of: date
    expected: frozenset[tuple[str, str, str, str]]  # (leg, reason, side, reference)
    paired_without_break: int  # rows matched by composite / tolerance on purpose


def _bd(as_of: date, back: pl.Expr) -> pl.Expr:
    return pl.lit(as_of).dt.add_business_days(-back)


def dataset(
    n: int, seed: int = 7, rate: float = 0.005, as_of: date = date(2026, 11, 20), tolerance: int = 5, plant: bool = True
) -> Planted:
    if as_of.weekday() >= 5:
        as_of -= timedelta(days=as_of.weekday() - 4)
    members = max(n - n // PAYOUT_SIZE, 50)
    i = pl.int_range(members, dtype=pl.Int64, eager=True)
    base = pl.DataFrame({"i": i})
    bucket = pl.col("i") % 100
    kind = (
        pl.when(bucket < 80)
        .then(pl.lit("payment"))
        .when(bucket < 92)
        .then(pl.lit("refund"))
        .when(bucket < 97)
        .then(pl.lit("dispute"))
        .otherwise(pl.lit("dispute_won"))
    )
    sign = pl.when(kind.is_in(["payment", "dispute_won"])).then(1).otherwise(-1)
    magnitude = 1000 + 100 * pl.col("i")
    fee = pl.when(kind == "payment").then(magnitude * 29 // 1000 + 30).otherwise(0)
    prefix = kind.replace_strict({"payment": "pi", "refund": "re", "dispute": "dp", "dispute_won": "dp"})
    settled = (pl.col("i") % PAYOUT_SIZE) < (PAYOUT_SIZE * 9 // 10)
    partner = base.select(
        pl.col("i"),
        pl.lit("stripe").alias("source"),
        pl.format("report.csv:{}", pl.col("i") + 2).alias("row_ref"),
        kind.alias("kind"),
        pl.when(kind == "dispute_won")
        .then(pl.format("dp_{}_won", pl.col("i")))
        .otherwise(pl.format("{}_{}", prefix, pl.col("i")))
        .alias("reference"),
        pl.when(kind == "payment")
        .then(pl.format("ch_{}", pl.col("i")))
        # one follow-up per payment: two refunds of one payment, one missing and one mismatched, are
        # genuinely ambiguous by payment reference (the matcher says so), not a planted break
        .otherwise(pl.format("pi_{}", pl.col("i")))
        .alias("payment_reference"),
        pl.when(settled).then(pl.format("po_{}", pl.col("i") // PAYOUT_SIZE)).alias("payout_ref"),
        (sign * magnitude).alias("amount"),
        fee.alias("fee"),
        (sign * magnitude - fee).alias("net"),
        pl.lit(list(CURRENCIES)).list.get(pl.col("i") % len(CURRENCIES)).alias("currency"),
        _bd(as_of, 5 + pl.col("i") % 15).alias("date"),
        _bd(as_of, 3 + pl.col("i") % 3).alias("value_date"),
        pl.lit("charge").alias("status"),
    )
    # Payouts are per currency in reality; here each payout_ref mixes currencies, so payouts are keyed
    # per (payout_ref, currency): reference po_<k>_<CCY>.
    partner = partner.with_columns(
        pl.when(pl.col("payout_ref").is_not_null()).then(pl.format("{}_{}", pl.col("payout_ref"), pl.col("currency")))
    )
    payouts = (
        partner.filter(pl.col("payout_ref").is_not_null())
        .group_by(["payout_ref", "currency"])
        .agg(pl.col("net").sum().alias("_sum"), pl.col("i").max())
        .sort("payout_ref")
        .select(
            (pl.col("i") + 10_000_000).alias("i"),
            pl.lit("stripe").alias("source"),
            pl.format("report.csv:payout:{}", pl.col("payout_ref")).alias("row_ref"),
            pl.lit("payout").alias("kind"),
            pl.col("payout_ref").alias("reference"),
            pl.lit(None, pl.String).alias("payment_reference"),
            pl.col("payout_ref"),
            (-pl.col("_sum")).alias("amount"),
            pl.lit(0, pl.Int64).alias("fee"),
            (-pl.col("_sum")).alias("net"),
            pl.col("currency"),
            _bd(as_of, 4 + pl.col("i") % 5).alias("date"),
            _bd(as_of, 3 + pl.col("i") % 5).alias("value_date"),
            pl.lit("payout").alias("status"),
        )
    )
    partner = pl.concat([partner, payouts])
    ledger = partner.with_columns(
        pl.lit("ledger").alias("source"),
        pl.format("txn_{}", pl.col("i")).alias("row_ref"),
        pl.when(pl.col("kind") == "refund")
        .then(pl.format("ch_{}", pl.col("i") // 7))  # the ledger knows a Stripe refund by its charge
        .otherwise(pl.col("reference"))
        .alias("reference"),
        pl.when(pl.col("kind") == "payout").then(pl.col("payout_ref")).alias("payout_ref"),
        pl.col("date").alias("value_date"),
        pl.lit("posted").alias("status"),
    )
    bank = payouts.select(
        pl.col("i"),
        pl.lit("bank").alias("source"),
        pl.format("statement.xml:{}", pl.col("i")).alias("row_ref"),
        pl.col("kind"),
        pl.col("reference"),
        pl.col("payout_ref"),
        -pl.col("amount"),
        pl.lit(0, pl.Int64).alias("fee"),
        -pl.col("amount").alias("net"),
        pl.col("currency"),
        pl.col("value_date").alias("date"),
        pl.col("value_date"),
        pl.lit("BOOK").alias("status"),
    )

    if not plant:
        return Planted(
            validate(conform(partner)), validate(conform(ledger)), validate(conform(bank)), as_of, frozenset(), 0
        )

    # ---- plant: disjoint member rows per kind of perturbation (seeded permutation)
    row_types = [
        "missing_in_ledger",
        "missing_at_partner",
        "amount_mismatch",
        "currency_mismatch",
        "fee_variance",
        "duplicate_internal",
        "duplicate_external",
        "timing",
        "composite",
        "tolerance_date",
        "tolerance_amount",
    ]
    per = max(1, round(members * rate / 9))
    order = pl.Series(range(members), dtype=pl.Int64).shuffle(seed=seed)
    unsettled = order.filter(~((order % PAYOUT_SIZE) < (PAYOUT_SIZE * 9 // 10)))
    pick: dict[str, pl.Series] = {}
    taken = unsettled
    for name in row_types:
        if name == "duplicate_external":
            continue
        pool = order.filter(~order.is_in(taken.implode()))
        if name == "fee_variance":
            pool = pool.filter(pool % 100 < 80)  # payments only (they carry fees)
        pick[name] = pool.head(per)
        taken = pl.concat([taken, pick[name]])
    pick["duplicate_external"] = unsettled.head(per)

    n_payouts = payouts.height
    per_payout = max(1, n_payouts // 20)
    payout_order = pl.Series(range(n_payouts), dtype=pl.Int64).shuffle(seed=seed + 1)
    payout_refs = payouts["reference"]
    payout_pick = {
        name: payout_refs.gather(payout_order.slice(k * per_payout, per_payout))
        for k, name in enumerate(["missing_at_bank", "bank_amount", "status_mismatch", "bank_timing"])
    }

    expected: set[tuple[str, str, str, str]] = set()

    def refs(frame: pl.DataFrame, idx: pl.Series, column: str = "reference") -> list[str]:
        return frame.filter(pl.col("i").is_in(idx.implode()))[column].to_list()

    sel = {name: pl.col("i").is_in(s.implode()) for name, s in pick.items()}
    is_member = pl.col("kind") != "payout"
    # missing_in_ledger / timing: the ledger lacks the row (timing: the partner row is recent)
    for r in refs(partner, pick["missing_in_ledger"]):
        expected.add(("partner_ledger", "missing_in_ledger", "partner", r))
    for r in refs(partner, pick["timing"]):
        expected.add(("partner_ledger", "timing", "partner", r))
    partner = partner.with_columns(
        pl.when(sel["timing"] & is_member).then(pl.lit(as_of)).otherwise(pl.col("date")).alias("date")
    )
    ledger = ledger.filter(~((sel["missing_in_ledger"] | sel["timing"]) & is_member))
    # missing_at_partner: a ledger-only row (fresh reference, amount outside the clean range)
    extra = (
        ledger.filter(sel["missing_at_partner"] & is_member)
        .with_columns(
            pl.format("pi_ghost_{}", pl.col("i")).alias("reference"),
            pl.lit(None, pl.String).alias("payment_reference"),
            pl.format("txn_ghost_{}", pl.col("i")).alias("row_ref"),
            pl.lit("payment").alias("kind"),
            (100 * (members + pl.col("i")) + 1_050).alias("amount"),
            pl.lit(0, pl.Int64).alias("fee"),
        )
        .with_columns(pl.col("amount").alias("net"))
    )
    expected |= {("partner_ledger", "missing_at_partner", "ledger", r) for r in extra["reference"]}
    ledger = pl.concat([ledger, extra])
    # amount / currency / fee differences on the ledger side (exact reference still pairs them)
    for name in ("amount_mismatch", "currency_mismatch", "fee_variance"):
        for r in refs(partner, pick[name]):
            expected.add(("partner_ledger", name, "partner", r))
    ledger = ledger.with_columns(
        pl.when(sel["amount_mismatch"] & is_member)
        .then(pl.col("amount") + 7 * tolerance)
        .otherwise(pl.col("amount"))
        .alias("amount"),
        pl.when(sel["currency_mismatch"] & is_member)
        .then(pl.when(pl.col("currency") == "USD").then(pl.lit("EUR")).otherwise(pl.lit("USD")))
        .otherwise(pl.col("currency"))
        .alias("currency"),
        pl.when(sel["fee_variance"] & is_member).then(pl.col("fee") + 1).otherwise(pl.col("fee")).alias("fee"),
    ).with_columns((pl.col("amount") - pl.col("fee")).alias("net"))
    # duplicates: a second copy of the same row on one side
    dup_l = ledger.filter(sel["duplicate_internal"] & is_member).with_columns(
        pl.format("{}_dup", pl.col("row_ref")).alias("row_ref")
    )
    dup_p = partner.filter(sel["duplicate_external"] & is_member).with_columns(
        pl.format("{}_dup", pl.col("row_ref")).alias("row_ref")
    )
    expected |= {("partner_ledger", "duplicate", "ledger", r) for r in dup_l["reference"]}
    expected |= {("partner_ledger", "duplicate", "partner", r) for r in dup_p["reference"]}
    ledger, partner = pl.concat([ledger, dup_l]), pl.concat([partner, dup_p])
    # paired on purpose without a break: composite (other reference), tolerance (date shifted one
    # business day), and tolerance with an amount within tolerance (→ amount_mismatch, paired)
    ledger = ledger.with_columns(
        pl.when((sel["composite"] | sel["tolerance_date"] | sel["tolerance_amount"]) & is_member)
        .then(pl.format("alias_{}", pl.col("i")))
        .otherwise(pl.col("reference"))
        .alias("reference"),
        pl.when((sel["composite"] | sel["tolerance_date"] | sel["tolerance_amount"]) & is_member)
        .then(None)
        .otherwise(pl.col("payment_reference"))
        .alias("payment_reference"),
        pl.when(sel["tolerance_date"] & is_member)
        .then(pl.col("date").dt.add_business_days(1))
        .otherwise(pl.col("date"))
        .alias("date"),
        pl.when(sel["tolerance_amount"] & is_member)
        .then(pl.col("amount") + tolerance // 2 + 1)
        .otherwise(pl.col("amount"))
        .alias("amount"),
    ).with_columns((pl.col("amount") - pl.col("fee")).alias("net"))
    for r in refs(partner, pick["tolerance_amount"]):
        expected.add(("partner_ledger", "amount_mismatch", "partner", r))
    paired = pick["composite"].len() + pick["tolerance_date"].len()

    # ---- payout level
    in_ = lambda name: pl.col("reference").is_in(payout_pick[name].implode())  # noqa: E731
    expected |= {("payout_bank", "missing_at_bank", "partner", r) for r in payout_pick["missing_at_bank"]}
    expected |= {("payout_bank", "timing", "partner", r) for r in payout_pick["bank_timing"]}
    expected |= {("payout_bank", "amount_mismatch", "partner", r) for r in payout_pick["bank_amount"]}
    bank = bank.filter(~in_("missing_at_bank") & ~in_("bank_timing"))
    bank = bank.with_columns(
        pl.when(in_("bank_amount")).then(pl.col("amount") - 250).otherwise(pl.col("amount")).alias("amount")
    )
    bank = bank.with_columns(pl.col("amount").alias("net"))
    partner = partner.with_columns(
        pl.when(in_("bank_timing") & (pl.col("kind") == "payout"))
        .then(pl.lit(as_of))
        .otherwise(pl.col("value_date"))
        .alias("value_date")
    )
    # status_mismatch: the payout failed at the partner (and came back at the bank); the ledger still has it paid
    failed = partner.filter(in_("status_mismatch") & (pl.col("kind") == "payout")).with_columns(
        pl.lit("payout_failed").alias("kind"),
        pl.format("{}:failed", pl.col("row_ref")).alias("row_ref"),
        -pl.col("amount"),
        -pl.col("net"),
    )
    partner = pl.concat([partner, failed])
    bank = pl.concat(
        [
            bank,
            failed.select(bank.columns).with_columns(
                pl.format("statement.xml:return:{}", pl.col("reference")).alias("row_ref"),
                -pl.col("amount"),
                -pl.col("net"),
            ),
        ]
    )
    expected |= {("partner_ledger", "status_mismatch", "partner", r) for r in failed["reference"]}
    # a bank credit no partner payout explains
    stray = (
        bank.head(per_payout)
        .with_columns(
            pl.format("statement.xml:stray:{}", pl.col("i")).alias("row_ref"),
            pl.format("unknown_{}", pl.col("i")).alias("reference"),
            (pl.col("amount") + 3).alias("amount"),
            _bd(as_of, pl.lit(8)).first().alias("date"),
            _bd(as_of, pl.lit(8)).first().alias("value_date"),
        )
        .with_columns(pl.col("amount").alias("net"))
    )
    expected |= {("payout_bank", "missing_at_partner", "bank", r) for r in stray["reference"]}
    bank = pl.concat([bank, stray])

    return Planted(
        partner=validate(conform(partner)),
        ledger=validate(conform(ledger)),
        bank=validate(conform(bank)),
        as_of=as_of,
        expected=frozenset(expected),
        paired_without_break=paired,
    )


def found(breaks: pl.DataFrame) -> frozenset[tuple[str, str, str, str]]:
    """The same shape as Planted.expected, from a run's breaks (reference, else row_ref)."""
    rows = breaks.select("leg", "reason", "side", pl.coalesce("reference", "row_ref")).iter_rows()
    return frozenset(rows)
