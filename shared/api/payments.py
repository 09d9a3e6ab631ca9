"""The v1 API's payouts, payments, refunds and payout limits (docs/api.md "Payments"): tenant-scoped
calls into shared.payments (Payouts, Payments, PayoutLimitsBook), their records turned into response
models, and every refusal of the payments domain into ONE status table (`STATUS`). No HTTP here.

A payout's ids derive from (its customer, the idempotency record's generation): a retried request
finds the payout it made; the same Idempotency-Key with another body is refused by the idempotency
layer (409 idempotency_key_reuse) and, behind it, by the payout's request digest (the same code).
After a payout, payment or refund is created (or a retried request answered), the route hands it to
the payments function (`Backend.start`, shared.api.routes)."""

from __future__ import annotations

import hmac
import logging

from shared.api import models
from shared.api.idempotency import Attempt
from shared.api.service import Backend, _generation, _iso, _not_found
from shared.domain.operations.approvals import ApprovalError
from shared.domain.operations.workflow import WorkflowError
from shared.domain.payments.destinations import Destination, parse_destination
from shared.domain.payments.errors import PAYMENT_ERROR_CODES, PaymentError
from shared.domain.payments.machine import TimelineEntry
from shared.errors import ClientError
from shared.operations import movements
from shared.payments.limits import EffectiveLimits
from shared.payments.payins import PaymentRefused
from shared.payments.service import LimitExceeded, PayoutRefused, RequestMismatch
from shared.payments.store import StoredPayment, StoredPayout, StoredRefund

log = logging.getLogger("ledgerline.api")

# Every PaymentErrorCode -> the HTTP status it answers (checked complete at import). 400: the
# request itself is wrong; 409: the record's state does not allow it now; 422: understood, refused.
STATUS: dict[str, int] = {
    "invalid_amount": 400,
    "invalid_destination": 400,
    "no_route": 422,
    "limit_exceeded": 422,
    "already_final": 409,
    "illegal_transition": 409,
    "conflicting_event": 409,
    "unknown_attempt": 409,
    "attempt_out_of_order": 409,
    "attempt_unresolved": 409,
    "attempt_resolved": 409,
    "not_found_too_early": 409,
    "refund_exceeds_payment": 422,
    "payment_not_succeeded": 422,
}
assert tuple(STATUS) == PAYMENT_ERROR_CODES, "every payments error code has exactly one status, in order"
PARAMS = {"invalid_amount": "amount", "refund_exceeds_payment": "amount"}


class LimitError(ClientError):
    """422 limit_exceeded with the limit, its value and what is left under it."""

    def __init__(self, exc: LimitExceeded):
        check = exc.check
        message = f"the payout exceeds the {check.limit} limit of {check.limit_value}; {check.remaining} left"
        super().__init__(422, "limit_exceeded", message, "amount")
        self.check = check

    def body(self) -> dict:
        body = super().body()
        body["error"].update(limit=self.check.limit, limit_value=self.check.limit_value, remaining=self.check.remaining)
        return body


def client_error(exc: PaymentError) -> ClientError:
    """A refusal of the payments domain as the API answers it (STATUS)."""
    if isinstance(exc, LimitExceeded):
        return LimitError(exc)
    if exc.code == "invalid_destination":
        # parse_destination names the fields ("invalid routing_number, account_number"), never values
        fields = [f.strip() for f in exc.message.removeprefix("invalid ").split(",") if f.strip()]
        paths = [f"destination.{f}" for f in fields] or ["destination"]
        return ClientError(400, "invalid_destination", f"invalid {', '.join(paths)}", paths[0])
    return ClientError(STATUS[exc.code], exc.code, exc.message, PARAMS.get(exc.code))


def _reused(record_id: str) -> ClientError:
    """The record `record_id` was made by another request under this key (its request digest)."""
    return ClientError(
        409,
        "idempotency_key_reuse",
        "this Idempotency-Key made another request; use a new key for a new request",
        "Idempotency-Key",
        "idempotency_error",
    )


def _ledger_refused(code: str | None) -> ClientError:
    messages = {"insufficient_funds": "the source account's available balance is too low"}
    code = code or "rejected"
    return ClientError(422, code, messages.get(code, f"the ledger refused the operation ({code})"), None)


def _timeline(entries: tuple[TimelineEntry, ...]) -> list[models.TimelineEntry]:
    return [
        models.TimelineEntry(
            at=_iso(t.at), event=t.event, source=t.source, target=t.target, attempt=t.attempt, detail=t.detail
        )
        for t in entries
    ]


# ----------------------------------------------------------------------------- payouts


