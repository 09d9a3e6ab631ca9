"""A bank/ACH partner in the style of Column: `Column-Signature: <hex HMAC-SHA256 of the raw body>`
with the webhook secret (several active secrets for rotation: COLUMN_WEBHOOK_SECRETS). Events
`ach.incoming_transfer.completed`, `ach.outgoing_transfer.completed`, `ach.outgoing_transfer.returned`
carry an ACH transfer object with `amount` in minor units, `currency_code`, `trace_number` and the
customer's `account_number_id` (each customer has its own account number at the bank).

The signature covers no timestamp, so a captured request could be replayed: the event id dedupe makes
a replay a harmless duplicate (stored, counted, not posted twice).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.config import PartnerSecret
from shared.domain.events import CanonicalEvent
from shared.domain.money import MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.errors import ClientError, NotConfigured
from shared.partners.base import Parsed, acknowledge_one, invalid, no_legacy_versions

NAME = "column"
SIGNATURE_HEADER = "Column-Signature"
KEPT_HEADERS = (SIGNATURE_HEADER,)
WEBHOOK_SECRETS = PartnerSecret("COLUMN_WEBHOOK_SECRETS")
SECRETS = (WEBHOOK_SECRETS,)
REPORT_FORMAT = None  # reconciled through the bank statement of BANK, not a report of its own
BANK = "column"
KINDS = {
    "ach.incoming_transfer.completed": "ach.credit.received",
    "ach.outgoing_transfer.completed": "ach.debit.sent",
    "ach.outgoing_transfer.returned": "ach.debit.returned",
}


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, cfg, now: int) -> None:
    secrets = cfg.secret(WEBHOOK_SECRETS)
    if not secrets:
        raise NotConfigured(f"{WEBHOOK_SECRETS.env} not configured")
    given = headers.get(SIGNATURE_HEADER) or ""
    if not re.fullmatch(r"[0-9a-f]{64}", given):
        raise ClientError(
            401,
            "signature_missing" if not given else "signature_malformed",
            "Column-Signature must be a hex HMAC-SHA256",
            SIGNATURE_HEADER,
            type="authentication_error",
        )
    if not any([hmac.compare_digest(sign(body, s).encode(), given.encode()) for s in secrets]):
        raise ClientError(
            401,
            "signature_invalid",
            "Column-Signature matches no active secret",
            SIGNATURE_HEADER,
            type="authentication_error",
        )


class _Transfer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^acht_[A-Za-z0-9]{1,64}$")
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True)
    currency_code: str
    account_number_id: str = Field(pattern=r"^acno_[A-Za-z0-9]{1,59}$")
    trace_number: str | None = Field(default=None, pattern=r"^[0-9]{15}$")


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^evnt_[A-Za-z0-9]{1,64}$")
    type: str = Field(max_length=100)
    created_at: AwareDatetime
    data: dict


def parse(body: bytes, received_at: datetime, cfg, headers: Mapping[str, str] | None = None) -> list[Parsed]:
    try:
        event = _Event.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc) from None
    kind = KINDS.get(event.type)
    if kind is None:
        return [Parsed(event.id, event.type, None, f"event type {event.type} is not posted")]
    try:
        transfer = _Transfer.model_validate(event.data)
        currency = normalise_currency(transfer.currency_code)
    except ValidationError as exc:
        raise invalid(exc, "data") from None
    except UnknownCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), "data.currency_code") from None
    canonical = CanonicalEvent(
        event_id=f"{NAME}:{event.id}",
        partner=NAME,
        partner_event_id=event.id,
        partner_event_type=event.type,
        kind=kind,
        occurred_at=event.created_at,
        received_at=received_at,
        customer=transfer.account_number_id,
        amount=transfer.amount,
        currency=currency,
        reference=transfer.id,
        bank=BANK,
        livemode=cfg.livemode,
    )
    return [Parsed(event.id, event.type, canonical, None)]


acknowledge = acknowledge_one
legacy_versions = no_legacy_versions
