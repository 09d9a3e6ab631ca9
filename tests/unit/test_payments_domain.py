"""The payments domain (shared.domain.payments), pure: the payout's transition table walked by random
event sequences (every state change is a row, final states never change, replays are no-ops, each
state has exactly its ledger effect, booked through the real engine over the memory store), routing
never picks a partner while an attempt may have executed, limits never let a payout over either
limit, destinations never show the account number; and one example per error code."""

import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event as note_event
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory_store import MemoryStore
from shared.config import REPO_ROOT
from shared.domain.ledger.engine import apply
from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments import effects, ids
from shared.domain.payments.destinations import Destination, aba_valid, mask, parse_destination
from shared.domain.payments.errors import PAYMENT_ERROR_CODES, PaymentError
from shared.domain.payments.limits import Outflow, PayoutLimits, check_limits, used_today
from shared.domain.payments.machine import MachineError, Transition, machine
from shared.domain.payments.outcomes import OUTCOME_KINDS, PartnerCall, classify
from shared.domain.payments.payins import ProcessorEvent, advance, refund_hold, request_payment, request_refund
from shared.domain.payments.payouts import (
    MAY_HAVE_EXECUTED,
    NOT_FOUND_AFTER,
    PAYOUT,
    PAYOUT_CLEARING,
    Attempt,
    Payout,
    PayoutEvent,
    request_payout,
    transition,
)
from shared.domain.payments.routing import Route, next_route, partners_for, routing_table
from shared.ledger import balances as ledger_balances

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
FUNDING = 100_000
AMOUNT = 12_345
WALLET = "customer:c1:wallet"
CLEARING = PAYOUT_CLEARING["ach"]
PARTNERS = ("bank_a", "bank_b")
DEST = Destination(rail="ach", routing_number="021000021", account_number="000123456789", account_holder="Ada L")


def payout(key: str = "k1") -> tuple[Payout, Operation]:
    return request_payout(ids.payout_id("c1", key), "c1", AMOUNT, "usd", DEST, T0)


def ev(name: str, minutes: int = 0, **kw) -> PayoutEvent:
    return PayoutEvent(name, T0 + timedelta(minutes=minutes), **kw)


class Books:
    """The real engine over the memory store: a funded wallet, then every operation the payout books."""

    def __init__(self):
        self.store = MemoryStore()
        legs = (Leg("partner:stripe:clearing", "debit", FUNDING, "USD"), Leg(WALLET, "credit", FUNDING, "USD"))
        fund = Operation("txn_fund", "post", "fund.v1", "fund", "test", digest("fund"), T0, legs=legs)
        self.book(fund)

    def book(self, op: Operation) -> str:
        return self.store.transact(lambda tx: apply(op, tx, T0)).status

    def balance(self, account: str):
        return ledger_balances.balances(self.store, account).get("USD")


# ----------------------------------------------------------------------------- the table


def test_table_is_the_documented_one():
    assert PAYOUT.start == "pending" and set(PAYOUT.final) == {"failed", "returned", "canceled"}
    assert {s: PAYOUT.effect_of(s) for s in PAYOUT.states} == {
        "pending": ("hold",),
        "submitting": ("hold",),
        "submitted": ("hold",),
        "paid": ("hold", "capture"),
        "failed": ("hold", "void"),
        "returned": ("hold", "capture", "reverse"),
        "canceled": ("hold", "void"),
    }
    assert PAYOUT.row("pending", "cancel") is not None
    assert all(PAYOUT.row(s, "cancel") is None for s in PAYOUT.states if s != "pending")  # only before submission


