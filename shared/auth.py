"""Caller authentication for internal HTTP targets (retries: Cloud Tasks and Pub/Sub push).

In the cloud both send a Google-signed OIDC token (Authorization: Bearer) for a service account we
name in Terraform; Cloud Run's IAM check (roles/run.invoker) already admits only those, and this
check is the second lock: signature, audience (the function's URL) and the caller's email. Locally
the emulators send no token, so the check is off (LEDGERLINE_ENV=local), as documented."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.config import Settings
from shared.errors import ClientError

Verifier = Callable[[str, str], dict]  # (token, audience) -> claims; raises ValueError if invalid


def _google_verifier(token: str, audience: str) -> dict:
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    return id_token.verify_oauth2_token(token, google_requests.Request(), audience=audience)


def verify_invoker(
    cfg: Settings,
    headers: Mapping[str, str],
    audience: str,
    allowed: tuple[str | None, ...],
    verify: Verifier = _google_verifier,
) -> str | None:
    """The verified caller's email (None locally). Raises ClientError 401/403 otherwise."""
    if cfg.local:
        return None
    authorization = headers.get("Authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ClientError(401, "unauthenticated", "an OIDC bearer token is required", "Authorization", "auth_error")
    try:
        claims = verify(token.strip(), audience)
    except ValueError:
        raise ClientError(
            401, "unauthenticated", "the bearer token is not valid", "Authorization", "auth_error"
        ) from None
    email = claims.get("email")
    if not claims.get("email_verified") or email not in {a for a in allowed if a}:
        raise ClientError(403, "forbidden", "this caller may not invoke this function", "Authorization", "auth_error")
    return email
