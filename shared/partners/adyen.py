"""Adyen standard notifications: Basic auth + per-item HMAC, batched items, "[accepted]". Pure: no I/O.

Request: JSON `{"live": "false", "notificationItems": [{"NotificationRequestItem": {...}}, ...]}`;
booleans arrive as strings. Each item is signed: HMAC-SHA256 with the hex key from the Customer Area
over `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:
success` (missing values as empty strings), base64, in `additionalData.hmacSignature`. The endpoint
also requires HTTP Basic auth. Several active keys / credentials are accepted during rotation
(ADYEN_HMAC_KEYS, ADYEN_BASIC_AUTH: comma-separated). Adyen expects the body `[accepted]` once the
batch is stored; anything else makes it retry the whole batch.

Dedupe key (partner event id): eventCode + pspReference + success. Mapping (success == "true"):
AUTHORISATION -> authorization.created (hold, expires AUTH_VALIDITY_DAYS = 7 days after eventDate),
CAPTURE -> authorization.captured (of originalReference), CANCELLATION -> authorization.voided,
REFUND -> payment.refunded, CHARGEBACK -> dispute.opened. success == "false" is stored, not posted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ClientError, NotConfigured, Receipt
from shared.events import CanonicalEvent
from shared.money import MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.partners.base import Parsed, invalid, load_json

NAME = "adyen"
KEPT_HEADERS = ()  # never the Authorization header: it carries the Basic credentials
AUTH_VALIDITY_DAYS = 7
HMAC_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)
_REF = r"^[A-Za-z0-9_\-]{1,80}$"


class _Amount(BaseModel):
    model_config = ConfigDict(extra="ignore")
    currency: str
    value: int = Field(ge=0, le=MAX_AMOUNT, strict=True)


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    pspReference: str = Field(pattern=_REF)
    originalReference: str | None = Field(default=None, pattern=_REF)
    merchantAccountCode: str = Field(min_length=1, max_length=100)
    merchantReference: str = Field(default="", max_length=200)
    eventCode: str = Field(pattern=r"^[A-Z_]{1,50}$")
    eventDate: AwareDatetime = Field(lt=datetime(9000, 1, 1, tzinfo=UTC))
    success: str = Field(pattern=r"^(true|false)$")
    amount: _Amount
    additionalData: dict[str, str] = Field(default_factory=dict)


def signing_string(item: Mapping) -> str:
    amount = item.get("amount") if isinstance(item.get("amount"), dict) else {}
    values = {**item, "value": amount.get("value", ""), "currency": amount.get("currency", "")}
    return ":".join("" if values.get(f) is None else str(values.get(f)) for f in HMAC_FIELDS)


def sign(item: Mapping, hex_key: str) -> str:
    """The additionalData.hmacSignature Adyen would send (tests, demo)."""
    digest = hmac.new(binascii.unhexlify(hex_key), signing_string(item).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _auth_error(code: str, message: str, param: str) -> ClientError:
    return ClientError(401, code, message, param, type="authentication_error")


def verify(headers: Mapping[str, str], body: bytes, cfg, now: int) -> None:
    """Basic auth (constant-time, any active credential). Item HMACs are checked in parse()."""
    credentials = cfg.adyen_basic_auth
    if not credentials or not cfg.adyen_hmac_keys:
        raise NotConfigured("ADYEN_BASIC_AUTH / ADYEN_HMAC_KEYS not configured")
    given = headers.get("Authorization") or ""
    if not given.startswith("Basic "):
        raise _auth_error("basic_auth_missing", "HTTP Basic authentication is required", "Authorization")
    expected = [basic_auth(*c.split(":", 1)).encode() for c in credentials]
    if not any([hmac.compare_digest(given.encode("utf-8", "replace"), e) for e in expected]):
        raise _auth_error("basic_auth_invalid", "HTTP Basic credentials do not match", "Authorization")


def _item_hmac_ok(raw: Mapping, keys: tuple[str, ...]) -> bool:
    additional = raw.get("additionalData")
    given = additional.get("hmacSignature") if isinstance(additional, dict) else None
    if not isinstance(given, str) or not re.fullmatch(r"[A-Za-z0-9+/=]{1,200}", given):
        return False
    return any([hmac.compare_digest(sign(raw, key).encode(), given.encode()) for key in keys])


def _customer(item: _Item) -> str | None:
    shopper = item.additionalData.get("shopperReference")
    return shopper if shopper and re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", shopper) else None


def parse(body: bytes, received_at: datetime, cfg, headers: Mapping[str, str] | None = None) -> list[Parsed]:
    payload = load_json(body)
    items = payload.get("notificationItems") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise ClientError(400, "invalid_event", "notificationItems must be a non-empty list", "notificationItems")
    live = payload.get("live")
    if live not in ("true", "false"):
        raise ClientError(400, "invalid_event", 'live must be "true" or "false"', "live")
    parsed = []
    for i, wrapper in enumerate(items):
        where = f"notificationItems.{i}.NotificationRequestItem"
        raw = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
        if not isinstance(raw, dict):
            raise ClientError(400, "invalid_event", "each item wraps a NotificationRequestItem", where)
        if not _item_hmac_ok(raw, cfg.adyen_hmac_keys):
            raise _auth_error(
                "signature_invalid", "item HMAC does not match an active key", f"{where}.additionalData.hmacSignature"
            )
        try:
            item = _Item.model_validate(raw)
        except ValidationError as exc:
            raise invalid(exc, where) from None
        parsed.append(_normalise(item, live == "true", received_at, cfg, where))
    return parsed


def _normalise(item: _Item, live: bool, received_at: datetime, cfg, where: str) -> Parsed:
    event_id = f"{item.eventCode}-{item.pspReference}-{item.success}"
    if live != cfg.livemode:
        return Parsed(
            event_id, item.eventCode, None, f"live={live} notification sent to a livemode={cfg.livemode} deployment"
        )
    if item.success != "true":
        return Parsed(event_id, item.eventCode, None, f"{item.eventCode} was not successful: no money moved")
    try:
        currency = normalise_currency(item.amount.currency)
    except UnknownCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), f"{where}.amount.currency") from None
    original = item.originalReference
    fields = {
        "AUTHORISATION": {
            "kind": "authorization.created",
            "reference": item.pspReference,
            "expires_at": item.eventDate + timedelta(days=AUTH_VALIDITY_DAYS),
        },
        "CAPTURE": {"kind": "authorization.captured", "reference": original},
        "CANCELLATION": {"kind": "authorization.voided", "reference": original},
        "REFUND": {"kind": "payment.refunded", "reference": item.pspReference, "payment_reference": original},
        "CHARGEBACK": {"kind": "dispute.opened", "reference": item.pspReference, "payment_reference": original},
    }.get(item.eventCode)
    if fields is None:
        return Parsed(event_id, item.eventCode, None, f"event code {item.eventCode} is not posted")
    if fields["reference"] is None or ("payment_reference" in fields and not original):
        raise ClientError(
            400, "invalid_event", f"{item.eventCode} needs originalReference", f"{where}.originalReference"
        )
    amount = 0 if item.eventCode == "CANCELLATION" else item.amount.value
    try:
        canonical = CanonicalEvent(
            event_id=f"{NAME}:{event_id}",
            partner=NAME,
            partner_event_id=event_id,
            partner_event_type=item.eventCode,
            occurred_at=item.eventDate,
            received_at=received_at,
            customer=_customer(item) if item.eventCode == "AUTHORISATION" else None,
            amount=amount,
            currency=currency,
            livemode=live,
            **fields,
        )
    except ValidationError as exc:
        raise invalid(exc, where) from None
    return Parsed(event_id, item.eventCode, canonical, None)


def acknowledge(results: list[dict]) -> Receipt:
    """Adyen's contract: the literal body [accepted] once every item is stored (202 included: stored,
    publishing is being retried by us); anything else makes Adyen resend the batch."""
    return Receipt(200, "[accepted]")
