"""Retention and erasure over the stores (the rules: shared.domain.operations.retention.RETENTION).

- The retention sweep redacts the raw bodies (and headers) of inbox events received more than 13
  months ago, oldest first, from a mark (`RetentionMark`/"inbox": every event received before it is
  redacted) so a daily run reads only what became due since.
- An erasure request removes one customer's personal data and keeps the books: the raw bodies of every
  inbox event about them (found by the inbox's `customer` field, and by the events their wallet's
  transactions were posted from), and their final payouts' destinations (holder, sealed account
  number, its mask and fingerprint). It is an operator request (`erasure`): always approved by a second
  operator, audited; refused while one of their payouts is still in flight (it needs the account).
  Recorded as an `Erasure` record (who, when, what was removed: counts, never the data).

Events the ledger never posted and whose canonical form names no customer (ignored event types) are
not found by an erasure: the retention sweep removes their bodies after 13 months (docs/operations.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.domain.operations import retention as rules
from shared.domain.operations.workflow import WorkflowError
from shared.operations.requests import Plan, Submission

log = logging.getLogger("ledgerline.operations")

MARK, ERASURE = "RetentionMark", "Erasure"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ERASED_MASK = "••••"
# A payout in these states may still submit an attempt, which needs the account number; afterwards
# (submitted, paid, failed, returned, canceled) status queries and returns go by the partner's reference.
NEEDS_DESTINATION = frozenset({"pending", "submitting"})


@dataclass
class Retention:
    store: object  # the ledger store (payouts, marks, erasure records)
    inbox: object  # shared.intake.inbox.Inbox
    clock: Callable[[], datetime]

    def sweep(self, *, limit: int = 500, dry_run: bool = False, budget_s: float = 40.0) -> dict:
        """Redact the raw bodies past their retention, oldest first, `limit` a page, page after page
        until a short one or `budget_s` seconds (the task's deadline leaves room; the next run goes on
        from the mark)."""
        started, now = time.monotonic(), self.clock()
        cutoff = rules.cutoff(now)
        due_total = redacted = 0
        while True:
            mark = self.store.get(MARK, "inbox")
            start = _aware(mark["through"]) if mark else EPOCH
            page = self.inbox.received_between(start, cutoff, limit)
            pending = [e for e in page if e.redacted_at is None]
            due_total += len(pending)
            if dry_run:
                break
            redacted += sum(self.inbox.redact(e.key, now, "retention") for e in pending)
            full = len(page) >= limit
            through = page[-1].received_at if full else cutoff
            if full and _aware(through) <= start:  # a whole page at one instant: step past it
                through = start + timedelta(microseconds=1)
            self.store.record(MARK, "inbox", {"through": through, "at": now})
            if not full or time.monotonic() - started > budget_s:
                break
        out = {"cutoff": cutoff.isoformat(), "due": due_total, "redacted": redacted, "dry_run": dry_run}
        log.info("retention sweep", extra={k: v for k, v in out.items() if k != "cutoff"})
        return out

    # ------------------------------------------------------------------ erasure

    def _in_flight(self, customer: str) -> list[str]:
        payouts = self.store.query("Payout", "customer", customer)
        return sorted(n for n, p in payouts.items() if p.get("status") in NEEDS_DESTINATION)

    def erasure_submission(self, customer: str) -> Submission:
        if self.store.get("TenantCustomer", customer) is None:
            raise LookupError(customer)
        busy = self._in_flight(customer)
        if busy:
            raise WorkflowError("payout_in_flight", f"{customer} has payouts in flight: {', '.join(busy[:5])}")
        return Submission("erasure", f"customer:{customer}", {"customer": customer})

    def plan(self, req, payload: dict) -> Plan:
        customer = payload["customer"]
        return Plan(effect=lambda: self.erase(customer, req.maker), before={"customer": customer})

    def erase(self, customer: str, actor: str) -> dict:
        """Remove the customer's personal data (module docstring); idempotent: a second erasure finds
        nothing left and says so."""
        busy = self._in_flight(customer)
        if busy:
            raise WorkflowError("payout_in_flight", f"{customer} has payouts in flight: {', '.join(busy[:5])}")
        now = self.clock()
        keys = set(self.inbox.keys_of_customer(customer))
        for txn in self.store.transactions_of_account(f"customer:{customer}:wallet"):
            if txn.event_id and ":" in txn.event_id and not txn.event_id.startswith("ledgerline:"):
                keys.add(txn.event_id)
        bodies = sum(self.inbox.redact(key, now, "erasure") for key in sorted(keys))
        destinations = sum(
            self._erase_destination(name) for name in sorted(self.store.query("Payout", "customer", customer))
        )
        counts = {"events_found": len(keys), "bodies_redacted": bodies, "payout_destinations_erased": destinations}
        previous = self.store.get(ERASURE, customer) or {}
        self.store.record(
            ERASURE,
            customer,
            {"customer": customer, "by": actor, "at": now, "runs": previous.get("runs", 0) + 1, **counts},
        )
        log.info("customer erased", extra={"customer": customer, **counts})
        return counts

    def _erase_destination(self, name: str) -> bool:
        """In a transaction: the payments function may be updating the same payout (a settlement)."""

        def work(tx) -> bool:
            row = tx.get("Payout", name)
            if row is None or row.get("account_holder") == rules.REDACTED:
                return False
            if row.get("status") in NEEDS_DESTINATION:
                raise WorkflowError("payout_in_flight", f"{name} is {row['status']}: it still needs its account")
            tx.put(
                "Payout",
                name,
                {
                    **row,
                    "account_holder": rules.REDACTED,
                    "account_number_masked": ERASED_MASK,
                    "account_fingerprint": "",
                    "account_number_ciphertext": None,
                    "description": None,
                    "metadata": "{}",
                    # a writer that read the row before this (a settlement) must not put the old one back:
                    # the payments service writes only over the version it read
                    "version": (row.get("version") or 0) + 1,
                },
            )
            return True

        return self.store.transact(work)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
