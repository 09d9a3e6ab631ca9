"""One reconciliation run, pure: partner frame + ledger frame (+ bank frame and the ledger's postings
on the bank account) → matches, breaks with deterministic ids and severity, summary. Three ways:
partner ↔ ledger (every balance transaction, payouts included), partner payout ↔ bank line, and bank
line ↔ the ledger's own bank postings (ACH); a partner payout is also checked against the balance
transactions it settles (composition), or synthesised from them when the report has no payout row
(grouping: payout = −Σ net of its balance transactions, fees netted).

Bank lines are routed by their line class (shared.reconciliation.bank_codes):
- payout candidates (ACH, transfers, `other`) are tried against the partner's payouts first, as
  `payout` (money in) or `payout_failed` (money out) — except an ACH line whose reference is one of
  the ledger's ACH postings (and no payout's), which goes straight to bank ↔ ledger;
- what that leaves unmatched of a class with ledger kinds (ACH) goes on to the bank ↔ ledger leg,
  against the ledger's ACH postings; unmatched transfers / `other` stay on payout_bank
  (`missing_at_partner`: a payout-like line no partner reported);
- lines that can never be a payout (checks, bank fees) go straight to bank ↔ ledger, where nothing
  the ledger books explains them: `missing_in_ledger`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from shared.domain.operations.matches import LEG_SIDES
from shared.reconciliation.bank_codes import BY_NAME
from shared.reconciliation.frame import conform, empty_frame
from shared.reconciliation.matching import (
    BREAK_SCHEMA,
    MATCH_SCHEMA,
    Leg,
    ManualPair,
    MatchParams,
    break_rows,
    grade,
    reconcile_leg,
)

PARTNER_LEDGER = Leg("partner_ledger", *LEG_SIDES["partner_ledger"], "missing_in_ledger")
PAYOUT_BANK = Leg(
    "payout_bank", *LEG_SIDES["payout_bank"], "missing_at_bank", date_column="value_date", fee_check=False
)
BANK_LEDGER = Leg(
    "bank_ledger",
    *LEG_SIDES["bank_ledger"],
    "missing_at_bank",
    date_column="value_date",
    fee_check=False,
    missing_on_left="missing_in_ledger",
)
_PAYOUT_KINDS = ("payout", "payout_failed")  # a bank frame may already say so (planted data, tests)
PAYOUT_CANDIDATES = (*_PAYOUT_KINDS, *(c.name for c in BY_NAME.values() if c.payout_candidate))
TO_BANK_LEDGER = tuple(c.name for c in BY_NAME.values() if c.ledger_kinds)  # unmatched payout candidates


@dataclass(frozen=True)
class RunResult:
    run_id: str
    as_of: date
    matches: pl.DataFrame  # MATCH_SCHEMA
    breaks: pl.DataFrame  # BREAK_SCHEMA + break_id, key_id, age_days, severity
    summary: dict


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame_digest(frame: pl.DataFrame) -> str:
    """Content hash of a record frame, independent of row order (sorted by row_ref, written as CSV)."""
    return digest(frame.sort("row_ref").write_csv().encode())


def run_identity(
    partner: str,
    as_of: date,
    input_digests: Mapping[str, str],
    ledger_digest: str,
    params: MatchParams,
    manual: tuple[ManualPair, ...] = (),
) -> str:
    """Same inputs, same parameters, same manual matches → same run id (reruns are idempotent upserts);
    a manual match made or undone makes the next run a new one."""
    body = {
        "partner": partner,
        "as_of": as_of.isoformat(),
        "inputs": dict(sorted(input_digests.items())),
        "ledger": ledger_digest,
        "params": params.fingerprint(),
    }
    if manual:  # absent when there are none: every run id from before manual matches stays the same
        body["manual"] = sorted([m.match_id, m.leg, m.left, m.right] for m in manual)
    canonical = json.dumps(
        body,
        sort_keys=True,
        separators=(",", ":"),
    )
    return "run_" + digest(canonical.encode())[:24]


def payouts_with_composition(
    partner: pl.DataFrame, leg_name: str = "payout_composition"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(partner frame + synthesised payout rows, composition breaks).

    Members = non-payout rows with a payout_ref, per currency. A (payout_ref, currency) without an
    explicit payout row becomes one (row_ref "grouping:<payout_ref>", amount = −Σ net). An explicit
    payout whose amount is not −Σ net of its members is an `amount_mismatch` on leg payout_composition."""
    members = partner.filter(pl.col("payout_ref").is_not_null() & ~pl.col("kind").is_in(["payout", "payout_failed"]))
    if members.is_empty():
        return partner, pl.DataFrame(schema=BREAK_SCHEMA)
    sums = members.group_by(["payout_ref", "currency"]).agg(
        pl.col("net").sum().alias("_sum"),
        pl.len().alias("_n"),
        pl.col("value_date").max(),
        pl.col("source").first(),
    )
    explicit = partner.filter(pl.col("kind") == "payout")
    synthesised = sums.join(
        explicit, left_on=["payout_ref", "currency"], right_on=["reference", "currency"], how="anti"
    ).select(
        pl.col("source"),
        pl.format("grouping:{}", pl.col("payout_ref")).alias("row_ref"),
        pl.lit("payout").alias("kind"),
        pl.col("payout_ref").alias("reference"),
        pl.col("payout_ref"),
        (-pl.col("_sum")).alias("amount"),
        pl.lit(0, pl.Int64).alias("fee"),
        (-pl.col("_sum")).alias("net"),
        pl.col("currency"),
        pl.col("value_date").alias("date"),
        pl.col("value_date"),
        pl.format("grouped from {} balance transactions", pl.col("_n")).alias("status"),
    )
    checked = explicit.join(
        sums.drop("value_date", "source"), left_on=["reference", "currency"], right_on=["payout_ref", "currency"]
    )
    bad = checked.filter(pl.col("amount") != -pl.col("_sum"))
    breaks = break_rows(
        bad,
        leg=leg_name,
        reason="amount_mismatch",
        detail="payout vs its balance transactions",
        side="partner",
        counter_amount=-pl.col("_sum"),
        difference=pl.col("amount") + pl.col("_sum"),
        rule="grouping",
        explanation=pl.format(
            "payout {} is {} but its {} balance transactions net to {} (minor units)",
            pl.col("reference"),
            pl.col("amount"),
            pl.col("_n"),
            pl.col("_sum"),
        ),
    )
    return pl.concat([partner, conform(synthesised)]), breaks


