"""Model-based test of the ledger engine (hypothesis stateful): random sequences of payments, holds,
captures, voids, transfers, reversals, duplicate and conflicting retries and overdraft attempts.
After every step the invariant auditor holds and a simple model agrees with the store's balances.

The same machine runs against the Datastore emulator in tests/integration/test_ledger_model_datastore.py
(bounded examples); here it runs on the in-memory store with many examples."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.audit import audit
from shared.domain.ledger.model import Leg, Operation
from shared.domain.ledger.operations import operation_for
from shared.ledger.balances import all_balances
from shared.ledger.store import LEDGER_KINDS, LedgerConflict
from shared.ledger.transactions import execute
from tests.factories import canonical_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
CUSTOMERS = ("cus_A", "cus_B", "cus_C")
amounts = st.integers(min_value=1, max_value=10_000)


def event(kind, n, amount, customer, reference, expires_at=None):
    return canonical_event(
        kind, f"evt_{n}", at=T0, customer=customer, amount=amount, reference=reference, expires_at=expires_at
    )


class LedgerModel(RuleBasedStateMachine):
    payments = Bundle("payments")
    holds = Bundle("holds")
    reversible = Bundle("reversible")

    def __init__(self):
        super().__init__()
        self.store = self.make_store()
        self.n = 0
        self.posted = defaultdict(int)  # account -> balance on its normal side (USD)
        self.pending_in = defaultdict(int)
        self.held = {}  # hold reference -> (customer, amount, expired, resolved)
        self.reversed = set()

    def make_store(self):
        return MemoryStore()

    def next_n(self):
        self.n += 1
        return self.n

    def run(self, op):
        return execute(self.store, op, clock=lambda: NOW)

    def move(self, source, target, amount):
        for account, sign in ((source, -1), (target, 1)):
            normal_debit = account.startswith("partner:")
            self.posted[account] += sign * amount * (-1 if normal_debit else 1)

    @rule(target=payments, customer=st.sampled_from(CUSTOMERS), amount=amounts)
    def pay(self, customer, amount):
        ev = event("payment.captured", self.next_n(), amount, customer, f"pi_{self.n}")
        result = self.run(operation_for(ev))
        assert result.status == "posted"
        self.move("partner:stripe:clearing", f"customer:{customer}:wallet", amount)
        return ev

    @rule(ev=payments)
    def duplicate_delivery_replays(self, ev):
        assert self.run(operation_for(ev)).status == "replayed"

    @rule(ev=payments, delta=st.integers(1, 100))
    def conflicting_retry_is_refused(self, ev, delta):
        with pytest.raises(LedgerConflict):
            self.run(operation_for(ev.model_copy(update={"amount": ev.amount + delta})))

    @rule(target=reversible, source=st.sampled_from(CUSTOMERS), to=st.sampled_from(CUSTOMERS), amount=amounts)
    def transfer(self, source, to, amount):
        n = self.next_n()
        src, dst = f"customer:{source}:wallet", f"customer:{to}:wallet"
        op = Operation(
            f"txn_tr{n}",
            "post",
            "transfer.v1",
            f"api:tr{n}",
            "api",
            f"h{n}",
            T0,
            enforce_constraints=True,
            legs=(Leg(src, "debit", amount, "USD"), Leg(dst, "credit", amount, "USD")),
        )
        result = self.run(op)
        if source != to and self.posted[src] < amount:
            assert (result.status, result.reason) == ("rejected", "insufficient_funds")
            return None
        assert result.status == "posted", result
        self.move(src, dst, amount)
        return (op.op_id, src, dst, amount)

    @rule(target=holds, customer=st.sampled_from(CUSTOMERS), amount=amounts, expired=st.booleans())
    def hold(self, customer, amount, expired):
        n = self.next_n()
        expires = NOW - timedelta(minutes=1) if expired else NOW + timedelta(days=1)
        ev = event("authorization.created", n, amount, customer, f"pi_h{n}", expires_at=expires)
        assert self.run(operation_for(ev)).status == "posted"
        self.pending_in[f"customer:{customer}:wallet"] += amount
        self.held[f"pi_h{n}"] = [customer, amount, 0, False]  # customer, held, released, closed
        return f"pi_h{n}"

    @rule(reference=holds, fraction=st.integers(1, 120), void=st.booleans())
    def resolve_hold(self, reference, fraction, void):
        """Captures are partner facts (always post; release what they take, at most what is left);
        a void releases the rest once; anything after the hold closed is refused (void) or posted
        without release (capture)."""
        customer, amount, released, closed = self.held[reference]
        wallet = f"customer:{customer}:wallet"
        remaining = 0 if closed else amount - released
        if void:
            result = self.run(operation_for(event("authorization.voided", self.next_n(), 0, customer, reference)))
            if closed:
                assert result.reason == "hold_already_resolved"
                return
            assert result.status == "posted"
            self.held[reference] = [customer, amount, amount, True]
            self.pending_in[wallet] -= remaining
            return
        captured = max(1, amount * fraction // 100)
        result = self.run(operation_for(event("authorization.captured", self.next_n(), captured, customer, reference)))
        assert result.status == "posted"
        freed = min(captured, remaining)
        self.held[reference] = [customer, amount, released + freed, closed or freed == remaining]
        self.pending_in[wallet] -= freed
        self.move("partner:stripe:clearing", wallet, captured)

    @rule(item=consumes(reversible))
    def reverse(self, item):
        if item is None:
            return
        txn, src, dst, amount = item
        result = self.run(
            Operation(f"rev_{txn}", "reverse", "reversal.v1", f"op:rev_{txn}", "ledgerline", "r", T0, target=txn)
        )
        assert result.status == "posted"
        self.move(dst, src, amount)
        again = self.run(
            Operation(f"rev2_{txn}", "reverse", "reversal.v1", f"op:rev2_{txn}", "ledgerline", "r", T0, target=txn)
        )
        assert again.reason == "already_reversed"

    @invariant()
    def auditor_holds_and_model_agrees(self):
        assert audit(self.store.snapshot(LEDGER_KINDS)) == []
        actual = {b.account: b for b in all_balances(self.store)}
        for account, expected in self.posted.items():
            assert (actual[account].posted if account in actual else 0) == expected, account
        for account, expected in self.pending_in.items():
            assert (actual[account].pending_in if account in actual else 0) == expected, account
        total = sum(b.posted * (1 if b.account.startswith("partner:") else -1) for b in actual.values())
        assert total == 0  # conservation: what clearing holds is exactly what wallets are owed


TestLedgerModel = LedgerModel.TestCase
TestLedgerModel.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
