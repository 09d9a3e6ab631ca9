"""The payout runner (shared.payments.orchestrator) over the memory store and a scripted fake bank: the
partner-call rules — record before calling, query before re-submitting, fail over only when an attempt
is known not to have executed — and the bank's own record of transfers as the oracle (executed once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters import payout_rows
from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.engine import apply
from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments.destinations import Destination
from shared.domain.payments.limits import PayoutLimits
from shared.domain.payments.outcomes import PartnerCall, classify
from shared.domain.payments.payouts import NOT_FOUND_AFTER
from shared.errors import PermanentError
from shared.ledger import balances as ledger_balances
from shared.payments.orchestrator import PayoutRunner, Timing, TransferEvent
from shared.payments.service import Payouts
from shared.payments.vault import LocalKeyWrapper
from shared.recovery.policies import CircuitBreaker
from shared.recovery.service import Reschedule

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
FUNDING, AMOUNT, OWNER = 100_000, 12_345, "c1"
WALLET = f"customer:{OWNER}:wallet"
ACCOUNT = "000123456789"
DEST = Destination(rail="ach", routing_number="021000021", account_number=ACCOUNT, account_holder="Ada L")
LIMITS = PayoutLimits(OWNER, "USD", max_single=50_000, daily_outflow=90_000)
ROUTES = {("ach", "USD"): ("bank_a", "bank_b")}


@dataclass(frozen=True)
class Call:
    call: PartnerCall
    reference: str | None = None
    status: str | None = None
    return_code: str | None = None


@dataclass
class FakeBank:
    """Transfers by idempotency key; `script` says what the next create calls do:
    ok, decline, invalid, timeout_after_commit, error_before_commit, throttle, connect_failed, down."""

    name: str
    script: list[str] = field(default_factory=list)
    transfers: dict[str, dict] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    seen_accounts: list[str] = field(default_factory=list)
    down: bool = False

    def _commit(self, key: str, amount: int) -> dict:
        if key not in self.transfers:
            self.transfers[key] = {
                "id": f"acht_{self.name}_{len(self.transfers) + 1}",
                "status": "submitted",
                "amount": amount,
            }
            self.executions[key] = self.executions.get(key, 0) + 1
        return self.transfers[key]

    def create_transfer(self, idempotency_key, amount, currency, destination, description):
        self.seen_accounts.append(destination.reveal_account_number())
        mode = "down" if self.down else (self.script.pop(0) if self.script else "ok")
        if mode == "down":
            return Call(PartnerCall("create", failure="connect_failed"))
        if mode == "decline":
            return Call(PartnerCall("create", status=403, body_code="counterparty_blocked"))
        if mode == "invalid":
            return Call(PartnerCall("create", status=400, body_code="invalid_account_number"))
        if mode == "throttle":
            return Call(PartnerCall("create", status=429, retry_after_s=3))
        if mode == "connect_failed":
            return Call(PartnerCall("create", failure="connect_failed"))
        if mode == "error_before_commit":
            return Call(PartnerCall("create", status=503))
        t = self._commit(idempotency_key, amount)
        if mode == "timeout_after_commit":
            return Call(PartnerCall("create", failure="timeout"))
        return Call(PartnerCall("create", status=200), t["id"], t["status"])

    def find_transfer(self, idempotency_key):
        if self.down:
            return Call(PartnerCall("status", failure="connect_failed"))
        t = self.transfers.get(idempotency_key)
        if t is None:
            return Call(PartnerCall("status", status=404))
        return Call(
            PartnerCall("status", status=200, body_code=t["status"]), t["id"], t["status"], t.get("return_code")
        )

    def settle(self, status="settled", return_code=None):
        for t in self.transfers.values():
            t["status"], t["return_code"] = status, return_code


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def tick(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def world():
    store = MemoryStore()
    legs = (Leg("partner:stripe:clearing", "debit", FUNDING, "USD"), Leg(WALLET, "credit", FUNDING, "USD"))
    fund = Operation("txn_fund", "post", "fund.v1", "fund", "test", digest("fund"), T0, legs=legs)
    assert store.transact(lambda tx: apply(fund, tx, T0)).status == "posted"
    clock = Clock()
    limits = {"USD": (LIMITS.max_single, LIMITS.daily_outflow)}  # the default of every customer
    payouts = Payouts(
        store, payout_rows.PayoutRows(), b"fp", LocalKeyWrapper(bytes(range(32))), clock, default_limits=limits
    )
    banks = {"bank_a": FakeBank("bank_a"), "bank_b": FakeBank("bank_b")}
    breakers: dict[str, CircuitBreaker] = {}
    runner = PayoutRunner(payouts, banks, ROUTES, lambda p: breakers.setdefault(p, CircuitBreaker()), clock, Timing())
    return store, clock, payouts, banks, runner


def new_payout(payouts, key="k1", amount=AMOUNT):
    return payouts.request(OWNER, key, WALLET, amount, "USD", DEST).payout.payout.payout_id


def committed_but_unknown(payouts, banks, runner) -> tuple[str, str]:
    """A payout whose first create committed at bank_a and timed out: (payout id, its attempt's key)."""
    banks["bank_a"].script = ["timeout_after_commit"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)
    return pid, payouts.get(pid).payout.attempts[0].idempotency_key


def run_once(runner, pid, clock, until, max_steps=20):
    """Run steps until `until()` holds; the last Reschedule is raised."""
    for _ in range(max_steps):
        try:
            runner.step(pid)
        except Reschedule as later:
            clock.now = max(clock.now, later.at)
            if until():
                raise
    raise AssertionError("never reached")


def run(runner, pid, clock, max_steps=20):
    """Run steps as the queue would: each Reschedule at its time, until the step ends."""
    for _ in range(max_steps):
        try:
            return runner.step(pid)
        except Reschedule as later:
            clock.now = max(clock.now, later.at)
    raise AssertionError("the payout never stopped asking to come back")


def status(payouts, pid):
    return payouts.get(pid).payout.status


def wallet(store):
    return ledger_balances.balances(store, WALLET)["USD"]


def executed(banks):
    return {name: sum(b.executions.values()) for name, b in banks.items()}


def test_happy_path_paid_once_with_the_account_number_only_in_the_request(world):
    store, clock, payouts, banks, runner = world
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)  # submitted; it polls for settlement
    assert status(payouts, pid) == "submitted"
    assert wallet(store).available == FUNDING - AMOUNT and wallet(store).posted == FUNDING
    banks["bank_a"].settle()
    assert run(runner, pid, clock) == "paid"
    assert wallet(store).posted == FUNDING - AMOUNT and wallet(store).pending_out == 0
    assert executed(banks) == {"bank_a": 1, "bank_b": 0}
    assert banks["bank_a"].seen_accounts == [ACCOUNT]


