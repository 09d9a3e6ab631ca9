"""API keys: `ll_<mode>_<key id>_<secret>` (mode: `test` locally, `live` when LEDGERLINE_LIVEMODE).

Only the SHA-256 of the secret is stored (kind ApiKey, key = key id), with the tenant, the scopes and
the revocation time, and for an operator key the person who holds it (their identity in the operator
audit log: docs/operations.md) and the API version it was pinned to (shared.api.versions: the newest
when it was made, unless another is named); the full key is shown once, when created (shared.cli
api-keys create), and never logged. The secret is 32 random bytes: with 256 bits of entropy a plain
SHA-256 cannot be brute-forced, so no slow hash (bcrypt…) is needed on every request, and the
comparison is constant-time. A key is looked up by its id on every request (no cache), so a
revocation takes effect at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from shared.api import versions
from shared.api.tenants import INTERNAL_TENANT
from shared.errors import ClientError
from shared.ledger.store import aware

# admin: manage the tenant's own API keys (/v1/api-keys), never granting more than the admin key holds
SCOPES = ("read", "write", "admin", "operator")
_KEY = re.compile(r"^ll_(test|live)_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})$")
KEY_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: one key of one tenant, with its scopes."""

    key_id: str
    tenant: str
    scopes: frozenset[str]
    operator: str | None = None  # the person an operator key names (who they are in the audit log)
    api_version: str | None = None  # the version the key was pinned to (None: made before versions)
    authentication: str = "api_key"  # or "iap": an operator signed in by IAP (shared/api/iap.py)


def mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


OPERATOR_NAME = re.compile(r"^[A-Za-z0-9._%+\-@]{3,200}$")  # e.g. an email address


def new_key(
    tenant: str,
    scopes: list[str],
    now: datetime,
    *,
    livemode: bool,
    label: str = "",
    operator: str | None = None,
    api_version: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, str, dict]:
    """(key id, the full key, the record to store) of a new key, checked: ValueError for a bad scope
    set, a misplaced operator, an unknown API version. The full key exists only in this answer."""
    pinned = versions.check(api_version) if api_version is not None else versions.LATEST
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes are a non-empty subset of {', '.join(SCOPES)}")
    if "operator" in scopes and tenant != INTERNAL_TENANT:
        # Operator endpoints see every tenant's dead letters and breaks: internal tools only.
        raise ValueError(f"the operator scope is only for keys of the {INTERNAL_TENANT!r} tenant")
    if "operator" in scopes and not (operator and OPERATOR_NAME.match(operator)):
        raise ValueError("an operator key names the person who holds it (--operator, e.g. an email address)")
    if "operator" not in scopes and operator:
        raise ValueError("only an operator key names an operator")
    operator = operator.strip().lower() if operator else None  # one person, one name: Ana@ is ana@
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = {
        "tenant": tenant,
        "scopes": sorted(set(scopes)),
        "hash": secret_hash(secret),
        "mode": mode(livemode),
        "label": label,
        "operator": operator,
        "api_version": pinned,
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    return key_id, f"ll_{mode(livemode)}_{key_id}_{secret}", record


def create_key(
    store,
    tenant: str,
    scopes: list[str],
    now: datetime,
    *,
    livemode: bool,
    label: str = "",
    operator: str | None = None,
    api_version: str | None = None,
) -> str:
    """Store a new key's hash and return the full key (the only time it exists in plain text). A key
    with the operator scope names the person who holds it (`operator`): every operator action is
    theirs in the audit log, and maker-checker tells two people apart by it. The key is pinned to
    `api_version` (default: the newest), the version its requests get without a Ledgerline-Version."""
    if store.get("Tenant", tenant) is None:
        raise ValueError(f"no tenant {tenant!r} (create it first)")
    for _ in range(5):
        key_id, key, record = new_key(
            tenant, scopes, now, livemode=livemode, label=label, operator=operator, api_version=api_version
        )
        if store.insert("ApiKey", key_id, record):
            return key
    raise RuntimeError("could not allocate a key id")  # pragma: no cover - 2**64 ids


def revoke_key(store, key_id: str, now: datetime) -> bool:
    """True if the key was active and is now revoked; False if unknown or revoked already."""

    def work(tx):
        record = tx.get("ApiKey", key_id)
        if record is None or record.get("revoked_at") is not None:
            return False
        tx.put("ApiKey", key_id, {**record, "revoked_at": now})
        return True

    return store.transact(work)


def list_keys(store, tenant: str | None = None) -> list[dict]:
    records = store.query("ApiKey", "tenant", tenant) if tenant else store.snapshot(("ApiKey",))["ApiKey"]
    return [
        {
            "key_id": key_id,
            **{k: r.get(k) for k in ("tenant", "scopes", "mode", "label", "operator", "created_at", "revoked_at")},
            "expires_at": r.get("expires_at"),
            "api_version": r.get("api_version") or versions.FIRST,
        }
        for key_id, r in sorted(records.items(), key=lambda item: (item[1]["created_at"], item[0]))
    ]


def _unauthenticated(message: str) -> ClientError:
    return ClientError(401, "invalid_api_key", message, "Authorization", "authentication_error")


def authenticate(store, authorization: str | None, *, livemode: bool, now: datetime) -> Principal:
    """The caller of `Authorization: Bearer <key>`, or 401. Every failure says the same about the key
    (no oracle for which part was wrong). A key past its `expires_at` (an expiry, or the end of a
    rotation's overlap) is refused like a revoked one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("send your API key as `Authorization: Bearer ll_…`")
    found = _KEY.match(token.strip())
    if not found or found.group(1) != mode(livemode):
        raise _unauthenticated("the API key is not valid")
    _, key_id, secret = found.groups()
    record = store.get("ApiKey", key_id)
    expected = record["hash"] if record else secret_hash("")  # same work for unknown ids
    if not hmac.compare_digest(expected, secret_hash(secret)) or record is None or record.get("revoked_at"):
        raise _unauthenticated("the API key is not valid")
    expires = record.get("expires_at")
    if expires is not None and now >= aware(expires):
        raise _unauthenticated("the API key is not valid")
    return Principal(
        key_id, record["tenant"], frozenset(record["scopes"]), record.get("operator"), record.get("api_version")
    )


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise ClientError(
            403, "insufficient_scope", f"this API key lacks the {scope!r} scope", "Authorization", "permission_error"
        )
