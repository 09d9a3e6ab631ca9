"""The customer events of payouts, pay-ins, refunds and disputes (shared.domain.webhooks.events),
written by their services in the transaction of the change (memory store): one event per status a
tenant cares about, numbered in the record's lane, none for an internal step or a replayed event, and
every one valid against the catalogue's schema. Ledger postings: tests/unit/test_webhooks.py."""

import json
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest

from shared.adapters import payment_rows, payout_rows
from shared.adapters.memory_store import MemoryStore
from shared.api import tenants
from shared.domain.ledger.engine import apply
from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments.destinations import Destination
from shared.domain.payments.payins import ProcessorEvent
from shared.domain.payments.payouts import PayoutEvent
from shared.domain.webhooks.catalogue import BY_NAME, envelope_schema
from shared.domain.webhooks.events import dispute_events
from shared.payments.payins import Payments
from shared.payments.service import Payouts
from shared.payments.vault import LocalKeyWrapper
from shared.webhooks import outbox

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
DEST = Destination(rail="ach", routing_number="021000021", account_number="000123456789", account_holder="Ada L")


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store():
    store = MemoryStore()
    tenants.create_tenant(store, "acme", "Acme", T0)
    tenants.add_customer(store, "acme", "alice", T0)
    legs = (
        Leg("partner:stripe:clearing", "debit", 100_000, "USD"),
        Leg("customer:alice:wallet", "credit", 100_000, "USD"),
    )
    fund = Operation("txn_fund", "post", "fund.v1", "fund", "test", digest("fund"), T0, legs=legs)
    assert store.transact(lambda tx: apply(fund, tx, T0)).status == "posted"  # the engine alone: no events
    return store


def events(store, key=None) -> list[dict]:
    rows = store.snapshot((outbox.EVENT,))[outbox.EVENT].values()
    found = [json.loads(r["body"]) for r in rows if key is None or r["key"] == key]
    return sorted(found, key=lambda e: (e["ordering"]["key"], e["ordering"]["sequence"]))


def valid(event: dict) -> dict:
    jsonschema_rs.validator_for(envelope_schema(BY_NAME[event["type"]])).validate(event)
    return event


def test_a_payouts_events_follow_its_statuses_in_its_lane_without_the_account_number(store):
    clock = Clock()
    payouts = Payouts(
        store,
        payout_rows.PayoutRows(),
        b"k",
        LocalKeyWrapper(bytes(32)),
        clock,
        default_limits={"USD": (50_000, 60_000)},
    )
    pid = payouts.request(
        "alice", "k1", "customer:alice:wallet", 1_234, "usd", DEST, metadata={"order": "o1"}
    ).payout.payout.payout_id
    payouts.apply(pid, PayoutEvent("submit", clock(), attempt=1, partner="column"))  # internal: no event
    payouts.apply(pid, PayoutEvent("accepted", clock(), attempt=1, partner_reference="tr_1"))
    payouts.apply(pid, PayoutEvent("settled", clock()))
    payouts.apply(pid, PayoutEvent("settled", clock()))  # replayed: nothing
    lane = [valid(e) for e in events(store, pid)]
    assert [(e["type"], e["ordering"]["sequence"]) for e in lane] == [
        ("payout.pending", 1),
        ("payout.submitted", 2),
        ("payout.paid", 3),
    ]
    paid = lane[-1]["data"]
    assert (paid["amount"], paid["currency"], paid["customer"], paid["partner_reference"]) == (
        1_234,
        "USD",
        "alice",
        "tr_1",
    )
    assert paid["destination"]["account_number"] == "••••6789" and paid["metadata"] == {"order": "o1"}
    text = json.dumps(events(store))
    assert "000123456789" not in text and "Ada L" not in text  # no account number, no holder's name
    held = [e["type"] for e in events(store) if e["ordering"]["key"] == f"hold_{pid}" or e["type"].startswith("hold.")]
    assert held[:1] == ["hold.created"]  # the payout's hold is a hold on the wallet too


def test_a_canceled_payout_says_so(store):
    clock = Clock()
    payouts = Payouts(
        store,
        payout_rows.PayoutRows(),
        b"k",
        LocalKeyWrapper(bytes(32)),
        clock,
        default_limits={"USD": (50_000, 60_000)},
    )
    pid = payouts.request("alice", "k2", "customer:alice:wallet", 500, "usd", DEST).payout.payout.payout_id
    payouts.cancel(pid)
    assert [e["type"] for e in events(store, pid)] == ["payout.pending", "payout.canceled"]


def test_pay_in_and_refund_events_share_the_payments_lane(store):
    payments = Payments(store, payment_rows.PaymentRows(), Clock())
    pid = payments.request("acme", "p1", "alice", 10_000, "usd", "pm_card_visa").payment.payment.payment_id
    assert events(store, pid) == []  # processing: nothing to tell yet
    payments.apply(pid, ProcessorEvent("succeeded", T0, processor_reference="pi_1"))
    refund = payments.refund("acme", pid, "r1", 4_000).refund.refund.refund_id
    payments.apply_refund(refund, ProcessorEvent("succeeded", T0, processor_reference="re_1"))
    lane = [valid(e) for e in events(store, pid)]
    assert [(e["type"], e["ordering"]["sequence"]) for e in lane] == [("payment.succeeded", 1), ("payment.refunded", 2)]
    assert lane[1]["data"]["amount"] == 4_000 and lane[1]["data"]["payment"] == pid
    declined = payments.request("acme", "p2", "alice", 700, "usd", "pm_card_visa").payment.payment.payment_id
    payments.apply(declined, ProcessorEvent("failed", T0, reason="card_declined"))
    (failed,) = events(store, declined)
    assert valid(failed)["type"] == "payment.failed" and failed["data"]["failure_reason"] == "card_declined"


def test_dispute_events_when_a_record_first_has_a_status_and_when_it_becomes_final():
    owner = {"alice": "acme"}.get
    base = {
        "partner": "stripe",
        "dispute_id": "dp_1",
        "customer": "alice",
        "payment_reference": "ch_1",
        "amount": 900,
        "currency": "USD",
        "withdrawn": 900,
        "reinstated": 0,
    }
    opened = {**base, "status": "needs_response", "final": False}
    closed = {**base, "status": "won", "final": True, "reinstated": 900}
    assert [d.type for d in dispute_events(None, opened, owner)] == ["dispute.opened"]
    assert dispute_events(opened, {**opened, "status": "under_review"}, owner) == []
    (won,) = dispute_events(opened, closed, owner)
    assert (won.type, won.key, won.data["status"]) == ("dispute.closed", "stripe:dp_1", "won")
    assert [d.type for d in dispute_events(None, closed, owner)] == ["dispute.closed"]  # first seen final
    assert dispute_events(None, {**opened, "customer": "stranger"}, owner) == []
