"""Pay-ins and refunds (shared.payments.payins) over the memory store: a payment moves nothing until
the processor's outcome, then credits the wallet once; refunds are checked against the payment's
record in the transaction that writes them, so together they never exceed what was received."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters import payment_rows
from shared.adapters.memory_store import MemoryStore
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.payins import ProcessorEvent
from shared.ledger import balances as ledger_balances
from shared.payments.payins import Payments
from shared.payments.service import RequestMismatch

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
CUSTOMER, OWNER = "c1", "acme"
WALLET = f"customer:{CUSTOMER}:wallet"


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def world():
    store = MemoryStore()
    return store, Payments(store, payment_rows.PaymentRows(), Clock())


def posted(store) -> int:
    b = ledger_balances.balances(store, WALLET).get("USD")
    return b.posted if b else 0


def succeeded(payments, key="k1", amount=10_000):
    pid = payments.request(OWNER, key, CUSTOMER, amount, "usd", "pm_card_visa").payment.payment.payment_id
    payments.apply(pid, ProcessorEvent("succeeded", T0, processor_reference="pi_1"))
    return pid


def test_a_payment_is_processing_and_moves_nothing_until_it_succeeds(world):
    store, payments = world
    made = payments.request(OWNER, "k1", CUSTOMER, 10_000, "usd", "pm_card_visa")
    p = made.payment.payment
    assert made.changed and p.status == "processing" and p.currency == "USD" and p.payment_id.startswith("py_")
    assert posted(store) == 0 and not store.data.get("JournalTransaction")
    done = payments.apply(p.payment_id, ProcessorEvent("succeeded", T0, processor_reference="pi_1"))
    assert done.changed and done.result.status == "posted" and posted(store) == 10_000
    assert done.payment.payment.processor_reference == "pi_1" and done.payment.version == 2
    again = payments.apply(p.payment_id, ProcessorEvent("succeeded", T0, processor_reference="pi_1"))
    assert not again.changed and posted(store) == 10_000  # P2: the webhook twice credits once
    with pytest.raises(PaymentError) as refused:
        payments.apply(p.payment_id, ProcessorEvent("failed", T0, reason="card_declined"))
    assert refused.value.code == "already_final"


def test_a_failed_payment_books_nothing(world):
    store, payments = world
    pid = payments.request(OWNER, "k1", CUSTOMER, 10_000, "usd", "pm_card_visa_chargeDeclined").payment.payment
    failed = payments.apply(pid.payment_id, ProcessorEvent("failed", T0, reason="card_declined"))
    assert failed.payment.payment.status == "failed" and failed.payment.payment.failure_reason == "card_declined"
    assert failed.result is None and posted(store) == 0


def test_a_retried_request_is_the_same_payment_and_other_parameters_are_refused(world):
    store, payments = world
    first = payments.request(OWNER, "k1", CUSTOMER, 10_000, "usd", "pm_card_visa")
    again = payments.request(OWNER, "k1", CUSTOMER, 10_000, "USD", "pm_card_visa")
    assert not again.changed and again.payment == first.payment
    before = store.snapshot(tuple(store.data))
    with pytest.raises(RequestMismatch):
        payments.request(OWNER, "k1", CUSTOMER, 10_001, "usd", "pm_card_visa")
    assert store.snapshot(tuple(store.data)) == before
    other_owner = payments.request("globex", "k1", CUSTOMER, 10_000, "usd", "pm_card_visa")
    assert other_owner.payment.payment.payment_id != first.payment.payment.payment_id


def test_invalid_amounts_are_refused(world):
    _, payments = world
    for amount in (0, -1, True, 1.5):
        with pytest.raises(PaymentError) as refused:
            payments.request(OWNER, "k1", CUSTOMER, amount, "usd", "pm_card_visa")
        assert refused.value.code == "invalid_amount"


def test_partial_refunds_up_to_the_payment_counting_processing_ones(world):
    store, payments = world
    pid = succeeded(payments)
    first = payments.refund(OWNER, pid, "r1", 4_000)
    assert first.changed and first.refund.refund.status == "processing" and posted(store) == 10_000
    with pytest.raises(PaymentError) as refused:
        payments.refund(OWNER, pid, "r2", 6_001)  # the processing refund counts
    assert refused.value.code == "refund_exceeds_payment"
    rest = payments.refund(OWNER, pid, "r3", None)  # everything left
    assert rest.refund.refund.amount == 6_000
    with pytest.raises(PaymentError):
        payments.refund(OWNER, pid, "r4", None)  # nothing left
    payments.apply_refund(first.refund.refund.refund_id, ProcessorEvent("succeeded", T0, processor_reference="re_p1"))
    assert posted(store) == 6_000
    payments.apply_refund(rest.refund.refund.refund_id, ProcessorEvent("failed", T0, reason="expired_card"))
    assert posted(store) == 6_000
    assert payments.refund(OWNER, pid, "r5", 6_000).changed  # a failed refund frees what it reserved
    stored = payments.get(pid)
    assert [(r.amount, r.status) for r in stored.refunds] == [
        (4_000, "succeeded"),
        (6_000, "failed"),
        (6_000, "processing"),
    ]
    assert [r.refund.amount for r in payments.refunds(stored)] == [4_000, 6_000, 6_000]


def test_a_refund_of_a_payment_that_has_not_succeeded_is_refused(world):
    store, payments = world
    pid = payments.request(OWNER, "k1", CUSTOMER, 10_000, "usd", "pm_card_visa").payment.payment.payment_id
    before = store.snapshot(tuple(store.data))
    with pytest.raises(PaymentError) as refused:
        payments.refund(OWNER, pid, "r1", 100)
    assert refused.value.code == "payment_not_succeeded"
    assert store.snapshot(tuple(store.data)) == before
    with pytest.raises(KeyError):
        payments.refund(OWNER, "py_000000000000000000000000", "r1", 100)


def test_a_retried_refund_is_the_same_refund_and_other_amounts_are_refused(world):
    _, payments = world
    pid = succeeded(payments)
    first = payments.refund(OWNER, pid, "r1", 4_000)
    again = payments.refund(OWNER, pid, "r1", 4_000)
    assert not again.changed and again.refund == first.refund
    with pytest.raises(RequestMismatch):
        payments.refund(OWNER, pid, "r1", 3_000)
    assert len(payments.get(pid).refunds) == 1


def test_two_concurrent_refunds_cannot_exceed_the_payment(world):
    """The second refund's transaction starts after the first's reads but commits later: it re-reads
    the payment's record inside its own transaction and is refused."""
    store, payments = world
    pid = succeeded(payments)
    original = store.transact

    def racing(work):
        store.transact = original
        assert payments.refund(OWNER, pid, "r_other", 7_000).changed
        return original(work)

    store.transact = racing
    with pytest.raises(PaymentError) as refused:
        payments.refund(OWNER, pid, "r1", 7_000)
    assert refused.value.code == "refund_exceeds_payment"
    assert [r.amount for r in payments.get(pid).refunds] == [7_000]


