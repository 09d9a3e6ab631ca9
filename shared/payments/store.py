"""The payments service's port: the typed records it reads back and the codec that lays them out in
the ledger store (shared.adapters.payout_rows implements it; Datastore and memory store the same rows).
Records are written inside the ledger's store transaction (shared.ledger.transactions.execute): reads
take anything with `get(kind, name)` (the store, or the transaction's `Tx`, so a read inside the
transaction is the one it commits against)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.payments.limits import Outflow
from shared.domain.payments.payouts import Payout

Row = tuple[str, str, dict]  # (kind, name, data): what `execute(also=...)` and `Tx.put` take


class Reader(Protocol):
    def get(self, kind: str, name: str) -> dict | None: ...


@dataclass(frozen=True)
class StoredDestination:
    """A payout's destination as stored: never the account number in clear. The masked number (••••6789),
    a keyed fingerprint (Destination.fingerprint) and `account_number_ciphertext`, the number sealed
    under the payments key (shared.payments.vault: envelope encryption, the payout id as associated
    data; docs/payments.md "Destinations"). The domain reads only `rail` of a stored payout's
    destination (the booking's clearing account)."""

    rail: str
    routing_number: str
    account_holder: str
    masked_account_number: str
    fingerprint: str
    account_number_ciphertext: str | None = None  # None only on records written before sealing


@dataclass(frozen=True)
class StoredPayout:
    """A payout record: the domain's Payout (its destination a StoredDestination) and the record's
    version, which every write increments (the optimistic check of `Payouts.apply`)."""

    payout: Payout
    version: int

    @property
    def destination(self) -> StoredDestination:
        return self.payout.destination  # type: ignore[return-value]


@dataclass(frozen=True)
class PayoutExposure:
    """What counts against a customer's payout limits in one currency (the inputs of check_limits): the
    open payout holds (payout id → amount) and the captured payouts requested in the last 24 h (payout
    id → Outflow). One record per (customer, currency), read and written in the transaction that places
    or resolves a hold, so two concurrent requests of one customer serialise on it (Datastore refuses
    the later commit of two transactions that read it and retries; the limit is checked again)."""

    customer: str
    currency: str
    holds: tuple[tuple[str, int], ...] = ()
    outflows: tuple[tuple[str, Outflow], ...] = ()

    @property
    def pending_holds(self) -> tuple[int, ...]:
        return tuple(amount for _, amount in self.holds)

    @property
    def recent_outflows(self) -> tuple[Outflow, ...]:
        return tuple(o for _, o in self.outflows)


class PayoutRecords(Protocol):
    """The codec of the payout records (shared.adapters.payout_rows)."""

    def payout(self, reader: Reader, payout_id: str) -> StoredPayout | None: ...
    def payout_row(self, stored: StoredPayout) -> Row: ...
    def payout_ids_in(self, store, status: str) -> list[str]: ...  # an equality query on the status
    def exposure(self, reader: Reader, customer: str, currency: str) -> PayoutExposure: ...
    def exposure_row(self, exposure: PayoutExposure) -> Row: ...
