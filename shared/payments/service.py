"""Payouts over the ledger store: each change is ONE store transaction (shared.ledger.transactions
.execute) that books the domain's ledger operation and writes the payout record with it.

- `request`: the payout (shared.domain.payments.payouts.request_payout) and its hold, with the limits
  (the customer's PayoutLimits record, else the currency's default: shared.payments.limits) checked
  (check_limits) against the customer's exposure, both read inside that transaction (P5): a breach
  raises LimitExceeded (a PaymentError "limit_exceeded") and writes nothing; a retried request (same
  owner and Idempotency-Key, so the same payout id) returns the payout it created and holds nothing
  again, and the same key with other parameters (another request digest) raises RequestMismatch.
- `apply`: one event (transition), its operation and the new record; optimistic: the record is read
  again inside the transaction and the event re-applied to a newer version; a replayed event (P2)
  writes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.ledger.engine import Result, Tx
from shared.domain.ledger.model import Operation
from shared.domain.payments.destinations import Destination
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.ids import payout_id as derive_payout_id
from shared.domain.payments.limits import WINDOW, LimitCheck, Outflow, check_limits
from shared.domain.payments.payouts import PAYOUT, PayoutEvent, request_payout, transition
from shared.domain.webhooks.events import payout_events
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute
from shared.payments.limits import Defaults, effective
from shared.payments.store import OneRow, PayoutExposure, PayoutRecords, StoredDestination, StoredPayout
from shared.payments.vault import KeyWrapper, open_sealed, seal
from shared.webhooks.outbox import emit, tenant_reader

# More writes in a payout change's transaction: (tx, the payout before, after). An operator's audit entry.
Also = Callable[[Tx, StoredPayout, StoredPayout], None]

MAX_RETRIES = 5  # re-reads after a concurrent change of the record before giving up


class PayoutRefused(Exception):
    """The ledger refused the payout's operation (e.g. the hold: insufficient_funds); nothing changed
    but the ledger's Rejection record. `code` is the ledger's rejection code."""

    def __init__(self, payout_id: str, code: str | None):
        super().__init__(f"{payout_id}: {code}")
        self.payout_id = payout_id
        self.code = code


class StaleRecord(Exception):
    """The payout record changed between the read and the transaction (raised inside it: nothing is
    written); `apply` re-reads and tries again, up to MAX_RETRIES."""


class _Exists(Exception):
    """Inside the request's transaction: the payout exists already (a retried request)."""


class LimitExceeded(PaymentError):
    """P5: the payout would break a limit; `check` says which, its value and what is left under it."""

    def __init__(self, check: LimitCheck):
        super().__init__("limit_exceeded", f"{check.limit} is {check.limit_value}; {check.remaining} left")
        self.check = check


class RequestMismatch(Exception):
    """The record this Idempotency-Key names was created by a request with other parameters (another
    request digest): refused, nothing changed. `record_id`: the existing record."""

    def __init__(self, record_id: str):
        super().__init__(f"{record_id} was requested with other parameters under this idempotency key")
        self.record_id = record_id


