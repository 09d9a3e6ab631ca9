"""CSV reports read as text cells (shared by the CSV report formats): reading, checks, error lines.

CSV cells are read as text by polars (no type inference, so "0012" or "1e3" can never be reinterpreted);
validation is vectorised, so a million-row report costs no Python per row. Line numbers assume one
physical line per record; when a quoted cell spans lines, `physical_line` recomputes the true line for
the error only.
"""

from __future__ import annotations

import csv
import io

import polars as pl

from shared.reconciliation.frame import ReportError, exponent_expr


def read_csv(data: bytes, source: str) -> pl.DataFrame:
    if not data.strip():
        raise ReportError(source, None, None, "empty file")
    try:
        frame = pl.read_csv(data.removeprefix(b"\xef\xbb\xbf"), infer_schema=False, quote_char='"')
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ReportError(source, None, None, f"unreadable CSV: {exc}") from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(pl.all().fill_null(""))  # an empty cell is "", never a missing value
    return frame.with_row_index("_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64))


def physical_line(data: bytes, record_line: int) -> int:
    """The physical line where CSV record `record_line` (header = 1) starts, for error messages."""
    if data.count(b"\n") + 1 >= record_line and b'"' not in data:
        return record_line
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    start = 1
    for n, _ in enumerate(reader, start=1):
        if n == record_line:
            return start
        start = reader.line_num + 1
    return record_line


def require(frame: pl.DataFrame, source: str, columns: list[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ReportError(source, 1, column, "required column missing from the header")


def fail(data: bytes, source: str, problem: tuple | None) -> None:
    if problem is not None:
        line, column, message = problem
        raise ReportError(source, physical_line(data, line), column, message)


def as_date(text: pl.Expr) -> pl.Expr:
    """ISO date or date-time text → Date (the calendar date as written: the report's own time zone)."""
    return text.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def date_problem(text: pl.Expr, required: bool = True) -> pl.Expr:
    empty = text.is_null() | (text.str.strip_chars() == "")
    bad = as_date(text).is_null()
    msg = pl.format("not a date: {}", text)
    if required:
        return pl.when(empty).then(pl.lit("missing date")).when(bad).then(msg).otherwise(None)
    return pl.when(~empty & bad).then(msg).otherwise(None)


def currency_problem(currency: pl.Expr) -> pl.Expr:
    return pl.when(exponent_expr(currency).is_null()).then(pl.format("unknown ISO-4217 currency: {}", currency))


def nonempty(text: pl.Expr) -> pl.Expr:
    stripped = text.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)