def with_ids(breaks: pl.DataFrame) -> pl.DataFrame:
    """break_id = hash(leg, reason, side, kind, reference or row_ref, currency): the same discrepancy gets
    the same id in every run (file line numbers and amounts are not part of it, so a carried-forward
    break keeps its id while its amount is updated). key_id omits the reason, so a break that changes
    reason (timing → missing_in_ledger) is recognised as superseded."""
    cols = ["leg", "side", "kind", "reference", "currency", "row_ref"]
    rows = breaks.select([*cols, "reason"]).iter_rows()
    ids, keys = [], []
    for leg, side, kind, reference, currency, row_ref, reason in rows:
        ident = reference if reference is not None else row_ref
        key = "|".join(str(v) for v in (leg, side, kind, ident, currency))
        keys.append("key_" + digest(key.encode())[:20])
        ids.append("brk_" + digest(f"{reason}|{key}".encode())[:20])
    return breaks.with_columns(pl.Series("break_id", ids, pl.String), pl.Series("key_id", keys, pl.String))


def reconcile(
    partner: pl.DataFrame,
    ledger: pl.DataFrame,
    bank: pl.DataFrame | None,
    *,
    as_of: date,
    params: MatchParams | None = None,
    run_id: str = "",
    bank_ledger: pl.DataFrame | None = None,
    manual: tuple[ManualPair, ...] = (),
) -> RunResult:
    """The whole pure run. Frames cover the run's window (with its look-back); as_of = window end.
    `bank_ledger`: the ledger's postings on the bank account (ledger_side.bank_ledger_frame), used with
    `bank`; None = the ledger has none. `manual`: operators' manual matches (matching stage m)."""
    params = params or MatchParams()
    partner_all, composition = payouts_with_composition(partner)
    matches_a, breaks_a = reconcile_leg(partner_all, ledger, PARTNER_LEDGER, as_of, params, manual)
    parts_m, parts_b = [matches_a], [composition, breaks_a]
    if bank is not None:
        matches_b, breaks_b = reconcile_bank(partner_all, bank, bank_ledger, as_of, params, manual)
        parts_m.append(matches_b)
        parts_b.append(breaks_b)
    matches = pl.concat(parts_m).cast(MATCH_SCHEMA)
    breaks = pl.concat(parts_b).cast(BREAK_SCHEMA)
    breaks = grade(with_ids(breaks), as_of, params).sort(["leg", "reason", "break_id"])
    summary = summarise(matches, breaks, partner.height, ledger.height, bank, bank_ledger)
    return RunResult(run_id, as_of, matches, breaks, summary)


