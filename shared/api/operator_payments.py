"""Pay-ins for operators (docs/api.md "Operator pay-ins"): every tenant's pay-ins newest first, and one
pay-in with its refunds, the ledger transactions it and its refunds booked, and the processor's webhooks
about them. Read only; cross-tenant:
`operator` scope (shared.api.routes). The counterpart of shared.api.operator_payouts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.api import models
from shared.api.operator_accounts import WebhookArrival, arrivals
from shared.api.payments import payment_view
from shared.api.service import Backend, _iso, _not_found, newest_first_page
from shared.domain.payments.effects import rule_for
from shared.domain.payments.ids import operation_id
from shared.errors import ClientError
from shared.payments.store import StoredPayment

MAX_SCAN = 5000  # rows one page reads at most while filtering in memory (customer, tenant, processor)
PAYMENT_EFFECTS = ("credit",)  # what a pay-in books (shared.domain.payments.effects)
REFUND_EFFECTS = ("hold", "capture", "void", "debit")  # what a refund books (its own rule names)


class OperatorPayment(models.Payment):
    tenant: str | None


class OperatorPaymentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OperatorPayment]
    has_more: bool


class PaymentTransaction(BaseModel):
    record: str = Field(description="the pay-in's id, or one of its refunds'")
    effect: str = Field(description="credit (the pay-in), hold / capture / void / debit (a refund)")
    transaction: str
    recorded_at: models.Timestamp


class OperatorPaymentDetail(OperatorPayment):
    transactions: list[PaymentTransaction] = Field(
        description="the ledger transactions the pay-in and its refunds booked, oldest first"
    )
    webhooks: list[WebhookArrival] = Field(
        description="the processor's webhooks about the pay-in and its refunds as intake stored them, oldest first"
    )


def _view(backend: Backend, stored: StoredPayment) -> OperatorPayment:
    base = payment_view(backend, stored).model_dump()
    return OperatorPayment(**base, tenant=backend.tenancy.owner(stored.payment.customer))


def list_payments(backend: Backend, query: dict, limit: int) -> OperatorPaymentList:
    status, customer, tenant, processor = (query.get(k) for k in ("status", "customer", "tenant", "processor"))
    payins = backend.payments()
    starting_after = query.get("starting_after")
    cursor = payins.get(starting_after) if starting_after and len(starting_after) <= 100 else None
    if starting_after is not None and cursor is None:
        raise ClientError(400, "invalid_cursor", "starting_after is not a pay-in", "starting_after")
    at = cursor.payment.requested_at if cursor else None

    def kept(stored: StoredPayment) -> OperatorPayment | None:
        p = stored.payment
        if (customer and p.customer != customer) or (processor and p.processor != processor):
            return None
        view = _view(backend, stored)
        return None if tenant and view.tenant != tenant else view

    page, more = newest_first_page(
        backend.store.all_payments(status, at), payins.decode, lambda s: s.payment.requested_at,
        (at, cursor.payment.payment_id) if cursor else None, kept, limit, MAX_SCAN,
    )  # fmt: skip
    return OperatorPaymentList(data=page, has_more=more)


def _booked(record_id: str, effects: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """transaction id -> (record, effect): ids derive from (record, effect, rule), read by key, no scan."""
    return {operation_id(record_id, e, rule_for(e, record_id)): (record_id, e) for e in effects}


def get_payment(backend: Backend, payment_id: str) -> OperatorPaymentDetail:
    stored = backend.payments().get(payment_id)
    if stored is None:
        raise _not_found("payment", payment_id)
    view = _view(backend, stored)
    names = _booked(payment_id, PAYMENT_EFFECTS)
    for line in stored.refunds:
        names |= _booked(line.refund_id, REFUND_EFFECTS)
    found = backend.store.get_multi("JournalTransaction", list(names))
    transactions = sorted(
        (
            PaymentTransaction(
                record=names[name][0], effect=names[name][1], transaction=name, recorded_at=_iso(r["recorded_at"])
            )
            for name, r in found.items()
        ),
        key=lambda t: t.recorded_at,
    )
    webhooks = arrivals(backend, [payment_id, *(line.refund_id for line in stored.refunds)])
    return OperatorPaymentDetail(**view.model_dump(), transactions=transactions, webhooks=webhooks)
