"""The payments service's port: the typed records it reads back and the codec that lays them out in
the ledger store (shared.adapters.payout_rows implements it; Datastore and memory store the same rows).
Records are written inside the ledger's store transaction (shared.ledger.transactions.execute): reads
take anything with `get(kind, name)` (the store, or the transaction's `Tx`, so a read inside the
transaction is the one it commits against)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.payments.limits import Outflow, PayoutLimits
from shared.domain.payments.payins import Payment, Refund
from shared.domain.payments.payouts import Payout

Row = tuple[str, str, dict]  # (kind, name, data): what `execute(also=...)` and `Tx.put` take


class Reader(Protocol):
    def get(self, kind: str, name: str) -> dict | None: ...


class OneRow:
    """One row a listing already read, as a Reader (the codecs decode rows through `get`)."""

    def __init__(self, name: str, row: dict):
        self.name, self.row = name, row

    def get(self, kind: str, name: str) -> dict | None:
        return self.row if name == self.name else None


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
    version, which every write increments (the optimistic check of `Payouts.apply`). `request_digest`:
    a hash of what the request asked (shared.payments.service.payout_digest; no account number in
    clear), so the same Idempotency-Key with other parameters is refused instead of answered with the
    first payout; `description` and `metadata` are the customer's, carried and shown, never used."""

    payout: Payout
    version: int
    request_digest: str | None = None  # None only on records written before the digest
    description: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

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


@dataclass(frozen=True)
class LimitChange:
    """One change of a customer's payout limits: when, who (an operator's API key id or the CLI's
    user), the values before (None: the customer had none of its own: the defaults applied) and after."""

    at: datetime
    actor: str
    old: tuple[int, int] | None  # (max_single, daily_outflow)
    new: tuple[int, int]


@dataclass(frozen=True)
class StoredLimits:
    """A customer's own payout limits in one currency (kind PayoutLimits), with the record's version and
    its audit trail: every change, newest last (at most HISTORY_KEPT; the operations issue's audit log
    will take over)."""

    limits: PayoutLimits
    version: int
    updated_at: datetime
    updated_by: str
    history: tuple[LimitChange, ...] = ()


@dataclass(frozen=True)
class RefundLine:
    """A refund as its payment's record counts it (the over-refund check reads only this record)."""

    refund_id: str
    amount: int
    status: str
    requested_at: datetime


@dataclass(frozen=True)
class StoredPayment:
    """A pay-in record: the domain's Payment, the record's version, the request digest (customer,
    amount, currency, payment method) and its refunds, summarised on the record itself so that a
    refund's check ("no more than what is left") and the new refund are one transaction on it."""

    payment: Payment
    version: int
    request_digest: str
    refunds: tuple[RefundLine, ...] = ()


@dataclass(frozen=True)
class StoredRefund:
    """A refund record: the domain's Refund (its payment as of the refund's request), version, digest."""

    refund: Refund
    version: int
    request_digest: str


class PayoutRecords(Protocol):
    """The codec of the payout records (shared.adapters.payout_rows)."""

    def payout(self, reader: Reader, payout_id: str) -> StoredPayout | None: ...
    def payout_row(self, stored: StoredPayout) -> Row: ...
    def payout_ids_in(self, store, status: str) -> list[str]: ...  # an equality query on the status
    def exposure(self, reader: Reader, customer: str, currency: str) -> PayoutExposure: ...
    def exposure_row(self, exposure: PayoutExposure) -> Row: ...
    def limits(self, reader: Reader, customer: str, currency: str) -> StoredLimits | None: ...
    def limits_row(self, stored: StoredLimits) -> Row: ...


class PaymentRecords(Protocol):
    """The codec of the pay-in and refund records (shared.adapters.payment_rows)."""

    def payment(self, reader: Reader, payment_id: str) -> StoredPayment | None: ...
    def payment_row(self, stored: StoredPayment) -> Row: ...
    def refund(self, reader: Reader, refund_id: str) -> StoredRefund | None: ...
    def refund_row(self, stored: StoredRefund) -> Row: ...
