"""Maker-checker (pure): a manual money movement is requested by one operator and, above a threshold
per currency (and always for a write-off), approved by a DIFFERENT operator before it executes; a
request that is not approved in time expires and moves nothing. Execution happens once: an executed
request cannot execute again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Status = Literal["pending", "approved", "rejected", "expired", "executed", "failed"]
DECIDED = frozenset({"rejected", "expired", "executed", "failed"})  # nothing happens to these any more
# approved by a second operator whatever the amount: a write-off, and an erasure (it cannot be undone)
ALWAYS = frozenset({"write_off", "erasure"})
KINDS = frozenset(
    {
        "adjusting_entry",
        "write_off",
        "reverse",
        "manual_transfer",
        "limit_change",
        "dead_letter_replay",
        "api_key_change",
        "tenant_change",
        "erasure",
    }
)
DEFAULT_TTL = timedelta(hours=24)


class ApprovalError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    request_id: str
    kind: str
    maker: str
    reason: str
    created_at: datetime
    expires_at: datetime
    amounts: Mapping[str, int] | None = None  # per currency, minor units (what a movement moves)
    status: Status = "pending"
    checker: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None


def needs_approval(kind: str, amounts: Mapping[str, int] | None, thresholds: Mapping[str, int]) -> bool:
    """A write-off always; a change without an amount (keys, tenants) when `thresholds` names its kind
    with 0; a movement when any of its currencies' amounts reaches that currency's threshold, or is in
    a currency without one (an unknown currency is never small)."""
    if kind in ALWAYS:
        return True
    if not amounts:
        return thresholds.get(kind) == 0
    return any(currency not in thresholds or amount >= thresholds[currency] for currency, amount in amounts.items())


def request(
    request_id: str,
    kind: str,
    maker: str,
    reason: str,
    at: datetime,
    amounts: Mapping[str, int] | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> Request:
    if kind not in KINDS:
        raise ApprovalError("unknown_kind", f"{kind!r} is not an operation that asks approval")
    if not reason or not reason.strip():
        raise ApprovalError("reason_required", "every manual money movement says why")
    for amount in (amounts or {}).values():
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ApprovalError("invalid_amount", "an amount is a positive integer of minor units")
    return Request(request_id, kind, maker, reason.strip(), at, at + ttl, dict(amounts) if amounts else None)


def _pending(req: Request, at: datetime) -> None:
    if req.status == "pending" and at >= req.expires_at:
        raise ApprovalError("request_expired", f"{req.request_id} expired at {req.expires_at.isoformat()}")
    if req.status != "pending":
        raise ApprovalError("request_decided", f"{req.request_id} is {req.status}")


def expire(req: Request, at: datetime) -> Request:
    """The request as of `at`: past its expiry while pending, it is expired (and moves nothing)."""
    return (
        replace(req, status="expired", decided_at=req.expires_at)
        if req.status == "pending" and at >= req.expires_at
        else req
    )


def approve(req: Request, checker: str, at: datetime, reason: str | None = None) -> Request:
    _pending(req, at)
    if checker == req.maker:
        raise ApprovalError("self_approval", "a request is approved by another operator than the one who made it")
    return replace(req, status="approved", checker=checker, decided_at=at, decision_reason=reason)


def reject(req: Request, checker: str, at: datetime, reason: str) -> Request:
    _pending(req, at)
    if not reason or not reason.strip():
        raise ApprovalError("reason_required", "a rejection says why")
    return replace(req, status="rejected", checker=checker, decided_at=at, decision_reason=reason.strip())


def executable(req: Request, at: datetime, required: bool) -> Request:
    """Check that `req` may execute now (approved, or not needing approval and still pending) and
    return it as executed. Raises otherwise: nothing moves."""
    if req.status == "executed":
        raise ApprovalError("already_executed", f"{req.request_id} has executed")
    if required:
        if req.status != "approved":
            raise ApprovalError("approval_required", f"{req.request_id} needs another operator's approval")
    else:
        _pending(req, at)
    if at >= req.expires_at:
        raise ApprovalError("request_expired", f"{req.request_id} expired at {req.expires_at.isoformat()}")
    return replace(req, status="executed")


def failed(req: Request, at: datetime, why: str) -> Request:
    """The execution was refused downstream (the ledger rejected it): nothing moved; decided for good."""
    return replace(req, status="failed", decided_at=at, decision_reason=why)
