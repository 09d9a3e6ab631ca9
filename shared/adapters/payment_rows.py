"""The pay-in and refund records' row layout (shared.payments.store.PaymentRecords), one for both
stores like shared.adapters.payout_rows. Kinds and properties:

Payment  key = payment id   payment_id, customer, amount (int minor units), currency, payment_method
         (the processor's payment-method id, e.g. pm_card_visa: not a card number), processor, status,
         requested_at, version, request_digest, processor_reference, failure_reason, timeline (JSON
         text: at, event, source, target, attempt, detail), refunds (JSON text: [[refund id, amount,
         status, requested_at]]: what the over-refund check reads, in the same transaction)
Refund   key = refund id    refund_id, payment_id, amount, status, requested_at, version,
         request_digest, processor_reference, failure_reason, timeline (JSON text)

Datetimes in JSON text are ISO 8601 with their UTC offset."""

from __future__ import annotations

import json
from datetime import datetime

from shared.adapters.payout_rows import timeline_entry, timeline_json
from shared.domain.payments.payins import Payment, Refund
from shared.ledger.store import aware
from shared.payments.store import Reader, RefundLine, Row, StoredPayment, StoredRefund

PAYMENT, REFUND = "Payment", "Refund"


def _at(value: str) -> datetime:
    return aware(datetime.fromisoformat(value))


def payment(name: str, row: dict) -> StoredPayment:
    """The record of a Payment row."""
    record = Payment(
        payment_id=name,
        customer=row["customer"],
        amount=row["amount"],
        currency=row["currency"],
        payment_method=row["payment_method"],
        status=row["status"],
        requested_at=aware(row["requested_at"]),
        processor=row["processor"],
        processor_reference=row.get("processor_reference"),
        failure_reason=row.get("failure_reason"),
        timeline=tuple(timeline_entry(t) for t in json.loads(row.get("timeline") or "[]")),
    )
    refunds = tuple(
        RefundLine(rid, amount, status, _at(at)) for rid, amount, status, at in json.loads(row.get("refunds") or "[]")
    )
    return StoredPayment(record, row["version"], row["request_digest"], refunds)


def payment_row(stored: StoredPayment) -> Row:
    p = stored.payment
    data = {
        "payment_id": p.payment_id,
        "customer": p.customer,
        "amount": p.amount,
        "currency": p.currency,
        "payment_method": p.payment_method,
        "processor": p.processor,
        "status": p.status,
        "requested_at": p.requested_at,
        "version": stored.version,
        "request_digest": stored.request_digest,
        "processor_reference": p.processor_reference,
        "failure_reason": p.failure_reason,
        "timeline": json.dumps([timeline_json(t) for t in p.timeline]),
        "refunds": json.dumps([[r.refund_id, r.amount, r.status, r.requested_at.isoformat()] for r in stored.refunds]),
    }
    return PAYMENT, p.payment_id, data


def refund(name: str, row: dict, of: StoredPayment) -> StoredRefund:
    """The record of a Refund row, given its payment's record."""
    record = Refund(
        refund_id=name,
        payment=of.payment,
        amount=row["amount"],
        status=row["status"],
        requested_at=aware(row["requested_at"]),
        processor_reference=row.get("processor_reference"),
        failure_reason=row.get("failure_reason"),
        timeline=tuple(timeline_entry(t) for t in json.loads(row.get("timeline") or "[]")),
    )
    return StoredRefund(record, row["version"], row["request_digest"])


def refund_row(stored: StoredRefund) -> Row:
    r = stored.refund
    data = {
        "refund_id": r.refund_id,
        "payment_id": r.payment.payment_id,
        "amount": r.amount,
        "status": r.status,
        "requested_at": r.requested_at,
        "version": stored.version,
        "request_digest": stored.request_digest,
        "processor_reference": r.processor_reference,
        "failure_reason": r.failure_reason,
        "timeline": json.dumps([timeline_json(t) for t in r.timeline]),
    }
    return REFUND, r.refund_id, data


class PaymentRows:
    """shared.payments.store.PaymentRecords over this layout."""

    def payment(self, reader: Reader, payment_id: str) -> StoredPayment | None:
        row = reader.get(PAYMENT, payment_id)
        return payment(payment_id, row) if row is not None else None

    def payment_row(self, stored: StoredPayment) -> Row:
        return payment_row(stored)

    def refund(self, reader: Reader, refund_id: str) -> StoredRefund | None:
        row = reader.get(REFUND, refund_id)
        if row is None:
            return None
        of = self.payment(reader, row["payment_id"])
        if of is None:
            raise LookupError(f"refund {refund_id} names a payment that does not exist")
        return refund(refund_id, row, of)

    def ids_in(self, store, kind: str, status: str) -> list[str]:
        """Payment or Refund ids in a status (an equality query on the indexed status)."""
        return sorted(store.query({"payment": PAYMENT, "refund": REFUND}[kind], "status", status))

    def refund_row(self, stored: StoredRefund) -> Row:
        return refund_row(stored)