def test_decline_fails_over_to_the_next_bank(world):
    _, _, payouts, banks, runner = world
    banks["bank_a"].script = ["decline"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)  # declined at a: next route now
    with pytest.raises(Reschedule):
        runner.step(pid)  # accepted at b
    attempts = payouts.get(pid).payout.attempts
    assert [(a.partner, a.state) for a in attempts] == [("bank_a", "declined"), ("bank_b", "accepted")]
    assert executed(banks) == {"bank_a": 0, "bank_b": 1}


def test_timeout_after_commit_is_queried_never_resubmitted(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["timeout_after_commit"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)
    assert payouts.get(pid).payout.attempts[0].state == "unknown"
    banks["bank_a"].settle()
    assert run(runner, pid, clock) == "paid"
    assert [a.state for a in payouts.get(pid).payout.attempts] == ["accepted"]
    assert executed(banks) == {"bank_a": 1, "bank_b": 0}
    assert len(banks["bank_a"].seen_accounts) == 1  # one create call: the rest were status queries


def test_error_before_commit_waits_for_a_trustworthy_not_found_then_retries_with_a_new_key(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["error_before_commit"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)  # 503: unknown
    started = payouts.get(pid).payout.attempts[0].started_at
    with pytest.raises(Reschedule) as later:
        runner.step(pid)  # not found, too early to believe
    assert later.value.at == started + NOT_FOUND_AFTER
    assert len(payouts.get(pid).payout.attempts) == 1
    clock.now = later.value.at
    with pytest.raises(Reschedule):
        runner.step(pid)  # not found now counts: not executed
    with pytest.raises(Reschedule):
        runner.step(pid)  # attempt 2, same bank (it did not decline), a new key
    attempts = payouts.get(pid).payout.attempts
    assert [(a.partner, a.state) for a in attempts] == [("bank_a", "not_executed"), ("bank_a", "accepted")]
    assert attempts[0].idempotency_key != attempts[1].idempotency_key
    assert executed(banks) == {"bank_a": 1, "bank_b": 0}


def test_invalid_destination_fails_and_releases_the_hold(world):
    store, _, payouts, banks, runner = world
    banks["bank_a"].script = ["invalid"]
    pid = new_payout(payouts)
    assert runner.step(pid) == "failed: invalid (invalid_account_number)"
    assert status(payouts, pid) == "failed"
    assert wallet(store).available == FUNDING and wallet(store).pending_out == 0
    assert executed(banks) == {"bank_a": 0, "bank_b": 0}


def test_all_declined_fails(world):
    store, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["decline"]
    banks["bank_b"].script = ["decline"]
    pid = new_payout(payouts)
    assert run(runner, pid, clock) == "failed: all_declined"
    assert wallet(store).available == FUNDING


def test_a_throttled_create_waits_for_its_status_never_a_new_key_on_one_answer(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["throttle"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule) as later:
        runner.step(pid)
    assert later.value.at == clock.now + timedelta(seconds=3)  # its Retry-After
    assert payouts.get(pid).payout.attempts[0].state == "unknown"  # one answer speaks for one request only
    with pytest.raises(Reschedule):
        run_once(runner, pid, clock, until=lambda: len(payouts.get(pid).payout.attempts) == 2)
    attempts = payouts.get(pid).payout.attempts
    assert (attempts[0].state, attempts[0].last_error) == ("not_executed", "not_found")
    assert attempts[1].started_at >= attempts[0].started_at + NOT_FOUND_AFTER


def test_a_racing_step_whose_submit_was_a_replay_sends_nothing(world):
    """Two steps read the payout pending (a duplicate Cloud Tasks delivery): the second's submit is a
    replay, so it does not send; even a 429 to it could not open a second attempt (the review's race)."""
    _, clock, payouts, banks, runner = world
    pid = new_payout(payouts)
    stale = payouts.get(pid)
    bank = banks["bank_a"]
    original = bank.create_transfer

    def other_step_runs_during_the_call(key, *args, **kwargs):
        answer = original(key, *args, **kwargs)
        racing = PayoutRunner(payouts, banks, ROUTES, runner.breaker, clock, Timing())
        racing._get = lambda _pid: stale  # it read the payout before the submit was recorded
        bank.script = ["throttle"]  # had it sent, the bank would have throttled it
        with pytest.raises(Reschedule, match="submitted by another step"):
            racing.step(pid)
        return answer

    bank.create_transfer = other_step_runs_during_the_call
    with pytest.raises(Reschedule, match="accepted"):
        runner.step(pid)
    assert [a.state for a in payouts.get(pid).payout.attempts] == ["accepted"]
    assert bank.seen_accounts == [ACCOUNT]  # one create: the racing step sent nothing


def test_an_accepted_answer_for_an_attempt_recorded_not_executed_stops_everything(world):
    _, clock, payouts, banks, runner = world
    from shared.domain.payments.payouts import PayoutEvent

    pid = new_payout(payouts)
    payouts.apply(pid, PayoutEvent("submit", clock(), attempt=1, partner="bank_a"))
    clock.tick(minutes=3)
    payouts.apply(pid, PayoutEvent("not_executed", clock(), attempt=1, reason="not_found"))
    key = payouts.get(pid).payout.attempts[0].idempotency_key
    banks["bank_a"]._commit(key, AMOUNT)  # yet the bank has it
    attempt = payouts.get(pid).payout.attempts[0]
    with pytest.raises(PermanentError, match="an operator must reconcile"):
        runner._record(
            pid, attempt, classify(banks["bank_a"].find_transfer(key).call), banks["bank_a"].find_transfer(key)
        )


def test_an_open_breaker_sends_new_payouts_to_the_next_bank(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].down = True
    for i in range(5):  # five connect failures open bank_a's breaker
        pid = new_payout(payouts, key=f"k{i}", amount=100)
        with pytest.raises(Reschedule):
            runner.step(pid)
    assert runner.breaker("bank_a").state(clock.now) == "open"
    pid = new_payout(payouts, key="after", amount=100)
    with pytest.raises(Reschedule):
        runner.step(pid)
    assert [(a.partner, a.state) for a in payouts.get(pid).payout.attempts] == [("bank_b", "accepted")]
    assert executed(banks) == {"bank_a": 0, "bank_b": 1}


def test_a_step_that_died_after_recording_the_submit_queries_first(world):
    _, clock, payouts, banks, runner = world
    pid = new_payout(payouts)
    from shared.domain.payments.payouts import PayoutEvent

    payouts.apply(pid, PayoutEvent("submit", clock(), attempt=1, partner="bank_a"))  # then the process died
    with pytest.raises(Reschedule):
        runner.step(pid)
    assert banks["bank_a"].seen_accounts == []  # no create: a status query (not found yet)
    assert payouts.get(pid).payout.attempts[0].state == "unknown"


def test_the_webhook_beats_the_status_query_and_the_query_then_changes_nothing(world):
    store, clock, payouts, banks, runner = world
    pid, key = committed_but_unknown(payouts, banks, runner)
    reference = banks["bank_a"].transfers[key]["id"]
    banks["bank_a"].settle()
    assert runner.on_transfer_event(TransferEvent(key, "settled", clock(), reference)) == "paid"
    assert runner.on_transfer_event(TransferEvent(key, "settled", clock(), reference)) == "paid"  # duplicate
    version = payouts.get(pid).version
    assert runner.step(pid) == "paid: nothing to do" and payouts.get(pid).version == version
    assert wallet(store).posted == FUNDING - AMOUNT


def test_a_return_after_paid_reverses_the_capture(world):
    store, clock, payouts, banks, runner = world
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)
    banks["bank_a"].settle()
    assert run(runner, pid, clock) == "paid"
    key = payouts.get(pid).payout.attempts[0].idempotency_key
    assert runner.on_transfer_event(TransferEvent(key, "returned", clock(), None, "R01")) == "returned (R01)"
    assert payouts.get(pid).payout.return_code == "R01"
    assert wallet(store).posted == FUNDING and wallet(store).available == FUNDING


def test_a_returned_webhook_before_anything_else_pays_then_returns(world):
    store, clock, payouts, banks, runner = world
    pid, key = committed_but_unknown(payouts, banks, runner)
    ref = banks["bank_a"].transfers[key]["id"]
    runner.on_transfer_event(TransferEvent(key, "returned", clock(), ref, "R03"))
    assert [t.event for t in payouts.get(pid).payout.timeline][-3:] == ["accepted", "settled", "returned"]
    assert wallet(store).posted == FUNDING


def test_a_webhook_about_an_attempt_recorded_not_executed_goes_to_an_operator(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["decline"]
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)
    key = payouts.get(pid).payout.attempts[0].idempotency_key
    with pytest.raises(PermanentError, match="recorded declined"):
        runner.on_transfer_event(TransferEvent(key, "settled", clock(), "acht_x"))


def test_an_unknown_attempt_past_its_deadline_goes_to_an_operator(world):
    _, clock, payouts, banks, runner = world
    banks["bank_a"].script = ["error_before_commit"]
    banks["bank_a"].down = False
    pid = new_payout(payouts)
    with pytest.raises(Reschedule):
        runner.step(pid)
    banks["bank_a"].down = True  # the status query cannot be made either
    clock.tick(hours=25)
    with pytest.raises(PermanentError, match="unresolved since"):
        runner.step(pid)
    assert payouts.get(pid).payout.status == "submitting"  # the hold stays for the operator


def test_a_webhook_that_lands_during_the_create_call_wins_and_the_late_answer_changes_nothing(world):
    store, clock, payouts, banks, runner = world
    bank = banks["bank_a"]
    original = bank.create_transfer

    def create_then_webhook(key, *args, **kwargs):
        bank.script = ["timeout_after_commit"]
        answer = original(key, *args, **kwargs)
        bank.settle()
        runner.on_transfer_event(TransferEvent(key, "settled", clock(), bank.transfers[key]["id"]))
        return answer  # the timeout arrives after the webhook was applied

    bank.create_transfer = create_then_webhook
    pid = new_payout(payouts)
    with pytest.raises(Reschedule, match="moved during the call"):
        runner.step(pid)
    assert runner.step(pid) == "paid: nothing to do"
    assert [t.event for t in payouts.get(pid).payout.timeline] == ["requested", "submit", "accepted", "settled"]
    assert executed(banks) == {"bank_a": 1, "bank_b": 0} and wallet(store).posted == FUNDING - AMOUNT
