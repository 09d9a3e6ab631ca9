"""Manual matches (pure): an operator's pairing of two rows of a reconciliation leg that the cascade
did not pair, and the sides of each leg (the one table run.py's legs are built from)."""

from __future__ import annotations

from dataclasses import dataclass

# leg -> (left side, right side); each side's rows are keyed for a manual match by `side_key`
LEG_SIDES: dict[str, tuple[str, str]] = {
    "partner_ledger": ("partner", "ledger"),
    "payout_bank": ("partner", "bank"),
    "bank_ledger": ("ledger", "bank"),
}


@dataclass(frozen=True)
class ManualPair:
    """Each side's key is the row's transaction id on the ledger side, its reference on a partner's or
    bank's side."""

    match_id: str
    leg: str
    left: str
    right: str


def side_key(side: str) -> str:
    return "row_ref" if side == "ledger" else "reference"
