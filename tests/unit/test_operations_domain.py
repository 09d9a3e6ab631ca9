"""Issue 19's pure domain: the break workflow (property: nothing leaves a terminal state but a run's
reopen; every step recorded with its actor), maker-checker (no self-approval, expiry, one execution)
and the hash-chained audit log (any edit, removal or insertion is found)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.operations import approvals, audit_log, workflow
from shared.domain.operations.workflow import Finding, WorkflowError

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
FEE = Finding("fee_missing", 125)

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["acknowledge", "note", "resolve", "accept", "write_off", "unmatch", "run_same", "run_other", "run_gone"]
        ),
        st.sampled_from(["ana", "bo"]),
        st.integers(1, 120),  # minutes later
    ),
    max_size=25,
)


def do(work, action, operator, at):
    if action == "acknowledge":
        return workflow.acknowledge(work, operator, at)
    if action == "note":
        return workflow.note(work, operator, "looked at it", at)
    if action == "resolve":
        return workflow.resolve(work, operator, "manual_match", "paired by hand", at, "mm_1")
    if action == "accept":
        return workflow.accept(work, operator, "known rounding", at + timedelta(hours=2), at)
    if action == "write_off":
        return workflow.write_off(work, operator, "below tolerance", at, "txn_wo")
    if action == "unmatch":
        return workflow.unmatch(work, operator, "wrong pair", at, "mm_1")
    if action == "run_same":
        return workflow.on_run(work, work.finding, at, "run")
    if action == "run_other":
        return workflow.on_run(work, Finding("fee_missing", work.finding.amount + 1), at, "run")
    return workflow.on_run(work, None, at, "run")


@settings(max_examples=300, deadline=None)
@given(ACTIONS)
def test_nothing_leaves_a_terminal_state_but_a_runs_reopen_and_every_step_is_recorded(actions):
    work, at = workflow.opened("brk_1", FEE, T0), T0
    for action, operator, minutes in actions:
        at += timedelta(minutes=minutes)
        before = work
        try:
            work = do(work, action, operator, at)
        except WorkflowError:
            continue  # refused: the record stays as it was (immutable)
        if before.state in workflow.TERMINAL and work.state != before.state:
            assert work.state == "open" and work.history[-1].action == "reopened"
            # a run, or the operator who undoes the manual match that closed it
            assert work.history[-1].actor == workflow.SYSTEM or action == "unmatch"
            assert action != "unmatch" or before.history[-1].action == "manual_match"
        if before.state == "accepted" and work.state not in ("accepted",):
            assert work.history[-1].actor == workflow.SYSTEM  # only a run takes a break out of accepted
        if work.state != before.state:
            assert work.history[-1].state == work.state and len(work.history) == len(before.history) + 1
    assert all(s.actor in ("ana", "bo", workflow.SYSTEM) for s in work.history)
    assert [s.state for s in work.history][-1] == work.state


def test_an_accepted_break_reopens_when_found_with_another_amount_or_after_its_expiry():
    work = workflow.acknowledge(workflow.opened("brk_1", FEE, T0), "ana", T0)
    accepted = workflow.accept(work, "ana", "known rounding", T0 + timedelta(days=7), T0)
    assert workflow.on_run(accepted, FEE, T0 + timedelta(days=1), "r2").state == "accepted"
    other = workflow.on_run(accepted, Finding("fee_missing", 126), T0 + timedelta(days=1), "r2")
    assert (other.state, other.history[-1].reason) == ("open", "found with another reason or amount")
    late = workflow.on_run(accepted, FEE, T0 + timedelta(days=7), "r3")
    assert (late.state, late.history[-1].reason) == ("open", "acceptance expired")
    with pytest.raises(WorkflowError) as why:
        workflow.accept(work, "ana", " ", T0 + timedelta(days=1), T0)
    assert why.value.code == "reason_required"


def test_a_break_the_run_no_longer_finds_is_resolved_by_its_counterpart_and_a_write_off_stays_closed():
    work = workflow.opened("brk_1", FEE, T0)
    gone = workflow.on_run(work, None, T0, "r2")
    assert (gone.state, gone.history[-1].action) == ("resolved", "counterpart_arrived")
    wo = workflow.write_off(workflow.acknowledge(work, "ana", T0), "ana", "below tolerance", T0, "txn_1")
    assert workflow.on_run(wo, None, T0, "r2") == wo  # the adjusting entry fixed it: nothing to do
    with pytest.raises(WorkflowError) as closed:
        workflow.acknowledge(wo, "bo", T0)
    assert closed.value.code == "break_closed"
    # the write-off corrected the ledger side: the run no longer finds it; found again, it is a new difference
    again = workflow.on_run(wo, FEE, T0, "r3")
    assert (again.state, again.history[-1].action) == ("open", "reopened")
    # an adjusting entry with the operator's own legs settles its finding: found again as it was, it stays
    fixed = workflow.resolve(workflow.acknowledge(work, "ana", T0), "ana", "adjusting_entry", "fee booked", T0, "t2")
    assert workflow.on_run(fixed, FEE, T0, "r3") == fixed
    grown = workflow.on_run(fixed, Finding("fee_missing", 250), T0, "r3")
    assert (grown.state, grown.history[-1].action, grown.covered) == ("open", "reopened", None)
    undone = workflow.undo(wo, "bo", "write-off reversed", T0, "txn_1")
    assert (undone.state, undone.history[-1].actor) == ("open", "bo")
    with pytest.raises(WorkflowError):
        workflow.unmatch(wo, "ana", "wrong pair", T0, "mm_1")  # not closed by a match


def test_maker_checker_refuses_self_approval_expires_and_executes_once():
    thresholds = {"USD": 100_000}
    assert approvals.needs_approval("write_off", {"USD": 1}, thresholds)  # always
    assert not approvals.needs_approval("adjusting_entry", {"USD": 99_999}, thresholds)
    assert approvals.needs_approval("adjusting_entry", {"USD": 100_000}, thresholds)
    assert approvals.needs_approval("adjusting_entry", {"USD": 1, "JPY": 1}, thresholds)  # no threshold: always
    assert not approvals.needs_approval("dead_letter_replay", None, thresholds)
    assert approvals.needs_approval("api_key_change", None, {"api_key_change": 0})
    req = approvals.request("rq_1", "write_off", "ana", "fee never charged", T0, {"USD": 125})
    with pytest.raises(approvals.ApprovalError) as own:
        approvals.approve(req, "ana", T0)
    assert own.value.code == "self_approval"
    with pytest.raises(approvals.ApprovalError) as unapproved:
        approvals.executable(req, T0, required=True)
    assert unapproved.value.code == "approval_required"
    ok = approvals.approve(req, "bo", T0 + timedelta(minutes=5))
    done = approvals.executable(ok, T0 + timedelta(minutes=6), required=True)
    assert (done.status, done.checker) == ("executed", "bo")
    with pytest.raises(approvals.ApprovalError) as twice:
        approvals.executable(done, T0 + timedelta(minutes=7), required=True)
    assert twice.value.code == "already_executed"
    stale = approvals.request("rq_2", "adjusting_entry", "ana", "missing fee", T0, {"USD": 500_000})
    later = T0 + approvals.DEFAULT_TTL
    assert approvals.expire(stale, later).status == "expired"
    with pytest.raises(approvals.ApprovalError) as expired:
        approvals.approve(stale, "bo", later)
    assert expired.value.code == "request_expired"


def entries(n: int) -> list[audit_log.Entry]:
    chain, last = [], None
    for i in range(n):
        e = audit_log.Entry(
            0,
            T0 + timedelta(minutes=i),
            "ana",
            "write_off",
            f"reason {i}",
            f"brk_{i}",
            request_id=f"rq_{i}",
            approved_by="bo",
            transactions=(f"txn_{i}",),
        )
        last = audit_log.append(last, e)
        chain.append(last)
    return chain


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 12), st.data())
def test_the_audit_chain_finds_any_edit_removal_or_insertion(n, data):
    chain = entries(n)
    assert audit_log.verify_chain(chain) == []
    i = data.draw(st.integers(0, n - 1))
    edited = [*chain[:i], replace(chain[i], reason="nothing to see"), *chain[i + 1 :]]
    assert audit_log.verify_chain(edited)
    removed = [*chain[:i], *chain[i + 1 :]]
    assert audit_log.verify_chain(removed, head=chain[-1].hash)  # the newest too: the head says so
    inserted = [*chain[: i + 1], chain[i], *chain[i + 1 :]]
    assert audit_log.verify_chain(inserted)
    with pytest.raises(ValueError):
        audit_log.append(chain[-1], replace(chain[0], reason=""))


def test_a_write_off_balances_moves_clearing_by_the_difference_and_corrects_the_ledger_side():
    import polars as pl

    from shared.domain.operations import adjustments
    from shared.reconciliation.ledger_side import apply_corrections, ledger_frame

    base = {"partner": "stripe", "leg": "partner_ledger", "currency": "usd", "kind": "payment", "reference": "pi_1"}
    cases = {
        # reason: (break fields, expected signed moves per account: debit > 0)
        "amount_mismatch": ({"amount": 4100, "difference": 100, "counter_row_ref": "t1"},
                            {"partner:stripe:clearing": 100, "write_off:stripe": -100}),
        "fee_variance": ({"amount": 4000, "difference": 3, "counter_row_ref": "t1"},
                         {"partner:stripe:clearing": -3, "write_off:stripe": 3}),
        "missing_in_ledger": ({"amount": 1000, "fee": 30, "date": "2026-11-20"},
                              {"partner:stripe:clearing": 970, "fees:stripe": 30, "write_off:stripe": -1000}),
        "missing_at_partner": ({"amount": 1000, "fee": 30, "row_ref": "t2"},
                               {"partner:stripe:clearing": -970, "fees:stripe": -30, "write_off:stripe": 1000}),
    }  # fmt: skip
    for reason, (fields, moves) in cases.items():
        legs, correction = adjustments.write_off({**base, "reason_code": reason, **fields})
        got = {leg.account: leg.amount if leg.direction == "debit" else -leg.amount for leg in legs}
        assert got == moves, reason
        assert sum(got.values()) == 0 and {leg.currency for leg in legs} == {"USD"}
        assert correction["reason"] == reason
    with pytest.raises(WorkflowError) as timing:
        adjustments.write_off({**base, "reason_code": "timing", "amount": 5})
    assert timing.value.code == "write_off_unsupported"
    with pytest.raises(WorkflowError):
        adjustments.write_off({**base, "reason_code": "amount_mismatch", "currency": "XYZ", "difference": 1})

    # the ledger side after the corrections: the row adjusted, the missing one added, the extra one gone
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)

    def posting(txn, reference, amount, fee):
        return {"transaction_id": txn, "event_id": f"stripe:{txn}", "partner": "stripe", "kind": "payment.captured",
                "reference": reference, "payment_reference": None, "amount": amount, "fee": fee, "currency": "USD",
                "effective_at": at}  # fmt: skip

    frame = ledger_frame([posting("t1", "pi_1", 4000, 0), posting("t2", "pi_2", 1000, 30)], partner="stripe")
    corrections = [
        {**adjustments.write_off({**base, "reason_code": "amount_mismatch", "amount": 4100, "difference": 100,
                                  "counter_row_ref": "t1"})[1], "transaction_id": "w1"},
        {**adjustments.write_off({**base, "reason_code": "missing_in_ledger", "reference": "pi_3", "amount": 500,
                                  "fee": 20, "date": "2026-11-20"})[1], "transaction_id": "w2"},
        {**adjustments.write_off({**base, "reason_code": "missing_at_partner", "reference": "pi_2", "amount": 1000,
                                  "fee": 30, "row_ref": "t2"})[1], "transaction_id": "w3"},
    ]  # fmt: skip
    fixed = apply_corrections(frame, corrections, (date(2026, 11, 1), date(2026, 11, 30)))
    rows = {r["reference"]: r for r in fixed.iter_rows(named=True)}
    assert set(rows) == {"pi_1", "pi_3"}
    assert (rows["pi_1"]["amount"], rows["pi_1"]["net"]) == (4100, 4100)
    assert (rows["pi_3"]["row_ref"], rows["pi_3"]["amount"], rows["pi_3"]["fee"]) == ("w2", 500, 20)
    outside = apply_corrections(frame, corrections[1:2], (date(2026, 12, 1), date(2026, 12, 31)))
    assert outside.filter(pl.col("reference") == "pi_3").is_empty()  # another day's row: not in this window
