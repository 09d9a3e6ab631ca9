"""Reconciliation domain (pure). Foundation: the ledger's clearing positions that partner reports
will be matched against."""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.ledger.accounts import AccountBalance


def clearing_positions(balances: Iterable[AccountBalance]) -> list[dict]:
    return sorted(
        (
            {"account": b.account, "currency": b.currency, "posted": b.posted}
            for b in balances
            if b.account.startswith("partner:") and b.account.endswith(":clearing")
        ),
        key=lambda row: (row["account"], row["currency"]),
    )
