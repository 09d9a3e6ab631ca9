"""The ledger side of a reconciliation: posted ledger facts → the normalised record frame.

Input: an iterable of plain dicts, one per posted JournalTransaction that came from a partner event
(the adapter reads them from Datastore or BigQuery; see docs/reconciliation.md for the fields):

    transaction_id     str   JournalTransaction id (unique; becomes row_ref)
    event_id           str   "<partner>:<partner event id>"
    partner            str   "stripe" | "adyen" | …
    kind               str   canonical event kind (shared.domain.events.EventKind)
    reference          str   CanonicalEvent.reference
    payment_reference  str | None
    amount             int   minor units, >= 0 (CanonicalEvent.amount)
    fee                int   minor units, >= 0
    currency           str   ISO-4217
    effective_at       datetime (aware) — the event's occurred_at
    payout_ref         str | None (optional: the payout a transaction was settled in, if known)

Kinds with no money at the partner (holds, voids) and bank-only kinds (ACH) are left out; so is
`dispute.lost`, whose money already left at `dispute.opened`. Signs follow frame.RECORD_SCHEMA
(partner balance's point of view).

The bank side of the ledger (`bank_ledger_frame`): the same dicts for the transactions that moved a
`bank:<bank>:operating` account without a partner payout behind them, i.e. the ACH kinds. Their kind
becomes the bank line class that reconciles them (Kind.bank, shared.domain.kinds) and their sign is the
bank account's (money in +), like the bank statement's lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date

import polars as pl

from shared.domain.kinds import KINDS
from shared.reconciliation.frame import RECORD_SCHEMA, conform, validate

# canonical kind → (recon kind, sign of amount), from the event-kind registry (Kind.recon); plus the fee
# bookings of reconciliation runs (fees.py), which are no event kind
LEDGER_KINDS: dict[str, tuple[str, int]] = {
    **{k.name: (k.recon.kind, k.recon.sign) for k in KINDS if k.recon},
    "fee.booked": ("fee", -1),
}
# The frame's fee is what the partner kept (net = amount - fee = the clearing movement): a reinstated
# dispute's refunded fee is a fee given back, as Stripe's report writes it (fee -15.00, net = A + F).
FEE_SIGNS: dict[str, int] = {k.name: k.recon.fee_sign for k in KINDS if k.recon and k.recon.fee_sign != 1}
# ACH kind -> (bank line class, sign on the bank account: + money in), from the registry (Kind.bank)
BANK_LEDGER_KINDS: dict[str, tuple[str, int]] = {k.name: (k.bank.line_class, k.bank.sign) for k in KINDS if k.bank}
_PAYOUT_KINDS = [k for k, (recon, _) in LEDGER_KINDS.items() if recon in ("payout", "payout_failed")]  # ref = payout
LEDGER_FIELDS = (
    "transaction_id",
    "event_id",
    "partner",
    "kind",
    "reference",
    "payment_reference",
    "amount",
    "fee",
    "currency",
    "effective_at",
)


def bank_ledger_frame(postings: Iterable[Mapping]) -> pl.DataFrame:
    """The ledger's ACH postings on bank accounts (dicts above, any partner) → validated record frame."""
    return ledger_frame(postings, kinds=BANK_LEDGER_KINDS)


def ledger_frame(
    postings: Iterable[Mapping], partner: str | None = None, kinds: Mapping[str, tuple[str, int]] = LEDGER_KINDS
) -> pl.DataFrame:
    """Ledger postings (dicts above) → validated record frame (source "ledger"), for one partner if given."""
    columns: dict[str, list] = {name: [] for name in (*LEDGER_FIELDS, "payout_ref")}
    for posting in postings:
        if partner is not None and posting["partner"] != partner:
            continue
        if posting["kind"] not in kinds:
            continue
        effective = posting["effective_at"]
        if effective.tzinfo is None:
            raise ValueError(f"{posting['transaction_id']}: effective_at must be timezone-aware")
        for name in LEDGER_FIELDS:
            columns[name].append(posting.get(name))
        columns["effective_at"][-1] = effective.astimezone(UTC).date()
        columns["payout_ref"].append(posting.get("payout_ref"))
    raw = pl.DataFrame(
        columns,
        schema={
            "transaction_id": pl.String,
            "event_id": pl.String,
            "partner": pl.String,
            "kind": pl.String,
            "reference": pl.String,
            "payment_reference": pl.String,
            "amount": pl.Int64,
            "fee": pl.Int64,
            "currency": pl.String,
            "effective_at": pl.Date,
            "payout_ref": pl.String,
        },
    )
    return from_ledger_columns(raw, kinds)


