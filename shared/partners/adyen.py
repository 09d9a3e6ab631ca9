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

Amounts: `amount.value` is in Adyen's minor units, whose exponent is Adyen's own table
(ADYEN_EXPONENTS), not always ISO-4217's: CLP and ISK are two-decimal at Adyen (value 100000 =
1000 pesos), CVE and IDR zero-decimal (value 1000 = 1000 escudos). `to_minor_units` converts to ISO
minor units and `to_adyen_value` back, both exactly; a value that would need rounding (CLP 150050,
i.e. 1500.50 pesos, when ISO CLP has no minor unit) and a currency Adyen does not list are refused
with 400 `invalid_event`.
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

from shared.config import PartnerSecret, credential_pairs, hex_keys
from shared.domain.events import CanonicalEvent
from shared.domain.money import (
    MAX_AMOUNT,
    InexactAmount,
    UnknownCurrency,
    convert,
    decimal_text,
    exponent,
    exponent_table,
    normalise_currency,
)
from shared.errors import ClientError, NotConfigured, Receipt
from shared.partners.base import Parsed, invalid, load_json, no_legacy_versions

NAME = "adyen"
KEPT_HEADERS = ()  # never the Authorization header: it carries the Basic credentials
HMAC_KEYS = PartnerSecret("ADYEN_HMAC_KEYS", hex_keys)
BASIC_AUTH = PartnerSecret("ADYEN_BASIC_AUTH", credential_pairs)
SECRETS = (HMAC_KEYS, BASIC_AUTH)
REPORT_FORMAT = "adyen_report"  # settlement details reports (shared.reconciliation.formats.adyen_report)
TRANSFER_API = None  # ledgerline sends no payouts through it
BANK = None
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

# Adyen's currency table: every code Adyen lists and its "Decimals" (the exponent of amount.value in
# the API and webhooks, and the precision of amounts in its reports). Source:
# https://docs.adyen.com/development-resources/currency-codes ("Currency codes and minor units"),
# stored copy read 2026-12-01; AED..ETB as on that page, the rest as in Adyen's own copy of the same
# table (Adyen/adyen-salesforce-headless-commerce-pwa@929c1f4e
# packages/adyen-salesforce-pwa/lib/utils/currencyList.mjs), whose older head still listed ANG and
# BGN, which the page no longer does. The page marks CLP "2 (differs from standard)" and CVE "0
# (differs from standard)", and says that for CLP, CVE, IDR and ISK the ISO standard has a
# different number of decimals and Adyen's table is leading. CNH (offshore yuan) and VEF are Adyen
# codes with no ISO-4217 entry in shared.domain.money: the ledger refuses them.
_ADYEN_TABLE = """
AED 2 ALL 2 AMD 2 AOA 2 ARS 2 AUD 2 AWG 2 AZN 2 BAM 2 BBD 2 BDT 2 BHD 3 BMD 2 BND 2 BOB 2 BRL 2
BSD 2 BWP 2 BYN 2 BZD 2 CAD 2 CHF 2 CLP 2 CNH 2 CNY 2 COP 2 CRC 2 CUP 2 CVE 0 CZK 2 DJF 0 DKK 2
DOP 2 DZD 2 EGP 2 ETB 2 EUR 2 FJD 2 FKP 2 GBP 2 GEL 2 GHS 2 GIP 2 GMD 2 GNF 0 GTQ 2 GYD 2 HKD 2
HNL 2 HTG 2 HUF 2 IDR 0 ILS 2 INR 2 IQD 3 ISK 2 JMD 2 JOD 3 JPY 0 KES 2 KGS 2 KHR 2 KMF 0 KRW 0
KWD 3 KYD 2 KZT 2 LAK 2 LBP 2 LKR 2 LYD 3 MAD 2 MDL 2 MKD 2 MMK 2 MNT 2 MOP 2 MRU 2 MUR 2 MVR 2
MWK 2 MXN 2 MYR 2 MZN 2 NAD 2 NGN 2 NIO 2 NOK 2 NPR 2 NZD 2 OMR 3 PAB 2 PEN 2 PGK 2 PHP 2 PKR 2
PLN 2 PYG 0 QAR 2 RON 2 RSD 2 RUB 2 RWF 0 SAR 2 SBD 2 SCR 2 SEK 2 SGD 2 SHP 2 SLE 2 SOS 2 SRD 2
STN 2 SVC 2 SZL 2 THB 2 TND 3 TOP 2 TRY 2 TTD 2 TWD 2 TZS 2 UAH 2 UGX 0 USD 2 UYU 2 UZS 2 VEF 2
VND 0 VUV 0 WST 2 XAF 0 XCD 2 XOF 0 XPF 0 YER 2 ZAR 2 ZMW 2
"""
ADYEN_EXPONENTS: dict[str, int] = exponent_table(_ADYEN_TABLE)


class NotAnAdyenCurrency(ValueError):
    def __init__(self, code: str):
        super().__init__(f"{code} is not in Adyen's currency table: its Adyen exponent is unknown")