def test_machine_refuses_an_inconsistent_table():
    with pytest.raises(MachineError, match="not declared"):
        machine("x", ("a",), (Transition(None, "new", "a", None, "m"), Transition("a", "go", "b", None, "m")))
    with pytest.raises(MachineError, match="different ledger effects"):
        machine(
            "x",
            ("a", "b", "c"),
            (
                Transition(None, "new", "a", None, "m"),
                Transition("a", "go", "b", "hold", "m"),
                Transition("a", "skip", "c", None, "m"),
                Transition("c", "go", "b", None, "m"),
            ),
        )
    with pytest.raises(MachineError, match="unreachable"):
        machine("x", ("a", "z"), (Transition(None, "new", "a", None, "m"),))


# ----------------------------------------------------------------------------- random walks


def draw_step(draw, record: Payout, i: int):
    """One event, drawn against the current record: mostly an event its state allows (so walks go
    deep), sometimes any event at all; mostly the next attempt (submit) or the current one."""
    allowed = [t.event for t in PAYOUT.transitions if t.source == record.status] or list(PAYOUT.events)
    name = draw(st.sampled_from(allowed)) if draw(st.integers(0, 9)) < 8 else draw(st.sampled_from(PAYOUT.events))
    kw: dict = {}
    if name in ("submit", "accepted", "declined", "unknown", "not_executed"):
        delta = draw(st.sampled_from((-1, 0, 0, 0, 1, 1, 1)))
        kw["attempt"] = max(1, len(record.attempts) + delta)
    if name == "submit":
        kw["partner"] = draw(st.sampled_from(PARTNERS))
    if name == "accepted":
        kw["partner_reference"] = draw(st.sampled_from(("tr_1", "tr_2")))
    if name in ("declined", "unknown", "fail", "rejected", "returned"):
        kw["reason"] = draw(st.sampled_from(("R01", "timeout", "declined")))
    if name == "not_executed":
        kw["reason"] = draw(st.sampled_from(("not_found", "throttled", "not_sent")))
    return PayoutEvent(name, T0 + timedelta(minutes=3 * (i + 1)), **kw), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(0, 16), st.sets(st.sampled_from(PARTNERS)))
def test_random_event_sequences_keep_the_invariants(data, length, open_breakers):
    record, hold = payout()
    books = Books()
    assert books.book(hold) == "posted"
    applied: list[PayoutEvent] = []
    ops: list[Operation] = [hold]
    seen_states = ["pending"]
    for i in range(length):
        event, replay = draw_step(data.draw, record, i)
        name = event.name
        before = record
        try:
            record, op = transition(record, event)
        except PaymentError as exc:
            assert exc.code in PAYMENT_ERROR_CODES
            continue  # refused: nothing changed (the record is immutable; nothing is booked)
        if record is before:  # a replay (P2)
            assert op is None
            continue
        # P1: the change is a row of the table; a final state never changes
        assert before.status not in PAYOUT.final
        row = PAYOUT.row(before.status, name)
        assert row is not None and row.target == record.status
        assert (op is None) == (row.effect is None)
        assert record.timeline[-1].event == name and len(record.timeline) == len(before.timeline) + 1
        if record.status != seen_states[-1]:
            seen_states.append(record.status)
        applied.append(event)
        if op is not None:
            ops.append(op)
            assert books.book(op) == "posted"
        if replay:  # P2: the same event again changes nothing and books nothing
            assert transition(record, event) == (record, None)
        # P4: at most one attempt may have executed, and routing never picks a partner then
        live = [a for a in record.attempts if a.state in MAY_HAVE_EXECUTED]
        assert len(live) <= 1 and sum(a.state == "accepted" for a in record.attempts) <= 1
        if live:
            assert next_route(PARTNERS, record.attempts, open_breakers).action in ("wait", "stop")
    # no path skips a state: the states seen are a path of the table, from pending
    assert all(
        any(t.source == a and t.target == b for t in PAYOUT.transitions) for a, b in itertools.pairwise(seen_states)
    )
    # replaying every applied event, in any order, is a no-op
    for event in reversed(applied):
        assert transition(record, event) == (record, None)
    # every operation booked again is a replay: no second posting
    assert all(books.book(op) == "replayed" for op in ops)
    note_event(f"ended {record.status}")
    # the ledger effect of the final state, exactly (P3)
    wallet, clearing = books.balance(WALLET), books.balance(CLEARING)
    assert [effects.RULES[e].rule for e in PAYOUT.effect_of(record.status)] == [op.rule for op in ops]
    if record.status in ("pending", "submitting", "submitted"):
        assert (wallet.posted, wallet.pending_out, wallet.available) == (FUNDING, AMOUNT, FUNDING - AMOUNT)
    elif record.status == "paid":
        assert (wallet.posted, wallet.pending_out) == (FUNDING - AMOUNT, 0)
        assert clearing.debits_posted - clearing.credits_posted == -AMOUNT and clearing.pending_out == 0
    else:  # failed, canceled, returned: the wallet as before
        assert (wallet.posted, wallet.pending_out, wallet.available) == (FUNDING, 0, FUNDING)
        assert clearing is None or clearing.debits_posted == clearing.credits_posted
    if record.status == "returned":
        capture, reverse = ops[1].op_id, ops[2].op_id
        assert books.store.get("Reversal", capture)["reversal_id"] == reverse  # two linked transactions


