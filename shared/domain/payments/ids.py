"""Identifiers of the payments domain: deterministic, so a retried request, task or write maps onto what
the first one produced (a payout created once, a transfer submitted once, an operation posted once)."""

from __future__ import annotations

import re

from shared.domain.ledger.ids import digest, transaction_id

PAYOUT_PREFIX, PAYMENT_PREFIX, REFUND_PREFIX = "po_", "py_", "re_"
# Partner idempotency keys: "<payout id>-<attempt>", e.g. "po_3f9c…e1-2" (ASCII letters, digits, "_",
# "-"; at most 40 characters: within every partner's limit, Stripe 255, banks 64).
IDEMPOTENCY_KEY = re.compile(r"^(po|py|re)_[0-9a-f]{24}-[1-9][0-9]{0,3}$")


def payout_id(owner: str, idempotency_key: str) -> str:
    """The payout a customer's request creates: one per (owner, Idempotency-Key), so a retried POST
    finds the payout it already created instead of a second one."""
    return f"{PAYOUT_PREFIX}{digest('payout', owner, idempotency_key)[:24]}"


def payment_id(owner: str, idempotency_key: str) -> str:
    """The pay-in a customer's request creates (one per owner and Idempotency-Key)."""
    return f"{PAYMENT_PREFIX}{digest('payment', owner, idempotency_key)[:24]}"


def refund_id(payment: str, idempotency_key: str) -> str:
    """A refund of a pay-in (one per pay-in and Idempotency-Key)."""
    return f"{REFUND_PREFIX}{digest('refund', payment, idempotency_key)[:24]}"


def partner_idempotency_key(record_id: str, attempt: int) -> str:
    """The key sent to the partner for one attempt: the partner creates at most one transfer per key, so
    a retried task (the same attempt) can never create a second one; a new attempt gets a new key only
    when the earlier one is known not to have executed (shared.domain.payments.routing)."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= 9999:
        raise ValueError(f"attempts are numbered 1..9999, got {attempt!r}")
    key = f"{record_id}-{attempt}"
    if not IDEMPOTENCY_KEY.match(key):
        raise ValueError(f"{record_id!r} is not a payout, payment or refund id")
    return key


def parse_partner_idempotency_key(key: str) -> tuple[str, int] | None:
    """(record id, attempt) of one of our partner keys, as a partner's webhook echoes it; None when it is
    not one of ours (a transfer someone else made at the bank)."""
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.match(key):
        return None
    record, _, attempt = key.rpartition("-")
    return record, int(attempt)


def operation_id(record_id: str, effect: str, rule: str) -> str:
    """The ledger transaction a transition books (P3): derived from the record and the effect, like a
    partner event's (shared.domain.ledger.ids.transaction_id), so a retried write replays, never posts
    twice."""
    return transaction_id("ledgerline", f"{record_id}:{effect}", rule)
