"""The pay-in runner (shared.payments.payin_runner) over the memory store and a scripted fake processor:
a lookup before every create, the wallet credited only by the webhook (or by the lookup once the webhook
is overdue), declines fail at once; and the payments consumer and janitor around the runners."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters import payment_rows, payout_rows
from shared.adapters.memory_store import MemoryStore
from shared.domain.events import CanonicalEvent
from shared.domain.payments.outcomes import PartnerCall
from shared.errors import PermanentError
from shared.ledger import balances as ledger_balances
from shared.payments import janitor
from shared.payments.consumer import PaymentsPorts, on_push
from shared.payments.payin_runner import PayinRunner, PayinTiming
from shared.payments.payins import Payments
from shared.payments.processor import ProcessorCall
from shared.recovery.policies import Task
from shared.recovery.service import Reschedule

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
CUSTOMER, OWNER = "c1", "acme"
WALLET = f"customer:{CUSTOMER}:wallet"


@dataclass
class FakeProcessor:
    """PaymentIntents and refunds by our id; `declines`: payment methods that decline; `lost`: creates
    that execute but whose answer is lost (a timeout)."""

    name: str = "stripe"
    declines: set = field(default_factory=lambda: {"pm_card_visa_chargeDeclined"})
    lose_answer: bool = False
    intents: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    creates: int = 0

    def create_payment(self, idempotency_key, payment_id, customer, amount, currency, payment_method):
        self.creates += 1
        if payment_method in self.declines:
            self.intents[payment_id] = {"id": "pi_d", "status": "requires_payment_method"}
            return ProcessorCall(
                PartnerCall("create", status=402, body_code="generic_decline"), "pi_d", "requires_payment_method"
            )
        intent = self.intents.setdefault(payment_id, {"id": f"pi_{len(self.intents) + 1}", "status": "succeeded"})
        if self.lose_answer:
            return ProcessorCall(PartnerCall("create", failure="timeout"))
        return ProcessorCall(PartnerCall("create", status=200), intent["id"], intent["status"], amount, currency)

    def find_payment(self, payment_id, since, reference=None):
        intent = self.intents.get(payment_id)
        if intent is None:
            return ProcessorCall(PartnerCall("status", status=404))
        return ProcessorCall(
            PartnerCall("status", status=200, body_code=intent["status"]), intent["id"], intent["status"]
        )

    def create_refund(self, idempotency_key, refund_id, payment_reference, amount, currency):
        self.creates += 1
        self.refunds[refund_id] = {"id": f"re_{len(self.refunds) + 1}", "status": "succeeded"}
        return ProcessorCall(PartnerCall("create", status=200), self.refunds[refund_id]["id"], "succeeded")

    def find_refund(self, refund_id, payment_reference):
        found = self.refunds.get(refund_id)
        if found is None:
            return ProcessorCall(PartnerCall("status", status=404))
        return ProcessorCall(PartnerCall("status", status=200, body_code=found["status"]), found["id"], found["status"])


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    payments = Payments(store, payment_rows.PaymentRows(), clock)
    processor = FakeProcessor()
    return store, clock, payments, processor, PayinRunner(payments, processor, clock, PayinTiming())


def posted(store) -> int:
    b = ledger_balances.balances(store, WALLET).get("USD")
    return b.posted if b else 0


def pay_in(payments, method="pm_card_visa", amount=5_000, key="k1") -> str:
    return payments.request(OWNER, key, CUSTOMER, amount, "USD", method).payment.payment.payment_id


def test_the_wallet_moves_on_the_webhook_not_on_the_create(world):
    store, clock, payments, processor, runner = world
    pid = pay_in(payments)
    with pytest.raises(Reschedule, match="its webhook credits"):
        runner.payment_step(pid)
    assert posted(store) == 0 and payments.get(pid).payment.status == "processing"
    assert runner.on_outcome("processor.payment_succeeded", pid, clock(), "pi_1", None) == "succeeded"
    assert runner.on_outcome("processor.payment_succeeded", pid, clock(), "pi_1", None) == "succeeded (replay)"
    assert posted(store) == 5_000
    assert runner.payment_step(pid) == "succeeded: nothing to do" and processor.creates == 1


def test_a_lost_create_answer_is_looked_up_never_created_again(world):
    _, clock, payments, processor, runner = world
    processor.lose_answer = True
    pid = pay_in(payments)
    with pytest.raises(Reschedule, match="outcome unknown"):
        runner.payment_step(pid)
    clock.now += timedelta(seconds=10)
    with pytest.raises(Reschedule, match="its webhook credits"):
        runner.payment_step(pid)  # found by our id: no second create
    assert processor.creates == 1


def test_an_overdue_webhook_is_replaced_by_the_lookup(world):
    store, clock, payments, _, runner = world
    pid = pay_in(payments)
    with pytest.raises(Reschedule):
        runner.payment_step(pid)
    clock.now += timedelta(minutes=11)
    assert runner.payment_step(pid) == "succeeded (from the lookup)"
    assert posted(store) == 5_000
    # the late webhook changes nothing
    assert runner.on_outcome("processor.payment_succeeded", pid, clock(), "pi_1", None) == "succeeded (replay)"
    assert posted(store) == 5_000


def test_a_declined_card_fails_at_once_and_moves_nothing(world):
    store, _, payments, _, runner = world
    pid = pay_in(payments, method="pm_card_visa_chargeDeclined")
    assert runner.payment_step(pid) == "failed: generic_decline"
    assert payments.get(pid).payment.failure_reason == "generic_decline" and posted(store) == 0


def test_a_refund_is_created_once_and_debits_on_its_webhook(world):
    store, clock, payments, processor, runner = world
    pid = pay_in(payments)
    with pytest.raises(Reschedule):
        runner.payment_step(pid)
    runner.on_outcome("processor.payment_succeeded", pid, clock(), "pi_1", None)
    rid = payments.refund(OWNER, pid, "r1", 2_000).refund.refund.refund_id
    with pytest.raises(Reschedule, match="its webhook debits"):
        runner.refund_step(rid)
    with pytest.raises(Reschedule):
        runner.refund_step(rid)  # found: not created again
    assert processor.creates == 2  # the payment and the refund
    runner.on_outcome("processor.refund_succeeded", rid, clock(), "re_1", None)
    assert posted(store) == 3_000


def test_an_outcome_for_a_record_we_do_not_have_goes_to_an_operator(world):
    _, clock, _, _, runner = world
    with pytest.raises(PermanentError, match="which we do not have"):
        runner.on_outcome("processor.payment_succeeded", "py_" + "0" * 24, clock(), "pi_x", None)


def push(event: CanonicalEvent, consumer: str = "payments") -> dict:
    data = base64.b64encode(event.to_message()).decode()
    return {"message": {"data": data, "attributes": {"event_id": event.event_id, "consumer": consumer}}}


def processor_event(pid: str, kind="processor.payment_succeeded") -> CanonicalEvent:
    return CanonicalEvent(
        event_id="stripe:evt_1", partner="stripe", partner_event_id="evt_1",
        partner_event_type="payment_intent.succeeded", kind=kind, occurred_at=T0, received_at=T0,
        amount=5_000, currency="USD", reference="pi_1", our_reference=pid,
    )  # fmt: skip


def test_the_consumer_applies_ours_acks_the_others_and_dead_letters_contradictions(world):
    store, clock, payments, _, runner = world
    ports = PaymentsPorts(runner=None, payins=runner, handlers={}, schedule=None, store=store, clock=clock)
    pid = pay_in(payments)
    assert on_push(ports, push(processor_event(pid), consumer="ledger"))["status"] == "not_mine"
    assert store.get("PaymentsEventHandled", "stripe:evt_1") is None  # not ours to handle: no marker
    assert on_push(ports, push(processor_event(pid)))["status"] == "applied"
    assert posted(store) == 0 + 5_000
    assert store.get("PaymentsEventHandled", "stripe:evt_1")["outcome"] == "applied"  # the re-drive stops
    unknown = on_push(ports, push(processor_event("py_" + "f" * 24)))
    assert unknown["status"] == "dead_letter"
    letter = store.get("DeadLetter", unknown["dead_letter"])
    assert letter["status"] == "open" and letter["reason_code"] == "contradicts_records"
    # a failure after a success contradicts what we recorded: an operator, not a silent drop
    failed = on_push(ports, push(processor_event(pid, "processor.payment_failed")))
    assert failed["status"] == "dead_letter" and posted(store) == 5_000


def test_the_janitor_gives_stale_open_records_a_new_step_and_leaves_fresh_ones(world):
    store, clock, payments, _, _ = world
    stale, fresh = pay_in(payments, key="old"), None
    clock.now += timedelta(minutes=11)
    fresh = pay_in(payments, key="new")
    scheduled = []
    swept = janitor.sweep(
        store, payout_rows.PayoutRows(), payment_rows.PaymentRows(), lambda t, at: scheduled.append(t), clock()
    )
    assert swept == [stale] and fresh not in swept
    assert [(t.kind, t.key) for t in scheduled] == [("payment-step", stale)]
    assert scheduled[0].name != Task("payment-step", stale).name  # a new generation: never the live task's name


def test_one_chain_per_record_the_janitor_leaves_live_chains_and_operators_cases_alone(world):
    store, clock, payments, _, _ = world
    alive, lost, with_operator = (pay_in(payments, key=k) for k in ("alive", "lost", "op"))
    clock.now += timedelta(minutes=30)
    janitor.note_scheduled(store, Task("payment-step", alive), clock.now + timedelta(minutes=40))  # a long poll
    janitor.note_scheduled(store, Task("payment-step", lost), clock.now - timedelta(minutes=20))  # never ran
    store.record("DeadLetter", f"task:payment-step:{with_operator}", {"status": "open"})
    scheduled: list[Task] = []

    def schedule(task, at):
        janitor.note_scheduled(store, task, at)
        scheduled.append(task)

    swept = janitor.sweep(store, payout_rows.PayoutRows(), payment_rows.PaymentRows(), schedule, clock())
    assert swept == [lost] and [t.key for t in scheduled] == [lost]
    # the lost chain's old step, should it still turn up, exits; the janitor's runs; a second sweep adds none
    assert janitor.superseded(store, Task("payment-step", lost)) and not janitor.superseded(store, scheduled[0])
    assert janitor.sweep(store, payout_rows.PayoutRows(), payment_rows.PaymentRows(), schedule, clock()) == []


def test_a_pay_in_waiting_for_the_customer_fails_and_one_never_answered_goes_to_an_operator(world):
    store, clock, payments, processor, runner = world
    pid = pay_in(payments, key="3ds")
    processor.intents[pid] = {"id": "pi_3ds", "status": "requires_action"}
    assert runner.payment_step(pid) == "failed: requires_action" and posted(store) == 0
    stuck = pay_in(payments, key="slow")
    processor.intents[stuck] = {"id": "pi_slow", "status": "processing"}
    with pytest.raises(Reschedule):
        runner.payment_step(stuck)
    clock.now += timedelta(hours=25)
    with pytest.raises(PermanentError, match="no outcome from the processor"):
        runner.payment_step(stuck)


def test_a_refund_made_outside_ledgerline_reaches_an_operator_ours_are_covered(world):
    _, clock, payments, _, runner = world
    pid = pay_in(payments)
    with pytest.raises(Reschedule):
        runner.payment_step(pid)
    runner.on_outcome("processor.payment_succeeded", pid, clock(), "pi_1", None)
    payments.refund(OWNER, pid, "r1", 2_000)
    assert "covered" in runner.on_charge_refunded(pid, 2_000)  # our own refund (still processing)
    with pytest.raises(PermanentError, match="made outside ledgerline"):
        runner.on_charge_refunded(pid, 3_500)  # 1,500 more refunded in the dashboard