def test_happy_path_books_hold_capture_and_a_linked_return():
    record, hold = payout()
    books = Books()
    books.book(hold)
    record, op = transition(record, ev("submit", 1, attempt=1, partner="bank_a"))
    assert op is None and record.attempts[0].idempotency_key == f"{record.payout_id}-1"
    record, _ = transition(record, ev("accepted", 2, attempt=1, partner_reference="tr_9"))
    record, capture = transition(record, ev("settled", 60))
    assert record.status == "paid" and capture.kind == "capture" and capture.target == hold.op_id
    assert transition(record, ev("settled", 61)) == (record, None)  # the webhook and the status query both said it
    books.book(capture)
    record, back = transition(record, ev("returned", 3000, reason="R01"))
    assert back.kind == "reverse" and back.target == capture.op_id and record.return_code == "R01"
    books.book(back)
    assert books.balance(WALLET).available == FUNDING
    assert [t.target for t in record.timeline] == ["pending", "submitting", "submitted", "paid", "returned"]


def test_operation_ids_are_deterministic():
    (a, hold_a), (b, hold_b) = payout("k1"), payout("k1")
    assert a.payout_id == b.payout_id and hold_a.op_id == hold_b.op_id and hold_a.body_hash == hold_b.body_hash
    assert payout("k2")[1].op_id != hold_a.op_id
    assert hold_a.enforce_constraints and hold_a.kind == "hold"


def test_a_hold_over_the_wallet_is_refused_by_the_ledger():
    big = request_payout(ids.payout_id("c1", "big"), "c1", FUNDING + 1, "USD", DEST, T0)[1]
    books = Books()
    from shared.domain.ledger.errors import Rejected

    with pytest.raises(Rejected, match="insufficient_funds"):
        books.book(big)


def test_failover_after_a_decline_and_after_a_confirmed_not_found():
    record, _ = payout()
    record, _ = transition(record, ev("submit", 1, attempt=1, partner="bank_a"))
    record, _ = transition(record, ev("unknown", 1, attempt=1, reason="timeout"))
    assert next_route(PARTNERS, record.attempts, set()) == next_route(PARTNERS, record.attempts, set())
    assert next_route(PARTNERS, record.attempts, set()).action == "wait"
    record, _ = transition(record, ev("not_executed", 5, attempt=1, reason="not_found"))
    choice = next_route(PARTNERS, record.attempts, {"bank_a"})
    assert (choice.action, choice.partner, choice.attempt, choice.reason) == ("submit", "bank_b", 2, "failover")
    record, _ = transition(record, ev("submit", 6, attempt=2, partner="bank_b"))
    record, _ = transition(record, ev("declined", 6, attempt=2, reason="blocked"))
    assert next_route(PARTNERS, record.attempts, set()).reason == "retry"  # bank_a never executed it
    record, _ = transition(record, ev("submit", 7, attempt=3, partner="bank_a"))
    record, _ = transition(record, ev("declined", 7, attempt=3, reason="blocked"))
    assert next_route(PARTNERS, record.attempts, set()).action == "fail"
    record, void = transition(record, ev("fail", 8, reason="all_declined"))
    assert record.status == "failed" and void.kind == "void"