def idempotency_view(backend: Backend, body: dict) -> dict:
    """The validated payout body as the idempotency record hashes it: the account number replaced by
    its keyed fingerprint (a plain SHA-256 of a 10-digit number next to known fields is brute-forced
    in minutes; the record must not make it recoverable)."""
    destination = dict(body.get("destination") or {})
    number = destination.get("account_number")
    if isinstance(number, str):
        key = backend.payouts().fingerprint_key
        destination["account_number"] = hmac.new(key, number.encode(), "sha256").hexdigest()
    return {**body, "destination": destination}


def payout_view(stored: StoredPayout) -> models.Payout:
    p, d = stored.payout, stored.destination
    return models.Payout(
        id=p.payout_id,
        status=p.status,
        amount=p.amount,
        currency=p.currency,
        from_account=p.customer,
        destination=models.PayoutDestination(
            rail=d.rail,
            routing_number=d.routing_number,
            account_holder=d.account_holder,
            account_number=d.masked_account_number,
        ),
        description=stored.description,
        metadata=dict(stored.metadata),
        partner_reference=p.partner_reference,
        failure_reason=p.failure_reason,
        return_code=p.return_code,
        attempts=[
            models.PayoutAttempt(
                number=a.number,
                partner=a.partner,
                partner_reference=a.partner_reference,
                state=a.state,
                started_at=_iso(a.started_at),
                updated_at=_iso(a.updated_at),
                last_error=a.last_error,
            )
            for a in p.attempts
        ],
        timeline=_timeline(p.timeline),
        created=_iso(p.requested_at),
    )


def _destination(request: models.PayoutRequest) -> Destination:
    try:
        return parse_destination(request.destination.model_dump())
    except PaymentError as exc:
        raise client_error(exc) from None


def check_payout(request) -> None:
    """Before the Idempotency-Key: the destination (400 invalid_destination, field paths)."""
    _destination(request)


def create_payout(
    backend: Backend, tenant: str, request: models.PayoutRequest, attempt: Attempt | None
) -> models.Payout:
    parsed = _destination(request)
    wallet = backend.tenancy.require_customer(tenant, request.from_account, "from_account")
    payouts = backend.payouts()
    try:
        applied = payouts.request(
            request.from_account,
            _generation(attempt),
            wallet,
            request.amount,
            request.currency,
            parsed,
            description=request.description,
            metadata=request.metadata,
        )
    except PaymentError as exc:
        raise client_error(exc) from None
    except PayoutRefused as exc:
        raise _ledger_refused(exc.code) from None
    except RequestMismatch as exc:
        raise _reused(exc.record_id) from None
    p = applied.payout.payout
    log.info(
        "payout requested" if applied.changed else "payout request replayed",
        extra={"payout_id": p.payout_id, "amount": p.amount, "currency": p.currency},
    )
    return payout_view(applied.payout)


def _owned_payout(backend: Backend, tenant: str, payout_id: str) -> StoredPayout:
    stored = backend.payouts().get(payout_id)
    if stored is None or backend.tenancy.owner(stored.payout.customer) != tenant:
        raise _not_found("payout", payout_id)
    return stored


def get_payout(backend: Backend, tenant: str, payout_id: str) -> models.Payout:
    return payout_view(_owned_payout(backend, tenant, payout_id))


def cancel_payout(backend: Backend, tenant: str, payout_id: str) -> models.Payout:
    _owned_payout(backend, tenant, payout_id)
    try:
        applied = backend.payouts().cancel(payout_id)
    except PaymentError as exc:
        raise client_error(exc) from None
    return payout_view(applied.payout)


def list_payouts(
    backend: Backend, tenant: str, customer: str | None, status: str | None, limit: int, starting_after: str | None
) -> models.PayoutList:
    if customer is None:
        raise ClientError(400, "parameter_missing", "customer is required: payouts are listed per customer", "customer")
    backend.tenancy.require_customer(tenant, customer, "customer")
    payouts = backend.payouts()
    cursor = None
    if starting_after is not None:
        cursor = payouts.get(starting_after) if len(starting_after) <= 100 else None
        if cursor is None or cursor.payout.customer != customer:
            raise ClientError(
                400, "invalid_cursor", "starting_after is not a payout of this customer", "starting_after"
            )
    page, more = payouts.list(customer, status, limit, cursor)
    return models.PayoutList(data=[payout_view(s) for s in page], has_more=more)


# ----------------------------------------------------------------------------- payments and refunds


def refund_view(stored: StoredRefund) -> models.Refund:
    r = stored.refund
    return models.Refund(
        id=r.refund_id,
        payment=r.payment.payment_id,
        amount=r.amount,
        currency=r.payment.currency,
        status=r.status,
        processor_reference=r.processor_reference,
        failure_reason=r.failure_reason,
        timeline=_timeline(r.timeline),
        created=_iso(r.requested_at),
    )


