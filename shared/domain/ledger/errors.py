"""Every error the ledger domain raises: what each one means for the caller, and what changed (nothing)."""

from __future__ import annotations

from typing import Literal, get_args

# Why an operation was rejected (`Rejected.code`, the `code` of its Rejection record), listed once and
# in order of precedence: when several apply to one operation, the first is the one reported (the
# caller's guard runs before the engine, the engine checks in this order, constraints last). The same
# list, in the same order, is in docs/ledger.md "Rejection codes".
RejectionCode = Literal[
    "not_reversible",  # reverse: the target is not a posted transaction (post or capture)
    "already_reversed",  # reverse: the target was reversed already (I5)
    "unknown_hold",  # capture / void / expire: the target is not a hold
    "hold_already_resolved",  # void / expire, and the API's capture guard: the hold is closed (I5)
    "hold_expired",  # the API's capture guard: the hold's expires_at has passed
    "amount_exceeds_hold",  # the API's capture guard: more than the hold still holds
    "currency_mismatch",  # capture: in another currency than the hold
    "invalid_capture",  # capture: the amount is not positive
    "hold_not_expired",  # expire: before the hold's expires_at
    "insufficient_funds",  # an operation that enforces constraints would break them (I6)
]
REJECTION_CODES: tuple[str, ...] = get_args(RejectionCode)


class UnknownAccount(ValueError):
    """An account name that matches no chart-of-accounts naming rule."""


class InvariantViolation(ValueError):
    """A ledger invariant would break: the operation is refused and nothing changes."""


class NoPostingRule(ValueError):
    """An event kind the registry (shared.domain.kinds) does not declare."""


class Rejected(Exception):
    """The operation is valid input but not allowed now (insufficient funds, hold resolved…).
    Nothing changes; the caller records the rejection with its reason."""

    def __init__(self, code: RejectionCode, message: str):
        if code not in REJECTION_CODES:
            raise ValueError(f"{code!r} is not a rejection code (RejectionCode)")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PredecessorMissing(Exception):
    """The operation refers to a record that has not arrived yet (out-of-order delivery). Nothing
    changes; the caller parks the event (shared.ledger.parking.park) until `waiting_on` = (kind, name) is
    written, which re-drives it, or until its parking deadline, which dead-letters it."""

    def __init__(self, message: str, waiting_on: tuple[str, str]):
        super().__init__(message)
        self.waiting_on = waiting_on


class Conflict(Exception):
    """Same transaction id, different body: recorded, never overwritten."""