# ----------------------------------------------------------------------------- routing


attempt_states = st.sampled_from(("in_flight", "unknown", "accepted", "declined", "not_executed"))


@st.composite
def attempt_lists(draw):
    out = []
    for n in range(1, draw(st.integers(0, 6)) + 1):
        state = draw(attempt_states)
        out.append(Attempt(n, draw(st.sampled_from((*PARTNERS, "bank_c"))), f"po_x-{n}", state, T0, T0))
    return out


@given(attempt_lists(), st.sets(st.sampled_from((*PARTNERS, "bank_c"))))
def test_routing_never_picks_a_partner_while_an_attempt_may_have_executed(attempts, open_breakers):
    routes = ("bank_a", "bank_b", "bank_c")
    choice = next_route(routes, attempts, open_breakers)
    if any(a.state in MAY_HAVE_EXECUTED for a in attempts):
        assert choice.action in ("wait", "stop") and choice.partner is None
    if choice.action == "submit":
        assert all(a.state in ("declined", "not_executed") for a in attempts)
        assert choice.partner not in open_breakers and choice.attempt == len(attempts) + 1
        assert choice.partner not in {a.partner for a in attempts if a.state == "declined"}
        assert choice.partner == next(
            p for p in routes if p not in open_breakers and p in _undeclined(attempts, routes)
        )


def _undeclined(attempts, routes):
    return [p for p in routes if p not in {a.partner for a in attempts if a.state == "declined"}]


def test_routing_table():
    table = routing_table([Route("ach", "usd", ("bank_a", "bank_b"))])
    assert partners_for(table, "ach", "USD") == ("bank_a", "bank_b")
    with pytest.raises(ValueError, match="twice"):
        routing_table([Route("ach", "USD", ("a",)), Route("ach", "usd", ("b",))])
    with pytest.raises(ValueError, match="at least one"):
        routing_table([Route("ach", "USD", ())])
    assert next_route(("bank_a",), [], {"bank_a"}).reason == "breakers_open"


# ----------------------------------------------------------------------------- outcomes


@given(
    st.sampled_from(("create", "status")),
    st.one_of(
        st.integers(100, 599).map(lambda s: ("status", s)),
        st.sampled_from(("timeout", "connection_reset", "connect_failed")).map(lambda f: ("failure", f)),
    ),
    st.sampled_from((None, "invalid_account_number", "rejected", "insufficient_funds")),
    st.one_of(st.none(), st.floats(0, 3600)),
)
def test_classification_is_conservative(call, answer, body_code, retry_after):
    c = PartnerCall(call, **{answer[0]: answer[1]}, body_code=body_code, retry_after_s=retry_after)
    outcome = classify(c)
    assert outcome.kind in OUTCOME_KINDS
    if c.failure in ("timeout", "connection_reset") or (c.status or 0) >= 500 or c.status in (408, 409):
        assert outcome.kind == "unknown" and outcome.may_have_executed  # the partner may have committed
    if outcome.kind == "accepted":
        assert 200 <= (c.status or 0) < 300
    if outcome.kind == "not_found":
        assert (c.call, c.status) == ("status", 404)  # only a status query confirms "not found"
    if outcome.kind in ("declined", "invalid"):
        assert c.status is not None and (400 <= c.status < 500 or c.call == "status")


