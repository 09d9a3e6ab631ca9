"""The normalised record frame every side of a reconciliation is turned into (partner report, bank
statement, ledger), and exact decimal → minor-unit conversion.

Invariants (checked by `validate`):
- `amount`, `fee`, `net` are Int64 minor units of `currency` (ISO-4217 exponent), never float;
  `net == amount - fee` on every row.
- amounts are signed from the partner balance's point of view: money coming into the partner balance
  (a captured payment, a dispute won, a failed payout returning) is positive, money leaving it (refund,
  dispute, fee, payout) is negative. Bank lines are signed from the bank account's point of view
  (credit positive); the payout ↔ bank leg negates the partner side to compare them.
- `row_ref` is unique within one frame and says where the row came from (`file:line`, or the ledger
  transaction id), so a break can always be traced back to its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from shared.domain.money import EXPONENTS, MAX_AMOUNT
from shared.reconciliation.bank_codes import LINE_CLASS_NAMES

KINDS = (
    "payment",  # money captured for a customer (gross amount, partner fee in `fee`)
    "refund",
    "dispute",  # funds withdrawn for a dispute / chargeback
    "dispute_won",  # disputed funds returned
    "fee",  # a standalone partner fee (not netted in a payment)
    "payout",  # partner → our bank
    "payout_failed",  # a payout that came back
    "other",  # a partner record type ledgerline does not post (adjustments, reserves…)
    # bank lines: their line class (shared.reconciliation.bank_codes; `fee` and `other` as above)
    *(c for c in LINE_CLASS_NAMES if c not in ("fee", "other")),
)

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),  # stripe | adyen | bank | ledger
    "row_ref": pl.String(),  # file:line, or ledger transaction id
    "kind": pl.String(),  # one of KINDS
    "reference": pl.String(),  # the object id both sides know (payment intent, refund, dispute, payout…)
    "payment_reference": pl.String(),  # the payment a refund/dispute belongs to (or another id of it)
    "payout_ref": pl.String(),  # the payout this row was settled in (a payout row: its own id)
    "amount": pl.Int64(),  # signed gross, minor units
    "fee": pl.Int64(),  # partner (or bank) fee, minor units, >= 0 for ordinary rows
    "net": pl.Int64(),  # amount - fee
    "currency": pl.String(),  # ISO-4217 upper case
    "date": pl.Date(),  # booking / creation date (ledger: effective date)
    "value_date": pl.Date(),  # when funds are available / arrive (payout: expected arrival)
    "status": pl.String(),  # source status text (informational)
}


# The columns a bank statement format fills per line (source, payout_ref and net follow from them).
BANK_LINE_SCHEMA = {
    "row_ref": pl.String,
    "kind": pl.String,
    "reference": pl.String,
    "amount": pl.Int64,
    "fee": pl.Int64,
    "currency": pl.String,
    "date": pl.Date,
    "value_date": pl.Date,
    "status": pl.String,
}


@dataclass(frozen=True)
class ReportError(ValueError):
    """A bad row in an input file: which file, which line (1-based, header = line 1), which column."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.column + ': ' if self.column else ''}{self.message}"


