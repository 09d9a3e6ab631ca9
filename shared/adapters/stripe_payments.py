"""The card processor port (shared.payments.processor.CardProcessor) over Stripe's official SDK (PyPI
`stripe`): pay-ins are PaymentIntents created confirmed, refunds are Refunds. Locally the same code talks
to localstripe (STRIPE_API_BASE; docs/localstripe.md says where it differs from Stripe).

- One `stripe.StripeClient` per instance (never the global `stripe.api_key`), over the SDK's
  `RequestsClient` with our timeouts; tests inject a fake `requests` session into it.
- **No automatic retries on creates** (`max_network_retries=0`): Stripe would replay a retried POST from
  its idempotency key, but (1) a retry hidden inside the SDK makes a final "could not connect" ambiguous
  (an earlier attempt may have been sent and executed), and our classification must be exact; (2) the
  unknown-outcome rule must hold where the partner does not honour the key (localstripe ignores
  Idempotency-Key). A failed create is retried by the payments task, after a `find_*` says there is
  nothing. Lookups (`find_*`) may retry in the SDK (`LOOKUP_RETRIES`): reads execute nothing.
- SDK exceptions map onto the domain's `PartnerCall`, exactly (`_failed`): CardError -> 402 + decline
  code; RateLimitError -> 429 + Retry-After; InvalidRequestError -> its 400/404 + code (Stripe's amount
  codes normalised to `invalid_amount`); APIError -> its 5xx; IdempotencyError (Stripe's 400 for the
  same key with other parameters: a request with this key exists) -> 409, the domain's "another
  request with this key": unknown; APIConnectionError -> connect_failed only when the cause proves
  nothing was sent (refused, DNS, connect timeout, TLS handshake), else timeout (sent, no answer) or
  connection_reset.
- Amounts: ISO-4217 minor units in and out; Stripe's own exponent per currency (shared.partners.stripe:
  zero-decimal and three-decimal lists; ISK, MGA differ from ISO) converted exactly by
  shared.domain.money.convert, or refused as `invalid_amount` before any call.
- Logs: one structured line per call (our id, the processor's reference and status, the outcome);
  never the API key, never a payment method's card details (Stripe never returns them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
import stripe
import urllib3.exceptions

from shared.config import ConfigError, Settings
from shared.domain.money import InexactAmount, UnknownCurrency, convert, exponent, normalise_currency
from shared.domain.payments.outcomes import CallFailure, CallKind, PartnerCall
from shared.partners.stripe import API_KEY, stripe_exponent, to_minor_units
from shared.payments.processor import CUSTOMER_KEY, PAYMENT_KEY, REFUND_KEY, ProcessorCall
from shared.recovery.policies import retry_after_value

log = logging.getLogger("ledgerline.stripe_payments")
NAME = "stripe"
LOOKUP_RETRIES = 2
LOOKUP_SLACK_S = 300  # find_payment looks from `since` minus this: clock skew between us and Stripe
PAGE = 100  # Stripe's largest list page
# Stripe's error codes that say the amount itself is wrong (https://docs.stripe.com/error-codes).
AMOUNT_CODES = frozenset({"amount_too_large", "amount_too_small", "invalid_charge_amount"})


class ProcessorMismatch(RuntimeError):
    """The processor's object named by a reference we hold carries another id of ours: our record is wrong."""


