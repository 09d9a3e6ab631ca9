"""The operations services over the in-memory store (the integration suite runs them against the
Datastore emulator): a write-off asked by one operator and approved by another posts once, in the
same transaction as its bookkeeping; a self-approval and an expired request move nothing; the audit
chain records every step and finds an edit; a manual match is applied by later runs and undone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.model import Leg, Operation
from shared.domain.operations.approvals import ApprovalError
from shared.domain.operations.workflow import WorkflowError
from shared.ledger import transactions
from shared.operations import assemble, movements
from shared.operations.audit import ENTRY
from shared.operations.records import REQUEST, WORK
from shared.operations.requests import Submission, parse_thresholds
from tests.factories import ManualClock

T0 = datetime(2026, 12, 2, 9, tzinfo=UTC)


def Clock():
    return ManualClock(T0)


def brk(break_id="brk_1", reason="amount_mismatch", amount=4100, difference=100, **extra):
    return {
        "break_id": break_id,
        "key_id": "key_1",
        "leg": "partner_ledger",
        "reason": reason,
        "reason_code": reason,
        "side": "partner",
        "kind": "payment",
        "reference": "pi_1",
        "currency": "USD",
        "amount": amount,
        "difference": difference,
        "counter_amount": None if difference is None else amount - difference,
        "row_ref": "report.csv:3",
        "counter_row_ref": "txn_ledger_1",
        "severity": "low",
        "status": "open",
        "partner": "stripe",
        "opened_on": "2026-12-01",
        "opened_run": "run_1",
        **extra,
    }


@pytest.fixture
def ops():
    store, clock = MemoryStore(), Clock()
    streamed: list[tuple[str, list[dict]]] = []
    ops = assemble(
        store,
        clock=clock,
        thresholds=parse_thresholds(None),
        publish=None,
        schedule=None,
        stream=lambda table, rows, ids: streamed.append((table, rows)),
    )
    store.record("ReconBreak", "brk_1", brk())
    return store, clock, ops.audit, ops.requests, ops.desk, streamed


def test_a_write_off_asked_by_one_operator_and_approved_by_another_posts_once(ops):
    store, clock, audit_log, requests, desk, streamed = ops
    with pytest.raises(WorkflowError) as untaken:
        desk.write_off("brk_1", "ana", "one cent of rounding")
    assert untaken.value.code == "illegal_transition"  # acknowledge it first
    desk.acknowledge("brk_1", "ana")
    req, _ = desk.write_off("brk_1", "ana", "partner rounding, agreed with Stripe support")
    assert req.status == "pending"  # a write-off always waits for a second operator
    assert store.snapshot(("JournalTransaction",))["JournalTransaction"] == {}
    with pytest.raises(ApprovalError) as own:
        requests.approve(req.request_id, "ana")
    assert own.value.code == "self_approval"
    clock.now += timedelta(minutes=5)
    done, _record = requests.approve(req.request_id, "bo", "checked the report")
    assert (done.status, done.checker) == ("executed", "bo")
    posted = store.snapshot(("JournalTransaction",))["JournalTransaction"]
    assert len(posted) == 1
    (txn_id,) = posted
    (correction,) = desk.corrections("stripe")  # what every later run applies to its ledger side
    assert (correction["op"], correction["target"], correction["amount"]) == ("adjust", "txn_ledger_1", 100)
    txn = store.transaction(txn_id)
    legs = sorted((e.account, e.direction, e.amount, e.currency) for e in txn.entries)
    assert legs == [("partner:stripe:clearing", "debit", 100, "USD"), ("write_off:stripe", "credit", 100, "USD")]
    _, work = desk.get("brk_1")
    assert (work.state, work.history[-1].reference) == ("written_off", txn_id)
    with pytest.raises(ApprovalError) as twice:
        requests.approve(req.request_id, "cy")
    assert twice.value.code == "request_decided"
    assert len(store.snapshot(("JournalTransaction",))["JournalTransaction"]) == 1
    # the audit log: who took it, who asked, who approved what posted; chained, streamed
    entries = audit_log.entries()
    assert [(e.actor, e.action) for e in entries] == [
        ("ana", "acknowledge"),
        ("ana", "request:write_off"),
        ("ana", "write_off"),
    ]
    assert (entries[-1].approved_by, entries[-1].transactions) == ("bo", (txn_id,))
    assert audit_log.problems() == []
    assert [r["seq"] for _, rows in streamed for r in rows][:3] == [1, 2, 3]
    # the next run no longer finds it (the correction): it stays written off
    assert desk.on_run([], [brk(status="closed")], "run_2") == 0
    assert desk.get("brk_1")[1].state == "written_off"
    # the partner restates it: a new difference, the break reopens (a run's step, audited as the system's)
    assert desk.on_run([brk(amount=4200, difference=100)], [], "run_3") == 1
    assert desk.get("brk_1")[1].state == "open"
    assert (audit_log.entries()[-1].actor, audit_log.entries()[-1].action) == ("system", "reopened")


def test_an_edited_or_removed_audit_entry_breaks_the_chain(ops):
    store, _, audit_log, _, desk, _ = ops
    desk.acknowledge("brk_1", "ana")
    desk.note("brk_1", "ana", "asked Stripe for the payout file")
    first = store.get(ENTRY, "000000000001")
    store.record(ENTRY, "000000000001", {**first, "actor": "mallory"})
    assert any("edited" in p for p in audit_log.problems())
    store.record(ENTRY, "000000000001", first)
    assert audit_log.problems() == []
    store.delete(ENTRY, "000000000002")
    assert audit_log.problems()


def test_an_unapproved_request_expires_and_moves_nothing(ops):
    store, clock, audit_log, requests, desk, _ = ops
    desk.acknowledge("brk_1", "ana")
    req, _ = desk.write_off("brk_1", "ana", "rounding")
    clock.now += timedelta(days=2)
    assert requests.get(req.request_id)[0].status == "expired"
    with pytest.raises(ApprovalError) as late:
        requests.approve(req.request_id, "bo")
    assert late.value.code == "request_expired"
    assert store.get(REQUEST, req.request_id)["status"] == "expired"
    assert store.snapshot(("JournalTransaction",))["JournalTransaction"] == {}
    assert audit_log.entries()[-1].action == "expire:write_off"
    assert desk.get("brk_1")[1].state == "acknowledged"


def test_a_changed_break_fails_the_request_and_posts_nothing(ops):
    store, _clock, _, requests, desk, _ = ops
    desk.acknowledge("brk_1", "ana")
    req, _ = desk.write_off("brk_1", "ana", "rounding")
    desk.on_run([brk(amount=4300, difference=300)], [], "run_2")  # the partner restated it meanwhile
    with pytest.raises(WorkflowError) as changed:
        requests.approve(req.request_id, "bo")
    assert changed.value.code == "break_changed"
    assert store.get(REQUEST, req.request_id)["status"] == "failed"
    assert store.snapshot(("JournalTransaction",))["JournalTransaction"] == {}


def test_small_movements_execute_at_once_large_ones_wait(ops):
    store, _clock, audit_log, requests, desk, _ = ops
    desk.acknowledge("brk_1", "ana")
    legs = [
        {"account": "fees:stripe", "direction": "debit", "amount": 100, "currency": "USD"},
        {"account": "partner:stripe:clearing", "direction": "credit", "amount": 100, "currency": "USD"},
    ]
    store.record("ReconBreak", "brk_2", brk("brk_2"))
    desk.acknowledge("brk_2", "ana")
    first, _ = desk.adjust("brk_2", "ana", "part of it", legs[:1] + legs[1:], resolve=False)
    second, _ = desk.adjust("brk_2", "ana", "the rest", legs, resolve=False)  # another entry on the same break
    assert first.status == second.status == "executed"
    assert len(store.snapshot(("JournalTransaction",))["JournalTransaction"]) == 2
    with pytest.raises(WorkflowError) as wallet:
        desk.adjust("brk_1", "ana", "fee", [{**legs[0], "account": "customer:c1:wallet"}, legs[1]])
    assert wallet.value.code == "customer_account"
    with pytest.raises(WorkflowError) as unbalanced:
        desk.adjust("brk_1", "ana", "fee", [legs[0], {**legs[1], "amount": 99}])
    assert unbalanced.value.code == "unbalanced"
    req, _ = desk.adjust("brk_1", "ana", "the fee Stripe kept", legs)
    assert (req.status, req.checker) == ("executed", None)  # $1.00 is under the $1,000 threshold
    assert desk.get("brk_1")[1].state == "resolved"
    # a reversal of $2,000 waits for a second operator
    big = Operation(
        "txn_big", "post", "test.v1", "test:big", "test", "h", T0,
        legs=(Leg("partner:stripe:clearing", "debit", 200_000, "USD"), Leg("suspense", "credit", 200_000, "USD")),
    )  # fmt: skip
    transactions.execute(store, big)
    pending, _ = requests.submit(movements.reverse_submission(store, "txn_big"), "ana", "posted to the wrong account")
    assert pending.status == "pending"
    with pytest.raises(ApprovalError) as again:
        requests.submit(movements.reverse_submission(store, "txn_big"), "bo", "me too")
    assert again.value.code == "request_pending"
    done, record = requests.approve(pending.request_id, "bo")
    assert done.status == "executed"
    assert len([t for t in store.snapshot(("JournalTransaction",))["JournalTransaction"]]) == 5
    reversal_id = store.get("Reversal", "txn_big")["reversal_id"]
    assert reversal_id in record["outcome"]
    assert audit_log.problems() == []
    with pytest.raises(ApprovalError):
        requests.submit(Submission("limit_change", "x", {}), "ana", "no planner for it here")


def test_a_manual_match_is_kept_for_later_runs_and_undone_with_history(ops):
    store, _clock, audit_log, _requests, desk, _ = ops
    store.record("ReconBreak", "brk_2", brk("brk_2", reason="missing_in_ledger", amount=500, difference=None))
    match = desk.manual_match("brk_2", "ana", "txn_typo", "the reference has a typo at the partner")
    assert desk.get("brk_2")[1].state == "resolved"
    (pair,) = desk.manual_pairs("stripe")
    assert (pair.leg, pair.left, pair.right) == ("partner_ledger", "pi_1", "txn_typo")
    with pytest.raises(WorkflowError):
        desk.manual_match("brk_2", "ana", "txn_typo", "again")
    undone = desk.unmatch(match["id"], "bo", "wrong transaction")
    assert undone["status"] == "undone" and [h["did"] for h in undone["history"]] == ["matched", "undone"]
    assert desk.manual_pairs("stripe") == ()
    work = desk.get("brk_2")[1]
    assert (work.state, work.history[-1].actor) == ("open", "bo")
    assert [e.action for e in audit_log.entries()] == ["manual_match", "unmatch"]
    with pytest.raises(WorkflowError) as not_pairable:
        desk.manual_match("brk_1", "ana", "txn_x", "it is paired already")
    assert not_pairable.value.code == "not_matchable"


def test_bulk_acknowledges_many_and_dry_run_writes_nothing(ops):
    store, _, audit_log, _, desk, _ = ops
    store.record("ReconBreak", "brk_2", brk("brk_2"))
    preview = desk.bulk("acknowledge", ["brk_1", "brk_2", "brk_nope"], "ana", reason="mine", dry_run=True)
    assert [p["outcome"] for p in preview] == ["would_succeed", "would_succeed", "error"]
    assert store.snapshot((WORK,))[WORK] == {} and audit_log.entries() == []
    done = desk.bulk("acknowledge", ["brk_1", "brk_2"], "ana", reason="mine", dry_run=False)
    assert [d["state"] for d in done] == ["acknowledged", "acknowledged"]
    rows, more = desk.list(state="acknowledged", assignee="ana")
    assert [b["break_id"] for b, _ in rows] == ["brk_1", "brk_2"] and not more


ACTS = st.lists(
    st.tuples(
        st.sampled_from(["write_off", "adjust_small", "adjust_big", "reverse", "approve", "reject", "later"]),
        st.sampled_from(["ana", "bo", "cy"]),
        st.integers(0, 5),  # which break / which request
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(ACTS)
def test_every_money_movement_has_one_executed_request_and_one_audit_entry_and_never_its_makers_approval(acts):
    store, clock = MemoryStore(), Clock()
    ops = assemble(store, clock=clock, thresholds=parse_thresholds(None), publish=None, schedule=None)
    for i in range(6):
        store.record("ReconBreak", f"brk_{i}", brk(f"brk_{i}", counter_row_ref=f"txn_l{i}"))
    legs = lambda n: [  # noqa: E731
        {"account": "fees:stripe", "direction": "debit", "amount": n, "currency": "USD"},
        {"account": "partner:stripe:clearing", "direction": "credit", "amount": n, "currency": "USD"},
    ]
    big = Operation(
        "txn_big", "post", "test.v1", "test:big", "test", "h", T0,
        legs=(Leg("partner:stripe:clearing", "debit", 200_000, "USD"), Leg("suspense", "credit", 200_000, "USD")),
    )  # fmt: skip
    transactions.execute(store, big)
    made: list[str] = []
    for act, who, n in acts:
        try:
            if act == "write_off":
                ops.desk.acknowledge(f"brk_{n}", who)
                made.append(ops.desk.write_off(f"brk_{n}", who, "rounding")[0].request_id)
            elif act in ("adjust_small", "adjust_big"):
                ops.desk.acknowledge(f"brk_{n}", who)
                amount = 100 if act == "adjust_small" else 150_000
                made.append(ops.desk.adjust(f"brk_{n}", who, "fee", legs(amount), resolve=False)[0].request_id)
            elif act == "reverse":
                made.append(
                    ops.requests.submit(movements.reverse_submission(store, "txn_big"), who, "wrong")[0].request_id
                )
            elif act in ("approve", "reject") and made:
                rid = made[n % len(made)]
                if act == "approve":
                    ops.requests.approve(rid, who)
                else:
                    ops.requests.reject(rid, who, "no")
            elif act == "later":
                clock.now += timedelta(hours=5 * n)
        except (WorkflowError, ApprovalError):
            pass
    operator_txns = {
        name
        for name, t in store.snapshot(("JournalTransaction",))["JournalTransaction"].items()
        if t["rule"] in ("adjustment.v1", "write_off.v1", "reversal.v1")
    }
    requests_ = store.snapshot(("OperatorRequest",))["OperatorRequest"]
    entries = ops.audit.entries()
    for txn in operator_txns:
        executed = [r for r in requests_.values() if r["status"] == "executed" and txn in (r["outcome"] or "")]
        assert len(executed) == 1, txn
        audited = [e for e in entries if txn in e.transactions]
        assert len(audited) == 1 and audited[0].action == executed[0]["kind"], txn
        assert audited[0].approved_by != audited[0].actor  # never the maker's own approval
        if executed[0]["kind"] == "write_off":
            assert audited[0].approved_by is not None
    for r in requests_.values():  # an executed request posted something; a decided one posted nothing more
        if r["status"] in ("rejected", "expired", "failed"):
            assert not (r["outcome"] and json.loads(r["outcome"]).get("transactions"))
    assert ops.audit.problems() == []


def test_reversing_a_write_off_retires_its_correction_and_opens_the_break_again(ops):
    store, _, _, requests, desk, _ = ops
    desk.acknowledge("brk_1", "ana")
    req, _ = desk.write_off("brk_1", "ana", "rounding")
    requests.approve(req.request_id, "bo")
    txn = desk.get("brk_1")[1].history[-1].reference
    assert len(desk.corrections("stripe")) == 1
    back, record = requests.submit(movements.reverse_submission(store, txn), "cy", "written off by mistake")
    assert back.status == "executed"  # $1.00
    assert desk.corrections("stripe") == ()  # later runs find the difference again
    work = desk.get("brk_1")[1]
    assert (work.state, work.history[-1].actor, work.history[-1].reference) == ("open", "cy", txn)
    assert json.loads(record["outcome"])["after"]["break"]["break_reopened"] is True
    preview = desk.bulk("write_off", ["brk_1"], "ana", reason="again", dry_run=True)
    assert preview[0]["outcome"] == "error" and preview[0]["code"] == "illegal_transition"  # take it first
    desk.acknowledge("brk_1", "ana")
    assert desk.bulk("write_off", ["brk_1"], "ana", reason="again", dry_run=True)[0]["outcome"] == "would_succeed"
