"""The customer event catalogue: ONE registry of every event type ledgerline sends its tenants, each
with its JSON schema (the `data` object), its ordering key and whether an endpoint must name it to get
it (opt-in). docs/webhooks.md lists the same types (a test compares them); `schema_of` is what the
contract tests validate every produced event against.

Versioning: every event carries `api_version` (API_VERSION below, a date). A change that removes or
renames a field, or changes a field's meaning, is a new version; adding an optional field or a new
type is not. docs/webhooks.md keeps the version history."""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "2026-12-01"
VERSIONS = ("2026-12-01",)  # oldest first; the last is API_VERSION

_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_AMOUNT = {"type": "integer", "minimum": 0, "description": "integer minor units (ISO-4217 exponent)"}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_STR = {"type": ["string", "null"]}


def _object(name: str, properties: dict, required: tuple[str, ...] | None = None) -> dict:
    return {
        "type": "object",
        "properties": {"object": {"const": name}, **properties},
        "required": ["object", *(required if required is not None else tuple(properties))],
        "additionalProperties": False,
    }


PAYOUT = _object(
    "payout",
    {
        "id": _ID,
        "customer": _ID,
        "amount": _AMOUNT,
        "currency": _CURRENCY,
        "status": {"enum": ["pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"]},
        "rail": {"type": "string"},
        "destination": {
            "type": "object",
            "properties": {
                "rail": {"type": "string"},
                "routing_number": {"type": "string"},
                "account_number": {"type": "string", "pattern": "^•+[0-9]{0,4}$", "description": "masked"},
            },
            "required": ["rail", "routing_number", "account_number"],
            "additionalProperties": False,
        },
        "partner_reference": _NULLABLE_STR,
        "failure_reason": _NULLABLE_STR,
        "return_code": _NULLABLE_STR,
        "description": _NULLABLE_STR,
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "created": _TIME,
    },
)
PAYMENT = _object(
    "payment",
    {
        "id": _ID,
        "customer": _ID,
        "amount": _AMOUNT,
        "currency": _CURRENCY,
        "status": {"enum": ["processing", "succeeded", "failed"]},
        "processor_reference": _NULLABLE_STR,
        "failure_reason": _NULLABLE_STR,
        "amount_refunded": _AMOUNT,
        "created": _TIME,
    },
)
REFUND = _object(
    "refund",
    {
        "id": _ID,
        "payment": _ID,
        "customer": _ID,
        "amount": _AMOUNT,
        "currency": _CURRENCY,
        "status": {"enum": ["succeeded"]},
        "processor_reference": _NULLABLE_STR,
        "created": _TIME,
    },
)
_ENTRY = {
    "type": "object",
    "properties": {
        "customer": _ID,
        "account": _ID,
        "direction": {"enum": ["debit", "credit"]},
        "amount": _AMOUNT,
        "currency": _CURRENCY,
    },
    "required": ["customer", "account", "direction", "amount", "currency"],
    "additionalProperties": False,
}
TRANSACTION = _object(
    "transaction",
    {
        "id": _ID,
        "rule": {"type": "string"},
        "reverses": _NULLABLE_STR,
        "effective_at": _TIME,
        "posted_at": _TIME,
        "entries": {"type": "array", "items": _ENTRY, "minItems": 1},
    },
)
HOLD = _object(
    "hold",
    {
        "id": _ID,
        "customer": _ID,
        "account": _ID,
        "amount": _AMOUNT,
        "currency": _CURRENCY,
        "status": {"enum": ["held", "captured", "voided", "expired"]},
        "captured": {**_AMOUNT, "description": "what this capture took (0 unless status is captured)"},
        "rule": {"type": "string"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "transaction_id": _ID,
    },
)
BALANCE = _object(
    "balance",
    {
        "customer": _ID,
        "account": _ID,
        "currency": _CURRENCY,
        "posted": {"type": "integer"},
        "pending": {"type": "integer", "description": "held (pending debits)"},
        "available": {"type": "integer", "description": "posted minus held"},
        "transaction_id": _ID,
        "account_version": {"type": "integer", "minimum": 1},
    },
)
DISPUTE = _object(
    "dispute",
    {
        "id": _ID,
        "partner": {"type": "string"},
        "customer": _ID,
        "payment_reference": _NULLABLE_STR,
        "amount": {"type": ["integer", "null"], "minimum": 0},
        "currency": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "withdrawn": _AMOUNT,
        "reinstated": _AMOUNT,
    },
)
ENDPOINT = _object(
    "webhook_endpoint",
    {
        "id": _ID,
        "url": {"type": "string"},
        "disabled_reason": {"enum": ["gone", "failing"]},
        "failing_since": {"type": ["string", "null"], "format": "date-time"},
    },
)


@dataclass(frozen=True)
class EventType:
    """One type of the catalogue. `key`: what orders it (docs/webhooks.md "Ordering"); `opt_in`: sent
    only to endpoints that name it in their filter (balance.updated: one per wallet posting)."""

    name: str
    description: str
    schema: dict
    key: str
    opt_in: bool = False


TYPES: tuple[EventType, ...] = (
    EventType("payment.succeeded", "a pay-in succeeded; the wallet is credited", PAYMENT, "the payment id"),
    EventType("payment.failed", "a pay-in failed; nothing moved", PAYMENT, "the payment id"),
    EventType("payment.refunded", "a refund of a pay-in succeeded; the wallet is debited", REFUND, "the payment id"),
    EventType("payout.pending", "a payout was accepted and its amount held on the wallet", PAYOUT, "the payout id"),
    EventType("payout.submitted", "the bank accepted the payout's transfer", PAYOUT, "the payout id"),
    EventType("payout.paid", "the transfer settled; the hold is captured", PAYOUT, "the payout id"),
    EventType("payout.failed", "the payout failed; the hold is voided", PAYOUT, "the payout id"),
    EventType("payout.returned", "a paid payout came back; the wallet is credited again", PAYOUT, "the payout id"),
    EventType(
        "payout.canceled", "the payout was canceled before submission; the hold is voided", PAYOUT, "the payout id"
    ),
    EventType(
        "transfer.posted", "a ledger transaction moved a customer's posted balance", TRANSACTION, "the transaction id"
    ),
    EventType("hold.created", "an amount was held on a customer's wallet", HOLD, "the hold id"),
    EventType("hold.captured", "a hold was captured (all or part)", HOLD, "the hold id"),
    EventType("hold.voided", "a hold was released without moving money", HOLD, "the hold id"),
    EventType("hold.expired", "a hold reached its expiry and was released", HOLD, "the hold id"),
    EventType(
        "balance.updated",
        "a wallet's balance changed (one per wallet and transaction)",
        BALANCE,
        "the account and currency",
        opt_in=True,
    ),
    EventType("dispute.opened", "a partner opened a dispute on a customer's payment", DISPUTE, "the dispute id"),
    EventType("dispute.closed", "a dispute reached a final status (won, lost…)", DISPUTE, "the dispute id"),
    EventType(
        "webhook_endpoint.disabled",
        "one of the tenant's endpoints was disabled (410, or failing for 5 days); sent to the others",
        ENDPOINT,
        "the endpoint id",
    ),
)
BY_NAME = {t.name: t for t in TYPES}
DEFAULT_TYPES = tuple(t.name for t in TYPES if not t.opt_in)  # an endpoint without a filter gets these


def envelope_schema(event_type: EventType) -> dict:
    """The JSON schema of the whole body as sent (and as GET /v1/events/{id} shows it)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_type.name,
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"},
            "type": {"const": event_type.name},
            "api_version": {"enum": list(VERSIONS)},
            "timestamp": _TIME,
            "ordering": {
                "type": "object",
                "properties": {"key": _ID, "sequence": {"type": "integer", "minimum": 1}},
                "required": ["key", "sequence"],
                "additionalProperties": False,
            },
            "data": event_type.schema,
        },
        "required": ["id", "type", "api_version", "timestamp", "ordering", "data"],
        "additionalProperties": False,
    }


def subscribed(filter_types: tuple[str, ...], event_type: str) -> bool:
    """Does an endpoint with this filter (empty: every default type) get events of this type?"""
    return event_type in filter_types if filter_types else event_type in DEFAULT_TYPES


def _check() -> None:
    names = [t.name for t in TYPES]
    if len(set(names)) != len(names):
        raise ValueError("duplicate event type in the catalogue")
    for t in TYPES:
        if t.name.count(".") != 1 or t.schema.get("type") != "object":
            raise ValueError(f"malformed event type {t.name}")
    if VERSIONS[-1] != API_VERSION:
        raise ValueError("API_VERSION must be the newest version")


_check()
