"""Idempotency-Key for every POST (docs/api.md), as the best payment APIs do it.

A record per (tenant, key) — kind IdempotencyRecord, key `<tenant>:<sha256(Idempotency-Key)>` — holds
the request's fingerprint (method, path and validated body), a status (in_flight, done) and, once done,
the response (status and body). It is created with an `insert` (fails if it exists), so of two
concurrent identical requests exactly one proceeds:

  * same key, same request, done         -> the stored response again (header Idempotent-Replayed: true)
  * same key, same request, in flight    -> 409 idempotency_in_flight, retryable (Retry-After: 1)
  * same key, different request          -> 409 idempotency_key_reuse, not retryable
  * in flight for longer than LOCK       -> the first attempt died: taken over and run again; safe,
                                            because the ledger operation's id derives from the record
                                            (its generation), so the ledger replays what it posted
  * older than TTL (24 h)                -> forgotten: the key may be used for a new request

Responses of 5xx are not stored, but the record is kept, unlocked, with its creation time: the client's
retry with the same key takes it over with the same generation, so the ledger replays an operation
that committed before the failure instead of posting it again. Validation errors (400) happen before the record
exists and are not stored either (the key stays unused), like Stripe."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.ledger.ids import micros
from shared.errors import ClientError

TTL = timedelta(hours=24)
LOCK = timedelta(seconds=30)  # longer than the api function's timeout (topology: 30 s) would be safer
MAX_KEY_LENGTH = 255
KIND = "IdempotencyRecord"


@dataclass(frozen=True)
class Response:
    status: int
    body: dict
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Attempt:
    """One execution under a key: its generation names the ledger operations it may create."""

    tenant: str
    key: str
    generation: str  # "<tenant>:<key>:<created micros>": new after expiry, kept on a takeover


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ClientError(
            400,
            "idempotency_key_invalid",
            f"Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            "Idempotency-Key",
        )
    return key


def fingerprint(method: str, path: str, body: dict) -> str:
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_name(tenant: str, key: str) -> str:
    return f"{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"


def _in_flight(tenant: str, key: str, request_hash: str, now: datetime, created: datetime | None = None) -> dict:
    return {
        "tenant": tenant,
        "key": key[:MAX_KEY_LENGTH],
        "request_hash": request_hash,
        "status": "in_flight",
        "locked_until": now + LOCK,
        "created_at": created or now,
        "expires_at": (created or now) + TTL,
        "response_status": None,
        "response_body": None,
    }


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo or like.tzinfo is None else value.replace(tzinfo=like.tzinfo)


def run(
    store,
    tenant: str,
    key: str,
    request_hash: str,
    now: datetime,
    execute: Callable[[Attempt], Response],
) -> Response:
    name = record_name(tenant, key)
    record = _in_flight(tenant, key, request_hash, now)
    if not store.insert(KIND, name, record, unindexed=("response_body", "key", "request_hash")):
        record = _claim(store, name, tenant, key, request_hash, now)
        if isinstance(record, Response):
            return record
    attempt = Attempt(tenant, key, f"{tenant}:{key}:{micros(_aware(record['created_at'], now))}")
    try:
        response = execute(attempt)
    except BaseException:
        _release(store, name, record, now)
        raise
    if response.status >= 500:
        _release(store, name, record, now)
        return response
    store.record(
        KIND,
        name,
        {
            **record,
            "status": "done",
            "locked_until": None,
            "response_status": response.status,
            "response_body": json.dumps(response.body, sort_keys=True),
        },
        unindexed=("response_body", "key", "request_hash"),
    )
    return response


def _release(store, name: str, record: dict, now: datetime) -> None:
    """A failed attempt (5xx / exception) may have committed its ledger operation before failing, so
    the key is NOT forgotten: it is unlocked, keeping its creation time, so the client's retry with the
    same key takes it over with the same generation, and the ledger replays what was committed instead
    of posting it again."""
    store.record(KIND, name, {**record, "locked_until": now}, unindexed=("response_body", "key", "request_hash"))


def _claim(store, name: str, tenant: str, key: str, request_hash: str, now: datetime) -> dict | Response:
    """The key exists: replay, refuse, or (expired / abandoned) take it over in a transaction."""

    def work(tx):
        found = tx.get(KIND, name)
        if found is None or _aware(found["expires_at"], now) <= now:
            fresh = _in_flight(tenant, key, request_hash, now)
            tx.put(KIND, name, fresh, unindexed=("response_body", "key", "request_hash"))
            return fresh
        if found["request_hash"] != request_hash:
            raise ClientError(
                409,
                "idempotency_key_reuse",
                "this Idempotency-Key was used with a different request; use a new key for a new request",
                "Idempotency-Key",
                "idempotency_error",
            )
        if found["status"] == "done":
            return Response(
                found["response_status"], json.loads(found["response_body"]), (("Idempotent-Replayed", "true"),)
            )
        if _aware(found["locked_until"], now) > now:
            return None
        taken = {**found, "locked_until": now + LOCK}  # the first attempt died: run it again (same generation)
        tx.put(KIND, name, taken, unindexed=("response_body", "key", "request_hash"))
        return taken

    outcome = store.transact(work)
    if outcome is None:
        raise InFlight()
    return outcome


class InFlight(ClientError):
    def __init__(self):
        super().__init__(
            409,
            "idempotency_in_flight",
            "a request with this Idempotency-Key is still being processed; retry in a moment",
            "Idempotency-Key",
            "idempotency_error",
        )
