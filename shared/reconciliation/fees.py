"""Fees the partner reported and the ledger has not booked → fee bookings (pure, I/O-free).

A partner's webhooks often carry no fee (Stripe's `payment_intent.succeeded`, every Adyen
notification), so the ledger books the payment's whole amount to clearing and fee 0; the partner's
settlement report then says what it really kept. The report is the partner's own statement of what
left our balance with it, so it is what the books follow: after a run, each difference becomes one
adjusting ledger transaction between `fees:<partner>` and `partner:<partner>:clearing`, never an edit
of the payment's transaction.

Two sources, both read from a run's breaks (leg partner_ledger):
  fee_variance            a paired payment/refund/dispute whose partner fee differs from the ledger's:
                          amount = partner fee − ledger fee, correcting that ledger transaction;
  missing_in_ledger/timing of kind `fee`
                          a fee-only row (Stripe `fee` category, Adyen Fee / MiscCosts): amount = what
                          left the partner balance (−net).
amount > 0: the partner kept more (debit fees, credit clearing); < 0: it kept less (the reverse).

Identity: the booking id names what it corrects and the fee it arrives at (`fee:<ledger txn>:<partner
fee>`, `fee_row:<reference>:<net>`), so a rerun over the same report books nothing twice, and a report
that later states another fee books only the new difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

FEE_SOURCES = ("fee_variance", "missing_in_ledger", "timing")


@dataclass(frozen=True)
class FeeBooking:
    key: str  # what the booking corrects and the fee it arrives at (stable across runs)
    currency: str
    amount: int  # signed minor units: > 0 the partner kept more than the ledger had booked
    reference: str  # the partner row's reference (a fee-only row's own id)
    partner_row_ref: str
    ledger_row_ref: str | None  # the ledger transaction whose fee it corrects; None for a fee-only row
    break_id: str
    booked_on: date

    def record(self, partner: str) -> dict:
        return {
            "partner": partner,
            "key": self.key,
            "currency": self.currency,
            "amount": self.amount,
            "reference": self.reference,
            "partner_row_ref": self.partner_row_ref,
            "ledger_transaction": self.ledger_row_ref,
            "break_id": self.break_id,
            "booked_on": self.booked_on.isoformat(),
        }


def fee_bookings(breaks: pl.DataFrame, partner: pl.DataFrame) -> list[FeeBooking]:
    """The fee bookings a run's breaks (with break ids) call for; `partner` is the partner frame."""
    chosen = breaks.filter(
        (pl.col("leg") == "partner_ledger")
        & (pl.col("side") == "partner")
        & (
            (pl.col("reason") == "fee_variance")
            | (pl.col("reason").is_in(["missing_in_ledger", "timing"]) & (pl.col("kind") == "fee"))
        )
    )
    if chosen.is_empty():
        return []
    rows = chosen.join(partner.select("row_ref", "fee", "net", "reference"), on="row_ref", suffix="_p", how="left")
    out = []
    for row in rows.sort("row_ref").iter_rows(named=True):
        if row["reason"] == "fee_variance":
            amount = row["difference"]
            key = f"fee:{row['counter_row_ref']}:{row['fee']}"
            ledger_ref = row["counter_row_ref"]
        else:
            amount = -row["net"]
            key = f"fee_row:{row['reference_p'] or row['row_ref']}:{row['net']}"
            ledger_ref = None
        if amount:
            out.append(
                FeeBooking(
                    key,
                    row["currency"],
                    amount,
                    row["reference_p"] or row["reference"] or row["row_ref"],
                    row["row_ref"],
                    ledger_ref,
                    row["break_id"],
                    row["date"],
                )
            )
    return out


def fold_bookings(postings: list[dict], bookings: list[dict]) -> list[dict]:
    """Ledger postings (shared.reconciliation.ledger_side input) with recorded fee bookings applied: a
    booking that corrects a transaction adds to that transaction's fee; a fee-only booking becomes a
    ledger row of kind `fee.booked` (matched against the partner's fee row by reference)."""
    by_txn: dict[str, int] = {}
    rows = []
    for booking in bookings:
        if booking.get("ledger_transaction"):
            by_txn[booking["ledger_transaction"]] = by_txn.get(booking["ledger_transaction"], 0) + booking["amount"]
        else:
            rows.append(booking)
    folded = [
        {**p, "fee": p["fee"] + by_txn[p["transaction_id"]]} if p["transaction_id"] in by_txn else p for p in postings
    ]
    return folded + [
        {
            "transaction_id": b["transaction_id"],
            "event_id": b["transaction_id"],
            "partner": b["partner"],
            "kind": "fee.booked",
            "reference": b["reference"],
            "payment_reference": None,
            "amount": b["amount"],
            "fee": 0,
            "currency": b["currency"],
            "effective_at": b["effective_at"],
        }
        for b in rows
    ]