def request_digest(*parts: object) -> str:
    """A stable hash of a request's parameters (JSON of the parts, sorted keys)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def payout_digest(
    from_account: str,
    amount: int,
    currency: str,
    destination: Destination,
    destination_fingerprint: str,
    description: str | None,
    metadata: tuple[tuple[str, str], ...],
) -> str:
    """What a payout request asked, hashed: the account number only through its keyed fingerprint."""
    return request_digest(
        "payout",
        from_account,
        amount,
        currency,
        destination.rail,
        destination.routing_number,
        destination.account_holder,
        destination_fingerprint,
        description,
        dict(metadata),
    )


@dataclass(frozen=True)
class Applied:
    """What a request or an event did: the payout record as it now stands, the result of the ledger
    operation booked (None: none), and whether anything was written."""

    payout: StoredPayout
    result: Result | None
    changed: bool


def _exposure_after(exposure: PayoutExposure, payout_id: str, op: Operation, amount: int, requested_at, now):
    """The exposure once the operation commits: a hold adds an open hold; its capture makes it an
    outflow (counted by when it was requested); a void releases it; a reversal (an ACH return) takes
    the outflow off. Outflows older than the rolling window are dropped."""
    holds, outflows = dict(exposure.holds), dict(exposure.outflows)
    if op.kind == "hold":
        holds[payout_id] = amount
    elif op.kind == "capture":
        holds.pop(payout_id, None)
        outflows[payout_id] = Outflow(amount, requested_at)
    elif op.kind == "void":
        holds.pop(payout_id, None)
    elif op.kind == "reverse":
        outflows.pop(payout_id, None)
    kept = {pid: o for pid, o in outflows.items() if o.at > now - WINDOW}
    return replace(exposure, holds=tuple(sorted(holds.items())), outflows=tuple(sorted(kept.items())))


class Payouts:
    """The payouts use cases over a LedgerStore (the ledger's transactions) and the payout records'
    codec. `fingerprint_key`: the secret the destination fingerprint is keyed with; `keys`: the
    key-encryption key the account number is sealed under (shared.payments.vault)."""

    def __init__(
        self,
        store: LedgerStore,
        records: PayoutRecords,
        fingerprint_key: bytes,
        keys: KeyWrapper,
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[str], None] = lambda transaction_id: None,
        default_limits: Defaults | None = None,
    ):
        self.store = store
        self.records = records
        self.fingerprint_key = fingerprint_key
        self.keys = keys
        self.clock = clock
        self.default_limits = dict(default_limits or {})
        # what runs after a posting committed (the ledger service's stream_after_commit: entries to
        # BigQuery); its failure never undoes the commit (the outbox sweep catches up)
        self.after_commit = after_commit

    def _execute(self, op: Operation, also: tuple, guard, events=None) -> Result:
        result = execute(self.store, op, self.clock, also=also, guard=guard, events=events)
        if result.status == "posted":
            self.after_commit(result.transaction_id)
        return result

    def get(self, payout_id: str) -> StoredPayout | None:
        return self.records.payout(self.store, payout_id)

    def _stored_destination(self, payout_id: str, destination: Destination) -> StoredDestination:
        return StoredDestination(
            rail=destination.rail,
            routing_number=destination.routing_number,
            account_holder=destination.account_holder,
            masked_account_number=destination.masked_account_number,
            fingerprint=destination.fingerprint(self.fingerprint_key),
            account_number_ciphertext=seal(self.keys, destination.reveal_account_number(), payout_id),
        )

    def destination(self, stored: StoredPayout) -> Destination:
        """The payout's destination with its account number opened (for the partner call only: never
        log it; its repr is masked)."""
        d = stored.destination
        if d.account_number_ciphertext is None:
            raise ValueError(f"{stored.payout.payout_id} has no sealed account number")
        number = open_sealed(self.keys, d.account_number_ciphertext, stored.payout.payout_id)
        return Destination(
            rail=d.rail, routing_number=d.routing_number, account_number=number, account_holder=d.account_holder
        )

    def request(
        self,
        owner: str,
        idempotency_key: str,
        from_account: str,
        amount: int,
        currency: str,
        destination: Destination,
        *,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Applied:
        """Request a payout of `amount` from the owner's wallet (`from_account`) to `destination`.
        PaymentError (invalid_amount, no_route, limit_exceeded: LimitExceeded), PayoutRefused (the
        ledger's rejection of the hold), RequestMismatch (this key was used for another payout)."""
        pid = derive_payout_id(owner, idempotency_key)
        payout, hold = request_payout(pid, owner, amount, currency, destination, self.clock())
        if from_account != payout.wallet:
            raise ValueError(f"payouts are paid from the owner's wallet {payout.wallet}, not {from_account}")
        meta = tuple(sorted((metadata or {}).items()))
        fingerprint = destination.fingerprint(self.fingerprint_key)
        digest = payout_digest(
            from_account, payout.amount, payout.currency, destination, fingerprint, description, meta
        )
        existing = self.get(pid)
        if existing is not None:
            return self._retried(existing, digest)
        sealed = self._stored_destination(pid, destination)  # sealed once: a retry costs no KMS call
        stored = StoredPayout(replace(payout, destination=sealed), 1, digest, description, meta)

        def guard(tx: Tx, now: datetime) -> None:
            if self.records.payout(tx, pid) is not None:
                raise _Exists(pid)
            limits = effective(self.records, tx, self.default_limits, owner, payout.currency).limits
            exposure = self.records.exposure(tx, owner, payout.currency)
            check = check_limits(limits, amount, exposure.recent_outflows, exposure.pending_holds, now)
            if not check.ok:
                raise LimitExceeded(check)
            tx.put(*self.records.exposure_row(_exposure_after(exposure, pid, hold, amount, payout.requested_at, now)))

        def events(tx: Tx) -> list:
            return payout_events(None, stored.payout, tenant_reader(tx), description, meta)

        try:
            result = self._execute(hold, (self.records.payout_row(stored),), guard, events)
        except _Exists:
            found = self.records.payout(self.store, pid)
            assert found is not None, "a payout seen inside a transaction is committed"
            return self._retried(found, digest)
        if result.status == "rejected":
            raise PayoutRefused(pid, result.reason)
        return Applied(stored, result, True)

    @staticmethod
    def _retried(existing: StoredPayout, digest: str) -> Applied:
        if existing.request_digest is not None and existing.request_digest != digest:
            raise RequestMismatch(existing.payout.payout_id)
        return Applied(existing, None, False)

    def cancel(self, payout_id: str, *, also: Also | None = None) -> Applied:
        """Cancel a payout still `pending` (before submission): its hold is voided. PaymentError
        (illegal_transition, already_final) in any other state; canceling twice is a no-op. `also`
        writes in the same transaction (an operator's audit entry: it commits with the cancel or not at
        all)."""
        return self.apply(payout_id, PayoutEvent("cancel", self.clock()), also=also)

    def decode(self, name: str, row: dict) -> StoredPayout | None:
        """A payout from a row a listing already read (no second read)."""
        return self.records.payout(OneRow(name, row), name)

    def list(
        self, customer: str, status: str | None, limit: int, starting_after: StoredPayout | None = None
    ) -> tuple[list[StoredPayout], bool]:
        """The customer's payouts newest first ((requested_at desc, id asc)), optionally of one status,
        after the cursor payout; (page, has_more). Reads the composite index (customer[, status],
        requested_at desc) through the store's `payouts_of`."""
        if status is not None and status not in PAYOUT.states:
            raise ValueError(f"{status!r} is not a payout state")
        before = starting_after.payout.requested_at if starting_after is not None else None
        after = starting_after.payout.payout_id if starting_after is not None else None
        rows: Iterable[tuple[str, dict]] = self.store.payouts_of(customer, status, before)  # type: ignore[attr-defined]
        page: list[StoredPayout] = []
        for name, _row in rows:
            stored = self.decode(name, _row)
            if stored is None:
                continue
            p = stored.payout
            if before is not None and (p.requested_at > before or (p.requested_at == before and name <= after)):
                continue
            page.append(stored)
            if len(page) > limit:
                break
        return page[:limit], len(page) > limit

    def apply(self, payout_id: str, event: PayoutEvent, *, also: Also | None = None) -> Applied:
        """Apply one event to the payout (shared.domain.payments.payouts.transition) and book its
        operation, in one transaction (with `also`'s writes, when the event changes the payout).
        PaymentError: refused by the domain, nothing changed."""
        for _ in range(MAX_RETRIES):
            current = self.get(payout_id)
            if current is None:
                raise KeyError(f"no payout {payout_id}")
            payout, op = transition(current.payout, event)
            if payout is current.payout:
                return Applied(current, None, False)  # a replayed event (P2): nothing to write
            stored = replace(current, payout=payout, version=current.version + 1)
            try:
                return self._write(current, stored, op, also)
            except StaleRecord:
                continue
        raise StaleRecord(f"{payout_id} kept changing under {event.name}")

    def _write(
        self, current: StoredPayout, stored: StoredPayout, op: Operation | None, also: Also | None = None
    ) -> Applied:
        p = current.payout

        def unchanged(tx: Tx) -> None:
            found = self.records.payout(tx, p.payout_id)
            if found is None or found.version != current.version:
                raise StaleRecord(p.payout_id)

        def events(tx: Tx) -> list:
            return payout_events(p, stored.payout, tenant_reader(tx), stored.description, stored.metadata)

        if op is None:

            def work(tx: Tx) -> None:
                unchanged(tx)
                tx.put(*self.records.payout_row(stored))
                emit(tx, events(tx), self.clock())
                if also is not None:
                    also(tx, current, stored)

            self.store.transact(work)
            return Applied(stored, None, True)

        def guard(tx: Tx, now: datetime) -> None:
            unchanged(tx)
            exposure = self.records.exposure(tx, p.customer, p.currency)
            tx.put(
                *self.records.exposure_row(_exposure_after(exposure, p.payout_id, op, p.amount, p.requested_at, now))
            )
            if also is not None:
                also(tx, current, stored)

        result = self._execute(op, (self.records.payout_row(stored),), guard, events)
        if result.status == "rejected":
            raise PayoutRefused(p.payout_id, result.reason)
        return Applied(stored, result, True)


__all__ = [
    "Applied",
    "LimitExceeded",
    "PaymentError",
    "PayoutRefused",
    "Payouts",
    "RequestMismatch",
    "StaleRecord",
    "request_digest",
]
