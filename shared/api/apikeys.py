"""API keys, self-service (docs/api.md "API keys"): a key with the `admin` scope manages its own
tenant's keys — create (the secret shown once), list, revoke, rotate with an overlap window, optional
expiry. A key never grants more than the key that makes it holds (scopes are a subset of the admin
key's), never the `operator` scope (operator keys name a person and are made with the CLI), and never
reaches another tenant's keys (404 like a missing one). A key made by a key that expires expires no
later than it (a rotation's successor keeps its predecessor's expiry), so a temporary key cannot make a
permanent one; a narrower admin key cannot revoke a key holding scopes it lacks. The caller's own key
and the target are checked again inside the write's transaction (a key revoked meanwhile does nothing).

Each change is one Datastore transaction with its operator audit entry (shared.operations.audit: who —
the admin key —, what, the scopes before and after; never a secret), streamed to BigQuery after the
commit. A response that holds a secret is never stored: these POSTs do not take part in Idempotency-Key
replays (a retried create makes a second key, which the tenant sees in the list and may revoke; a
rotation overlaps by at least 5 minutes, so one whose answer was lost is done again with the old key)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.api import keys, models, versions
from shared.api.keys import Principal
from shared.errors import ClientError

log = logging.getLogger("ledgerline.api")
MAX_OVERLAP = timedelta(days=7)
MAX_LIFETIME = timedelta(days=2 * 365)


def _actor(principal: Principal) -> str:
    return f"api-key:{principal.key_id}"


def _status(record: dict, now: datetime) -> str:
    if record.get("revoked_at") is not None:
        return "revoked"
    expires = record.get("expires_at")
    return "expired" if expires is not None and now >= keys.aware(expires) else "active"


def _view(key_id: str, record: dict, now: datetime) -> models.ApiKey:
    from shared.api.service import _iso

    return models.ApiKey(
        id=key_id,
        label=record.get("label") or "",
        scopes=list(record["scopes"]),
        api_version=record.get("api_version") or versions.FIRST,
        status=_status(record, now),
        created=_iso(record.get("created_at")),
        expires_at=_iso(record.get("expires_at")),
        revoked_at=_iso(record.get("revoked_at")),
    )


def _grantable(principal: Principal, scopes: list[str]) -> list[str]:
    wanted = sorted(set(scopes))
    if "operator" in wanted:
        raise ClientError(
            403, "scope_not_grantable", "operator keys are made with the CLI (they name a person)", "scopes",
            "permission_error",
        )  # fmt: skip
    beyond = [s for s in wanted if s not in principal.scopes]
    if beyond:
        raise ClientError(
            403, "scope_not_grantable", f"this key cannot grant {', '.join(beyond)}: it does not hold it", "scopes",
            "permission_error",
        )  # fmt: skip
    return wanted


def _expiry(request_expires: str | None, now: datetime, ceiling: datetime | None) -> datetime | None:
    """The new key's expiry: as asked (in the future, at most 2 years ahead), and never after the
    creating key's own (`ceiling`), which is also the default when that key expires."""
    from shared.api.service import parse_time

    if request_expires is None:
        return ceiling
    at = parse_time(request_expires, "expires_at")
    if not now < at <= now + MAX_LIFETIME:
        raise ClientError(400, "parameter_invalid", "expires_at is in the future, at most 2 years ahead", "expires_at")
    if ceiling is not None and at > ceiling:
        raise ClientError(
            400, "parameter_invalid", "expires_at is after this key's own expiry: a key cannot outlive its maker",
            "expires_at",
        )  # fmt: skip
    return at


def _caller(tx_or_store, principal: Principal, now: datetime) -> dict:
    """The calling key's record, still active (checked again inside a write's transaction)."""
    record = tx_or_store.get("ApiKey", principal.key_id)
    if record is None or _status(record, now) != "active":
        raise ClientError(401, "invalid_api_key", "the API key is not valid", "Authorization", "authentication_error")
    return record


def _ceiling(record: dict) -> datetime | None:
    expires = record.get("expires_at")
    return keys.aware(expires) if expires is not None else None


def _reachable(principal: Principal, key_id: str, record: dict) -> None:
    """A key may revoke itself; another key only if it holds every scope that key has."""
    if key_id != principal.key_id and not set(record["scopes"]) <= principal.scopes:
        raise ClientError(
            403, "scope_not_grantable", "this key cannot revoke a key holding scopes it lacks", "id", "permission_error"
        )


def _owned(tx_or_store, tenant: str, key_id: str) -> dict:
    record = tx_or_store.get("ApiKey", key_id) if keys.KEY_ID.match(key_id) else None
    if record is None or record.get("tenant") != tenant:
        raise ClientError(404, "api_key_not_found", f"no API key {key_id!r}", "id")
    return record


def _audit(backend, tx, now, principal: Principal, target: str, reason: str, before, after) -> None:
    from shared.operations.audit import append

    append(tx, now, actor=_actor(principal), action="api_key_change", reason=reason, target=target,
           before=before, after=after)  # fmt: skip