class StripePayments:
    """CardProcessor over Stripe. `api_base`: None = the SDK's default (https://api.stripe.com)."""

    name = NAME

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        timeout_s: float = 30.0,
        *,
        session: requests.Session | None = None,
    ):
        if not api_key:
            raise ConfigError(f"{API_KEY.env} is not set: the card processor cannot be called")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
        # (connect, read): a connect timeout proves nothing was sent; the read timeout bounds the answer.
        http = stripe.RequestsClient(timeout=(min(5.0, timeout_s), timeout_s), session=session)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            http_client=http,
            max_network_retries=0,
        )

    # ------------------------------------------------------------------ the port

    def create_payment(
        self, idempotency_key: str, payment_id: str, customer: str, amount: int, currency: str, payment_method: str
    ) -> ProcessorCall:
        iso, units = _to_stripe(amount, currency)
        if units is None:
            return _refused(f"{amount} {iso} has no exact Stripe amount")
        params = {
            "amount": units,
            "currency": iso.lower(),
            "payment_method": payment_method,
            "confirm": True,
            # card only: Stripe then needs no return_url for a confirm (no redirect-based methods)
            "payment_method_types": ["card"],
            "metadata": {PAYMENT_KEY: payment_id, CUSTOMER_KEY: customer},
        }
        options = {"idempotency_key": idempotency_key, "max_network_retries": 0}
        return self._call(
            "create", lambda: self._client.v1.payment_intents.create(params, options), _payment, payment_id
        )

    def find_payment(self, payment_id: str, since: datetime, reference: str | None = None) -> ProcessorCall:
        options = {"max_network_retries": LOOKUP_RETRIES}
        if reference is not None:

            def by_reference():
                found = self._client.v1.payment_intents.retrieve(reference, options=options)
                if _metadata(found).get(PAYMENT_KEY) != payment_id:
                    raise ProcessorMismatch(f"{reference} is not the processor's payment of {payment_id}")
                return found

            return self._call("status", by_reference, _payment, payment_id)
        params = {"created": {"gte": int(since.timestamp()) - LOOKUP_SLACK_S}, "limit": PAGE}
        return self._call(
            "status",
            lambda: _matching(self._client.v1.payment_intents.list(params, options), PAYMENT_KEY, payment_id),
            _payment,
            payment_id,
        )

    def create_refund(
        self, idempotency_key: str, refund_id: str, payment_reference: str, amount: int, currency: str
    ) -> ProcessorCall:
        iso, units = _to_stripe(amount, currency)
        if units is None:
            return _refused(f"{amount} {iso} has no exact Stripe amount")
        params = {"payment_intent": payment_reference, "amount": units, "metadata": {REFUND_KEY: refund_id}}
        options = {"idempotency_key": idempotency_key, "max_network_retries": 0}
        return self._call("create", lambda: self._client.v1.refunds.create(params, options), _refund, refund_id)

    def find_refund(self, refund_id: str, payment_reference: str) -> ProcessorCall:
        params = {"payment_intent": payment_reference, "limit": PAGE}
        options = {"max_network_retries": LOOKUP_RETRIES}
        return self._call(
            "status",
            lambda: _matching(self._client.v1.refunds.list(params, options), REFUND_KEY, refund_id),
            _refund,
            refund_id,
        )

    # ------------------------------------------------------------------ one call, classified

    def _call(
        self, kind: CallKind, send: Callable[[], Any], read: Callable[[CallKind, Any], ProcessorCall], ours: str
    ) -> ProcessorCall:
        try:
            found = send()
        except stripe.StripeError as exc:
            result = _failed(kind, exc)
        else:
            result = _missing(kind) if found is None else read(kind, found)
        outcome = result.outcome
        log.info(
            "stripe call",
            extra={
                "call": kind,
                "ledgerline_id": ours,
                "reference": result.reference,
                "processor_status": result.status,
                "http_status": result.call.status,
                "failure": result.call.failure,
                "body_code": result.call.body_code,
                "outcome": outcome.kind,
                "others": list(result.others),
            },
        )
        return result


def stripe_payments(cfg: Settings, timeout_s: float = 30.0) -> StripePayments:
    """The adapter from settings: STRIPE_API_KEY (secret) and STRIPE_API_BASE (local: localstripe)."""
    keys = cfg.secret(API_KEY)
    return StripePayments(keys[0] if keys else "", cfg.stripe_api_base, timeout_s)


# ---------------------------------------------------------------------- amounts


def _to_stripe(amount: int, currency: str) -> tuple[str, int | None]:
    """(ISO code, Stripe amount) or (code, None) when the amount needs rounding at Stripe's exponent.
    An unknown currency or a non-int amount is our bug: it raises."""
    iso = normalise_currency(currency)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be int minor units, got {type(amount).__name__}")
    try:
        return iso, convert(amount, exponent(iso), stripe_exponent(iso))
    except InexactAmount:
        return iso, None


def _from_stripe(amount: int | None, currency: str | None) -> tuple[int | None, str | None]:
    if amount is None or currency is None:
        return None, None
    try:
        iso = normalise_currency(currency)
        return to_minor_units(amount, iso), iso
    except (UnknownCurrency, ValueError):
        return None, None  # kept as the processor's object says, unconverted: never guessed


def _refused(message: str) -> ProcessorCall:
    """Refused here, before any call: the request is wrong (classify: invalid)."""
    return ProcessorCall(PartnerCall("create", status=400, body_code="invalid_amount"), message=message)


# ---------------------------------------------------------------------- answers


