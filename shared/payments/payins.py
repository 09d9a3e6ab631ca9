"""Pay-ins and refunds over the ledger store (shared.domain.payments.payins), in the style of
shared.payments.service.Payouts: each change ONE store transaction that writes the record and books
the domain's ledger operation with it.

- `request`: a `processing` payment record; nothing moves in the ledger (the payments function calls
  the card processor later; the wallet is credited only when the processor says it succeeded). A
  retried request (same owner and Idempotency-Key: the same payment id) returns the record it made;
  the same key with other parameters raises RequestMismatch.
- `apply(payment_id, ProcessorEvent)`: `advance` and its operation (a credit on `succeeded`), the
  record re-read inside the transaction (its version: a concurrent change retries on the newer one);
  the same outcome again writes nothing (P2).
- `refund`: a refund record in `processing` and its hold on the wallet (no overdraft), checked by
  `request_refund` against the payment's record (its refunds are summarised on it) in the SAME
  transaction that writes both: two concurrent refunds of one payment serialise on its record (the
  later retries on the newer version), so together they can never exceed what the payment received,
  and the held money cannot be paid out meanwhile.
- `apply_refund(refund_id, ProcessorEvent)`: the refund's outcome (the hold captured on `succeeded`,
  voided on `failed`), and the payment's summary line updated in the same transaction (a failed refund
  frees what it had reserved)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.ledger.engine import Result, Tx
from shared.domain.ledger.model import Operation
from shared.domain.payments.ids import payment_id as derive_payment_id
from shared.domain.payments.ids import refund_id as derive_refund_id
from shared.domain.payments.payins import (
    Payment,
    ProcessorEvent,
    Refund,
    advance,
    refund_hold,
    request_payment,
    request_refund,
)
from shared.domain.webhooks.events import Draft, payment_events, refund_events
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute
from shared.payments.service import MAX_RETRIES, RequestMismatch, StaleRecord, request_digest
from shared.payments.store import OneRow, PaymentRecords, RefundLine, Row, StoredPayment, StoredRefund
from shared.webhooks.outbox import emit, tenant_reader


class PaymentRefused(Exception):
    """The ledger refused a pay-in's or refund's operation; nothing changed but its Rejection record."""

    def __init__(self, record_id: str, code: str | None):
        super().__init__(f"{record_id}: {code}")
        self.record_id = record_id
        self.code = code


class _Exists(Exception):
    """Inside a request's transaction: the record exists already (a retried request)."""


@dataclass(frozen=True)
class PaymentApplied:
    """What a request or an outcome did: the record as it now stands, the ledger result (None: no
    operation), whether anything was written."""

    payment: StoredPayment
    result: Result | None
    changed: bool


@dataclass(frozen=True)
class RefundApplied:
    refund: StoredRefund
    result: Result | None
    changed: bool


def _refunds_of(stored: StoredPayment) -> tuple[Refund, ...]:
    """The payment's refunds as the domain counts them (amount and status; from the summary lines)."""
    return tuple(
        Refund(line.refund_id, stored.payment, line.amount, line.status, line.requested_at)  # type: ignore[arg-type]
        for line in stored.refunds
    )