def reconcile_bank(
    partner_all: pl.DataFrame,
    bank: pl.DataFrame,
    bank_ledger: pl.DataFrame | None,
    as_of: date,
    params: MatchParams,
    manual: tuple[ManualPair, ...] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The bank's two legs (module docstring): payout ↔ bank, then bank ↔ ledger for the rest."""
    payouts = partner_all.filter(pl.col("kind").is_in(_PAYOUT_KINDS)).with_columns(
        -pl.col("amount"), -pl.col("fee"), -pl.col("net")
    )
    ledger_side = bank_ledger if bank_ledger is not None else empty_frame()
    # a line whose reference is one of the ledger's ACH postings (and no payout's) is that posting's:
    # it skips the payout leg, where a payout of the same amount and day could otherwise take it
    claimed = (
        pl.col("kind").is_in(TO_BANK_LEDGER)
        & pl.col("reference").is_in(ledger_side["reference"].drop_nulls().implode())
        & ~pl.col("reference").is_in(payouts["reference"].drop_nulls().implode())
    )
    candidate = pl.col("kind").is_in(PAYOUT_CANDIDATES) & ~claimed.fill_null(False)
    as_payout = pl.when(pl.col("amount") >= 0).then(pl.lit("payout")).otherwise(pl.lit("payout_failed"))
    lines = bank.filter(candidate).with_columns(as_payout.alias("kind"))
    matches_p, breaks_p = reconcile_leg(payouts, lines, PAYOUT_BANK, as_of, params, manual)
    onward = bank.filter(candidate & pl.col("kind").is_in(TO_BANK_LEDGER))["row_ref"].implode()
    moved = (pl.col("side") == "bank") & (pl.col("rule") == "unmatched") & pl.col("row_ref").is_in(onward)
    moved_refs = breaks_p.filter(moved)["row_ref"].implode()
    rest = bank.filter(~candidate | pl.col("row_ref").is_in(moved_refs))
    matches_l, breaks_l = reconcile_leg(ledger_side, rest, BANK_LEDGER, as_of, params, manual)
    return pl.concat([matches_p, matches_l]), pl.concat([breaks_p.filter(~moved), breaks_l])


def summarise(
    matches: pl.DataFrame, breaks: pl.DataFrame, partner_rows: int, ledger_rows: int, bank, bank_ledger=None
) -> dict:
    by_rule = matches.group_by(["leg", "rule"]).len().sort(["leg", "rule"])
    by_reason = breaks.group_by("reason").len().sort("reason")
    rows = {"partner": partner_rows, "ledger": ledger_rows, "bank": 0 if bank is None else bank.height}
    if bank_ledger is not None:
        rows["bank_ledger"] = bank_ledger.height
    return {
        "rows": rows,
        "matches": {f"{leg}/{rule}": n for leg, rule, n in by_rule.iter_rows()},
        "breaks": {reason: n for reason, n in by_reason.iter_rows()},
        "open_breaks": breaks.height,
    }


def partner_balance(frame: pl.DataFrame, opening: Mapping[str, int] | None = None) -> dict[str, int]:
    """Partner balance per currency = opening + Σ net of the report's rows (payouts negative)."""
    totals = dict(opening or {})
    for currency, net in frame.group_by("currency").agg(pl.col("net").sum()).iter_rows():
        totals[currency] = totals.get(currency, 0) + net
    return totals


def balance_drift(ledger: Mapping[str, int], partner: Mapping[str, int], tolerance: int = 0) -> list[dict]:
    """Per currency: ledger clearing balance vs partner balance (drift = ledger − partner, minor units)."""
    rows = []
    for currency in sorted(set(ledger) | set(partner)):
        drift = ledger.get(currency, 0) - partner.get(currency, 0)
        rows.append(
            {
                "currency": currency,
                "ledger": ledger.get(currency, 0),
                "partner": partner.get(currency, 0),
                "drift": drift,
                "ok": abs(drift) <= tolerance,
            }
        )
    return rows
