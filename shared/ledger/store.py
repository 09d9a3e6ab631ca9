"""The ledger's store port: what the ledger service needs of a store (Datastore in production,
shared.adapters.memory_store in tests), and the record kinds that make up the books."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

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


class LedgerStore(Protocol):
    def transact(self, work: Callable[[Tx], T]) -> T: ...
    def get(self, kind: str, name: str) -> dict | None: ...
    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]: ...
    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...
    def delete_multi(self, kind: str, names: list[str]) -> None: ...
    def query(self, kind: str, prop: str, value) -> dict[str, dict]: ...
    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]: ...


class LedgerConflict(Conflict):
    pass


def utcnow() -> datetime:
    return datetime.now(tz=UTC)
