"""A bank/ACH partner in the style of Column: `Column-Signature: <hex HMAC-SHA256 of the raw body>`
with the webhook secret (several active secrets for rotation: COLUMN_WEBHOOK_SECRETS). Events
`ach.incoming_transfer.completed`, `ach.outgoing_transfer.completed`, `ach.outgoing_transfer.returned`
carry an ACH transfer object with `amount` in minor units, `currency_code`, `trace_number` and the
customer's `account_number_id` (each customer has its own account number at the bank).

Payout transfers (ledgerline's own outgoing credits, created through the transfer API by the payments
service with an idempotency key `<payout id>-<attempt>`, shared.domain.payments.ids) are accepted and
stored but never posted as `ach.debit.*`: the payout's own hold/capture books them (docs/payments.md),
so posting the bank's event too would debit the wallet twice. They reach the payments service, not the
ledger (a later step routes them).

The signature covers no timestamp, so a captured request could be replayed: the event id dedupe makes
a replay a harmless duplicate (stored, counted, not posted twice).

Every bank partner of this style (another bank on the same API: shared.partners.lakeside) is built by
`column_style(...)`: one webhook scheme, its own name, secret, event kinds and bank.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.config import PartnerSecret
from shared.domain.events import CanonicalEvent
from shared.domain.money import MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.domain.payments.ids import IDEMPOTENCY_KEY
from shared.errors import ClientError, NotConfigured
from shared.partners.base import Parsed, TransferApi, acknowledge_one, invalid, no_legacy_versions

SIGNATURE_HEADER = "Column-Signature"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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


def _validated(model, event: _Event):
    """The event's transfer as `model`, and its ISO currency; a 400 naming the field otherwise."""
    try:
        transfer = model.model_validate(event.data)
        return transfer, normalise_currency(transfer.currency_code)
    except ValidationError as exc:
        raise invalid(exc, "data") from None
    except UnknownCurrency as exc:
        raise ClientError(400, "invalid_event", str(exc), "data.currency_code") from None


def payout_transfer(data: dict) -> bool:
    """A transfer ledgerline created for a payout (its idempotency key is a payout attempt's)."""
    key = data.get("idempotency_key")
    return isinstance(key, str) and IDEMPOTENCY_KEY.match(key) is not None and key.startswith("po_")


