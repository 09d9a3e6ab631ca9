"""Retention and erasure over the memory stores: raw bodies past 13 months are redacted oldest first
from a mark, the canonical event stays (reconciliation still reads it); an erasure — approved by a
second operator — removes one customer's bodies and payout destinations and keeps the books; a payout
still needing its account refuses it. The registry agrees with the topology's TTL policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory_inbox import MemoryInbox
from shared.adapters.memory_store import MemoryStore
from shared.api import tenants
from shared.config import settings
from shared.demo import encode, payment_intent_succeeded
from shared.domain.ledger.operations import operation_for
from shared.domain.operations.approvals import ApprovalError
from shared.domain.operations.retention import RAW_BODY_KEEP, RETENTION
from shared.domain.operations.workflow import WorkflowError
from shared.intake.service import Intake
from shared.ledger import transactions
from shared.operations import assemble
from shared.operations.requests import parse_thresholds
from shared.partners import stripe
from shared.topology import topology
from tests.factories import Bus, ManualClock

T0 = datetime(2026, 12, 2, 9, tzinfo=UTC)


def Clock():
    return ManualClock(T0)


@pytest.fixture
def world():
    store, inbox, clock = MemoryStore(), MemoryInbox(), Clock()
    cfg = settings()
    intake = Intake(cfg, inbox, Bus(), lambda task, at: True, clock=clock)
    ops = assemble(store, clock=clock, thresholds=parse_thresholds(None), publish=None, schedule=None, inbox=inbox)
    tenants.create_tenant(store, "acme", "Acme", T0)
    for customer in ("cus_erase", "cus_keep"):
        tenants.add_customer(store, "acme", customer, T0)

    def pay(n: int, customer: str, at: datetime) -> str:
        """A payment webhook received at `at` (with the payer's email in its raw body), posted."""
        clock.now = at
        event = payment_intent_succeeded(f"evt_r{n}", f"pi_r{n}", 1000 + n, "usd", customer)
        event["data"]["object"]["receipt_email"] = f"payer{n}@example.com"
        body = encode(event)
        headers = {"Stripe-Signature": stripe.sign(body, cfg.webhook_secrets("stripe")[0], int(at.timestamp()))}
        assert intake.receive("stripe", headers, body, now=at).body["status"] == "accepted"
        key = f"stripe:evt_r{n}"
        transactions.execute(store, operation_for(inbox.get(key).event()))
        return key

    return store, inbox, clock, ops, pay


def test_raw_bodies_past_retention_are_redacted_oldest_first_and_the_canonical_event_stays(world):
    _store, inbox, clock, ops, pay = world
    old = [pay(i, "cus_keep", T0 - RAW_BODY_KEEP - timedelta(days=10 - i)) for i in range(3)]
    young = pay(9, "cus_keep", T0 - RAW_BODY_KEEP + timedelta(days=1))
    clock.now = T0
    assert ops.retention.sweep(dry_run=True) == {
        "cutoff": (T0 - RAW_BODY_KEEP).isoformat(), "due": 3, "redacted": 0, "dry_run": True,
    }  # fmt: skip
    assert all(inbox.get(k).body for k in old)
    first = ops.retention.sweep(limit=2, budget_s=0)  # one page: the time budget is spent
    assert first["redacted"] == 2 and [bool(inbox.get(k).body) for k in old] == [False, False, True]
    second = ops.retention.sweep(limit=1)  # page after page until a short one
    assert second["redacted"] == 1 and not inbox.get(old[2]).body
    for key in old:
        redacted = inbox.get(key)
        assert redacted.headers == {} and redacted.redacted_at == T0
        assert redacted.event().amount > 0  # what the ledger and reconciliation read is still there
    assert b"payer9@example.com" in inbox.get(young).body  # not due yet
    assert ops.retention.sweep()["redacted"] == 0  # nothing new: the mark moved past the redacted ones


def test_an_erasure_needs_a_second_operator_removes_the_customers_data_and_keeps_the_books(world):
    store, inbox, clock, ops, pay = world
    theirs = [pay(i, "cus_erase", T0 - timedelta(days=i)) for i in range(1, 3)]
    other = pay(5, "cus_keep", T0)
    clock.now = T0
    store.record(
        "Payout", "po_1",
        {"customer": "cus_erase", "status": "paid", "account_holder": "Erin Example",
         "account_number_masked": "••••6789", "account_fingerprint": "hmac", "account_number_ciphertext": b"x"},
    )  # fmt: skip
    balances_before = {n: dict(r) for n, r in store.snapshot(("Account",))["Account"].items()}
    req, _ = ops.requests.submit(ops.retention.erasure_submission("cus_erase"), "ana", "GDPR art. 17 request #42")
    assert req.status == "pending"  # always a second operator: it cannot be undone
    assert all(inbox.get(k).body for k in theirs)
    with pytest.raises(ApprovalError):
        ops.requests.approve(req.request_id, "ana")
    done, record = ops.requests.approve(req.request_id, "bo")
    assert done.status == "executed"
    outcome = json.loads(record["outcome"])["effect"]
    assert outcome == {"events_found": 2, "bodies_redacted": 2, "payout_destinations_erased": 1}
    assert all(inbox.get(k).body == b"" for k in theirs)
    assert b"payer5@example.com" in inbox.get(other).body
    payout = store.get("Payout", "po_1")
    assert (payout["account_holder"], payout["account_number_ciphertext"], payout["account_fingerprint"]) == (
        "[erased]", None, "",
    )  # fmt: skip
    assert store.snapshot(("Account",))["Account"] == balances_before  # the books are untouched
    assert len(list(store.transactions_of_account("customer:cus_erase:wallet"))) == 2
    erasure = store.get("Erasure", "cus_erase")
    assert (erasure["by"], erasure["bodies_redacted"]) == ("ana", 2)
    assert [e.action for e in ops.audit.entries()] == ["request:erasure", "erasure"]
    again, record = ops.requests.submit(ops.retention.erasure_submission("cus_erase"), "ana", "asked twice")
    assert ops.requests.approve(again.request_id, "bo")[0].status == "executed"  # idempotent: nothing left


def test_an_erasure_waits_for_a_payout_that_still_needs_its_account(world):
    store, _, _, ops, _ = world
    store.record("Payout", "po_2", {"customer": "cus_erase", "status": "submitting", "account_holder": "Erin"})
    with pytest.raises(WorkflowError) as busy:
        ops.retention.erasure_submission("cus_erase")
    assert busy.value.code == "payout_in_flight"
    with pytest.raises(LookupError):
        ops.retention.erasure_submission("cus_nobody")


def test_the_retention_registry_covers_every_ttl_policy_of_the_topology():
    ttl_kinds = {t["kind"] for t in topology()["datastore"]["ttl"]}
    described = " ".join(r.data for r in RETENTION if r.keep is not None and r.then == "deleted")
    assert all(kind in described for kind in ttl_kinds), ttl_kinds