def test_a_stale_payment_read_is_retried(world):
    store, payments = world
    pid = payments.request(OWNER, "k1", CUSTOMER, 10_000, "usd", "pm_card_visa").payment.payment.payment_id
    stale = payments.get(pid)
    payments.apply(pid, ProcessorEvent("failed", T0, reason="card_declined"))
    reads = iter([stale])
    fresh = payments.get
    payments.get = lambda payment_id: next(reads, None) or fresh(payment_id)
    # the stale read says processing: succeeded would be allowed there; re-read, it failed: refused
    with pytest.raises(PaymentError) as refused:
        payments.apply(pid, ProcessorEvent("succeeded", T0))
    assert refused.value.code == "already_final"
    assert posted(store) == 0


def test_a_refund_holds_its_amount_and_a_wallet_that_paid_the_money_out_refuses_it(world):
    """The review's case: 10,000 paid in, then held for a payout; a refund of the pay-in must not send the
    same money back to the card too (the wallet would end at -10,000)."""
    from shared.adapters import payout_rows
    from shared.domain.payments.destinations import Destination
    from shared.payments.payins import PaymentRefused
    from shared.payments.service import Payouts
    from shared.payments.vault import LocalKeyWrapper

    store, payments = world
    pid = succeeded(payments, amount=10_000)
    payouts = Payouts(store, payout_rows.PayoutRows(), b"fp", LocalKeyWrapper(bytes(32)), Clock(),
                      default_limits={"USD": (50_000, 100_000)})  # fmt: skip
    dest = Destination(rail="ach", routing_number="021000021", account_number="000123456789", account_holder="A")
    payouts.request(CUSTOMER, "po1", WALLET, 10_000, "USD", dest)
    with pytest.raises(PaymentRefused) as refused:
        payments.refund(OWNER, pid, "r1", 10_000)
    assert refused.value.code == "insufficient_funds"
    assert payments.get(pid).refunds == () and posted(store) == 10_000  # nothing changed
