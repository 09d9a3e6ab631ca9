"""Operators in the cloud: their Google identity, through Identity-Aware Proxy (docs/console.md).

The console's host sits behind a load balancer backend with IAP on (terraform/modules/edge): Google
signs each operator in, IAP lets through only the members granted `roles/iap.httpsResourceAccessor`
on that backend, and it adds to every request it lets through a signed header,
`X-Goog-IAP-JWT-Assertion`: an ES256 JWT from `https://cloud.google.com/iap` whose audience names
that backend (`/projects/<number>/global/backendServices/<id>`, LEDGERLINE_IAP_AUDIENCE). The api
verifies it (https://cloud.google.com/iap/docs/signed-headers-howto) and takes the person it names as
an operator of the internal tenant: the email is who they are in the audit log and to maker-checker,
as an operator key's `--operator` is. The unsigned `X-Goog-Authenticated-User-Email` header is never
read: only the signature proves IAP set it.

- The header counts only when the audience is configured (IAP on); otherwise it is ignored and the
  request needs an API key as everywhere else. An assertion that is present but wrong (bad signature,
  another audience, another issuer, expired, another algorithm than ES256, no email) is a 401
  `invalid_iap_assertion`, whatever Authorization says.
- IAP authenticates with a cookie, so a page of another site could make the operator's browser send a
  request with the assertion attached (CSRF). Every unsafe request (POST, PUT, PATCH, DELETE) signed by
  IAP must carry `X-Ledgerline-Console: 1`, which the console always sends: another origin cannot set a
  custom header without a CORS preflight, and the api answers none. Without it: 403 `console_header_missing`.
- Keys: IAP's public keys (JSON, key id -> PEM) are read from LEDGERLINE_IAP_KEYS_URL, kept an hour,
  and read again at once (at most once a minute) when an assertion names a key id not among them, so a
  key rotation costs one read. The verification itself is google-auth's (`google.auth.jwt.decode`).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from shared.api.keys import OPERATOR_NAME, Principal
from shared.api.tenants import INTERNAL_TENANT
from shared.errors import ClientError

HEADER = "X-Goog-IAP-JWT-Assertion"
CONSOLE_HEADER = "X-Ledgerline-Console"
ISSUER = "https://cloud.google.com/iap"
ALGORITHM = "ES256"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What the console needs: the operator routes. Not `admin`, `write` or `read`: managing API keys and
# moving a tenant's money stay with keys made for them.
SCOPES = frozenset({"operator"})
CLOCK_SKEW_SECONDS = 30
KEYS_TTL_SECONDS = 3600.0
REFRESH_AT_MOST_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Identity:
    subject: str  # IAP's stable id of the person ("accounts.google.com:1234…")
    email: str


def _refused(message: str) -> ClientError:
    return ClientError(401, "invalid_iap_assertion", message, HEADER, "authentication_error")


def _header(assertion: str) -> dict:
    try:
        encoded = assertion.split(".")[0]
        value = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deep
        raise _refused("the IAP assertion is not a JWT") from None
    if not isinstance(value, dict):
        raise _refused("the IAP assertion is not a JWT")
    return value


def key_id(assertion: str) -> str:
    """The key id an assertion names, after checking it is a JWT signed with ES256 (never trust the
    header's `alg` to pick the verifier: RS256 or `none` is refused here)."""
    header = _header(assertion)
    if header.get("alg") != ALGORITHM:
        raise _refused(f"an IAP assertion is signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _refused("the IAP assertion names no key")
    return kid


def verify(assertion: str, keys: Mapping[str, str], audience: str, kid: str | None = None) -> Identity:
    """The person an IAP assertion names, or a 401: signature by one of `keys` (key id -> PEM), issuer,
    audience exactly `audience`, iat/exp within CLOCK_SKEW_SECONDS, an email. `kid`: key_id(assertion),
    when the caller has read it already."""
    kid = kid if kid is not None else key_id(assertion)
    if kid not in keys:
        raise _refused("the IAP assertion is signed by an unknown key")
    try:
        claims = jwt.decode(
            assertion, certs={kid: keys[kid]}, audience=audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except (auth_exceptions.GoogleAuthError, ValueError, RecursionError) as exc:
        raise _refused(f"the IAP assertion does not verify ({type(exc).__name__})") from None
    if claims.get("iss") != ISSUER:
        raise _refused(f"the IAP assertion is not from {ISSUER}")
    email, subject = claims.get("email"), claims.get("sub")
    if not isinstance(email, str) or not OPERATOR_NAME.match(email) or not isinstance(subject, str) or not subject:
        raise _refused("the IAP assertion names no person")
    return Identity(subject, email.strip().lower())


def principal(identity: Identity) -> Principal:
    """The operator an IAP identity is: the internal tenant, SCOPES, the email as the operator's name
    (so maker-checker tells two people apart and the audit log names them). The rate limiter's and the
    logs' key id is `iap:` + IAP's subject, never the email."""
    return Principal(f"iap:{identity.subject}", INTERNAL_TENANT, SCOPES, identity.email, None, "iap")


def check_console_header(method: str, headers: Mapping[str, str]) -> None:
    if method.upper() not in SAFE_METHODS and headers.get(CONSOLE_HEADER) != "1":
        raise ClientError(
            403,
            "console_header_missing",
            f"a change signed in through IAP carries {CONSOLE_HEADER}: 1 (the console sends it)",
            CONSOLE_HEADER,
            "permission_error",
        )


class Keys:
    """IAP's public keys, read through `fetch` (key id -> PEM): cached KEYS_TTL_SECONDS, read again
    early when an unknown key id is asked for; whatever the reason, at most one read attempt every
    REFRESH_AT_MOST_EVERY_SECONDS (a failing or slow key server, or a flood of made-up key ids, costs
    one read a minute), done outside the lock (requests with known keys never wait for it)."""

    def __init__(self, fetch: Callable[[], Mapping[str, str]], clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._clock = clock
        self._keys: Mapping[str, str] = {}
        self._read_at: float | None = None  # the last successful read
        self._tried_at: float | None = None  # the last attempt, successful or not
        self._lock = threading.Lock()  # the state above
        self._reading = threading.Lock()  # held while a read is in flight

    def _unavailable(self) -> ClientError:  # our dependency, not the caller's mistake: a 503 to retry
        return ClientError(503, "iap_keys_unavailable", "IAP's public keys cannot be read; retry", None, "api_error")

    def for_key(self, kid: str) -> Mapping[str, str]:
        with self._lock:
            now = self._clock()
            fresh = self._read_at is not None and now - self._read_at < KEYS_TTL_SECONDS
            if fresh and kid in self._keys:
                return self._keys
            tried_lately = self._tried_at is not None and now - self._tried_at < REFRESH_AT_MOST_EVERY_SECONDS
            if tried_lately and self._keys:
                return self._keys  # tried lately: what we have (an unknown key id is then refused)
            if not tried_lately:
                self._tried_at = now
        if tried_lately:  # no keys yet: wait for the read in flight (a cold start's first requests), if any
            with self._reading, self._lock:
                if not self._keys:
                    raise self._unavailable()
                return self._keys
        with self._reading:
            try:
                fetched = dict(self._fetch())
            except Exception as exc:
                with self._lock:
                    if not self._keys:
                        raise self._unavailable() from exc
                    return self._keys  # keep the keys we have (a rotation keeps the old key valid a while)
            with self._lock:
                self._keys, self._read_at = fetched, now
                return self._keys


class Verifier:
    """One per api instance when IAP is on: the audience and the keys."""

    def __init__(self, audience: str, keys: Keys):
        self.audience = audience
        self.keys = keys

    def authenticate(self, method: str, headers: Mapping[str, str]) -> Principal | None:
        """The operator IAP signed in, None when the request carries no assertion, or a 401/403."""
        assertion = headers.get(HEADER)
        if assertion is None:
            return None
        assertion = assertion.strip()
        kid = key_id(assertion)
        identity = verify(assertion, self.keys.for_key(kid), self.audience, kid)
        check_console_header(method, headers)
        return principal(identity)