def payment_view(backend: Backend, stored: StoredPayment) -> models.Payment:
    p = stored.payment
    refunds = backend.payments().refunds(stored)
    return models.Payment(
        id=p.payment_id,
        status=p.status,
        customer=p.customer,
        amount=p.amount,
        currency=p.currency,
        payment_method=p.payment_method,
        processor=p.processor,
        processor_reference=p.processor_reference,
        failure_reason=p.failure_reason,
        amount_refunded=sum(r.amount for r in stored.refunds if r.status == "succeeded"),
        refunds=[refund_view(r) for r in refunds],
        timeline=_timeline(p.timeline),
        created=_iso(p.requested_at),
    )


def create_payment(
    backend: Backend, tenant: str, request: models.PaymentRequest, attempt: Attempt | None
) -> models.Payment:
    backend.tenancy.require_customer(tenant, request.customer, "customer")
    try:
        applied = backend.payments().request(
            tenant, _generation(attempt), request.customer, request.amount, request.currency, request.payment_method
        )
    except PaymentError as exc:
        raise client_error(exc) from None
    except RequestMismatch as exc:
        raise _reused(exc.record_id) from None
    return payment_view(backend, applied.payment)


def _owned_payment(backend: Backend, tenant: str, payment_id: str) -> StoredPayment:
    stored = backend.payments().get(payment_id)
    if stored is None or backend.tenancy.owner(stored.payment.customer) != tenant:
        raise _not_found("payment", payment_id)
    return stored


def get_payment(backend: Backend, tenant: str, payment_id: str) -> models.Payment:
    return payment_view(backend, _owned_payment(backend, tenant, payment_id))


def create_refund(
    backend: Backend, tenant: str, payment_id: str, request: models.RefundRequest, attempt: Attempt | None
) -> models.Refund:
    _owned_payment(backend, tenant, payment_id)
    try:
        applied = backend.payments().refund(tenant, payment_id, _generation(attempt), request.amount)
    except PaymentError as exc:
        raise client_error(exc) from None
    except PaymentRefused as exc:
        raise _ledger_refused(exc.code) from None
    except RequestMismatch as exc:
        raise _reused(exc.record_id) from None
    return refund_view(applied.refund)


# ----------------------------------------------------------------------------- payout limits (operators)


def _currency(raw: str) -> str:
    from shared.domain.money import UnknownCurrency, normalise_currency

    try:
        return normalise_currency(raw)
    except UnknownCurrency:
        raise ClientError(400, "parameter_invalid", "currency is an ISO-4217 code", "currency") from None


def limits_view(found: EffectiveLimits) -> models.PayoutLimits:
    stored = found.stored
    pair = ("max_single", "daily_outflow")
    return models.PayoutLimits(
        customer=found.limits.customer,
        currency=found.limits.currency,
        max_single=found.limits.max_single,
        daily_outflow=found.limits.daily_outflow,
        source=found.source,
        updated_at=_iso(stored.updated_at) if stored else None,
        updated_by=stored.updated_by if stored else None,
        history=[
            models.PayoutLimitChange(
                at=_iso(c.at),
                actor=c.actor,
                old=dict(zip(pair, c.old, strict=True)) if c.old else None,
                new=dict(zip(pair, c.new, strict=True)),
            )
            for c in (stored.history if stored else ())
        ],
    )


def _limits_customer(backend: Backend, customer: str) -> None:
    """Operators see every tenant's customers; a customer no tenant owns is a 404."""
    if backend.tenancy.owner(customer) is None:
        raise _not_found("account", customer)


def get_payout_limits(backend: Backend, customer: str, currency: str) -> models.PayoutLimits:
    code = _currency(currency)
    _limits_customer(backend, customer)
    return limits_view(backend.payout_limits().get(customer, code))


def set_payout_limits(
    backend: Backend, principal, customer: str, currency: str, request: models.PayoutLimitsRequest
) -> models.PayoutLimits:
    """A change of limits, as an operator request (docs/operations.md): a cut executes at once, a raise
    at or above the threshold waits for a second operator; the answer shows the limits in force."""
    from shared.api import operations

    code = _currency(currency)
    _limits_customer(backend, customer)
    who = operations.actor(principal)
    ops, book = backend.operations(), backend.payout_limits()
    sub = movements.limit_submission(book, customer, code, request.max_single, request.daily_outflow)
    try:
        req, record = ops.requests.submit(sub, who, f"payout limits {request.max_single}/{request.daily_outflow}")
    except (WorkflowError, ApprovalError) as exc:
        raise operations.refused(exc) from None
    log.info("payout limits change", extra={"customer": customer, "currency": code, "actor": who, "status": req.status})
    view = limits_view(book.get(customer, code))
    return view.model_copy(update={"request": operations.request_view(req, record)})
