"""Standard Webhooks signatures (www.standardwebhooks.com) with the maintained `standardwebhooks`
package: `webhook-id` (the event id, the same on every attempt: a receiver dedupes on it),
`webhook-timestamp` (the attempt's time, seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, one per secret that signs, space separated (during a rotation both the
new and the old secret sign, so a receiver holding either verifies)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form (whsec_ + base64 of 32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def headers(event_id: str, body: str, at: datetime, signing_secrets: Iterable[str]) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret given (newest first)."""
    at = at.astimezone(UTC)
    signatures = [Webhook(s).sign(event_id, at, body) for s in signing_secrets]
    if not signatures:
        raise ValueError("an attempt needs at least one signing secret")
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