def _matching(page, key: str, ours: str) -> list:
    """Every object of a listing (all pages) whose metadata names our id."""
    return [obj for obj in page.auto_paging_iter() if _metadata(obj).get(key) == ours] or None


def _metadata(obj) -> dict:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if metadata is not None else {}


def _missing(kind: CallKind) -> ProcessorCall:
    # A listing (strongly consistent on Stripe) with nothing of ours: a confirmed "none".
    return ProcessorCall(PartnerCall(kind, status=404, body_code="resource_missing"))


def _pick(found) -> tuple[Any, tuple[str, ...]]:
    """A listing's match: the one, or (never expected: one id, one create) the first succeeded one and
    the references of the others, which the caller must treat as an incident (a double charge)."""
    if not isinstance(found, list):
        return found, ()
    ordered = sorted(found, key=lambda o: o.status != "succeeded")
    if len(ordered) > 1:
        log.error("several processor objects carry one id of ours", extra={"references": [o.id for o in ordered]})
    return ordered[0], tuple(o.id for o in ordered[1:])


def _payment(kind: CallKind, found) -> ProcessorCall:
    intent, others = _pick(found)
    amount, currency = _from_stripe(intent.amount, intent.currency)
    return ProcessorCall(PartnerCall(kind, status=200), intent.id, intent.status, amount, currency, others=others)


def _refund(kind: CallKind, found) -> ProcessorCall:
    refund, others = _pick(found)
    amount, currency = _from_stripe(refund.amount, refund.currency)
    return ProcessorCall(PartnerCall(kind, status=200), refund.id, refund.status, amount, currency, others=others)


def _failed(kind: CallKind, exc: stripe.StripeError) -> ProcessorCall:
    """An SDK exception as the domain's PartnerCall (the module docstring lists the mapping)."""
    message = (exc.user_message or type(exc).__name__)[:300]
    if isinstance(exc, stripe.APIConnectionError):
        return ProcessorCall(PartnerCall(kind, failure=_connection_failure(exc)), message=message)
    error = exc.error
    code = exc.code or (error.code if error is not None else None)
    if isinstance(exc, stripe.CardError):
        decline = (error.decline_code if error is not None else None) or code
        intent = error.payment_intent if error is not None else None
        return ProcessorCall(
            PartnerCall(kind, status=exc.http_status or 402, body_code=decline),
            reference=intent.id if intent is not None else None,
            status=intent.status if intent is not None else None,
            message=message,
        )
    if isinstance(exc, stripe.RateLimitError):
        return ProcessorCall(
            PartnerCall(kind, status=429, body_code=code, retry_after_s=_retry_after(exc.headers)), message=message
        )
    if isinstance(exc, stripe.IdempotencyError):
        return ProcessorCall(PartnerCall(kind, status=409, body_code="idempotency_error"), message=message)
    status = exc.http_status
    if status is None or not 400 <= status <= 599:
        # An answer we could not read (a body that is not JSON, a 2xx without an object): it was sent
        # and may have executed.
        return ProcessorCall(
            PartnerCall(kind, failure="connection_reset", body_code="unreadable_response"), message=message
        )
    if isinstance(exc, stripe.InvalidRequestError) and code in AMOUNT_CODES:
        code = "invalid_amount"
    return ProcessorCall(PartnerCall(kind, status=status, body_code=code), message=message)


_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable; NameResolutionError (DNS) is one
    urllib3.exceptions.ConnectTimeoutError,
)


def _connection_failure(exc: stripe.APIConnectionError) -> CallFailure:
    """connect_failed only when the cause proves nothing reached Stripe; a read timeout is `timeout`
    (sent, no answer in time); anything else (reset, closed mid-answer, a cause we cannot name) is
    `connection_reset`: it may have executed."""
    cause = exc.__cause__
    if isinstance(cause, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return "connect_failed"  # the TCP connect or the TLS handshake failed: no request was written
    if isinstance(cause, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(cause, requests.exceptions.ConnectionError):
        inner = cause.args[0] if cause.args else None
        reason = getattr(inner, "reason", inner)  # urllib3's MaxRetryError wraps the real error
        if isinstance(reason, _NOT_SENT):
            return "connect_failed"
    return "connection_reset"


def _retry_after(headers) -> float | None:
    """Retry-After in seconds (shared.recovery.policies.retry_after_value), None when absent or unreadable."""
    raw = next((value for name, value in (headers or {}).items() if name.lower() == "retry-after"), None)
    return retry_after_value(raw, datetime.now(tz=UTC))
