"""Human-readable run report (Markdown): counts and amounts per break type and currency, oldest open
breaks, balance drift, inputs and their hashes. Amounts shown with shared.domain.money.format_minor (exact)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import polars as pl

from shared.domain.money import format_minor


def _cell(value) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: Iterable[Iterable]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(
    *,
    run_id: str,
    partner: str,
    as_of: date,
    summary: Mapping,
    breaks: pl.DataFrame,
    drift: list[dict],
    inputs: Mapping[str, str],
    oldest: int = 20,
) -> str:
    out = [f"# Reconciliation {partner} — {as_of.isoformat()}", "", f"Run `{run_id}`", ""]
    rows = summary.get("rows", {})
    out += [f"Rows: partner {rows.get('partner', 0)}, ledger {rows.get('ledger', 0)}, bank {rows.get('bank', 0)}.", ""]
    out += ["## Matches by rule", ""]
    out += _table(["leg/rule", "matches"], sorted(summary.get("matches", {}).items()))
    out += ["", "## Breaks by type and currency", ""]
    if breaks.is_empty():
        out += ["No breaks.", ""]
    else:
        magnitude = pl.coalesce(pl.col("difference"), pl.col("amount")).abs().fill_null(0)
        per = (
            breaks.group_by(["reason", "currency"])
            .agg(pl.len().alias("n"), magnitude.sum().alias("total"))
            .sort(["reason", "currency"], nulls_last=True)
        )
        out += _table(
            ["reason", "currency", "count", "amount"],
            ((r, c, n, format_minor(t, c) if c else t) for r, c, n, t in per.iter_rows()),
        )
        out += ["", f"Total open breaks: {breaks.height}", ""]
        out += ["## Severity", ""]
        sev = breaks.group_by("severity").len().sort("severity")
        out += _table(["severity", "count"], sev.iter_rows())
        out += ["", f"## Oldest open breaks (top {oldest})", ""]
        top = breaks.sort(["age_days", "break_id"], descending=[True, False]).head(oldest)
        out += _table(
            ["break", "reason", "severity", "age (bd)", "kind", "reference", "amount", "where", "why"],
            (
                (
                    r["break_id"],
                    r["reason"],
                    r["severity"],
                    r["age_days"],
                    r["kind"],
                    r["reference"],
                    format_minor(r["amount"], r["currency"]) + " " + r["currency"]
                    if r["amount"] is not None and r["currency"]
                    else "",
                    r["row_ref"],
                    r["explanation"],
                )
                for r in top.iter_rows(named=True)
            ),
        )
    out += ["", "## Balance drift (ledger clearing vs partner)", ""]
    out += _table(
        ["currency", "ledger", "partner", "drift", "ok"],
        (
            (
                d["currency"],
                format_minor(d["ledger"], d["currency"]),
                format_minor(d["partner"], d["currency"]),
                format_minor(d["drift"], d["currency"]),
                "yes" if d["ok"] else "**NO**",
            )
            for d in drift
        ),
    )
    out += ["", "## Inputs", ""]
    out += _table(["input", "sha256"], sorted(inputs.items()))
    return "\n".join(out) + "\n"
