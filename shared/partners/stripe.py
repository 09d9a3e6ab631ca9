"""Stripe webhooks: signature scheme, event envelope, and normalisation to CanonicalEvent. Pure: no I/O.

Signature (https://docs.stripe.com/webhooks#verify-manually): header
`Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, where each v1 is
HMAC-SHA256(secret, f"{t}." + raw body). Several secrets may be active during rotation; several v1
values may be present while Stripe rolls its own. We accept if any (secret, v1) pair matches, with
constant-time comparison, and require |now - t| <= tolerance in BOTH directions (Stripe's SDK only
checks the past; a far-future timestamp would otherwise stay replayable forever).

Amounts: Stripe sends integers in its own "smallest currency unit", which mostly, but NOT always,
equals the ISO-4217 minor unit the ledger uses: JPY 1000 is ¥1000 in both; ISK is two-decimal in
Stripe's API (500 = 5 kr) but zero-decimal in ISO; MGA is zero-decimal in Stripe, two in ISO.
`to_minor_units` converts through both exponents and refuses amounts that would need rounding.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import ConfigError, PartnerSecret
from shared.domain.events import CanonicalEvent
from shared.domain.money import MAX_AMOUNT, InexactAmount, UnknownCurrency, convert, exponent, normalise_currency
from shared.errors import ClientError, NotConfigured, Receipt
from shared.partners.base import Parsed, invalid, load_json

NAME = "stripe"
log = logging.getLogger("ledgerline.stripe")
SIGNATURE_HEADER = "Stripe-Signature"
WEBHOOK_SECRET = PartnerSecret("STRIPE_WEBHOOK_SECRET")


def _api_key(env: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """One Stripe secret or restricted key (`sk_…` / `rk_…`), or none (a function that does not call Stripe)."""
    if len(values) > 1 or any(not v.startswith(("sk_", "rk_")) for v in values):
        raise ConfigError(f"{env} must be one Stripe secret or restricted key (sk_… or rk_…)")
    return values


# The API key of the card processor adapter (shared.adapters.stripe_payments); intake never uses it.
API_KEY = PartnerSecret("STRIPE_API_KEY", _api_key)
SECRETS = (WEBHOOK_SECRET, API_KEY)
REPORT_FORMAT = "stripe_report"  # itemized balance reports (shared.reconciliation.formats.stripe_report)
TRANSFER_API = None  # ledgerline sends no payouts through it
BANK = None  # payouts name their own destination; Stripe posts no ACH


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value Stripe would send (used by tests, the demo and the load generator)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_V1 = re.compile(r"[0-9a-f]{64}")


def _auth_error(code: str, message: str) -> ClientError:
    return ClientError(401, code, message, SIGNATURE_HEADER, type="authentication_error")


KEPT_HEADERS = (SIGNATURE_HEADER,)


def verify(headers: Mapping[str, str], body: bytes, cfg, now: int) -> None:
    secrets = cfg.secret(WEBHOOK_SECRET)
    if not secrets:
        raise NotConfigured(f"no {WEBHOOK_SECRET.env} configured")
    verify_signature(headers, body, secrets, now, cfg.signature_tolerance_seconds)


def verify_signature(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: int, tolerance: int = 300
) -> None:
    """Raise ClientError(401) unless the body carries a valid, fresh Stripe signature.
    Any header text at all yields either success or a 401: never another exception."""
    header = headers.get(SIGNATURE_HEADER)
    if not header:
        raise _auth_error("signature_missing", "Stripe-Signature header is required")
    timestamp: int | None = None
    candidates: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise _auth_error("signature_malformed", "Stripe-Signature has a bad timestamp")
            timestamp = int(value)
        elif key == "v1" and _V1.fullmatch(value):  # anything else cannot match: skip it
            candidates.append(value.encode("ascii"))
    if timestamp is None or not candidates:
        raise _auth_error("signature_malformed", "Stripe-Signature needs t= and at least one hex v1=")
    if abs(now - timestamp) > tolerance:
        raise _auth_error("timestamp_out_of_tolerance", f"signature timestamp is more than {tolerance}s from now")
    signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode("ascii")
        # Constant-time compare against every candidate (no early exit on a mismatch).
        if any([hmac.compare_digest(expected, candidate) for candidate in candidates]):
            return
    raise _auth_error("signature_invalid", "no Stripe-Signature v1 value matches an active secret")


# Stripe's amount exponent per currency (https://docs.stripe.com/currencies): zero-decimal and
# three-decimal lists; every other currency is two-decimal in Stripe's API, even where ISO-4217 says
# otherwise (ISK: ISO 0, Stripe 2, "100 = 1 krona"; MGA: ISO 2, Stripe 0).
STRIPE_ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def stripe_exponent(currency: str) -> int:
    return 0 if currency in STRIPE_ZERO_DECIMAL else 3 if currency in STRIPE_THREE_DECIMAL else 2


def to_minor_units(amount: int, currency: str) -> int:
    """Stripe API amount -> ISO-4217 minor units of `currency` (already upper-case ISO).
    Raises ValueError when the Stripe amount holds a fraction the ISO unit cannot represent."""
    try:
        return convert(amount, stripe_exponent(currency), exponent(currency))
    except InexactAmount as exc:
        raise ValueError(
            f"{currency} amount {amount} is not a whole number of ISO minor units (x{exc.factor})"
        ) from None


class _Envelope(BaseModel):
    """The fields of Stripe's Event object we rely on (others are kept in the raw inbox copy)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^evt_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^event$")
    type: str = Field(min_length=1, max_length=100)
    created: int = Field(ge=0, le=253402300799)  # up to 9999-12-31: a datetime can hold it
    livemode: bool
    data: dict[str, Any]