def test_classification_examples():
    assert classify(PartnerCall("create", status=201)).kind == "accepted"
    assert classify(PartnerCall("create", status=402, body_code="insufficient_funds")).kind == "declined"
    assert classify(PartnerCall("create", status=422, body_code="invalid_account_number")).kind == "invalid"
    assert classify(PartnerCall("create", failure="timeout")).kind == "unknown"
    assert classify(PartnerCall("create", status=502)).kind == "unknown"
    assert classify(PartnerCall("create", failure="connect_failed")).kind == "retry_later"
    throttled = classify(PartnerCall("create", status=429, retry_after_s=30))
    assert (throttled.kind, throttled.retry_after_s) == ("retry_later", 30)
    assert classify(PartnerCall("status", status=404)).kind == "not_found"
    assert classify(PartnerCall("create", status=404)).kind == "retry_later"  # a wrong URL: ours to fix
    assert classify(PartnerCall("create", status=401)).kind == "retry_later"  # a rotated key: ours to fix
    assert classify(PartnerCall("create", status=403, body_code="counterparty_blocked")).kind == "declined"
    assert classify(PartnerCall("status", status=200, body_code="rejected")).kind == "declined"
    assert classify(PartnerCall("status", status=200, body_code="pending")).kind == "accepted"
    with pytest.raises(ValueError):
        PartnerCall("create")


# ----------------------------------------------------------------------------- limits


@given(
    st.integers(0, 10_000),
    st.integers(0, 50_000),
    st.lists(st.tuples(st.integers(1, 5_000), st.integers(-48 * 60, 60)), max_size=8),
    st.lists(st.integers(1, 5_000), max_size=5),
    st.integers(1, 20_000),
)
def test_limits_never_allow_a_payout_over_either_limit(max_single, daily, outflows, holds, amount):
    limits = PayoutLimits("c1", "usd", max_single, daily)
    now = T0
    recent = [Outflow(a, now + timedelta(minutes=m)) for a, m in outflows]
    check = check_limits(limits, amount, recent, holds, now)
    used = sum(a for a, m in outflows if -24 * 60 < m <= 0) + sum(holds)
    if check.ok:
        assert amount <= max_single and used + amount <= daily
    else:
        assert check.code == "limit_exceeded" and (amount > max_single or used + amount > daily)
        assert check.limit == ("max_single" if amount > max_single else "daily_outflow")
        if check.limit == "daily_outflow":
            assert check.remaining == max(0, daily - used)


@given(st.lists(st.integers(1, 3_000), max_size=30))
def test_limits_count_pending_holds_so_requests_never_add_up_over_the_day(amounts):
    limits, holds = PayoutLimits("c1", "USD", 2_500, 10_000), []
    for a in amounts:
        if check_limits(limits, a, [], holds, T0).ok:
            holds.append(a)  # the payout's hold is open: it counts at once
    assert sum(holds) <= 10_000 and all(h <= 2_500 for h in holds)
    assert used_today([], holds, T0) == sum(holds)


def test_limits_window_is_rolling():
    limits = PayoutLimits("c1", "USD", 1_000, 1_000)
    old = [Outflow(1_000, T0 - timedelta(hours=24))]  # exactly 24 h ago: out of the window
    assert check_limits(limits, 1_000, old, [], T0).ok
    recent = [Outflow(600, T0 - timedelta(hours=23))]
    assert check_limits(limits, 500, recent, [], T0) == check_limits(limits, 500, [], [600], T0)
    assert check_limits(limits, 500, recent, [], T0).remaining == 400


# ----------------------------------------------------------------------------- destinations


def aba(prefix: str) -> str:
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    check = (10 - sum(w * int(d) for w, d in zip(weights, prefix, strict=True)) % 10) % 10
    return prefix + str(check)


