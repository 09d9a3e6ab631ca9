"""Stripe webhooks: signature scheme, event envelope, and normalisation to CanonicalEvent. Pure: no I/O.

Signature (https://docs.stripe.com/webhooks#verify-manually): header
`Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, where each v1 is
HMAC-SHA256(secret, f"{t}." + raw body). Several secrets may be active during rotation; several v1
values may be present while Stripe rolls its own. We accept if any (secret, v1) pair matches, with
constant-time comparison, and require |now - t| <= tolerance in BOTH directions (Stripe's SDK only
checks the past; a far-future timestamp would otherwise stay replayable forever).

Amounts: Stripe sends integers in "the smallest currency unit", which for every currency Stripe
supports equals the ISO-4217 minor unit (JPY 1000 means ¥1000; USD 1000 means $10.00; BHD
amounts are in fils with a trailing zero). So the amount maps 1:1 to ledger minor units; only the
currency code is normalised (Stripe sends it lower-case).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ClientError, pydantic_param
from shared.events import CanonicalEvent
from shared.money import MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.partners.base import Parsed

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value Stripe would send (used by tests, the demo and the load generator)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: int, tolerance: int = 300) -> None:
    """Raise ClientError(401) unless the body carries a valid, fresh Stripe signature."""
    header = headers.get(SIGNATURE_HEADER)
    if not header:
        raise ClientError(
            401,
            "signature_missing",
            "Stripe-Signature header is required",
            SIGNATURE_HEADER,
            type="authentication_error",
        )
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                raise ClientError(
                    401,
                    "signature_malformed",
                    "Stripe-Signature has a bad timestamp",
                    SIGNATURE_HEADER,
                    type="authentication_error",
                )
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise ClientError(
            401,
            "signature_malformed",
            "Stripe-Signature needs t= and at least one v1=",
            SIGNATURE_HEADER,
            type="authentication_error",
        )
    if abs(now - timestamp) > tolerance:
        raise ClientError(
            401,
            "timestamp_out_of_tolerance",
            f"signature timestamp is more than {tolerance}s from now",
            SIGNATURE_HEADER,
            type="authentication_error",
        )
    signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        # Check every candidate (no early exit on the first mismatch) with constant-time compares.
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise ClientError(
        401,
        "signature_invalid",
        "no Stripe-Signature v1 value matches an active secret",
        SIGNATURE_HEADER,
        type="authentication_error",
    )


class _Envelope(BaseModel):
    """The fields of Stripe's Event object we rely on (others are kept in the raw inbox copy)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^evt_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^event$")
    type: str = Field(min_length=1, max_length=100)
    created: int = Field(ge=0)
    livemode: bool
    data: dict[str, Any]


class _PaymentIntent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^pi_[A-Za-z0-9_]+$", max_length=255)
    object: str = Field(pattern=r"^payment_intent$")
    amount_received: int = Field(ge=0, le=MAX_AMOUNT, strict=True)
    currency: str
    customer: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9_]+$", max_length=255)
    status: str


def _invalid(exc: ValidationError, prefix: tuple = ()) -> ClientError:
    first = exc.errors()[0]
    return ClientError(400, "invalid_event", f"{first['msg']}", pydantic_param(prefix + tuple(first["loc"])))


def parse(body: bytes, received_at: datetime) -> Parsed:
    """Verified raw body -> Parsed (with a CanonicalEvent, or the reason it is not posted)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClientError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ClientError(400, "invalid_event", "a Stripe event is a JSON object")
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if envelope.type != "payment_intent.succeeded":
        return Parsed(envelope.id, envelope.type, None, f"event type {envelope.type} is not posted yet")
    try:
        intent = _PaymentIntent.model_validate(envelope.data.get("object"))
    except ValidationError as exc:
        raise _invalid(exc, ("data", "object")) from None
    try:
        currency = normalise_currency(intent.currency)
    except UnknownCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), "data.object.currency") from None
    if intent.amount_received == 0:
        return Parsed(envelope.id, envelope.type, None, "amount_received is 0: nothing to post")
    canonical = CanonicalEvent(
        event_id=f"{NAME}:{envelope.id}",
        partner=NAME,
        partner_event_id=envelope.id,
        partner_event_type=envelope.type,
        kind="payment.captured",
        occurred_at=datetime.fromtimestamp(envelope.created, tz=UTC),
        received_at=received_at,
        customer=intent.customer,
        amount=intent.amount_received,
        currency=currency,
        reference=intent.id,
        livemode=envelope.livemode,
    )
    return Parsed(envelope.id, envelope.type, canonical, None)
