"""The hold-expiry sweep: releases every unresolved hold whose expiry has passed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.ledger.engine import Result
from shared.domain.ledger.operations import expiry
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute


def expire_due_holds(store: LedgerStore, clock: Callable[[], datetime] = utcnow) -> list[Result]:
    """Release every unresolved hold whose expiry has passed. Expiry is deterministic without this
    sweep (a capture at or after expires_at is rejected); the sweep returns the pending amounts to
    the available balance. Safe to run any number of times, concurrently (ids derive from the hold)."""
    now = clock()
    due = [
        hold.id
        for hold in store.transactions_of_kind("hold")
        if hold.expires_at <= now and store.hold_state(hold.id).closed is None
    ]
    return [execute(store, expiry(name, now), clock) for name in due]
