"""Payouts over the ledger store: each change is ONE store transaction (shared.ledger.transactions
.execute) that books the domain's ledger operation and writes the payout record with it.

- `request`: the payout (shared.domain.payments.payouts.request_payout) and its hold, with the limits
  checked (check_limits) against the customer's exposure read inside that transaction (P5): a breach
  raises PaymentError("limit_exceeded") and writes nothing; a retried request (same owner and
  Idempotency-Key, so the same payout id) returns the payout it created and holds nothing again.
- `apply`: one event (transition), its operation and the new record; optimistic: the record is read
  again inside the transaction and the event re-applied to a newer version; a replayed event (P2)
  writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.ledger.engine import Result, Tx
from shared.domain.ledger.model import Operation
from shared.domain.payments.destinations import Destination
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.ids import payout_id as derive_payout_id
from shared.domain.payments.limits import WINDOW, Outflow, PayoutLimits, check_limits
from shared.domain.payments.payouts import PayoutEvent, request_payout, transition
from shared.ledger.store import LedgerStore, utcnow
from shared.ledger.transactions import execute
from shared.payments.store import PayoutExposure, PayoutRecords, StoredDestination, StoredPayout
from shared.payments.vault import KeyWrapper, open_sealed, seal

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
    ):
        self.store = store
        self.records = records
        self.fingerprint_key = fingerprint_key
        self.keys = keys
        self.clock = clock
        # what runs after a posting committed (the ledger service's stream_after_commit: entries to
        # BigQuery); its failure never undoes the commit (the outbox sweep catches up)
        self.after_commit = after_commit

    def _execute(self, op: Operation, also: tuple, guard) -> Result:
        result = execute(self.store, op, self.clock, also=also, guard=guard)
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
        limits: PayoutLimits,
    ) -> Applied:
        """Request a payout of `amount` from the owner's wallet (`from_account`) to `destination`."""
        pid = derive_payout_id(owner, idempotency_key)
        existing = self.get(pid)
        if existing is not None:
            return Applied(existing, None, False)
        payout, hold = request_payout(pid, owner, amount, currency, destination, self.clock())
        if from_account != payout.wallet:
            raise ValueError(f"payouts are paid from the owner's wallet {payout.wallet}, not {from_account}")
        if (limits.customer, limits.currency) != (owner, payout.currency):
            raise ValueError(f"the limits are {limits.customer}'s in {limits.currency}")
        stored = StoredPayout(replace(payout, destination=self._stored_destination(pid, destination)), 1)

        def guard(tx: Tx, now: datetime) -> None:
            if self.records.payout(tx, pid) is not None:
                raise _Exists(pid)
            exposure = self.records.exposure(tx, owner, payout.currency)
            check_limits(limits, amount, exposure.recent_outflows, exposure.pending_holds, now).raise_if_exceeded()
            tx.put(*self.records.exposure_row(_exposure_after(exposure, pid, hold, amount, payout.requested_at, now)))

        try:
            result = self._execute(hold, (self.records.payout_row(stored),), guard)
        except _Exists:
            found = self.records.payout(self.store, pid)
            assert found is not None, "a payout seen inside a transaction is committed"
            return Applied(found, None, False)
        if result.status == "rejected":
            raise PayoutRefused(pid, result.reason)
        return Applied(stored, result, True)

    def apply(self, payout_id: str, event: PayoutEvent) -> Applied:
        """Apply one event to the payout (shared.domain.payments.payouts.transition) and book its
        operation, in one transaction. PaymentError: refused by the domain, nothing changed."""
        for _ in range(MAX_RETRIES):
            current = self.get(payout_id)
            if current is None:
                raise KeyError(f"no payout {payout_id}")
            payout, op = transition(current.payout, event)
            if payout is current.payout:
                return Applied(current, None, False)  # a replayed event (P2): nothing to write
            stored = StoredPayout(payout, current.version + 1)
            try:
                return self._write(current, stored, op)
            except StaleRecord:
                continue
        raise StaleRecord(f"{payout_id} kept changing under {event.name}")

    def _write(self, current: StoredPayout, stored: StoredPayout, op: Operation | None) -> Applied:
        p = current.payout

        def unchanged(tx: Tx) -> None:
            found = self.records.payout(tx, p.payout_id)
            if found is None or found.version != current.version:
                raise StaleRecord(p.payout_id)

        if op is None:

            def work(tx: Tx) -> None:
                unchanged(tx)
                tx.put(*self.records.payout_row(stored))

            self.store.transact(work)
            return Applied(stored, None, True)

        def guard(tx: Tx, now: datetime) -> None:
            unchanged(tx)
            exposure = self.records.exposure(tx, p.customer, p.currency)
            tx.put(
                *self.records.exposure_row(_exposure_after(exposure, p.payout_id, op, p.amount, p.requested_at, now))
            )

        result = self._execute(op, (self.records.payout_row(stored),), guard)
        if result.status == "rejected":
            raise PayoutRefused(p.payout_id, result.reason)
        return Applied(stored, result, True)


__all__ = ["Applied", "PaymentError", "PayoutRefused", "Payouts", "StaleRecord"]
