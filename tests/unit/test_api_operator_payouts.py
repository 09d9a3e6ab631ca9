"""Operator payouts in-process over the memory store: every tenant's payouts (filters, the attention
rule, cursor), one payout's timeline items with its destination masked, an operator's cancel (a reason,
the audit entry, 409 after submission, idempotent) and the operator scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.payments.payouts import PayoutEvent
from tests.unit.test_api import World
from tests.unit.test_api_payments import ACCOUNT_NUMBER, Started, payout

BASE = "/v1/operator/payouts"


@pytest.fixture
def w():
    world = World()
    world.started = Started()
    world.backend.start = world.started
    world.fund("cus_a", 2_000_000)
    world.fund("cus_g", 2_000_000)
    return world


def _make(w, source="cus_a", key=None):
    resp = w.post("/v1/payouts", payout(source=source), key=key or w.key)
    assert resp.status_code == 201, resp.json
    w.clock.now += timedelta(seconds=1)
    return resp.json["id"]


def test_operators_list_every_tenants_payouts_newest_first_with_filters(w):
    a = _make(w)
    g = _make(w, "cus_g", w.globex)
    b = _make(w)
    w.backend.payouts().apply(b, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    body = w.get(BASE, key=w.operator).json
    assert [p["id"] for p in body["data"]] == [b, g, a] and not body["has_more"]
    assert {p["tenant"] for p in body["data"]} == {"acme", "globex"}
    assert ACCOUNT_NUMBER not in str(body)
    ids = lambda q: [p["id"] for p in w.get(BASE, query_string=q, key=w.operator).json["data"]]  # noqa: E731
    assert ids({"tenant": "globex"}) == [g]
    assert ids({"customer": "cus_a"}) == [b, a]
    assert ids({"status": "submitting"}) == [b]
    assert ids({"partner": "bank_a"}) == [b]
    first = w.get(BASE, query_string={"limit": 1}, key=w.operator).json
    assert first["has_more"] and ids({"starting_after": first["data"][0]["id"]}) == [g, a]
    assert w.get(BASE, query_string={"status": "nope"}, key=w.operator).status_code == 400
    assert w.get(BASE, query_string={"starting_after": "po_missing"}, key=w.operator).status_code == 400


def test_attention_is_an_open_payout_quiet_past_the_janitors_threshold_or_unknown_at_a_partner(w):
    quiet = _make(w)
    unknown = _make(w)
    w.backend.payouts().apply(unknown, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    w.backend.payouts().apply(unknown, PayoutEvent("unknown", w.clock(), attempt=1, reason="timeout"))
    fresh_done = _make(w)
    w.backend.payouts().cancel(fresh_done)
    attention = {"attention": "true"}
    assert [p["id"] for p in w.get(BASE, query_string=attention, key=w.operator).json["data"]] == [unknown]
    w.clock.now += timedelta(minutes=11)
    got = [p["id"] for p in w.get(BASE, query_string=attention, key=w.operator).json["data"]]
    assert got == [unknown, quiet]  # a canceled payout is final: never needs attention


def test_operator_payouts_are_for_operators_only(w):
    pid = _make(w)
    assert w.get(BASE).status_code == 403
    assert w.get(f"{BASE}/{pid}").status_code == 403
    assert w.post(f"{BASE}/{pid}/cancel", {"reason": "x"}).status_code == 403


def test_a_payout_reads_with_its_timeline_items_in_order_and_its_destination_masked(w):
    pid = _make(w, "cus_g", w.globex)
    w.backend.payouts().apply(pid, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    resp = w.get(f"{BASE}/{pid}", key=w.operator)
    assert resp.status_code == 200
    body = resp.json
    assert body["tenant"] == "globex" and body["destination"]["account_number"] == "••••6789"
    assert ACCOUNT_NUMBER not in resp.get_data(as_text=True)
    kinds = [(i["kind"], i["event"]) for i in body["items"]]
    assert kinds[0] == ("state_change", "requested")
    assert ("attempt", "submit") in kinds and any(
        i["kind"] == "attempt" and i["partner"] == "bank_a" for i in body["items"]
    )
    assert [i["at"] for i in body["items"]] == sorted(i["at"] for i in body["items"])
    # the hold it booked on the wallet, read by its derived id, linked to its ledger transaction
    (hold,) = [i for i in body["items"] if i["kind"] == "ledger"]
    assert hold["event"] == "hold" and w.get(f"/v1/operator/transactions/{hold['target']}", key=w.operator).json[
        "links"
    ] == [{"kind": "payout", "id": pid}]
    assert w.get(f"{BASE}/po_missing", key=w.operator).status_code == 404


def test_an_operator_cancels_with_a_reason_into_the_audit_log_once(w):
    pid = _make(w)
    assert w.post(f"{BASE}/{pid}/cancel", {}, key=w.operator).status_code == 400  # reason required
    assert w.post(f"{BASE}/{pid}/cancel", {"reason": "x"}, key=w.operator, idem=None).status_code == 400
    resp = w.post(f"{BASE}/{pid}/cancel", {"reason": "customer asked by phone"}, key=w.operator, idem="c1")
    assert resp.status_code == 200 and resp.json["status"] == "canceled"
    again = w.post(f"{BASE}/{pid}/cancel", {"reason": "customer asked by phone"}, key=w.operator, idem="c1")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    rows = w.get("/v1/audit-log", query_string={"action": "payout_cancel"}, key=w.operator).json["data"]
    assert len(rows) == 1 and rows[0]["target"] == pid and rows[0]["reason"] == "customer asked by phone"
    assert rows[0]["actor"] == "ana@ledgerline.test"


def test_an_operator_cannot_cancel_a_submitted_payout(w):
    pid = _make(w)
    w.backend.payouts().apply(pid, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    resp = w.post(f"{BASE}/{pid}/cancel", {"reason": "too late"}, key=w.operator)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "illegal_transition"
    assert w.get("/v1/audit-log", query_string={"action": "payout_cancel"}, key=w.operator).json["data"] == []


def test_the_cancel_and_its_audit_entry_commit_together_or_not_at_all(w, monkeypatch):
    from shared.api import operator_payouts

    pid = _make(w)
    held = w.available("cus_a")

    def broken(tx, *args, **kwargs):
        tx.put("OperatorAuditEntry", "half", {"written": True})  # a write the failure must take back too
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(operator_payouts.audit, "append", broken)
    failed = w.post(f"{BASE}/{pid}/cancel", {"reason": "customer asked"}, key=w.operator, idem="c-broken")
    assert failed.status_code == 500
    assert w.get(f"{BASE}/{pid}", key=w.operator).json["status"] == "pending"  # not canceled without its entry
    assert w.available("cus_a") == held  # the hold stands
    assert w.store.get("OperatorAuditEntry", "half") is None
    monkeypatch.undo()
    done = w.post(f"{BASE}/{pid}/cancel", {"reason": "customer asked"}, key=w.operator, idem="c-2")
    assert done.status_code == 200 and done.json["status"] == "canceled"
    assert w.available("cus_a") == 2_000_000
    twice = w.post(f"{BASE}/{pid}/cancel", {"reason": "again"}, key=w.operator, idem="c-3")
    assert twice.status_code == 200  # a no-op: no second entry
    rows = w.get("/v1/audit-log", query_string={"action": "payout_cancel"}, key=w.operator).json["data"]
    assert [(r["target"], r["reason"]) for r in rows] == [(pid, "customer asked")]


def _bank_webhook(w, event_id: str, event_type: str, key: str, *, at=None) -> None:
    """A Column webhook about one of our transfers through intake (parse, inbox), as the bank sends it."""
    from shared.config import settings
    from shared.demo import encode
    from shared.intake.service import Intake
    from shared.partners import column
    from tests.factories import Bus, Queue, column_event

    cfg = settings()
    event = column_event(event_id, event_type, "acht_po1", 12_500, "acno_bank")
    event["data"]["idempotency_key"] = key
    body = encode(event)
    headers = {"Column-Signature": column.sign(body, cfg.secret(column.WEBHOOK_SECRETS)[0])}
    intake = Intake(cfg, w.backend.operations().inbox, publish=Bus(), schedule=Queue())
    assert intake.receive("column", headers, body, now=at or w.clock()).status == 200


def test_a_payouts_timeline_shows_the_banks_webhooks_applied_or_stored_only_with_their_deliveries(w):
    pid = _make(w, "cus_g", w.globex)
    other = _make(w)
    for record in (pid, other):
        w.backend.payouts().apply(record, PayoutEvent("submit", w.clock(), attempt=1, partner="column"))
    w.clock.now += timedelta(seconds=5)
    _bank_webhook(w, "evnt_sub1", "ach.outgoing_transfer.submitted", f"{pid}-1")  # stored, nothing to apply
    w.clock.now += timedelta(seconds=5)
    _bank_webhook(w, "evnt_set1", "ach.outgoing_transfer.settled", f"{pid}-1")
    _bank_webhook(w, "evnt_set1", "ach.outgoing_transfer.settled", f"{pid}-1")  # the bank's redelivery
    _bank_webhook(w, "evnt_oth1", "ach.outgoing_transfer.settled", f"{other}-1")  # another payout's
    body = w.get(f"{BASE}/{pid}", key=w.operator).json
    hooks = [i for i in body["items"] if i["kind"] == "webhook"]
    assert [(h["event"], h["partner"], h["attempt"], h["target"]) for h in hooks] == [
        ("ach.outgoing_transfer.submitted", "column", 1, "column:evnt_sub1"),
        ("ach.outgoing_transfer.settled", "column", 1, "column:evnt_set1"),
    ]
    assert "nothing to apply" in hooks[0]["detail"] and "2 deliveries" in hooks[1]["detail"]
    assert [i["at"] for i in body["items"]] == sorted(i["at"] for i in body["items"])
    assert hooks[0]["at"] > next(i["at"] for i in body["items"] if i["event"] == "submit")
    # each arrival opens as the raw event intake stored
    raw = w.get(f"/v1/operator/raw-events/{hooks[1]['target']}", key=w.operator)
    assert raw.status_code == 200 and raw.json["deliveries"] == 2 and f"{pid}-1" in raw.json["body"]
    assert "Column-Signature" not in raw.json["headers"]
    missing = w.get("/v1/operator/raw-events/column:evnt_none", key=w.operator)
    assert (missing.status_code, missing.json["error"]["code"], missing.json["error"]["param"]) == (
        404, "raw_event_not_found", "key",
    )  # fmt: skip
    assert w.get(f"/v1/operator/raw-events/{hooks[1]['target']}").status_code == 403  # operators only
    others = w.get(f"{BASE}/{other}", key=w.operator).json["items"]
    assert [i["target"] for i in others if i["kind"] == "webhook"] == ["column:evnt_oth1"]


def test_the_backfill_gives_events_stored_before_the_reference_existed_theirs(w):
    from dataclasses import replace

    from shared.api.backfill import backfill_inbox
    from shared.config import settings
    from shared.intake.inbox import InboxRecord

    pid = _make(w)
    w.backend.payouts().apply(pid, PayoutEvent("submit", w.clock(), attempt=1, partner="column"))
    inbox = w.backend.operations().inbox
    _bank_webhook(w, "evnt_old1", "ach.outgoing_transfer.submitted", f"{pid}-1")
    _bank_webhook(w, "evnt_old2", "ach.outgoing_transfer.settled", f"{pid}-1")
    _bank_webhook(w, "evnt_old3", "ach.outgoing_transfer.submitted", f"{pid}-1")
    for key in ("column:evnt_old1", "column:evnt_old2", "column:evnt_old3"):  # as stored before the field
        inbox.stored[key] = replace(inbox.stored[key], our_reference=None)
        inbox.legacy.add(key)
    inbox.redact("column:evnt_old3", w.clock(), "retention")  # its body is gone: nothing to parse again
    # a body an earlier parser stored that today's refuses: counted, and the migration goes on
    inbox.put_if_absent(InboxRecord("column", "evnt_old4", "x", "ignored", "old", b"{not json", {}, w.clock(), None))
    inbox.legacy.add("column:evnt_old4")
    assert inbox.about(f"{pid}-1") == []
    counts = backfill_inbox(inbox, settings())
    assert counts == {"inbox_events": 4, "inbox_referenced": 2, "inbox_unreadable": 2}
    assert [e.key for e in inbox.about(f"{pid}-1")] == ["column:evnt_old1", "column:evnt_old2"]
    assert backfill_inbox(inbox, settings()) == {"inbox_events": 2, "inbox_referenced": 0, "inbox_unreadable": 2}


def test_timeline_items_sort_by_instant_not_by_their_text():
    """ISO text drops the fraction at 0 µs: as text "…:00Z" sorts after "…:00.500000Z"; as time it is before."""
    from shared.api.operator_payouts import PayoutTimelineItem, _instant

    later = PayoutTimelineItem(kind="webhook", at="2026-12-01T10:00:00.500000Z", partner="column", detail=None)
    whole = PayoutTimelineItem(kind="state_change", at="2026-12-01T10:00:00Z", partner=None, detail=None)
    assert sorted([whole.at, later.at]) == [later.at, whole.at]  # the trap
    assert sorted([later, whole], key=_instant) == [whole, later]
