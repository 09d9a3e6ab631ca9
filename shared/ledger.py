"""The double-entry ledger's domain: chart-of-accounts naming rules, posting rules, journal
transactions and the invariants an auditor checks. Pure: no I/O.

Invariants (enforced where stated, re-checked by `verify`):
  I1  every JournalTransaction nets to zero per currency (JournalTransaction.__post_init__)
  I2  every entry amount is a positive int of minor units (Entry.__post_init__)
  I3  a transaction id is derived from (partner, partner event id, rule): the same source event can
      only ever produce the same transaction (transaction_id)
  I4  an account's stored debits/credits equal the sums of its entries (audit_account)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from shared.events import CanonicalEvent
from shared.money import MAX_AMOUNT, normalise_currency

AccountType = Literal["asset", "liability", "equity", "income", "expense"]
Direction = Literal["debit", "credit"]
NORMAL_SIDE: dict[str, Direction] = {
    "asset": "debit",
    "expense": "debit",
    "liability": "credit",
    "equity": "credit",
    "income": "credit",
}

# Chart of accounts: created on demand from these naming rules (docs/ledger.md lists them).
_ID = r"[A-Za-z0-9_\-]{1,100}"
ACCOUNT_RULES: list[tuple[re.Pattern, AccountType, str]] = [
    (re.compile(rf"^partner:{_ID}:clearing$"), "asset", "money a partner holds for us, not yet paid out"),
    (re.compile(rf"^customer:{_ID}:wallet$"), "liability", "what we owe a customer"),
    (re.compile(rf"^fees:{_ID}$"), "expense", "processing fees charged by a partner"),
    (re.compile(rf"^bank:{_ID}:operating$"), "asset", "our operating account at a bank"),
    (re.compile(r"^suspense$"), "liability", "money we hold but cannot yet attribute"),
]


class UnknownAccount(ValueError):
    pass


class InvariantViolation(ValueError):
    """A ledger invariant would break: the operation is refused and nothing changes."""


def account_type(account: str) -> AccountType:
    for pattern, kind, _ in ACCOUNT_RULES:
        if pattern.match(account):
            return kind
    raise UnknownAccount(f"{account!r} matches no chart-of-accounts naming rule")


def normal_balance(kind: AccountType, debits: int, credits: int) -> int:
    """Balance expressed on the account's normal side (positive = the usual state)."""
    return debits - credits if NORMAL_SIDE[kind] == "debit" else credits - debits


@dataclass(frozen=True)
class Entry:
    entry_id: str
    transaction_id: str
    index: int
    account: str
    currency: str
    direction: Direction
    amount: int

    def __post_init__(self):
        # I2
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvariantViolation(f"I2: amount must be int minor units, got {type(self.amount).__name__}")
        if not 0 < self.amount <= MAX_AMOUNT:
            raise InvariantViolation(f"I2: entry amount out of range: {self.amount}")
        if self.direction not in ("debit", "credit"):
            raise InvariantViolation(f"bad direction {self.direction!r}")
        if self.currency != normalise_currency(self.currency):
            raise InvariantViolation(f"currency must be upper-case ISO-4217, got {self.currency!r}")
        account_type(self.account)


@dataclass(frozen=True)
class JournalTransaction:
    transaction_id: str
    rule: str
    event_id: str
    partner: str
    body_hash: str
    entries: tuple[Entry, ...]

    def __post_init__(self):
        if len(self.entries) < 2:
            raise InvariantViolation("a transaction has at least two entries")
        problems = unbalanced_currencies(self.entries)
        if problems:  # I1
            raise InvariantViolation(f"I1: transaction {self.transaction_id} does not balance: {problems}")

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self.entries})


def unbalanced_currencies(entries: Iterable[Entry]) -> dict[str, int]:
    """{currency: debits - credits} for every currency that does not net to zero."""
    net: dict[str, int] = defaultdict(int)
    for e in entries:
        net[e.currency] += e.amount if e.direction == "debit" else -e.amount
    return {cur: value for cur, value in net.items() if value != 0}