@given(
    st.text("0123456789", min_size=8, max_size=8),
    st.text("0123456789", min_size=10, max_size=17),
    st.text("ABCxyz ", min_size=1, max_size=20).filter(str.strip),
)
def test_destinations_never_show_the_account_number(prefix, account, holder):
    routing = aba(prefix)
    assert aba_valid(routing)
    d = Destination(rail="ach", routing_number=routing, account_number=account, account_holder=holder)
    shown = [repr(d), str(d), str(d.model_dump()), d.model_dump_json(), json.dumps(d.model_dump(mode="json")), f"{d!r}"]
    assert all(account not in text for text in shown)
    assert d.model_dump()["account_number"] == mask(account) == f"••••{account[-4:]}"
    assert d.reveal_account_number() == account
    assert d == Destination.model_validate({**d.model_dump(), "account_number": account})


def test_mask_and_aba():
    assert mask("000123456789") == "••••6789" and mask("1234") == "••••"
    assert aba_valid("021000021") and aba_valid("011000015") and not aba_valid("021000022")
    assert not aba_valid("02100002") and not aba_valid("０２１００００２１")
    assert DEST.fingerprint(b"k") == Destination.model_validate(
        {**DEST.model_dump(), "account_number": "000123456789"}
    ).fingerprint(b"k")


def test_an_invalid_destination_error_never_carries_its_values():
    with pytest.raises(PaymentError) as err:
        parse_destination(
            {"rail": "ach", "routing_number": "021000022", "account_number": "98765432101", "account_holder": "A"}
        )
    assert err.value.code == "invalid_destination" and "routing_number" in str(err.value)
    assert "98765432101" not in str(err.value) and "021000022" not in str(err.value)


# ----------------------------------------------------------------------------- pay-ins and refunds


def test_payin_credits_the_wallet_once_and_a_refund_holds_then_captures():
    books = Books()
    pay = request_payment(ids.payment_id("c1", "p1"), "c1", 5_000, "usd", "pm_card_visa", T0)
    pay, credit = advance(pay, ProcessorEvent("succeeded", T0, "pi_1"))
    assert books.book(credit) == "posted" and advance(pay, ProcessorEvent("succeeded", T0)) == (pay, None)
    refund = request_refund(ids.refund_id(pay.payment_id, "r1"), pay, (), 2_000, T0)
    hold = refund_hold(refund)
    assert (hold.kind, hold.rule, hold.enforce_constraints) == ("hold", "refund_hold.v1", True)
    assert books.book(hold) == "posted" and books.balance(WALLET).available == FUNDING + 5_000 - 2_000
    refund, capture = advance(refund, ProcessorEvent("succeeded", T0, "re_1"))
    assert (capture.kind, capture.rule, capture.target) == ("capture", "refund_capture.v1", hold.op_id)
    books.book(capture)
    assert books.balance(WALLET).posted == FUNDING + 5_000 - 2_000
    again = request_refund(ids.refund_id(pay.payment_id, "r9"), pay, (refund,), 1_000, T0)
    books.book(refund_hold(again))
    _, void = advance(again, ProcessorEvent("failed", T0, reason="charge_for_pending_refund_disputed"))
    assert void.kind == "void" and books.book(void) == "posted"
    assert books.balance(WALLET).available == FUNDING + 5_000 - 2_000  # the failed refund's hold released
    rest = request_refund(ids.refund_id(pay.payment_id, "r2"), pay, (refund,), None, T0)
    assert rest.amount == 3_000
    failed, op = advance(
        request_payment("py_x", "c1", 100, "USD", "pm_card_visa_chargeDeclined", T0),
        ProcessorEvent("failed", T0, reason="card_declined"),
    )
    assert op is None and failed.status == "failed" and failed.failure_reason == "card_declined"


# ----------------------------------------------------------------------------- ids


def test_idempotency_keys_are_stable_and_documented():
    pid = ids.payout_id("c1", "k1")
    assert pid == ids.payout_id("c1", "k1") != ids.payout_id("c2", "k1") and re.fullmatch(r"po_[0-9a-f]{24}", pid)
    assert ids.partner_idempotency_key(pid, 2) == f"{pid}-2" and len(ids.partner_idempotency_key(pid, 9999)) <= 40
    for bad in (0, 10_000, True):
        with pytest.raises(ValueError):
            ids.partner_idempotency_key(pid, bad)
    with pytest.raises(ValueError):
        ids.partner_idempotency_key("something", 1)