_CUSTOMER = r"^cus_[A-Za-z0-9_]{1,64}$"  # fits the ledger's account-id rule
_AMOUNT = Field(ge=0, le=MAX_AMOUNT, strict=True)


class _PaymentIntent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^payment_intent$")
    amount_received: int = _AMOUNT
    currency: str
    customer: str | None = Field(default=None, pattern=_CUSTOMER)
    latest_charge: str | None = Field(default=None, pattern=r"^(ch|py)_[A-Za-z0-9_]+$", max_length=255)
    status: str
    metadata: dict[str, str] = Field(default_factory=dict)
    last_payment_error: dict[str, Any] | None = None


class _Refund(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^(re|pyr)_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^refund$")
    amount: int = _AMOUNT
    currency: str
    status: str | None = None
    payment_intent: str | None = Field(default=None, pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)
    failure_reason: str | None = None


class _Charge(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^(ch|py)_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^charge$")
    amount: int = _AMOUNT
    amount_refunded: int = _AMOUNT
    currency: str
    customer: str | None = Field(default=None, pattern=_CUSTOMER)
    payment_intent: str | None = Field(default=None, pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)


class _BalanceTransaction(BaseModel):
    """A balance transaction listed in a dispute: the money that actually moved (amount < 0: the
    disputed funds withdrawn; > 0: reinstated; fee: the dispute fee, negative when it is refunded)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^txn_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^balance_transaction$")
    amount: int = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True)
    fee: int = Field(default=0, ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True)
    net: int | None = Field(default=None, ge=-2 * MAX_AMOUNT, le=2 * MAX_AMOUNT, strict=True)
    currency: str
    created: int = Field(ge=0, le=253402300799)
    reporting_category: str | None = Field(default=None, max_length=100)


class _Dispute(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^(dp|du)_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^dispute$")
    amount: int = _AMOUNT
    currency: str
    charge: str = Field(pattern=r"^(ch|py)_[A-Za-z0-9_]+$", max_length=255)
    payment_intent: str | None = Field(default=None, pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)
    # Recorded as Stripe says it (shared.ledger.disputes knows the documented values; a status Stripe adds
    # later is kept, not refused: refusing an authentic webhook only makes Stripe retry it for days).
    status: str = Field(pattern=r"^[a-z_]{1,50}$")
    balance_transactions: list[_BalanceTransaction] = Field(default_factory=list, max_length=10)


class _Payout(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^po_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^payout$")
    amount: int = _AMOUNT
    currency: str
    destination: str | None = Field(default=None, pattern=r"^(ba|card)_[A-Za-z0-9_]{1,90}$")
    status: str


def _invalid(exc: ValidationError, prefix: tuple = ()) -> ClientError:
    return invalid(exc, ".".join(prefix))


def _object(model: type[BaseModel], envelope: _Envelope) -> BaseModel:
    try:
        return model.model_validate(envelope.data.get("object"))
    except ValidationError as exc:
        raise _invalid(exc, ("data", "object")) from None


def _money(amount: int, currency: str, field: str) -> tuple[int, str]:
    """Stripe amount + currency -> (ISO minor units, ISO code), or a 400 naming the field."""
    try:
        iso = normalise_currency(currency)
    except UnknownCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), "data.object.currency") from None
    try:
        minor = to_minor_units(amount, iso)
    except ValueError as exc:
        raise ClientError(400, "invalid_event", str(exc), f"data.object.{field}") from None
    if minor > MAX_AMOUNT:
        raise ClientError(400, "invalid_event", "amount too large", f"data.object.{field}")
    return minor, iso


# Our ids in the metadata of what ledgerline itself created at Stripe (shared.adapters.stripe_payments):
# such an object's outcome is for the payments function (kinds of consumer "payments"), which books it;
# posting it as a partner-reported payment or refund too would move the wallet twice.
OUR_PAYMENT, OUR_REFUND = "ledgerline_payment", "ledgerline_refund"
_OUR_ID = re.compile(r"^(py|re)_[0-9a-f]{24}$")


def _ours(metadata: dict[str, str], key: str) -> str | None:
    value = metadata.get(key)
    if value is not None and not _OUR_ID.match(value):
        raise ClientError(400, "invalid_event", f"metadata.{key} is not one of our ids", f"data.object.metadata.{key}")
    return value


def _payment_succeeded(envelope: _Envelope) -> dict | str:
    intent = _object(_PaymentIntent, envelope)
    amount, currency = _money(intent.amount_received, intent.currency, "amount_received")
    if intent.status != "succeeded":
        return f"payment intent status is {intent.status!r}, not succeeded"
    if amount == 0:
        return "amount_received is 0: nothing to post"
    ours = _ours(intent.metadata, OUR_PAYMENT)
    if ours is not None:
        return {
            "kind": "processor.payment_succeeded",
            "amount": amount,
            "currency": currency,
            "reference": intent.id,
            "our_reference": ours,
        }
    return {
        "kind": "payment.captured",
        "customer": intent.customer,
        "amount": amount,
        "currency": currency,
        "reference": intent.id,
        "payment_reference": intent.latest_charge,
    }


def _payment_failed(envelope: _Envelope) -> dict | str:
    intent = _object(_PaymentIntent, envelope)
    ours = _ours(intent.metadata, OUR_PAYMENT)
    if ours is None:
        return "payment failed: no money moved"
    error = intent.last_payment_error or {}
    code = error.get("decline_code") or error.get("code")
    return {
        "kind": "processor.payment_failed",
        "amount": 0,
        "currency": normalise_currency(intent.currency),
        "reference": intent.id,
        "our_reference": ours,
        "outcome_code": str(code)[:100] if code else None,
    }


def _refund(envelope: _Envelope) -> dict | str:
    """refund.created / refund.updated of a refund we asked for (its metadata names it): succeeded or
    failed is its outcome; pending and others wait for the next update. Refunds made elsewhere (the
    dashboard) come as charge.refunded and are posted as the partner's."""
    refund = _object(_Refund, envelope)
    ours = _ours(refund.metadata, OUR_REFUND)
    if ours is None:
        return "a refund not made by ledgerline: posted from its charge.refunded"
    amount, currency = _money(refund.amount, refund.currency, "amount")
    if refund.status == "succeeded":
        kind = "processor.refund_succeeded"
    elif refund.status in ("failed", "canceled"):
        kind = "processor.refund_failed"
    else:
        return f"refund status {refund.status!r}: waiting for its outcome"
    return {
        "kind": kind,
        "amount": amount if kind == "processor.refund_succeeded" else 0,
        "currency": currency,
        "reference": refund.id,
        "payment_reference": refund.payment_intent,
        "our_reference": ours,
        "outcome_code": refund.failure_reason,
    }


def _charge_refunded(envelope: _Envelope) -> dict | str:
    """charge.refunded carries the cumulative amount_refunded; previous_attributes holds the value
    before this refund, so the delta is this event's (partial) refund."""
    charge = _object(_Charge, envelope)
    ours = _ours(charge.metadata, OUR_PAYMENT)  # Stripe copies the PaymentIntent's metadata onto it
    if ours is not None:
        # our own pay-in: our refunds move the wallet through their refund.* events; the payments
        # function compares the charge's total refunded with them, so a refund made outside
        # ledgerline (the dashboard) reaches an operator instead of vanishing
        total, currency = _money(charge.amount_refunded, charge.currency, "amount_refunded")
        return {
            "kind": "processor.charge_refunded",
            "amount": total,
            "currency": currency,
            "reference": charge.id,
            "payment_reference": charge.payment_intent,
            "our_reference": ours,
        }
    previous_attributes = envelope.data.get("previous_attributes") or {}
    if not isinstance(previous_attributes, dict):
        raise ClientError(400, "invalid_event", "previous_attributes must be an object", "data.previous_attributes")
    previous = previous_attributes.get("amount_refunded", 0)
    if isinstance(previous, bool) or not isinstance(previous, int) or not 0 <= previous <= charge.amount_refunded:
        raise ClientError(
            400,
            "invalid_event",
            "previous amount_refunded must be an int <= amount_refunded",
            "data.previous_attributes.amount_refunded",
        )
    amount, currency = _money(charge.amount_refunded - previous, charge.currency, "amount_refunded")
    if amount == 0:
        return "no new refunded amount"
    return {
        "kind": "payment.refunded",
        "customer": charge.customer,
        "amount": amount,
        "currency": currency,
        "reference": charge.id,
        "payment_reference": charge.payment_intent or charge.id,
    }


def _dispute(envelope: _Envelope) -> list[dict]:
    """Every charge.dispute.* event: the dispute's status (recorded for operators, moves no money: an
    inquiry withdraws nothing) and one money event per balance transaction the dispute lists.

    A balance transaction is reported again by later webhooks of the same dispute (created,
    funds_withdrawn, updated, closed all carry the list): its event is keyed by the balance
    transaction id and derived only from the balance transaction and the dispute's stable fields, so
    every webhook that carries it yields the byte-identical event (a duplicate, posted once)."""
    dispute = _object(_Dispute, envelope)
    amount, currency = _money(dispute.amount, dispute.currency, "amount")
    payment = dispute.payment_intent or dispute.charge
    events = [
        {
            "kind": "dispute.status",
            "dispute_status": dispute.status,
            "customer": None,
            "amount": amount,
            "currency": currency,
            "reference": dispute.id,
            "payment_reference": payment,
        }
    ]
    for i, txn in enumerate(dispute.balance_transactions):
        events.append(_dispute_funds(dispute, txn, f"data.object.balance_transactions.{i}", payment))
    return events


def _dispute_funds(dispute: _Dispute, txn: _BalanceTransaction, where: str, payment: str) -> dict:
    def refuse(message: str, field: str) -> ClientError:
        return ClientError(400, "invalid_event", message, f"{where}.{field}")

    if txn.net is not None and txn.net != txn.amount - txn.fee:
        raise refuse(f"net {txn.net} is not amount {txn.amount} minus fee {txn.fee}", "net")
    if txn.amount == 0:
        raise refuse("a dispute balance transaction moves a non-zero amount", "amount")
    withdrawal = txn.amount < 0
    expected = "dispute" if withdrawal else "dispute_reversal"
    if txn.reporting_category not in (None, expected):
        raise refuse(f"a {'negative' if withdrawal else 'positive'} amount is a {expected}", "reporting_category")
    # The dispute fee is charged with the withdrawal (fee >= 0) and refunded, if at all, with the
    # reinstatement (fee <= 0); the other signs are not a dispute's.
    fee = txn.fee if withdrawal else -txn.fee
    if fee < 0:
        raise refuse("a withdrawal charges a fee >= 0; a reinstatement refunds one (fee <= 0)", "fee")
    try:
        iso = normalise_currency(txn.currency)
    except UnknownCurrency as exc:
        raise refuse(str(exc), "currency") from None
    disputed, dispute_currency = _money(dispute.amount, dispute.currency, "amount")
    unbooked = {}
    if iso == dispute_currency:
        try:
            moved, fee = to_minor_units(abs(txn.amount), iso), to_minor_units(fee, iso)
        except ValueError as exc:
            raise refuse(str(exc), "amount") from None
    else:
        # Settled in another currency than the payment: the wallet was credited in the payment's
        # currency, so the disputed amount is booked in it; the fee (in the settlement currency) is not
        # booked (the ledger does not model Stripe's settlement conversion). It is not dropped silently:
        # the event carries it (unbooked_fee: the Dispute record shows it, `shared.cli disputes`), a
        # structured warning names it, and reconciliation's fee booking books it from the report.
        moved = disputed
        if fee:
            try:
                unbooked = {"unbooked_fee": to_minor_units(fee, iso), "unbooked_fee_currency": iso}
            except ValueError as exc:
                raise refuse(str(exc), "fee") from None
            log.warning(
                "dispute fee in the settlement currency not booked",
                extra={
                    "dispute": dispute.id,
                    "balance_transaction": txn.id,
                    "dispute_currency": dispute_currency,
                    "settlement_currency": iso,
                    "unbooked_fee": unbooked["unbooked_fee"],
                },
            )
        fee = 0
    return {
        **unbooked,
        "partner_event_id": txn.id,
        "partner_event_type": f"balance_transaction.{expected}",
        "occurred_at": datetime.fromtimestamp(txn.created, tz=UTC),
        "kind": "dispute.funds_withdrawn" if withdrawal else "dispute.funds_reinstated",
        "customer": None,
        "amount": moved,
        "fee": fee,
        "currency": dispute_currency,
        "reference": dispute.id,
        "payment_reference": payment,
    }


# What the parser before the dispute lifecycle stored for the same Stripe event id (the webhook's own
# event: balance transactions have their own ids, never seen before): `charge.dispute.created` ->
# dispute.opened (the disputed amount), `charge.dispute.closed` won -> dispute.won, lost ->
# dispute.lost (amount 0); every other dispute webhook was stored as not posted (no content hash).
_LEGACY_CLOSED = {"won": "dispute.won", "lost": "dispute.lost"}


def legacy_versions(event: CanonicalEvent) -> list[CanonicalEvent | None]:
    """The canonical events an earlier version of this plugin produced for the same webhook (None: it
    was stored and not posted). Intake treats a stored earlier version as this event (a redelivery,
    answered `duplicate`, never a conflict): the ledger posted it under its own rules, and the
    lifecycle's legacy handling (shared.ledger.dispute_lifecycle.settle_legacy) reconciles the books with Stripe's."""
    if (
        event.partner != NAME
        or event.kind != "dispute.status"
        or not event.partner_event_type.startswith("charge.dispute.")
    ):
        return []
    kind = "dispute.opened" if event.partner_event_type == "charge.dispute.created" else None
    if event.partner_event_type == "charge.dispute.closed":
        kind = _LEGACY_CLOSED.get(event.dispute_status or "")
    if kind is None:
        return [None]
    fields = event.model_dump(exclude={"dispute_status", "unbooked_fee", "unbooked_fee_currency"})
    return [
        CanonicalEvent(
            **{
                **fields,
                "kind": kind,
                "customer": None,
                "fee": 0,
                "amount": 0 if kind == "dispute.lost" else event.amount,
            }
        )
    ]


def _payout(envelope: _Envelope) -> dict | str:
    payout = _object(_Payout, envelope)
    amount, currency = _money(payout.amount, payout.currency, "amount")
    kind = "payout.paid" if envelope.type == "payout.paid" else "payout.failed"
    return {
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "reference": payout.id,
        "bank": payout.destination or "stripe_default",
    }


# Stripe event type -> normaliser. Other types are stored and acknowledged (2xx), never posted:
# Stripe retries non-2xx for days and disables endpoints that keep failing.
EVENT_TYPES = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "charge.refunded": _charge_refunded,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.funds_withdrawn": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
    "charge.dispute.closed": _dispute,
    "payout.paid": _payout,
    "payout.failed": _payout,
}


def parse(body: bytes, received_at: datetime, cfg, headers: Mapping[str, str] | None = None) -> list[Parsed]:
    return parse_events(body, received_at, livemode=cfg.livemode)


def parse_event(body: bytes, received_at: datetime, livemode: bool = False) -> Parsed:
    """The event the webhook itself is (for a dispute: its status; parse_events adds its money)."""
    return parse_events(body, received_at, livemode)[0]


def parse_events(body: bytes, received_at: datetime, livemode: bool = False) -> list[Parsed]:
    """Verified raw body -> Parsed items: first the webhook's own event (a CanonicalEvent, or the
    reason it is not posted), then, for a dispute, one per balance transaction it lists.
    `livemode` is what this deployment expects: a test-mode event never moves live money."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise ClientError(400, "invalid_event", "a Stripe event is a JSON object")
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if envelope.livemode != livemode:
        return [
            Parsed(
                envelope.id,
                envelope.type,
                None,
                f"livemode={envelope.livemode} event sent to a livemode={livemode} deployment",
            )
        ]
    normalise = EVENT_TYPES.get(envelope.type)
    if normalise is None:
        return [Parsed(envelope.id, envelope.type, None, f"event type {envelope.type} is not posted", _about(envelope))]
    normalised = normalise(envelope)
    if isinstance(normalised, str):
        return [Parsed(envelope.id, envelope.type, None, normalised, _about(envelope))]
    return [_canonical(envelope, fields, received_at) for fields in _as_list(normalised)]


def _about(envelope: _Envelope) -> str | None:
    """The pay-in or refund of ours a stored-only event is about (its object's metadata, as we set it: a
    pay-in's timeline finds e.g. its payment_intent.created or a failed refund's event by it); a value that
    is not one of our ids is not ours (nothing is posted from it, so it is no error here)."""
    obj = envelope.data.get("object")
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(metadata, dict):
        return None
    for key in (OUR_REFUND, OUR_PAYMENT):  # a refund's metadata names its refund (and may name its pay-in)
        value = metadata.get(key)
        if isinstance(value, str) and _OUR_ID.match(value):
            return value
    return None


def _as_list(normalised: dict | list[dict]) -> list[dict]:
    return normalised if isinstance(normalised, list) else [normalised]


def _canonical(envelope: _Envelope, fields: dict, received_at: datetime) -> Parsed:
    """One canonical event; `fields` may name its own partner event (a balance transaction)."""
    fields = dict(fields)
    event_id = fields.pop("partner_event_id", envelope.id)
    event_type = fields.pop("partner_event_type", envelope.type)
    occurred_at = fields.pop("occurred_at", datetime.fromtimestamp(envelope.created, tz=UTC))
    try:
        canonical = CanonicalEvent(
            event_id=f"{NAME}:{event_id}",
            partner=NAME,
            partner_event_id=event_id,
            partner_event_type=event_type,
            occurred_at=occurred_at,
            received_at=received_at,
            livemode=envelope.livemode,
            **fields,
        )
    except ValidationError as exc:
        raise _invalid(exc, ("data", "object")) from None
    return Parsed(event_id, event_type, canonical, None)


def acknowledge(results: list[dict]) -> Receipt:
    """Stripe needs a 2xx; the body tells what became of the webhook's own event and, for a dispute,
    of each balance transaction it carried (202 if any of them is still being published)."""
    first, *more = results
    body = {k: v for k, v in first.items() if k != "http"}
    if more:
        body["balance_transactions"] = [{k: v for k, v in r.items() if k != "http"} for r in more]
    return Receipt(max(r["http"] for r in results), body)