def adyen_exponent(currency: str) -> int:
    """Adyen's exponent for an upper-case code, or NotAnAdyenCurrency."""
    if currency not in ADYEN_EXPONENTS:
        raise NotAnAdyenCurrency(currency)
    return ADYEN_EXPONENTS[currency]


def to_minor_units(value: int, currency: str) -> int:
    """Adyen amount.value -> ISO-4217 minor units of `currency` (an upper-case ISO code), exactly.
    Raises NotAnAdyenCurrency, or InexactAmount (a ValueError) when the value needs rounding."""
    theirs, ours = adyen_exponent(currency), exponent(currency)
    return _convert(
        value,
        theirs,
        ours,
        f"{currency} value {value} is {decimal_text(value, theirs)} {currency} (Adyen: {theirs} decimals), "
        f"not a whole number of ISO-4217 minor units ({currency} has {ours} decimals)",
    )


def to_adyen_value(amount: int, currency: str) -> int:
    """ISO-4217 minor units -> Adyen amount.value: the other direction, for whatever ledgerline writes
    in Adyen's shape (test and demo notifications). Same exceptions as to_minor_units."""
    theirs, ours = adyen_exponent(currency), exponent(currency)
    return _convert(
        amount, ours, theirs, f"{decimal_text(amount, ours)} {currency} has no exact Adyen value ({theirs} decimals)"
    )


def _convert(amount: int, frm: int, to: int, inexact: str) -> int:
    """money.convert, its InexactAmount saying in the partner's words what could not be converted."""
    try:
        return convert(amount, frm, to)
    except InexactAmount:
        raise InexactAmount(amount, frm, to, inexact) from None


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
    credentials = cfg.secret(BASIC_AUTH)
    if not credentials or not cfg.secret(HMAC_KEYS):
        raise NotConfigured(f"{BASIC_AUTH.env} / {HMAC_KEYS.env} not configured")
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
    keys = cfg.secret(HMAC_KEYS)
    parsed = []
    for i, wrapper in enumerate(items):
        where = f"notificationItems.{i}.NotificationRequestItem"
        raw = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
        if not isinstance(raw, dict):
            raise ClientError(400, "invalid_event", "each item wraps a NotificationRequestItem", where)
        if not _item_hmac_ok(raw, keys):
            raise _auth_error(
                "signature_invalid", "item HMAC does not match an active key", f"{where}.additionalData.hmacSignature"
            )
        try:
            item = _Item.model_validate(raw)
        except ValidationError as exc:
            raise invalid(exc, where) from None
        parsed.append(_normalise(item, live == "true", received_at, cfg, where))
    return parsed


NO_FUNDS_MOVE = frozenset({"NOTIFICATION_OF_CHARGEBACK", "REQUEST_FOR_INFORMATION"})


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
        # Adyen's dispute flow: CHARGEBACK and SECOND_CHARGEBACK deduct the disputed funds, CHARGEBACK_REVERSED
        # returns them; each is its own event (the code is in the event id), so a second chargeback after
        # a reversal withdraws again. NOTIFICATION_OF_CHARGEBACK and REQUEST_FOR_INFORMATION move nothing.
        "CHARGEBACK": {"kind": "dispute.opened", "reference": item.pspReference, "payment_reference": original},
        "SECOND_CHARGEBACK": {"kind": "dispute.opened", "reference": item.pspReference, "payment_reference": original},
        "CHARGEBACK_REVERSED": {"kind": "dispute.won", "reference": item.pspReference, "payment_reference": original},
    }.get(item.eventCode)
    if item.eventCode in NO_FUNDS_MOVE:
        return Parsed(event_id, item.eventCode, None, f"{item.eventCode}: a dispute notice, no funds move yet")
    if fields is None:
        return Parsed(event_id, item.eventCode, None, f"event code {item.eventCode} is not posted")
    if fields["reference"] is None or ("payment_reference" in fields and not original):
        raise ClientError(
            400, "invalid_event", f"{item.eventCode} needs originalReference", f"{where}.originalReference"
        )
    amount = 0 if item.eventCode == "CANCELLATION" else _iso_amount(item.amount.value, currency, where)
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


def _iso_amount(value: int, currency: str, where: str) -> int:
    """amount.value (Adyen's units) -> ISO-4217 minor units, or a 400 naming the field."""
    try:
        minor = to_minor_units(value, currency)
    except NotAnAdyenCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), f"{where}.amount.currency") from None
    except InexactAmount as exc:
        raise ClientError(400, "invalid_event", str(exc), f"{where}.amount.value") from None
    if minor > MAX_AMOUNT:
        raise ClientError(400, "invalid_event", "amount too large in ISO-4217 minor units", f"{where}.amount.value")
    return minor


def acknowledge(results: list[dict]) -> Receipt:
    """Adyen's contract: the literal body [accepted] once every item is stored (202 included: stored,
    publishing is being retried by us); anything else makes Adyen resend the batch."""
    return Receipt(200, "[accepted]")


legacy_versions = no_legacy_versions
