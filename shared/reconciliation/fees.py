"""Fees the partner reported and the ledger has not booked → fee bookings (pure, I/O-free).

A partner's webhooks often carry no fee (Stripe's `payment_intent.succeeded`, every Adyen
notification), so the ledger books the payment's whole amount to clearing and fee 0; the partner's
settlement report then says what it really kept. The report is the partner's own statement of what
left our balance with it, so it is what the books follow: after a run, each difference becomes one
adjusting ledger transaction between `fees:<partner>` and `partner:<partner>:clearing`, never an edit
of the payment's transaction.

Three sources, all read from a run's breaks (leg partner_ledger):
  fee_variance            a paired payment/refund/dispute whose partner fee differs from the ledger's:
                          amount = partner fee − ledger fee, correcting that ledger transaction;
  missing_in_ledger/timing of kind `fee`
                          a fee-only row (Stripe `fee` category, Adyen Fee / MiscCosts): amount = what
                          left the partner balance (−net);
  amount_mismatch of kind `fee`
                          a fee-only row the partner restated: the difference, correcting that booking.
amount > 0: the partner kept more (debit fees, credit clearing); < 0: it kept less (the reverse).

Identity: a correction is numbered per ledger transaction (`fee:<txn>:#<n>`, n = the bookings that
already corrected it), a fee-only row is named by what the partner wrote (`fee_row:<reference>:<date>:
<net>`). A rerun over the same report finds the books corrected and books nothing; a report that later
restates a fee, even back to an earlier value, books only the new difference, under a new id; two runs
racing compute the same id and at most one posts (the other is replayed, or refused as a conflict).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from shared.reconciliation.ledger_side import FEE_SIGNS

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


def fee_bookings(breaks: pl.DataFrame, partner: pl.DataFrame, prior: Callable[[str], int]) -> list[FeeBooking]:
    """The fee bookings a run's breaks (with break ids) call for; `partner` is the partner frame and
    `prior(transaction_id)` counts the bookings that already corrected that ledger transaction."""
    is_fee = pl.col("kind") == "fee"
    chosen = breaks.filter(
        (pl.col("leg") == "partner_ledger")
        & (pl.col("side") == "partner")
        & (
            (pl.col("reason") == "fee_variance")
            | (pl.col("reason").is_in(["missing_in_ledger", "timing"]) & is_fee)
            | ((pl.col("reason") == "amount_mismatch") & is_fee)  # a restated fee-only row
        )
    )
    if chosen.is_empty():
        return []
    rows = chosen.join(partner.select("row_ref", "fee", "net", "reference"), on="row_ref", suffix="_p", how="left")
    out = []
    for row in rows.sort("row_ref").iter_rows(named=True):
        reference = row["reference_p"] or row["reference"] or row["row_ref"]
        if row["reason"] in ("fee_variance", "amount_mismatch"):
            # A correction of a ledger transaction (a payment's fee, or an earlier fee-only booking
            # whose amount the partner restated): numbered, so a restatement back to an earlier value
            # is a new booking, never the same id with another amount.
            target = row["counter_row_ref"]
            amount = row["difference"] if row["reason"] == "fee_variance" else -row["difference"]
            key = f"fee:{target}:#{prior(target)}"
        else:
            target = None
            amount = -row["net"]
            key = f"fee_row:{reference}:{row['date']}:{row['net']}"
        if amount:
            out.append(
                FeeBooking(
                    key, row["currency"], amount, reference, row["row_ref"], target, row["break_id"], row["date"]
                )
            )
    return out


def fold_bookings(postings: list[dict], bookings: list[dict]) -> list[dict]:
    """Ledger postings (shared.reconciliation.ledger_side input) with recorded fee bookings applied: a
    fee-only booking becomes a ledger row of kind `fee.booked` (matched against the partner's fee row by
    reference); a booking that corrects a transaction adds to that transaction's fee as the frame
    shows it (a reinstatement's fee is a fee given back: FEE_SIGNS), or to a fee-only booking's amount."""
    fee_rows = {
        b["transaction_id"]: {
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
        for b in bookings
        if not b.get("ledger_transaction")
    }
    postings = [dict(p) for p in postings]
    by_id = {p["transaction_id"]: p for p in postings}
    for b in bookings:
        target = b.get("ledger_transaction")
        if target in fee_rows:
            fee_rows[target]["amount"] += b["amount"]
        elif target in by_id:
            posting = by_id[target]
            posting["fee"] += FEE_SIGNS.get(posting["kind"], 1) * b["amount"]
    return postings + list(fee_rows.values())