def empty_frame() -> pl.DataFrame:
    """A record frame without rows (a side with nothing to reconcile, e.g. no bank ledger postings)."""
    return pl.DataFrame(schema=RECORD_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Missing columns as nulls, columns in schema order and dtype."""
    exprs = [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in RECORD_SCHEMA.items()
    ]
    return frame.select(exprs)


def validate(frame: pl.DataFrame) -> pl.DataFrame:
    """Assert the frame invariants (module docstring); returns the frame."""
    assert dict(frame.schema) == RECORD_SCHEMA, f"schema drift: {dict(frame.schema)}"
    bad = frame.filter(
        (pl.col("net") != pl.col("amount") - pl.col("fee"))
        | ~pl.col("kind").is_in(KINDS)
        | ~pl.col("currency").is_in(list(EXPONENTS))
        | (pl.col("amount").abs() > MAX_AMOUNT)
    )
    assert bad.is_empty(), f"invalid rows: {bad.head(3).to_dicts()}"
    assert frame["row_ref"].n_unique() == frame.height, "row_ref must be unique within a frame"
    return frame


# A plain decimal: digits with an optional fraction ("12", "12.", "12.30"), or a fraction alone
# without a leading zero (".11", "-.5": Adyen writes fees that way).
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def exponent_expr(currency: pl.Expr) -> pl.Expr:
    return currency.replace_strict(EXPONENTS, default=None, return_dtype=pl.Int32)


def scale_expr(currency: pl.Expr) -> pl.Expr:
    """10 ** exponent as Int64 (minor units per major unit)."""
    return currency.replace_strict({c: 10**e for c, e in EXPONENTS.items()}, default=None, return_dtype=pl.Int64)


def to_minor(text: pl.Expr, currency: pl.Expr, decimal_separator: str = ".") -> tuple[pl.Expr, pl.Expr]:
    """Exact major-unit decimal strings → Int64 minor units with the currency's exponent.

    Returns (value, problem): `problem` is a non-null message for a cell that is not a plain decimal or
    has more decimals than the currency allows (never rounded). Empty cells give value null, no problem.
    Pure string arithmetic: "12.3" USD → "12" + "30" → 1230; ".11" USD → 11; no float anywhere.
    """
    raw = text.str.strip_chars()
    if decimal_separator != ".":
        raw = raw.str.replace_all(re.escape(decimal_separator), ".", literal=True)
    exp = exponent_expr(currency)
    negative = raw.str.starts_with("-")
    body = raw.str.strip_chars_start("+-")
    well_formed = raw.str.contains(_DECIMAL.pattern)
    integer = body.str.extract(r"^(\d+)", 1)
    integer = pl.when(well_formed & integer.is_null()).then(pl.lit("0")).otherwise(integer)  # ".11": 0 units
    fraction = body.str.extract(r"^\d*\.(\d*)$", 1).fill_null("")
    # Trailing zeros past the exponent do not change the value ("12.300" USD is exactly 1230 cents);
    # any other extra digit would need rounding, which money never gets.
    too_precise = fraction.str.strip_chars_end("0").str.len_chars() > exp
    padded = fraction.str.pad_end(8, "0")
    scaled = integer.cast(pl.Int64, strict=False) * scale_expr(currency) + pl.when(exp > 0).then(
        padded.str.slice(0, exp).cast(pl.Int64, strict=False)
    ).otherwise(0)
    value = pl.when(raw.is_null() | (raw == "")).then(None).otherwise(pl.when(negative).then(-scaled).otherwise(scaled))
    problem = (
        pl.when(raw.is_null() | (raw == ""))
        .then(None)
        .when(exp.is_null())
        .then(pl.lit("unknown currency"))
        .when(~well_formed)
        .then(pl.format("not a decimal amount: {}", raw))
        .when(too_precise)
        .then(pl.format("{} has more decimals than {} allows ({})", raw, currency, exp))
        .when((integer.str.len_chars() > 15) | (scaled > MAX_AMOUNT))
        .then(pl.format("amount out of range: {} (at most {} minor units)", raw, pl.lit(MAX_AMOUNT)))
        .otherwise(None)
    )
    return value.cast(pl.Int64), problem


def first_problem(frame: pl.DataFrame, checks: dict[str, pl.Expr], line_col: str = "_line") -> tuple | None:
    """(line, column, message) of the first failing cell among `checks` (column name → message-or-null
    expression), in file order; None if every cell is fine."""
    probe = frame.select(pl.col(line_col), *[expr.alias(name) for name, expr in checks.items()])
    problems = probe.unpivot(index=line_col, variable_name="column", value_name="message").drop_nulls("message")
    if problems.is_empty():
        return None
    order = {name: i for i, name in enumerate(checks)}
    first = min(problems.iter_rows(), key=lambda row: (row[0], order[row[1]]))
    return first