def _streamed(backend) -> None:
    try:
        backend.operations().audit.after_commit()
    except RuntimeError:  # no operations services in this backend (unit tests): the sweep streams later
        pass


def _insert(backend, principal: Principal, tx, now, *, scopes, label, api_version, expires_at, reason, extra=None):
    # a new key lives in the mode of the key that makes it (a test key makes test keys)
    livemode = (tx.get("ApiKey", principal.key_id) or {}).get("mode") == "live"
    for _ in range(5):
        key_id, key, record = keys.new_key(
            principal.tenant, scopes, now, livemode=livemode, label=label, api_version=api_version,
            expires_at=expires_at,
        )  # fmt: skip
        if tx.get("ApiKey", key_id) is None:
            tx.put("ApiKey", key_id, record)
            after = {
                "created": key_id,
                "scopes": record["scopes"],
                "api_version": record["api_version"],
                **(extra or {}),
            }
            _audit(backend, tx, now, principal, key_id, reason, None, after)
            return key_id, key, record
    raise RuntimeError("could not allocate a key id")  # pragma: no cover - 2**64 ids


def create_key(backend, principal: Principal, request: models.ApiKeyRequest) -> models.ApiKeyCreated:
    scopes = _grantable(principal, request.scopes)
    now = backend.clock()
    expires_at = _expiry(request.expires_at, now, _ceiling(_caller(backend.store, principal, now)))
    if request.api_version is not None and request.api_version not in versions.NAMES:
        raise ClientError(
            400, "api_version_invalid", f"api_version is one of {', '.join(versions.NAMES)}", "api_version"
        )

    def work(tx):
        _caller(tx, principal, now)
        return _insert(
            backend, principal, tx, now, scopes=scopes, label=request.label or "", api_version=request.api_version,
            expires_at=expires_at, reason="api: create",
        )  # fmt: skip

    key_id, key, record = backend.store.transact(work)
    _streamed(backend)
    log.info("api key created", extra={"tenant": principal.tenant, "key_id": key_id, "by": principal.key_id})
    return models.ApiKeyCreated(**_view(key_id, record, now).model_dump(), secret=key)


def list_keys(backend, principal: Principal) -> models.ApiKeyList:
    now = backend.clock()
    rows = sorted(
        backend.store.query("ApiKey", "tenant", principal.tenant).items(),
        key=lambda item: (item[1]["created_at"], item[0]),
        reverse=True,
    )
    return models.ApiKeyList(data=[_view(k, r, now) for k, r in rows], has_more=False)


def revoke_key(backend, principal: Principal, key_id: str) -> models.ApiKey:
    """Revoke at once (a key may revoke itself). Revoking twice answers the revoked key."""
    now = backend.clock()
    _reachable(principal, key_id, _owned(backend.store, principal.tenant, key_id))

    def work(tx):
        if key_id != principal.key_id:  # a key revoking itself may do so whatever its state
            _caller(tx, principal, now)
        record = _owned(tx, principal.tenant, key_id)
        if record.get("revoked_at") is not None:
            return record
        updated = {**record, "revoked_at": now}
        tx.put("ApiKey", key_id, updated)
        _audit(
            backend, tx, now, principal, key_id, "api: revoke", {"status": _status(record, now)}, {"revoked": key_id}
        )
        return updated

    record = backend.store.transact(work)
    _streamed(backend)
    return _view(key_id, record, now)


def rotate_key(backend, principal: Principal, key_id: str, request: models.RotateKeyRequest) -> models.ApiKeyCreated:
    """A new key with the old one's scopes, label and version; the old one keeps working for
    `overlap_seconds` (5 minutes to 7 days), so a deployment can switch without an outage."""
    now = backend.clock()
    old = _owned(backend.store, principal.tenant, key_id)
    inactive = ClientError(409, "api_key_inactive", "only an active key is rotated; create a new one", "id")
    if _status(old, now) != "active":
        raise inactive
    scopes = _grantable(principal, list(old["scopes"]))
    ends = now + timedelta(seconds=request.overlap_seconds)

    def work(tx):
        caller = _caller(tx, principal, now)
        record = _owned(tx, principal.tenant, key_id)
        if _status(record, now) != "active":  # revoked or expired since the check above
            raise inactive
        # the successor lives no longer than the old key would have, nor than the key rotating it
        limits = [x for x in (_ceiling(record), _ceiling(caller)) if x is not None]
        until = min([ends, *limits])
        tx.put("ApiKey", key_id, {**record, "expires_at": until})
        return _insert(
            backend, principal, tx, now, scopes=scopes, label=record.get("label") or "",
            api_version=record.get("api_version") or versions.FIRST, expires_at=min(limits) if limits else None,
            reason="api: rotate", extra={"rotated": key_id, "old_expires_at": until.isoformat()},
        )  # fmt: skip

    new_id, key, record = backend.store.transact(work)
    _streamed(backend)
    log.info("api key rotated", extra={"tenant": principal.tenant, "key_id": key_id, "new_key_id": new_id})
    return models.ApiKeyCreated(**_view(new_id, record, now).model_dump(), secret=key)