@dataclass(frozen=True)
class ColumnStyle:
    """The webhook scheme of a Column-style bank: verify (hex HMAC-SHA256 of the raw body under any of
    `secret`'s active values) and parse (an `evnt_…` envelope around an `acht_…` transfer; `kinds` maps
    the event types that are posted, at bank `bank`)."""

    name: str
    secret: PartnerSecret
    kinds: Mapping[str, str] = field(default_factory=dict)
    bank: str | None = None
    signature_header: str = SIGNATURE_HEADER

    def verify(self, headers: Mapping[str, str], body: bytes, cfg, now: int) -> None:
        secrets = cfg.secret(self.secret)
        if not secrets:
            raise NotConfigured(f"{self.secret.env} not configured")
        given = headers.get(self.signature_header) or ""
        if not re.fullmatch(r"[0-9a-f]{64}", given):
            raise ClientError(
                401,
                "signature_missing" if not given else "signature_malformed",
                f"{self.signature_header} must be a hex HMAC-SHA256",
                self.signature_header,
                type="authentication_error",
            )
        if not any([hmac.compare_digest(sign(body, s).encode(), given.encode()) for s in secrets]):
            raise ClientError(
                401,
                "signature_invalid",
                f"{self.signature_header} matches no active secret",
                self.signature_header,
                type="authentication_error",
            )

    def parse(self, body: bytes, received_at: datetime, cfg, headers: Mapping[str, str] | None = None) -> list[Parsed]:
        try:
            event = _Event.model_validate_json(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if payout_transfer(event.data):
            return [self._payout_outcome(event, received_at, cfg)]
        kind = self.kinds.get(event.type)
        if kind is None:
            return [Parsed(event.id, event.type, None, f"event type {event.type} is not posted")]
        transfer, currency = _validated(_Transfer, event)
        fields = {"customer": transfer.account_number_id, "bank": self.bank}
        return [self._parsed(event, kind, received_at, cfg, transfer, currency, fields)]

    def _payout_outcome(self, event: _Event, received_at: datetime, cfg) -> Parsed:
        """Our own payout transfer's outcome, for the payments function (consumer "payments"): settled,
        returned (with its R-code), rejected / canceled. Other states (submitted, …) are stored only."""
        kind = PAYOUT_OUTCOMES.get(event.type)
        if kind is None:
            key = event.data["idempotency_key"]  # payout_transfer checked it is one of ours
            return Parsed(event.id, event.type, None, f"payout transfer event {event.type}: nothing to apply", key)
        transfer, currency = _validated(_PayoutTransfer, event)
        code = next((d.return_code for d in transfer.return_details if d.return_code), None)
        if kind == "bank.transfer_returned" and code is None:
            raise ClientError(
                400, "invalid_event", "a returned transfer carries its return code", "data.return_details"
            )
        fields = {"our_reference": transfer.idempotency_key, "outcome_code": code, "bank": self.name}
        return self._parsed(event, kind, received_at, cfg, transfer, currency, fields)

    def _parsed(self, event, kind: str, received_at: datetime, cfg, transfer, currency: str, fields: dict) -> Parsed:
        canonical = CanonicalEvent(
            event_id=f"{self.name}:{event.id}",
            partner=self.name,
            partner_event_id=event.id,
            partner_event_type=event.type,
            kind=kind,
            occurred_at=event.created_at,
            received_at=received_at,
            amount=transfer.amount,
            currency=currency,
            reference=transfer.id,
            livemode=cfg.livemode,
            **fields,
        )
        return Parsed(event.id, event.type, canonical, None)


# What our own payout transfer's events mean (shared.domain.kinds: consumer "payments").
PAYOUT_OUTCOMES = {
    "ach.outgoing_transfer.settled": "bank.transfer_settled",
    "ach.outgoing_transfer.completed": "bank.transfer_settled",
    "ach.outgoing_transfer.returned": "bank.transfer_returned",
    "ach.outgoing_transfer.rejected": "bank.transfer_rejected",
    "ach.outgoing_transfer.canceled": "bank.transfer_rejected",
}


class _ReturnDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    return_code: str | None = Field(default=None, pattern=r"^R[0-9]{2}$")


class _PayoutTransfer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^acht_[A-Za-z0-9]{1,64}$")
    idempotency_key: str = Field(pattern=IDEMPOTENCY_KEY.pattern)
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True)
    currency_code: str
    return_details: list[_ReturnDetail] = []


def transfer_api(name: str) -> TransferApi:
    """The transfer API of a Column-style bank named `name`: key `<NAME>_API_KEY`, URL `<NAME>_API_URL`."""
    return TransferApi(PartnerSecret(f"{name.upper()}_API_KEY"), f"{name.upper()}_API_URL")


def column_style(name: str, kinds: Mapping[str, str] | None = None, bank: str | None = None) -> ColumnStyle:
    """The scheme of a Column-style bank partner named `name`: its secret is `<NAME>_WEBHOOK_SECRETS`
    (the settings convention, shared.config)."""
    return ColumnStyle(name, PartnerSecret(f"{name.upper()}_WEBHOOK_SECRETS"), dict(kinds or {}), bank)


NAME = "column"
KEPT_HEADERS = (SIGNATURE_HEADER,)
BANK = "column"
KINDS = {
    "ach.incoming_transfer.completed": "ach.credit.received",
    "ach.outgoing_transfer.completed": "ach.debit.sent",
    "ach.outgoing_transfer.returned": "ach.debit.returned",
}
SCHEME = column_style(NAME, KINDS, BANK)
WEBHOOK_SECRETS = SCHEME.secret
TRANSFER_API = transfer_api(NAME)  # payouts (shared.adapters.column_api), the payments function only
SECRETS = (WEBHOOK_SECRETS, TRANSFER_API.key)
REPORT_FORMAT = None  # reconciled through the bank statement of BANK, not a report of its own

verify = SCHEME.verify
parse = SCHEME.parse
acknowledge = acknowledge_one
legacy_versions = no_legacy_versions
