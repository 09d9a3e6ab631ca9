"""The payouts service (shared.payments.service) over the memory store: each change one transaction
that books the domain's operation and writes the record (shared.adapters.payout_rows), the limits
checked inside the hold's transaction, retried requests and replayed events writing nothing new."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters import payout_rows
from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.engine import apply
from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments.destinations import Destination
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.limits import PayoutLimits
from shared.domain.payments.payouts import NOT_FOUND_AFTER, PAYOUT_CLEARING, PayoutEvent
from shared.ledger import balances as ledger_balances
from shared.payments.limits import PayoutLimitsBook
from shared.payments.service import PayoutRefused, Payouts, RequestMismatch
from shared.payments.store import StoredDestination
from shared.payments.vault import LocalKeyWrapper, VaultError, open_sealed

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
FUNDING = 100_000
AMOUNT = 12_345
OWNER = "c1"
WALLET = f"customer:{OWNER}:wallet"
CLEARING = PAYOUT_CLEARING["ach"]
ACCOUNT_NUMBER = "000123456789"
DEST = Destination(rail="ach", routing_number="021000021", account_number=ACCOUNT_NUMBER, account_holder="Ada L")
LIMITS = PayoutLimits(OWNER, "USD", max_single=50_000, daily_outflow=60_000)
DEFAULTS = {"USD": (LIMITS.max_single, LIMITS.daily_outflow)}  # the settings' default for USD
KEY = b"test-fingerprint-key"
KEYS = LocalKeyWrapper(bytes(range(32)))


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **kw) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def world():
    store = MemoryStore()
    legs = (Leg("partner:stripe:clearing", "debit", FUNDING, "USD"), Leg(WALLET, "credit", FUNDING, "USD"))
    fund = Operation("txn_fund", "post", "fund.v1", "fund", "test", digest("fund"), T0, legs=legs)
    assert store.transact(lambda tx: apply(fund, tx, T0)).status == "posted"
    clock = Clock()
    return store, clock, Payouts(store, payout_rows.PayoutRows(), KEY, KEYS, clock, default_limits=DEFAULTS)


def balance(store, account):
    return ledger_balances.balances(store, account).get("USD")


def book(payouts):
    return PayoutLimitsBook(payouts.store, payouts.records, payouts.default_limits, payouts.clock)


def request(payouts, key="k1", amount=AMOUNT, limits=None, dest=DEST, **extra):
    if limits is not None:  # the customer's own limits, set as an operator does
        book(payouts).set(OWNER, limits.currency, limits.max_single, limits.daily_outflow, "operator:test")
    return payouts.request(OWNER, key, WALLET, amount, "usd", dest, **extra)


def ev(clock, name, **kw):
    return PayoutEvent(name, clock.tick(minutes=1), **kw)


def pay(payouts, clock, pid):
    payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    payouts.apply(pid, ev(clock, "accepted", attempt=1, partner_reference="tr_1"))
    return payouts.apply(pid, ev(clock, "settled"))


def rows(store, kind):
    return store.snapshot((kind,))[kind]


def test_happy_path_moves_exactly_the_amount_wallet_to_clearing(world):
    store, clock, payouts = world
    requested = request(payouts)
    pid = requested.payout.payout.payout_id
    assert requested.changed and requested.result.status == "posted"
    assert requested.payout.payout.status == "pending"
    wallet = balance(store, WALLET)
    assert (wallet.posted, wallet.pending_out, wallet.available) == (FUNDING, AMOUNT, FUNDING - AMOUNT)

    submitted = payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    assert submitted.payout.payout.status == "submitting" and submitted.result is None
    accepted = payouts.apply(pid, ev(clock, "accepted", attempt=1, partner_reference="tr_1"))
    assert accepted.payout.payout.status == "submitted" and accepted.payout.payout.partner_reference == "tr_1"
    paid = payouts.apply(pid, ev(clock, "settled"))
    assert paid.payout.payout.status == "paid" and paid.result.status == "posted"

    wallet, clearing = balance(store, WALLET), balance(store, CLEARING)
    assert (wallet.posted, wallet.pending_out) == (FUNDING - AMOUNT, 0)
    assert (clearing.credits_posted - clearing.debits_posted, clearing.credits_pending) == (AMOUNT, 0)
    stored = payouts.get(pid)
    assert stored == paid.payout and stored.version == 4
    assert [t.event for t in stored.payout.timeline] == ["requested", "submit", "accepted", "settled"]
    # a replayed settled changes nothing and books nothing
    again = payouts.apply(pid, ev(clock, "settled"))
    assert not again.changed and again.result is None and payouts.get(pid).version == 4
    assert balance(store, WALLET).posted == FUNDING - AMOUNT


def test_the_account_number_is_never_stored_in_clear(world):
    store, _, payouts = world
    pid = request(payouts).payout.payout.payout_id
    row = store.get(payout_rows.PAYOUT, pid)
    assert ACCOUNT_NUMBER not in json.dumps(store.data, default=str)
    assert row["account_number_masked"] == "••••6789"
    assert row["account_fingerprint"] == DEST.fingerprint(KEY)
    sealed = row["account_number_ciphertext"]
    assert sealed.startswith("v1.local.") and ACCOUNT_NUMBER not in sealed
    destination = payouts.get(pid).destination
    assert isinstance(destination, StoredDestination) and destination.masked_account_number == "••••6789"
    # the partner adapter gets the number back, and only for this payout
    assert payouts.destination(payouts.get(pid)).reveal_account_number() == ACCOUNT_NUMBER
    with pytest.raises(VaultError):
        open_sealed(KEYS, sealed, "po_another")
    with pytest.raises(VaultError):
        open_sealed(LocalKeyWrapper(bytes(32)), sealed, pid)


def test_decline_then_fail_releases_the_hold(world):
    store, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    payouts.apply(pid, ev(clock, "declined", attempt=1, reason="account_closed"))
    failed = payouts.apply(pid, ev(clock, "fail", reason="all_declined"))
    assert failed.payout.payout.status == "failed" and failed.result.status == "posted"
    wallet = balance(store, WALLET)
    assert (wallet.posted, wallet.pending_out, wallet.available) == (FUNDING, 0, FUNDING)
    assert payouts.records.exposure(store, OWNER, "USD").holds == ()


def test_cancel_before_submission_and_not_after(world):
    store, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    canceled = payouts.apply(pid, ev(clock, "cancel"))
    assert canceled.payout.payout.status == "canceled"
    assert balance(store, WALLET).available == FUNDING
    with pytest.raises(PaymentError) as refused:
        payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    assert refused.value.code == "already_final"

    other = request(payouts, key="k2").payout.payout.payout_id
    payouts.apply(other, ev(clock, "submit", attempt=1, partner="bank_a"))
    before = store.snapshot(("Payout", "JournalTransaction"))
    with pytest.raises(PaymentError) as late:
        payouts.apply(other, ev(clock, "cancel"))
    assert late.value.code == "illegal_transition"
    assert store.snapshot(("Payout", "JournalTransaction")) == before


def test_a_retried_request_returns_the_same_payout_and_holds_once(world):
    store, clock, payouts = world
    first = request(payouts)
    clock.tick(seconds=5)
    again = request(payouts)
    assert not again.changed and again.payout == first.payout
    assert len(store.transactions_of_kind("hold")) == 1
    assert balance(store, WALLET).pending_out == AMOUNT
    assert payouts.records.exposure(store, OWNER, "USD").pending_holds == (AMOUNT,)


def test_a_retry_racing_the_first_request_inside_the_transaction_holds_once(world):
    store, _, payouts = world
    first = request(payouts)
    pid = first.payout.payout.payout_id
    seen = payouts.get
    payouts.get = lambda payout_id: None  # the retry's first read missed the record (not committed yet)
    again = request(payouts)
    payouts.get = seen
    assert not again.changed and again.payout.payout.payout_id == pid
    assert len(store.transactions_of_kind("hold")) == 1
    assert payouts.records.exposure(store, OWNER, "USD").pending_holds == (AMOUNT,)


def test_over_the_single_limit_writes_nothing(world):
    store, _, payouts = world
    before = store.snapshot(tuple(store.data))
    with pytest.raises(PaymentError) as refused:
        request(payouts, amount=LIMITS.max_single + 1)
    assert refused.value.code == "limit_exceeded"
    assert store.snapshot(tuple(store.data)) == before
    assert "Payout" not in store.data or not store.data["Payout"]
    assert not rows(store, "Rejection")


def test_two_requests_over_the_daily_limit_the_second_is_refused(world):
    store, clock, payouts = world
    first = request(payouts, key="k1", amount=40_000)
    assert first.changed
    clock.tick(minutes=1)
    before = store.snapshot(tuple(store.data))
    with pytest.raises(PaymentError) as refused:
        request(payouts, key="k2", amount=30_000)  # each under max_single, together over daily_outflow
    assert refused.value.code == "limit_exceeded"
    assert store.snapshot(tuple(store.data)) == before
    assert balance(store, WALLET).pending_out == 40_000
    assert request(payouts, key="k3", amount=20_000).changed  # what is left still fits


def test_a_request_committed_while_another_starts_is_counted_in_its_transaction(world):
    store, _, payouts = world
    original = store.transact

    def racing(work):  # the other request commits after this one started, before its transaction reads
        store.transact = original
        assert request(payouts, key="k_other", amount=40_000).changed
        return original(work)

    store.transact = racing
    with pytest.raises(PaymentError) as refused:
        request(payouts, key="k1", amount=30_000)
    assert refused.value.code == "limit_exceeded"
    assert balance(store, WALLET).pending_out == 40_000
    assert len(rows(store, "Payout")) == 1


def test_paid_payouts_count_for_a_day_then_stop(world):
    store, clock, payouts = world
    pid = request(payouts, key="k1", amount=40_000).payout.payout.payout_id
    pay(payouts, clock, pid)
    assert payouts.records.exposure(store, OWNER, "USD").recent_outflows[0].amount == 40_000
    with pytest.raises(PaymentError):
        request(payouts, key="k2", amount=30_000)
    clock.tick(hours=24)
    assert request(payouts, key="k3", amount=30_000).changed


def test_failed_payouts_free_the_limit(world):
    _, clock, payouts = world
    pid = request(payouts, key="k1", amount=40_000).payout.payout.payout_id
    payouts.apply(pid, ev(clock, "cancel"))
    assert request(payouts, key="k2", amount=40_000).changed


def test_returned_after_paid_reverses(world):
    store, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    pay(payouts, clock, pid)
    returned = payouts.apply(pid, ev(clock, "returned", reason="R01"))
    assert returned.payout.payout.status == "returned" and returned.payout.payout.return_code == "R01"
    assert returned.result.status == "posted"
    wallet, clearing = balance(store, WALLET), balance(store, CLEARING)
    assert (wallet.posted, wallet.pending_out) == (FUNDING, 0)
    assert clearing.credits_posted - clearing.debits_posted == 0
    assert payouts.records.exposure(store, OWNER, "USD").outflows == ()
    assert len(rows(store, "Reversal")) >= 1


def test_insufficient_funds_refuses_the_payout_and_writes_no_record(world):
    store, _, payouts = world
    limits = PayoutLimits(OWNER, "USD", max_single=FUNDING * 2, daily_outflow=FUNDING * 2)
    with pytest.raises(PayoutRefused) as refused:
        request(payouts, amount=FUNDING + 1, limits=limits)
    assert refused.value.code == "insufficient_funds"
    assert not rows(store, "Payout") and not rows(store, "PayoutExposure")


def test_a_stale_read_is_retried_against_the_newer_record(world):
    store, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    stale = payouts.get(pid)
    payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    reads = iter([stale])
    fresh = payouts.get
    payouts.get = lambda payout_id: next(reads, None) or fresh(payout_id)
    # the stale read says pending: cancel would be allowed there; re-read, it is submitting: refused
    with pytest.raises(PaymentError) as refused:
        payouts.apply(pid, ev(clock, "cancel"))
    assert refused.value.code == "illegal_transition"
    assert payouts.get(pid).payout.status == "submitting"
    assert balance(store, WALLET).pending_out == AMOUNT


def test_attempt_outcomes_are_recorded(world):
    _, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    payouts.apply(pid, ev(clock, "submit", attempt=1, partner="bank_a"))
    payouts.apply(pid, ev(clock, "unknown", attempt=1, reason="timeout"))
    clock.tick(seconds=NOT_FOUND_AFTER.total_seconds())
    payouts.apply(pid, ev(clock, "not_executed", attempt=1, reason="not_found"))
    payouts.apply(pid, ev(clock, "submit", attempt=2, partner="bank_b"))
    attempts = payouts.get(pid).payout.attempts
    assert [(a.number, a.partner, a.state) for a in attempts] == [
        (1, "bank_a", "not_executed"),
        (2, "bank_b", "in_flight"),
    ]
    assert attempts[1].idempotency_key == f"{pid}-2"


# ----------------------------------------------------------------------------- stored limits, digest, listing


def test_the_customers_own_limits_replace_the_default_and_are_read_inside_the_hold_transaction(world):
    store, _, payouts = world
    with pytest.raises(PaymentError):
        request(payouts, key="k1", amount=LIMITS.max_single + 1)  # the default refuses it
    original = store.transact

    def raised_meanwhile(work):  # an operator raises the limit after the request's reads, before its transaction
        store.transact = original
        book(payouts).set(OWNER, "USD", 80_000, 90_000, "operator:test")
        return original(work)

    store.transact = raised_meanwhile
    assert request(payouts, key="k2", amount=LIMITS.max_single + 1).changed


def test_a_currency_without_any_limit_refuses_every_payout(world):
    store, _, payouts = world
    legs = (Leg("partner:stripe:clearing", "debit", FUNDING, "EUR"), Leg(WALLET, "credit", FUNDING, "EUR"))
    fund = Operation("txn_fund_eur", "post", "fund.v1", "fund_eur", "test", digest("fund_eur"), T0, legs=legs)
    assert store.transact(lambda tx: apply(fund, tx, T0)).status == "posted"
    with pytest.raises(PaymentError) as refused:
        payouts.request(OWNER, "k1", WALLET, 1, "EUR", DEST)
    assert refused.value.code == "limit_exceeded"
    assert (refused.value.check.limit, refused.value.check.limit_value, refused.value.check.remaining) == (
        "max_single",
        0,
        0,
    )
    assert not rows(store, "Payout")
    book(payouts).set(OWNER, "EUR", 10, 10, "operator:test")
    assert payouts.request(OWNER, "k1", WALLET, 10, "EUR", DEST).changed


def test_limit_exceeded_says_which_limit_its_value_and_what_is_left(world):
    _, _, payouts = world
    request(payouts, key="k1", amount=40_000)
    with pytest.raises(PaymentError) as refused:
        request(payouts, key="k2", amount=30_000)
    check = refused.value.check
    assert (check.limit, check.limit_value, check.remaining) == ("daily_outflow", 60_000, 20_000)


def test_every_limit_change_is_recorded_with_who_when_old_and_new(world):
    _, clock, payouts = world
    limits = book(payouts)
    assert limits.get(OWNER, "usd").source == "default"
    first = limits.set(OWNER, "usd", 1_000, 2_000, "key:abc")
    clock.tick(minutes=5)
    second = limits.set(OWNER, "USD", 3_000, 4_000, "cli:ops")
    assert limits.set(OWNER, "USD", 3_000, 4_000, "cli:again") == second  # the same values: nothing written
    assert first.version == 1 and second.version == 2
    got = limits.get(OWNER, "USD")
    assert got.source == "customer" and (got.limits.max_single, got.limits.daily_outflow) == (3_000, 4_000)
    history = [(c.actor, c.old, c.new, c.at) for c in got.stored.history]
    assert history == [("key:abc", None, (1_000, 2_000), T0), ("cli:ops", (1_000, 2_000), (3_000, 4_000), clock.now)]
    with pytest.raises(ValueError):
        limits.set(OWNER, "USD", -1, 4_000, "cli:ops")
    with pytest.raises(ValueError):
        limits.set(OWNER, "USD", 1, 4_000, "")
    assert limits.get(OWNER, "USD").stored.version == 2


def test_the_same_key_with_other_parameters_is_refused_and_changes_nothing(world):
    store, _, payouts = world
    first = request(payouts, key="k1", description="rent")
    before = store.snapshot(tuple(store.data))
    other = Destination(rail="ach", routing_number="021000021", account_number="000123456780", account_holder="Ada L")
    for changed in ({"amount": AMOUNT + 1}, {"dest": other}, {"description": "other"}, {"metadata": {"a": "b"}}):
        with pytest.raises(RequestMismatch):
            request(payouts, key="k1", **{"description": "rent", **changed})
    assert store.snapshot(tuple(store.data)) == before
    assert request(payouts, key="k1", description="rent").payout == first.payout  # the same request: a replay


def test_the_request_digest_and_metadata_are_stored_without_the_account_number(world):
    store, _, payouts = world
    pid = request(payouts, metadata={"invoice": "42"}).payout.payout.payout_id
    row = rows(store, "Payout")[pid]
    assert len(row["request_digest"]) == 64 and json.loads(row["metadata"]) == {"invoice": "42"}
    assert ACCOUNT_NUMBER not in json.dumps(row, default=str)
    assert payouts.get(pid).metadata == (("invoice", "42"),)


def test_cancel_voids_the_hold_only_while_pending(world):
    store, clock, payouts = world
    pid = request(payouts).payout.payout.payout_id
    assert payouts.cancel(pid).payout.payout.status == "canceled"
    assert balance(store, WALLET).pending_out == 0
    assert not payouts.cancel(pid).changed  # twice: a replay
    other = request(payouts, key="k2").payout.payout.payout_id
    payouts.apply(other, ev(clock, "submit", attempt=1, partner="bank_a"))
    with pytest.raises(PaymentError) as refused:
        payouts.cancel(other)
    assert refused.value.code == "illegal_transition"


def test_listing_is_newest_first_by_status_with_a_cursor(world):
    _, clock, payouts = world
    ids = []
    for n in range(5):
        clock.tick(seconds=1)
        ids.append(request(payouts, key=f"k{n}", amount=1_000).payout.payout.payout_id)
    payouts.cancel(ids[1])
    page, more = payouts.list(OWNER, None, 2)
    assert [s.payout.payout_id for s in page] == [ids[4], ids[3]] and more
    page, more = payouts.list(OWNER, None, 2, starting_after=page[-1])
    assert [s.payout.payout_id for s in page] == [ids[2], ids[1]] and more
    page, more = payouts.list(OWNER, None, 2, starting_after=page[-1])
    assert [s.payout.payout_id for s in page] == [ids[0]] and not more
    pending, _ = payouts.list(OWNER, "pending", 10)
    assert [s.payout.payout_id for s in pending] == [ids[4], ids[3], ids[2], ids[0]]
    assert [s.payout.payout_id for s in payouts.list(OWNER, "canceled", 10)[0]] == [ids[1]]
    assert payouts.list("someone_else", None, 10) == ([], False)
