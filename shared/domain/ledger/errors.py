"""Every error the ledger domain raises: what each one means for the caller, and what changed (nothing)."""

from __future__ import annotations


class UnknownAccount(ValueError):
    pass


class InvariantViolation(ValueError):
    """A ledger invariant would break: the operation is refused and nothing changes."""


class NoPostingRule(ValueError):
    pass


class Rejected(Exception):
    """The operation is valid input but not allowed now (insufficient funds, hold resolved…).
    Nothing changes; the caller records the rejection with its reason."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PredecessorMissing(Exception):
    """The operation refers to a record that has not arrived yet (out-of-order delivery). Nothing
    changes; the caller parks the event (shared.ledger.posting.park) until `waiting_on` = (kind, name) is
    written, which re-drives it, or until its parking deadline, which dead-letters it."""

    def __init__(self, message: str, waiting_on: tuple[str, str]):
        super().__init__(message)
        self.waiting_on = waiting_on


class Conflict(Exception):
    """Same transaction id, different body: recorded, never overwritten."""
