"""The report and statement formats reconciliation reads: one module per format, each listed once in FORMATS.

Every parser takes the file's bytes and a source name (the GCS object or local path, used in row references
and error messages) and returns a validated record frame (shared.reconciliation.frame), or raises ReportError
naming the file, the line (1-based; the CSV header is line 1) and the column of the first bad cell. Amounts in
the files are decimal strings in major units (BAI2: integers in minor units); they become integer minor units
exactly (frame.to_minor), and a value with more significant decimals than the currency's exponent is an error,
never rounded.

A partner names the format of its settlement report (shared.partners.base.Partner.REPORT_FORMAT); a bank
statement's format is chosen by its file name (`statement_format`). `csv_cells` is what the CSV formats share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from shared.reconciliation.formats import adyen_report, bai2, camt053, stripe_report


@dataclass(frozen=True)
class ReportFormat:
    """A file format: its name (what a partner's REPORT_FORMAT says), its title in messages, its parser and,
    for a bank statement, the file name endings that select it."""

    name: str
    title: str
    parse: Callable[[bytes, str], pl.DataFrame]
    statement_suffixes: tuple[str, ...] = ()


FORMATS: dict[str, ReportFormat] = {
    f.name: f
    for f in (
        ReportFormat("stripe_report", "Stripe itemized balance report", stripe_report.parse_stripe),
        ReportFormat("adyen_report", "Adyen settlement details report", adyen_report.parse_adyen),
        ReportFormat("camt053", "camt.053", camt053.parse_camt053, statement_suffixes=(".xml",)),
        ReportFormat("bai2", "BAI2", bai2.parse_bai2, statement_suffixes=(".bai", ".bai2", ".txt")),
    )
}


def statement_format(name: str) -> ReportFormat:
    """The bank statement format of a file, by its name's ending (ValueError for any other file)."""
    statements = [f for f in FORMATS.values() if f.statement_suffixes]
    for f in statements:
        if name.lower().endswith(f.statement_suffixes):
            return f
    known = " or ".join(f"{f.title} ({', '.join(f.statement_suffixes)})" for f in statements)
    raise ValueError(f"{name}: bank statements are {known}")
