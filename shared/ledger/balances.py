"""Balances read from the store: every shard of an account summed; posted, pending, available; as of
any instant on either clock."""

from __future__ import annotations

from datetime import datetime

from shared.domain.ledger.accounts import TOTALS, AccountBalance, account_rule, sum_balances
from shared.ledger.store import LedgerStore, StoredEntry

# ----------------------------------------------------------------------------- balances


def all_balances(store: LedgerStore) -> list[AccountBalance]:
    shards = store.account_shards()
    return sorted(sum_balances(s.balance() for s in shards).values(), key=lambda b: (b.account, b.currency))


def balances(store: LedgerStore, account: str) -> dict[str, AccountBalance]:
    account_rule(account)
    shards = store.account_shards(account)
    return {b.currency: b for b in sum_balances(s.balance() for s in shards).values()}


def balance_as_of(store: LedgerStore, account: str, at: datetime, clock: str = "recorded") -> dict[str, AccountBalance]:
    """Balances as they stood at `at`: by the recorded clock (what the ledger knew then: each shard's
    latest entry at or before `at` carries its resulting totals) or the effective clock (sum of entries
    whose effective time is at or before `at`, whenever they were recorded)."""
    if clock not in ("recorded", "effective"):
        raise ValueError("clock is 'recorded' or 'effective'")
    entries = [(t, e) for t in store.transactions_of_account(account) for e in t.entries_on(account)]
    if clock == "effective":
        out: dict[str, dict[str, int]] = {}
        for t, e in entries:
            if t.effective_at <= at:
                totals = out.setdefault(e.currency, dict.fromkeys(TOTALS, 0))
                side = "debits" if e.direction == "debit" else "credits"
                bucket = f"{side}_posted" if e.phase == "posted" else f"{side}_pending"
                totals[bucket] += -e.amount if e.phase == "release" else e.amount
        return {cur: AccountBalance(account, cur, *(t[k] for k in TOTALS)) for cur, t in out.items()}
    latest: dict[tuple[str, int], StoredEntry] = {}
    for t, e in entries:
        key = (e.currency, e.shard)
        if t.recorded_at <= at and (key not in latest or e.account_version > latest[key].account_version):
            latest[key] = e
    return {b.currency: b for b in sum_balances(e.balance_after() for e in latest.values()).values()}