# ----------------------------------------------------------------------------- every error code


def _submitted() -> Payout:
    record, _ = payout()
    record, _ = transition(record, ev("submit", 1, attempt=1, partner="bank_a"))
    return transition(record, ev("accepted", 2, attempt=1, partner_reference="tr_1"))[0]


def _in_flight() -> Payout:
    return transition(payout()[0], ev("submit", 1, attempt=1, partner="bank_a"))[0]


def _refund_over():
    pay = advance(request_payment("py_a", "c1", 100, "USD", "pm", T0), ProcessorEvent("succeeded", T0))[0]
    request_refund("re_a", pay, (), 101, T0)


EXAMPLES = {
    "invalid_amount": lambda: request_payout("po_x", "c1", 0, "USD", DEST, T0),
    "invalid_destination": lambda: parse_destination(
        {"rail": "ach", "routing_number": "1", "account_number": "1", "account_holder": "A"}
    ),
    "no_route": lambda: partners_for(routing_table([]), "ach", "USD"),
    "limit_exceeded": lambda: check_limits(PayoutLimits("c1", "USD", 10, 10), 11, [], [], T0).raise_if_exceeded(),
    "already_final": lambda: transition(
        transition(payout()[0], ev("cancel"))[0], ev("submit", 1, attempt=1, partner="bank_a")
    ),
    "illegal_transition": lambda: transition(payout()[0], ev("settled")),
    "conflicting_event": lambda: transition(_in_flight(), ev("submit", 1, attempt=1, partner="bank_b")),
    "unknown_attempt": lambda: transition(_in_flight(), ev("declined", 2, attempt=7, reason="x")),
    "attempt_out_of_order": lambda: transition(payout()[0], ev("submit", 1, attempt=2, partner="bank_a")),
    "attempt_unresolved": lambda: transition(_in_flight(), ev("submit", 2, attempt=2, partner="bank_b")),
    "attempt_resolved": lambda: transition(
        transition(_in_flight(), ev("declined", 2, attempt=1, reason="x"))[0],
        ev("accepted", 3, attempt=1, partner_reference="tr"),
    ),
    "not_found_too_early": lambda: transition(_in_flight(), ev("not_executed", 2, attempt=1, reason="not_found")),
    "refund_exceeds_payment": _refund_over,
    "payment_not_succeeded": lambda: request_refund(
        "re_b", request_payment("py_b", "c1", 100, "USD", "pm", T0), (), 1, T0
    ),
}


@pytest.mark.parametrize("code", PAYMENT_ERROR_CODES)
def test_every_error_code_has_its_example(code):
    with pytest.raises(PaymentError) as err:
        EXAMPLES[code]()
    assert err.value.code == code


def test_an_unknown_attempt_is_resolved_only_by_a_not_found():
    record, _ = transition(_in_flight(), ev("unknown", 1, attempt=1, reason="timeout"))
    with pytest.raises(PaymentError, match="attempt_unresolved"):
        transition(record, ev("not_executed", 9, attempt=1, reason="throttled"))
    with pytest.raises(PaymentError, match="attempt_unresolved"):
        transition(record, ev("fail", 9, reason="gave up"))
    later = ev("not_executed", int(NOT_FOUND_AFTER.total_seconds() // 60) + 1, attempt=1, reason="not_found")
    assert transition(record, later)[0].attempts[0].state == "not_executed"
    assert transition(_submitted(), ev("rejected", 9, reason="R03"))[0].status == "failed"


def test_docs_list_the_error_codes_in_order():
    text = (REPO_ROOT / "docs" / "payments.md").read_text()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([a-z_]+)` \|", section, re.M) == list(PAYMENT_ERROR_CODES)
