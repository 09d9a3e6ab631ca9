"""A generic partner speaking Standard Webhooks (https://www.standardwebhooks.com, used by Svix and
others): headers webhook-id / webhook-timestamp / webhook-signature ("v1,<base64 HMAC-SHA256 of
id.timestamp.body>", several space-separated), secret "whsec_<base64>". Verification is the spec's own
`standardwebhooks` package (±5 min tolerance both ways), wrapped so that any malformed header is a 401.
Several active secrets (GENERIC_WEBHOOK_SECRETS, comma-separated) allow rotation.

The partner sends ledgerline's canonical vocabulary: {"type": <canonical kind>, "timestamp": ISO,
"data": {"amount", "currency", "customer"?, "fee"?, "reference", "payment_reference"?, "bank"?,
"expires_at"?}}. The dedupe key is webhook-id (the spec's idempotency key).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.config import PartnerSecret
from shared.domain.events import REQUIRED_FIELDS, CanonicalEvent
from shared.errors import ClientError, NotConfigured
from shared.partners.base import Parsed, acknowledge_one, invalid, no_legacy_versions

NAME = "generic"
KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
WEBHOOK_SECRETS = PartnerSecret("GENERIC_WEBHOOK_SECRETS")
SECRETS = (WEBHOOK_SECRETS,)
REPORT_FORMAT = None  # no settlement report
TRANSFER_API = None  # ledgerline sends no payouts through it
BANK = None


def _auth_error(code: str, message: str) -> ClientError:
    return ClientError(401, code, message, "webhook-signature", type="authentication_error")


def verify(headers: Mapping[str, str], body: bytes, cfg, now: int) -> None:
    secrets = cfg.secret(WEBHOOK_SECRETS)
    if not secrets:
        raise NotConfigured(f"{WEBHOOK_SECRETS.env} not configured")
    plain = {k: headers.get(k) or "" for k in KEPT_HEADERS}
    if not all(plain.values()):
        raise _auth_error("signature_missing", "webhook-id, webhook-timestamp and webhook-signature are required")
    for secret in secrets:
        try:
            Webhook(secret).verify(body, plain, json_parse=False)
            return
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, binascii.Error, UnicodeDecodeError):  # the library's own parse errors
            reason = "malformed signature header or body"
    code = "timestamp_out_of_tolerance" if "timestamp too" in reason else "signature_invalid"
    raise _auth_error(code, reason)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(max_length=100)
    timestamp: AwareDatetime
    data: dict[str, Any]


def parse(body: bytes, received_at: datetime, cfg, headers: Mapping[str, str]) -> list[Parsed]:
    try:
        message = _Message.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc) from None
    event_id = headers.get("webhook-id") or ""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,200}", event_id):
        raise ClientError(400, "invalid_event", "webhook-id must be 1-200 of [A-Za-z0-9_-]", "webhook-id")
    if message.type not in REQUIRED_FIELDS:
        return [Parsed(event_id, message.type, None, f"event type {message.type} is not posted")]
    allowed = {"amount", "currency", "customer", "fee", "reference", "payment_reference", "bank", "expires_at"}
    unknown = sorted(set(message.data) - allowed)
    if unknown:
        raise ClientError(400, "invalid_event", f"unknown field {unknown[0]}", f"data.{unknown[0]}")
    try:
        canonical = CanonicalEvent(
            event_id=f"{NAME}:{event_id}",
            partner=NAME,
            partner_event_id=event_id,
            partner_event_type=message.type,
            kind=message.type,
            occurred_at=message.timestamp,
            received_at=received_at,
            livemode=cfg.livemode,
            **message.data,
        )
    except ValidationError as exc:
        raise invalid(exc, "data") from None
    return [Parsed(event_id, message.type, canonical, None)]


acknowledge = acknowledge_one
legacy_versions = no_legacy_versions