class Payments:
    """The pay-in and refund use cases over a LedgerStore and the records' codec."""

    def __init__(
        self,
        store: LedgerStore,
        records: PaymentRecords,
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[str], None] = lambda transaction_id: None,
    ):
        self.store = store
        self.records = records
        self.clock = clock
        self.after_commit = after_commit  # the ledger's stream_after_commit (entries to BigQuery)

    def get(self, payment_id: str) -> StoredPayment | None:
        return self.records.payment(self.store, payment_id)

    def decode(self, name: str, row: dict) -> StoredPayment | None:
        """A pay-in from a row a listing already read (no second read)."""
        return self.records.payment(OneRow(name, row), name)

    def get_refund(self, refund_id: str) -> StoredRefund | None:
        return self.records.refund(self.store, refund_id)

    def refunds(self, stored: StoredPayment) -> list[StoredRefund]:
        """The payment's refund records, in the order they were requested."""
        found = (self.get_refund(line.refund_id) for line in stored.refunds)
        return [r for r in found if r is not None]

    # ------------------------------------------------------------------------- pay-ins

    def request(
        self, owner: str, idempotency_key: str, customer: str, amount: int, currency: str, payment_method: str
    ) -> PaymentApplied:
        """A pay-in of `amount` into the customer's wallet through `payment_method` (the processor's
        payment-method id). PaymentError (invalid_amount), RequestMismatch."""
        pid = derive_payment_id(owner, idempotency_key)
        payment = request_payment(pid, customer, amount, currency, payment_method, self.clock())
        digest = request_digest("payment", customer, payment.amount, payment.currency, payment_method)
        stored = StoredPayment(payment, 1, digest)

        def work(tx: Tx) -> StoredPayment:
            found = self.records.payment(tx, pid)
            if found is not None:
                raise _Exists()
            tx.put(*self.records.payment_row(stored))
            return stored

        try:
            return PaymentApplied(self.store.transact(work), None, True)
        except _Exists:
            found = self.get(pid)
            assert found is not None
            if found.request_digest != digest:
                raise RequestMismatch(pid) from None
            return PaymentApplied(found, None, False)

    def apply(self, payment_id: str, event: ProcessorEvent) -> PaymentApplied:
        """The processor's outcome for the payment, booked with its record in one transaction.
        PaymentError (already_final): the other outcome after a final one; KeyError: no such payment."""
        for _ in range(MAX_RETRIES):
            current = self.get(payment_id)
            if current is None:
                raise KeyError(f"no payment {payment_id}")
            changed, op = advance(current.payment, event)
            if changed is current.payment:
                return PaymentApplied(current, None, False)
            stored = replace(current, payment=changed, version=current.version + 1)
            refunded = sum(line.amount for line in current.refunds if line.status == "succeeded")

            def events(tx: Tx, before: Payment = current.payment, after: Payment = changed, r: int = refunded):
                return payment_events(before, after, tenant_reader(tx), r)

            try:
                result = self._write(
                    lambda tx, c=current: self._unchanged_payment(tx, c),
                    op,
                    (self.records.payment_row(stored),),
                    events,
                )
            except StaleRecord:
                continue
            return PaymentApplied(stored, result, True)
        raise StaleRecord(f"{payment_id} kept changing under {event.name}")

    def _unchanged_payment(self, tx: Tx, current: StoredPayment) -> None:
        found = self.records.payment(tx, current.payment.payment_id)
        if found is None or found.version != current.version:
            raise StaleRecord(current.payment.payment_id)

    def _write(
        self,
        check: Callable[[Tx], None],
        op: Operation | None,
        rows: tuple[Row, ...],
        events: Callable[[Tx], list[Draft]] | None = None,
    ) -> Result | None:
        """The records, the operation (if any) and the customer events of the change in one
        transaction, after `check` inside it."""
        if op is None:

            def work(tx: Tx) -> None:
                check(tx)
                for row in rows:
                    tx.put(*row)
                if events is not None:
                    emit(tx, events(tx), self.clock())

            self.store.transact(work)
            return None
        result = execute(self.store, op, self.clock, also=rows, guard=lambda tx, now: check(tx), events=events)
        if result.status == "rejected":
            raise PaymentRefused(op.op_id, result.reason)
        if result.status == "posted":
            self.after_commit(result.transaction_id)
        return result

    # ------------------------------------------------------------------------- refunds

    def refund(self, owner: str, payment_id: str, idempotency_key: str, amount: int | None) -> RefundApplied:
        """A refund of `amount` (None: everything still refundable) of a succeeded payment: its record,
        the payment's summary line and the refund's hold on the wallet (no overdraft: a wallet that no
        longer holds the money refuses it, PaymentRefused insufficient_funds), in one transaction.
        PaymentError (payment_not_succeeded, refund_exceeds_payment, invalid_amount), RequestMismatch,
        KeyError (no such payment)."""
        rid = derive_refund_id(payment_id, f"{owner}\x1f{idempotency_key}")
        digest = request_digest("refund", payment_id, amount)
        for _ in range(MAX_RETRIES):
            found = self.get_refund(rid)
            if found is not None:
                if found.request_digest != digest:
                    raise RequestMismatch(rid)
                return RefundApplied(found, None, False)
            payment = self.records.payment(self.store, payment_id)
            if payment is None:
                raise KeyError(f"no payment {payment_id}")
            refund = request_refund(rid, payment.payment, _refunds_of(payment), amount, self.clock())
            stored = StoredRefund(refund, 1, digest)
            line = RefundLine(rid, refund.amount, refund.status, refund.requested_at)
            updated = replace(payment, version=payment.version + 1, refunds=(*payment.refunds, line))

            def check(tx: Tx, payment: StoredPayment = payment) -> None:
                if self.records.refund(tx, rid) is not None:
                    raise StaleRecord(rid)  # made meanwhile: read it again
                self._unchanged_payment(tx, payment)  # the refundable amount was computed on this version

            try:
                result = self._write(
                    check, refund_hold(refund), (self.records.payment_row(updated), self.records.refund_row(stored))
                )
            except StaleRecord:
                continue
            except PaymentRefused as refused:
                raise PaymentRefused(rid, refused.code) from None
            return RefundApplied(stored, result, True)
        raise StaleRecord(f"{payment_id} kept changing under refund {rid}")

    def apply_refund(self, refund_id: str, event: ProcessorEvent) -> RefundApplied:
        """The processor's outcome for a refund (a debit of the wallet on succeeded) and the payment's
        summary line, in one transaction."""
        for _ in range(MAX_RETRIES):
            current = self.get_refund(refund_id)
            if current is None:
                raise KeyError(f"no refund {refund_id}")
            changed, op = advance(current.refund, event)
            if changed is current.refund:
                return RefundApplied(current, None, False)
            stored = replace(current, refund=changed, version=current.version + 1)

            def check(tx: Tx, current: StoredRefund = current, changed: Refund = changed) -> None:
                found = self.records.refund(tx, refund_id)
                if found is None or found.version != current.version:
                    raise StaleRecord(refund_id)
                payment = self.records.payment(tx, changed.payment.payment_id)
                assert payment is not None, "a refund's payment exists"
                lines = tuple(
                    replace(x, status=changed.status) if x.refund_id == refund_id else x for x in payment.refunds
                )
                tx.put(*self.records.payment_row(replace(payment, version=payment.version + 1, refunds=lines)))

            def events(tx: Tx, before: Refund = current.refund, after: Refund = changed):
                return refund_events(before, after, tenant_reader(tx))

            try:
                result = self._write(check, op, (self.records.refund_row(stored),), events)
            except StaleRecord:
                continue
            return RefundApplied(stored, result, True)
        raise StaleRecord(f"{refund_id} kept changing under {event.name}")


__all__ = ["PaymentApplied", "PaymentRefused", "Payments", "RefundApplied", "RequestMismatch"]
