"""The chart of accounts (created on demand from naming rules), hot-account shards, and account balances.

Hot accounts: system accounts (clearing, fees, bank, suspense, fx) are split into SHARDS entities; a
transaction touches one shard chosen from its id, so concurrent postings do not serialise on one
entity (production Firestore sustains about 1 write/s per entity). Customer wallets carry constraints
and stay one exact entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shared.domain.ledger.errors import UnknownAccount
from shared.domain.ledger.ids import digest

AccountType = Literal["asset", "liability", "equity", "income", "expense"]
Direction = Literal["debit", "credit"]
NORMAL_SIDE: dict[str, Direction] = {
    "asset": "debit",
    "expense": "debit",
    "liability": "credit",
    "equity": "credit",
    "income": "credit",
}
SHARDS = 32


@dataclass(frozen=True)
class AccountRule:
    pattern: re.Pattern
    type: AccountType
    sharded: bool
    no_overdraft: bool
    meaning: str


_ID = r"[A-Za-z0-9_\-]{1,100}"
ACCOUNT_RULES: list[AccountRule] = [
    AccountRule(
        re.compile(rf"^partner:{_ID}:clearing$"), "asset", True, False, "money a partner holds for us, not yet paid out"
    ),
    AccountRule(re.compile(rf"^customer:{_ID}:wallet$"), "liability", False, True, "what we owe a customer"),
    AccountRule(re.compile(rf"^fees:{_ID}$"), "expense", True, False, "processing fees charged by a partner"),
    AccountRule(re.compile(rf"^bank:{_ID}:operating$"), "asset", True, False, "our operating account at a bank"),
    AccountRule(re.compile(r"^suspense$"), "liability", True, False, "money we hold but cannot yet attribute"),
    AccountRule(re.compile(rf"^fx:{_ID}$"), "equity", True, False, "currency conversion position"),
    AccountRule(
        re.compile(rf"^write_off:{_ID}$"),
        "expense",
        True,
        False,
        "reconciliation differences written off, approved (a debit: a loss; a credit: a gain)",
    ),
]


def account_rule(account: str) -> AccountRule:
    for rule in ACCOUNT_RULES:
        if rule.pattern.match(account):
            return rule
    raise UnknownAccount(f"{account!r} matches no chart-of-accounts naming rule")


def account_type(account: str) -> AccountType:
    return account_rule(account).type


def normal_balance(kind: AccountType, debits: int, credits: int) -> int:
    """Balance expressed on the account's normal side (positive = the usual state)."""
    return debits - credits if NORMAL_SIDE[kind] == "debit" else credits - debits


def shard_for(account: str, salt: int) -> int:
    """Which entity of a sharded account a write goes to. The salt is the writer's affinity (see
    shared.ledger.posting): concurrent writers keep to different shards, and re-pick after contention. Any
    shard is correct: balances sum all shards, and a replay returns the stored entries."""
    return (salt + int(digest(account)[:8], 16)) % SHARDS if account_rule(account).sharded else 0


def account_key(account: str, currency: str, shard: int) -> str:
    return f"{account}|{currency}|{shard}"


# ----------------------------------------------------------------------------- account state

TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


@dataclass(frozen=True)
class AccountBalance:
    """One account in one currency (all shards summed, or one shard)."""

    account: str
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def posted(self) -> int:
        return normal_balance(account_type(self.account), self.debits_posted, self.credits_posted)

    @property
    def pending_out(self) -> int:
        """Pending amounts against the normal side (they will reduce the balance)."""
        normal = NORMAL_SIDE[account_type(self.account)]
        return self.credits_pending if normal == "debit" else self.debits_pending

    @property
    def pending_in(self) -> int:
        normal = NORMAL_SIDE[account_type(self.account)]
        return self.debits_pending if normal == "debit" else self.credits_pending

    @property
    def available(self) -> int:
        """Posted minus what pending holds may still take; pending incoming money is not available."""
        return self.posted - self.pending_out


def sum_balances(balances: Iterable[AccountBalance]) -> dict[tuple[str, str], AccountBalance]:
    out: dict[tuple[str, str], AccountBalance] = {}
    for b in balances:
        key = (b.account, b.currency)
        prev = out.get(key)
        out[key] = (
            b
            if prev is None
            else AccountBalance(b.account, b.currency, *(getattr(prev, t) + getattr(b, t) for t in TOTALS))
        )
    return out
