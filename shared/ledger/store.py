"""The ledger's store port: what the ledger service needs of a store (Datastore in production,
shared.adapters.memory_store in tests), the typed records it reads back, and the record kinds that make
up the books. Adapters: shared.adapters.datastore_store.DatastoreLedger, shared.adapters.memory_store
.MemoryStore; both store the same rows and read them through one codec (shared.adapters.ledger_rows),
so they return the same records. Datetimes in records are timezone-aware (UTC).

The write path (the engine's `Tx`: get/put by kind inside one transaction) and the records the
ledger does not type yet (Outbox, Rejection, Parked, …) still go through the kind-based methods."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from shared.domain.ledger.accounts import AccountBalance
from shared.domain.ledger.engine import Tx
from shared.domain.ledger.errors import Conflict

T = TypeVar("T")

LEDGER_KINDS = (
    "Account",
    "JournalTransaction",
    "ChainHead",
    "HoldState",
    "Reversal",
    "Outbox",
    "Rejection",
    "Conflict",
)


@dataclass(frozen=True)
class StoredEntry:
    """One entry of a committed transaction, with the shard totals it left behind."""

    index: int
    account: str
    currency: str
    shard: int
    direction: str  # debit | credit
    phase: str  # posted | pending | release (of a pending amount)
    amount: int
    account_version: int  # the shard's version after this entry
    resulting: tuple[int, ...]  # the shard's totals after this entry, in TOTALS order

    def balance_after(self) -> AccountBalance:
        """The entry's shard as this entry left it."""
        return AccountBalance(self.account, self.currency, *self.resulting)


@dataclass(frozen=True)
class StoredTransaction:
    """A committed journal transaction: what the engine wrote, entries included, in ledger order."""

    id: str
    kind: str  # post | hold | capture | void | expire | reverse
    rule: str
    event_id: str | None
    partner: str | None
    effective_at: datetime
    recorded_at: datetime
    accounts: tuple[str, ...]  # every account its entries touch, sorted
    entries: tuple[StoredEntry, ...]
    body_hash: str = ""
    ledger: str | None = None
    target: str | None = None  # the hold a capture/void/expire resolves, the transaction a reversal undoes
    expires_at: datetime | None = None  # holds only
    chain_id: str | None = None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    content_hash: str | None = None  # the linked chain form (shared.domain.ledger.chain.link_hash); None: first form

    def entries_on(self, account: str) -> tuple[StoredEntry, ...]:
        """Its entries on one account, in index order."""
        return tuple(e for e in self.entries if e.account == account)


@dataclass(frozen=True)
class AccountShard:
    """One shard of an account in one currency (an unsharded account is its shard 0): running totals."""

    key: str
    account: str
    currency: str
    shard: int
    type: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int
    no_overdraft: bool | None = None  # None: the account rule's (shared.domain.ledger.accounts)
    credit_limit: int | None = None
    metadata: str = "{}"  # a JSON object, free-form
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def balance(self) -> AccountBalance:
        return AccountBalance(
            self.account,
            self.currency,
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
        )


@dataclass(frozen=True)
class HoldState:
    """What a hold's captures, voids and expiry did so far. A hold nothing resolved yet has no stored
    state: it is open, nothing captured or released (closed None)."""

    hold: str
    captured: int = 0
    released: int = 0
    closed: str | None = None  # captured | voided | expired
    last_transaction_id: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class OutboxRecord:
    """One commit's note that its transactions' entries are still to reach BigQuery (shared.ledger.outbox)."""

    id: str  # the commit's first transaction id
    transactions: tuple[str, ...]
    recorded_at: datetime | None
    quarantined: bool = False  # BigQuery refused it: later sweeps skip it, verify reports it
    error: str | None = None
    entries_streamed: bool = False  # its entries reached BigQuery, its transactions rows not yet


class LedgerStore(Protocol):
    def transact(self, work: Callable[[Tx], T]) -> T: ...
    def get(self, kind: str, name: str) -> dict | None: ...
    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]: ...
    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...
    def delete_multi(self, kind: str, names: list[str]) -> None: ...
    def query(self, kind: str, prop: str, value) -> dict[str, dict]: ...
    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]: ...

    # Typed reads of committed records.

    def transaction(self, transaction_id: str) -> StoredTransaction | None:
        """The committed transaction, or None."""
        ...

    def transactions(self, transaction_ids: Iterable[str]) -> dict[str, StoredTransaction]:
        """Those of the ids that are committed, by id (lookups, no query)."""
        ...

    def transactions_of_event(self, event_id: str) -> list[StoredTransaction]:
        """The transactions an event produced, by id."""
        ...

    def transactions_of_kind(self, kind: str) -> list[StoredTransaction]:
        """Every transaction of a kind (e.g. every hold), by id."""
        ...

    def transactions_of_account(self, account: str, since: datetime | None = None) -> Iterable[StoredTransaction]:
        """The transactions with an entry on the account. With `since`: those recorded at or after it,
        in recorded_at order (ties in any order); without: all of them, in any order."""
        ...

    def chain_head_at(self, chain_id: str, before: datetime) -> StoredTransaction | None:
        """The chain's head at an instant: its last transaction recorded before `before` (None: the chain
        was still at genesis). Recorded time rises along a chain (shared.domain.ledger.engine
        .recorded_after), so the chain's transactions recorded before it are the prefix up to this one."""
        ...

    def account_shards(self, account: str | None = None) -> list[AccountShard]:
        """Every shard of the account (of every account without one), in any order."""
        ...

    def hold_state(self, hold: str) -> HoldState:
        """The hold's state (an open, untouched one when nothing resolved it yet)."""
        ...

    def hold(self, hold: str) -> tuple[StoredTransaction, HoldState] | None:
        """The hold's transaction and its state in one read, or None when no such transaction is committed."""
        ...

    # The outbox of entries to stream (written by shared.ledger.transactions.with_outbox in the commit).

    def outbox_record(self, outbox_id: str) -> OutboxRecord | None: ...

    def outbox_records(self) -> list[OutboxRecord]:
        """Every outbox record, quarantined ones too, by id."""
        ...

    def outboxes_of(self, transaction_id: str) -> list[OutboxRecord]:
        """The outbox records that list the transaction, by id."""
        ...

    def quarantine_outbox(self, record: OutboxRecord, error: str) -> None:
        """Mark the record refused (kept, skipped by sweeps)."""
        ...

    def mark_entries_streamed(self, records: list[OutboxRecord]) -> None:
        """Note on each record that its entries are in BigQuery (its transactions rows were not sent):
        the next attempt sends only those."""
        ...

    def delete_outbox(self, outbox_ids: list[str]) -> None:
        """Forget records whose entries BigQuery accepted."""
        ...


class LedgerConflict(Conflict):
    pass


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def aware(value: datetime) -> datetime:
    """A stored datetime as a timezone-aware one: Datastore returns UTC-aware datetimes; a naive one (a
    record written by hand or by an older version) is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
