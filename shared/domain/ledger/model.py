"""The ledger's model: legs (what an operation asks to move), entries (what a transaction records), the
balanced journal transaction, and the operation the engine applies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.domain.ledger.accounts import Direction, account_key, account_rule, shard_for
from shared.domain.ledger.errors import InvariantViolation
from shared.domain.money import MAX_AMOUNT, normalise_currency

Phase = Literal["posted", "pending", "release"]
OpKind = Literal["post", "hold", "capture", "void", "expire", "reverse"]
LEDGER = "main"


@dataclass(frozen=True)
class Leg:
    account: str
    direction: Direction
    amount: int
    currency: str
    phase: Phase = "posted"
    shard: int | None = None  # pinned for releases (the hold's shard); else chosen from the transaction id


@dataclass(frozen=True)
class Entry:
    entry_id: str
    transaction_id: str
    index: int
    account: str
    currency: str
    shard: int
    direction: Direction
    amount: int
    phase: Phase = "posted"

    def __post_init__(self):
        # I2
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvariantViolation(f"I2: amount must be int minor units, got {type(self.amount).__name__}")
        if not 0 < self.amount <= MAX_AMOUNT:
            raise InvariantViolation(f"I2: entry amount out of range: {self.amount}")
        if self.direction not in ("debit", "credit") or self.phase not in ("posted", "pending", "release"):
            raise InvariantViolation(f"bad direction/phase {self.direction!r}/{self.phase!r}")
        if self.currency != normalise_currency(self.currency):
            raise InvariantViolation(f"currency must be upper-case ISO-4217, got {self.currency!r}")
        account_rule(self.account)

    @property
    def account_key(self) -> str:
        return account_key(self.account, self.currency, self.shard)


def unbalanced(entries: Iterable) -> dict[tuple[str, str], int]:
    """{(currency, phase): debits - credits} for every pair that does not net to zero (I1)."""
    net: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        net[(e.currency, e.phase)] += e.amount if e.direction == "debit" else -e.amount
    return {key: value for key, value in net.items() if value != 0}


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
        problems = unbalanced(self.entries)
        if problems:  # I1
            raise InvariantViolation(f"I1: transaction {self.transaction_id} does not balance: {problems}")

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self.entries})


@dataclass(frozen=True)
class Operation:
    """What the ledger is asked to do. op_id is the resulting transaction id (idempotency key)."""

    op_id: str
    kind: OpKind
    rule: str
    event_id: str
    partner: str
    body_hash: str
    effective_at: datetime
    legs: tuple[Leg, ...] = ()
    target: str | None = None  # capture/void/expire: the hold; reverse: the transaction
    amount: int | None = None  # capture: amount captured
    currency: str | None = None  # capture: must match the hold's currency
    expires_at: datetime | None = None  # hold
    await_target: bool = False  # reverse: a missing target has not arrived yet (park), not an error
    enforce_constraints: bool = False
    ledger: str = LEDGER


def entries_for(txn_id: str, legs: Iterable[Leg], salt: int) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            f"{txn_id}:{i}",
            txn_id,
            i,
            leg.account,
            leg.currency,
            shard_for(leg.account, salt) if leg.shard is None else leg.shard,
            leg.direction,
            leg.amount,
            leg.phase,
        )
        for i, leg in enumerate(legs)
    )
