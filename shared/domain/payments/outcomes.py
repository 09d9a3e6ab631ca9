"""What a partner call returned, classified into what to do next. Pure: the adapter describes the call
(`PartnerCall`: an HTTP status, or the exception kind when there was none, and the partner's body
code), `classify` says what it means (`Outcome`). The rule that matters (docs/payments.md "The
unknown-outcome rule"): when the partner may have committed — a timeout, a reset connection, a 5xx, a
409 on the idempotency key — the outcome is `unknown`, and the only next step is a status query;
only a confirmed "not found" lets a new attempt start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Why a call returned no HTTP status:
#   timeout           sent, no answer in time: the partner may have committed
#   connection_reset  sent, the connection dropped: the partner may have committed
#   connect_failed    nothing was sent (refused, DNS, TLS handshake): the partner saw nothing
CallFailure = Literal["timeout", "connection_reset", "connect_failed"]
CALL_FAILURES: tuple[str, ...] = ("timeout", "connection_reset", "connect_failed")
CallKind = Literal["create", "status"]

# What the call means for the attempt, and what happens next:
#   accepted     the partner has the transfer (created, or found by the status query): record its reference
#   declined     refused before acceptance, definitively, by this partner: the next route, or `failed`
#   invalid      our request is wrong (the destination, the amount): no partner will take it: `failed`
#   unknown      the partner may have committed: query its status for this key before anything else
#   not_found    the status query confirms the partner has no transfer for this key: a new attempt may start
#   retry_later  the partner did not process it (429, or nothing was sent): try again, not before retry_after
OutcomeKind = Literal["accepted", "declined", "invalid", "unknown", "not_found", "retry_later"]
OUTCOME_KINDS: tuple[str, ...] = ("accepted", "declined", "invalid", "unknown", "not_found", "retry_later")

# Body codes (normalised by the adapter) of a 4xx that says the request itself is wrong: failing over
# cannot help. Any other 4xx before acceptance is this partner's refusal: the next route may take it.
INVALID_CODES = frozenset({"invalid_account_number", "invalid_routing_number", "account_closed", "invalid_amount"})
# Statuses that say our own configuration is wrong (credentials, proxy), not that the partner declined.
OUR_CONFIGURATION = frozenset({401, 407})
# Body codes of a found transfer (status query) that the partner rejected before executing it.
NOT_EXECUTED_STATUSES = frozenset({"rejected", "canceled", "declined"})


@dataclass(frozen=True)
class PartnerCall:
    """What one partner call returned: `status` (the HTTP status) or `failure` (no status: why), the
    partner's error or status code from the body (normalised by the adapter), its Retry-After in
    seconds, and which call it was (`create` a transfer, or query its `status` by key/reference)."""

    call: CallKind
    status: int | None = None
    failure: CallFailure | None = None
    body_code: str | None = None
    retry_after_s: float | None = None

    def __post_init__(self):
        if (self.status is None) == (self.failure is None):
            raise ValueError("a call has an HTTP status or a failure, not both and not neither")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"HTTP status {self.status}")
        if self.failure is not None and self.failure not in CALL_FAILURES:
            raise ValueError(f"failure {self.failure!r}")


@dataclass(frozen=True)
class Outcome:
    """What the call means (`kind`), why (a short reason, safe to log), and, for retry_later, the delay
    the partner asked for (None: the caller's retry policy decides)."""

    kind: OutcomeKind
    reason: str
    retry_after_s: float | None = None

    @property
    def may_have_executed(self) -> bool:
        """The transfer exists or may exist: no new attempt may start (P4)."""
        return self.kind in ("accepted", "unknown")


def classify(call: PartnerCall) -> Outcome:
    """The outcome of one partner call (docs/payments.md "Outcomes" is this function as a table)."""
    what = f"{call.call} {call.status if call.status is not None else call.failure}"
    if call.body_code:
        what += f" {call.body_code}"
    if call.failure == "connect_failed":
        return Outcome("retry_later", what)
    if call.failure is not None:
        return Outcome("unknown", what)
    status = call.status
    assert status is not None
    if status == 429:
        return Outcome("retry_later", what, max(0.0, call.retry_after_s) if call.retry_after_s is not None else None)
    if status in OUR_CONFIGURATION or (call.call == "create" and status == 404 and not call.body_code):
        # refused before processing because of us (a rotated key, a wrong URL: a 404 that is no API
        # answer, without an error code; a 404 naming a missing resource is a refusal): not the partner's
        # decline of this payout; the same request later, once an operator fixed it (the breaker opens)
        return Outcome("retry_later", what + " (our configuration)")
    if 500 <= status or status in (408, 409) or status < 200 or 300 <= status < 400:
        # 5xx: the partner may have committed before failing; 408: it may still be processing; 409:
        # another request with this key is in flight; 1xx/3xx: not a final answer from an API
        return Outcome("unknown", what)
    if call.call == "status":
        if status == 404:
            return Outcome("not_found", what)
        if 200 <= status < 300:
            if call.body_code in NOT_EXECUTED_STATUSES:
                return Outcome("declined", what)
            return Outcome("accepted", what)
        return Outcome("unknown", what)  # the query itself failed: nothing is confirmed
    if 200 <= status < 300:
        return Outcome("accepted", what)
    if status in (400, 422) and call.body_code in INVALID_CODES:
        return Outcome("invalid", what)
    return Outcome("declined", what)