def transaction_id(partner: str, partner_event_id: str, rule: str) -> str:
    """I3: deterministic, so a redelivered event maps onto the transaction it already produced."""
    digest = hashlib.sha256(f"{partner}\x1f{partner_event_id}\x1f{rule}".encode()).hexdigest()
    return f"txn_{digest[:40]}"


def event_hash(event: CanonicalEvent) -> str:
    """Hash of what the event says about money; excludes when we happened to receive it."""
    body = event.model_dump(mode="json", exclude={"received_at"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------------------- posting rules

Leg = tuple[str, Direction, int, str]  # (account, direction, amount, currency)


def _payment_captured(event: CanonicalEvent) -> list[Leg]:
    """A captured card payment: the partner now holds the money for us (clearing, asset, debit);
    we owe it to the customer (wallet, liability, credit). No customer -> suspense."""
    owner = f"customer:{event.customer}:wallet" if event.customer else "suspense"
    return [
        (f"partner:{event.partner}:clearing", "debit", event.amount, event.currency),
        (owner, "credit", event.amount, event.currency),
    ]


POSTING_RULES: dict[str, tuple[str, Callable[[CanonicalEvent], list[Leg]]]] = {
    "payment.captured": ("payment_captured.v1", _payment_captured),
}


class NoPostingRule(ValueError):
    pass


def journal_for(event: CanonicalEvent) -> JournalTransaction:
    try:
        rule, legs_of = POSTING_RULES[event.kind]
    except KeyError:
        raise NoPostingRule(f"no posting rule for event kind {event.kind!r}") from None
    txn_id = transaction_id(event.partner, event.partner_event_id, rule)
    entries = tuple(
        Entry(f"{txn_id}:{i}", txn_id, i, account, currency, direction, amount)
        for i, (account, direction, amount, currency) in enumerate(legs_of(event))
    )
    return JournalTransaction(txn_id, rule, event.event_id, event.partner, event_hash(event), entries)


# ----------------------------------------------------------------------------- audit (pure)


@dataclass(frozen=True)
class AccountBalance:
    account: str
    currency: str
    debits_posted: int
    credits_posted: int

    @property
    def posted(self) -> int:
        return normal_balance(account_type(self.account), self.debits_posted, self.credits_posted)


def apply_entry(balance: AccountBalance, entry: Entry) -> AccountBalance:
    assert (balance.account, balance.currency) == (entry.account, entry.currency)
    if entry.direction == "debit":
        return AccountBalance(
            balance.account, balance.currency, balance.debits_posted + entry.amount, balance.credits_posted
        )
    return AccountBalance(
        balance.account, balance.currency, balance.debits_posted, balance.credits_posted + entry.amount
    )


def audit(transactions: dict[str, list[Entry]], balances: Iterable[AccountBalance]) -> list[dict]:
    """I1 + I4 over a full snapshot. Returns problems (empty when the ledger is sound)."""
    problems: list[dict] = []
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for txn_id, entries in sorted(transactions.items()):
        if len(entries) < 2:
            problems.append({"check": "transaction_entries", "transaction_id": txn_id, "entries": len(entries)})
        for cur, net in sorted(unbalanced_currencies(entries).items()):
            problems.append({"check": "transaction_balanced", "transaction_id": txn_id, "currency": cur, "net": net})
        for e in entries:
            sums[(e.account, e.currency)][0 if e.direction == "debit" else 1] += e.amount
    seen = set()
    for bal in balances:
        seen.add((bal.account, bal.currency))
        debits, credits = sums.get((bal.account, bal.currency), (0, 0))
        if (bal.debits_posted, bal.credits_posted) != (debits, credits):
            problems.append(
                {
                    "check": "account_equals_entries",
                    "account": bal.account,
                    "currency": bal.currency,
                    "stored": [bal.debits_posted, bal.credits_posted],
                    "entries": [debits, credits],
                }
            )
    for account, currency in sorted(set(sums) - seen):
        problems.append({"check": "entries_without_account", "account": account, "currency": currency})
    return problems