def from_ledger_columns(raw: pl.DataFrame, kinds: Mapping[str, tuple[str, int]] = LEDGER_KINDS) -> pl.DataFrame:
    """The same mapping for a columnar source (a BigQuery result as Arrow/polars with LEDGER_FIELDS,
    `effective_at` as a Date or Datetime), without going through Python dicts."""
    if raw.schema["effective_at"] != pl.Date:
        raw = raw.with_columns(pl.col("effective_at").dt.convert_time_zone("UTC").dt.date())
    mapping = {k: v[0] for k, v in kinds.items()}
    signs = {k: v[1] for k, v in kinds.items()}
    raw = raw.filter(pl.col("kind").is_in(list(kinds)))
    sign = pl.col("kind").replace_strict(signs, return_dtype=pl.Int64)
    fee_sign = pl.col("kind").replace_strict(FEE_SIGNS, default=1, return_dtype=pl.Int64)
    fee = fee_sign * pl.col("fee").fill_null(0)
    amount = sign * pl.col("amount")
    frame = raw.select(
        pl.lit("ledger").alias("source"),
        pl.col("transaction_id").alias("row_ref"),
        pl.col("kind").replace_strict(mapping, return_dtype=pl.String).alias("kind"),
        pl.col("reference"),
        pl.col("payment_reference"),
        pl.when(pl.col("kind").is_in(_PAYOUT_KINDS))
        .then(pl.coalesce(pl.col("payout_ref"), pl.col("reference")))
        .otherwise(pl.col("payout_ref"))
        .alias("payout_ref"),
        amount.alias("amount"),
        fee.alias("fee"),
        (amount - fee).alias("net"),
        pl.col("currency").str.to_uppercase(),
        pl.col("effective_at").alias("date"),
        pl.col("effective_at").alias("value_date"),
        pl.lit("posted").alias("status"),
    )
    return validate(conform(frame))


def apply_corrections(frame: pl.DataFrame, corrections: Iterable[Mapping], window: tuple | None = None) -> pl.DataFrame:
    """The ledger frame with the write-offs' corrections applied (shared.domain.operations.adjustments:
    each is `adjust` a row's amount / fee, `drop` a row, or `add` a row like the partner's, named by
    the write-off's transaction id): what the ledger now says about those rows. An `add` outside
    `window` (first, last day) is left out, like any row of another day."""
    corrections = list(corrections)
    if not corrections:
        return frame
    deltas: dict[str, list[int]] = {}
    dropped, added = set(), []
    for c in corrections:
        if c["op"] == "adjust":
            d = deltas.setdefault(c["target"], [0, 0])
            d[0] += c.get("amount") or 0
            d[1] += c.get("fee") or 0
        elif c["op"] == "drop":
            dropped.add(c["target"])
        else:
            day = c["date"] if isinstance(c["date"], date) else date.fromisoformat(str(c["date"]))
            if window is None or window[0] <= day <= window[1]:
                added.append({**c, "date": day})
    if deltas:
        targets = pl.DataFrame(
            {"row_ref": list(deltas), "_da": [d[0] for d in deltas.values()], "_df": [d[1] for d in deltas.values()]},
            schema={"row_ref": pl.String, "_da": pl.Int64, "_df": pl.Int64},
        )
        frame = frame.join(targets, on="row_ref", how="left").with_columns(
            (pl.col("amount") + pl.col("_da").fill_null(0)).alias("amount"),
            (pl.col("fee") + pl.col("_df").fill_null(0)).alias("fee"),
        )
        frame = frame.with_columns((pl.col("amount") - pl.col("fee")).alias("net")).drop("_da", "_df")
    if dropped:
        frame = frame.filter(~pl.col("row_ref").is_in(sorted(dropped)))
    if added:
        rows = pl.DataFrame(
            {
                "source": ["ledger"] * len(added),
                "row_ref": [c["transaction_id"] for c in added],
                "kind": [c["kind"] for c in added],
                "reference": [c["reference"] for c in added],
                "amount": [c["amount"] for c in added],
                "fee": [c["fee"] for c in added],
                "net": [c["amount"] - c["fee"] for c in added],
                "currency": [c["currency"] for c in added],
                "date": [c["date"] for c in added],
                "value_date": [c["date"] for c in added],
                "status": ["written off"] * len(added),
            }
        )
        frame = pl.concat([frame, conform(rows)])
    return conform(frame)


__all__ = [
    "BANK_LEDGER_KINDS",
    "LEDGER_FIELDS",
    "LEDGER_KINDS",
    "RECORD_SCHEMA",
    "apply_corrections",
    "bank_ledger_frame",
    "from_ledger_columns",
    "ledger_frame",
]
