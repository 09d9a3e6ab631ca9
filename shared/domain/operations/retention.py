"""Data retention and erasure (pure): how long each kind of stored data keeps its personal data, and
what is left of it after. ONE registry (RETENTION): the sweep (shared.operations.retention), the
Datastore TTL policies (topology datastore.ttl) and docs/operations.md all read it.

The books are never touched: transactions, entries, balances, reconciliation records and the operator
audit log keep amounts and ids for as long as the business must keep its records. What goes is what
identifies a person beyond an id: the raw bodies partners sent (a Stripe charge carries the payer's
name, email, address), the headers they came with, a payout destination's holder name and account
number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rule:
    data: str  # what, where (kind and fields)
    keep: timedelta | None  # how long its personal data is kept; None: as long as the books
    then: str  # what happens after
    how: str  # the mechanism

    @property
    def keep_text(self) -> str:
        if self.keep is None:
            return "no time limit"
        days = self.keep // timedelta(days=1)
        return f"{days} days" if days >= 2 else f"{self.keep // timedelta(hours=1)} hours"


RAW_BODY_KEEP = timedelta(days=396)  # 13 months: a year of disputes and chargebacks, and a month's margin

RETENTION: tuple[Rule, ...] = (
    Rule(
        "Inbox body + headers, InboxBody chunks, InboxConflict bodies (raw partner webhooks)",
        RAW_BODY_KEEP,
        "redacted: the body and headers removed; the canonical event (ids, amounts, references), the content "
        "hash, verdict and delivery counts stay — what the ledger and reconciliation read",
        "the retention sweep (retries task `retention-sweep`, daily; `ledgerline retention run`)",
    ),
    Rule(
        "Payout destination: account holder, sealed account number, its mask and fingerprint",
        None,
        "kept while the payout may still need them; removed by an erasure once the payout is final",
        "erasure request (operator request `erasure`, always approved by a second operator)",
    ),
    Rule(
        "CustomerEvent, WebhookDelivery, WebhookAttempt (webhooks out: masked numbers, no names)",
        timedelta(days=30),
        "deleted",
        "Datastore TTL on expires_at (topology datastore.ttl)",
    ),
    Rule(
        "IdempotencyRecord (a request's response: may carry masked account numbers)",
        timedelta(hours=24),
        "deleted",
        "Datastore TTL on expires_at (topology datastore.ttl)",
    ),
    Rule(
        "JournalTransaction, entries, accounts, ReconRun / ReconBreak / BreakWork, AuditEntry, BigQuery tables",
        None,
        "kept: ids and amounts, no personal data beyond a customer id",
        "never deleted by the system (books and their audit trail)",
    ),
)

REDACTED = "[erased]"


def redaction_due(received_at: datetime, now: datetime, keep: timedelta = RAW_BODY_KEEP) -> bool:
    return now - received_at >= keep


def cutoff(now: datetime, keep: timedelta = RAW_BODY_KEEP) -> datetime:
    """Raw bodies received before this instant are due for redaction."""
    return now - keep
