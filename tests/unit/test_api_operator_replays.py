"""Operator API: a filtered set of dead letters replayed (dry run first, its selection sent back), and the
audit log read by time (from / to), on the memory backend through the real router."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.operations import audit
from shared.recovery.dead_letters import dead_letter_record
from tests.unit.test_api import NOW, World

REPLAY = "/v1/operator/dead-letters/replay"


@pytest.fixture
def w():
    world = World()
    for i, (partner, amount) in enumerate((("stripe", 1000), ("stripe", 2000), ("adyen", 500), ("stripe", None))):
        seed(world, i, partner, amount)
    return world


def seed(world, i, partner, amount):
    world.store.record(
        "DeadLetter",
        f"pubsub:canonical-event:evt_{i}",
        dead_letter_record(
            source="pubsub", kind="canonical-event", key=f"evt_{i}",
            payload=json.dumps({"amount": amount, "currency": "USD"}) if amount else "{}",
            reason_code="max_delivery_attempts", reason="gave up", attempts=5, first_error="e", last_error="e",
            first_attempt_at=NOW, now=NOW + timedelta(minutes=i),
            attributes={"event_id": f"evt_{i}", "partner": partner},
        ),
    )  # fmt: skip


def test_a_dry_run_lists_what_matches_and_moves_nothing(w):
    dry = w.post(REPLAY, {"reason": "stripe was down", "dry_run": True, "partner": "stripe"}, key=w.operator)
    assert dry.status_code == 200, dry.json
    body = dry.json
    assert [d["dead_letter"] for d in body["data"]] == [f"pubsub:canonical-event:evt_{i}" for i in (3, 1, 0)]
    assert (body["matched"], body["has_more"], body["dry_run"]) == (3, False, True)
    assert all(d["request"] is None and d["action"] == "publish" for d in body["data"])
    assert len(body["selection"]) == 64 and not w.published
    assert w.get("/v1/audit-log", key=w.operator).json["data"] == []
    limited = w.post(REPLAY, {"reason": "x", "dry_run": True, "partner": "stripe", "limit": 2}, key=w.operator).json
    assert (limited["matched"], limited["has_more"]) == (2, True) and limited["selection"] != body["selection"]
    since = w.post(
        REPLAY, {"reason": "x", "dry_run": True, "since": (NOW + timedelta(minutes=1)).isoformat()}, key=w.operator
    ).json
    assert [d["dead_letter"][-5:] for d in since["data"]] == ["evt_3", "evt_2", "evt_1"]


def test_the_replay_needs_the_dry_runs_selection_and_replays_each_through_its_own_request(w):
    dry = w.post(REPLAY, {"reason": "x", "dry_run": True, "partner": "stripe"}, key=w.operator).json
    missing = w.post(REPLAY, {"reason": "stripe was down", "partner": "stripe"}, key=w.operator)
    assert (missing.status_code, missing.json["error"]["param"]) == (400, "selection")
    other = w.post(REPLAY, {"reason": "x", "partner": "adyen", "selection": dry["selection"]}, key=w.operator)
    assert (other.status_code, other.json["error"]["code"]) == (409, "selection_changed")
    assert not w.published

    done = w.post(
        REPLAY, {"reason": "stripe was down", "partner": "stripe", "selection": dry["selection"]}, key=w.operator,
        idem="bulk-1",
    )  # fmt: skip
    assert done.status_code == 200, done.json
    statuses = {d["dead_letter"][-5:]: d["status"] for d in done.json["data"]}
    # $10 and $20: under the threshold, replayed at once; evt_3's amount is unknown: a second operator
    assert statuses == {"evt_0": "executed", "evt_1": "executed", "evt_3": "pending"}
    assert len(w.published) == 2
    audit_rows = w.get("/v1/audit-log?action=dead_letter_replay", key=w.operator).json["data"]
    assert sorted(e["target"][-5:] for e in audit_rows) == ["evt_0", "evt_1"]
    again = w.post(
        REPLAY, {"reason": "stripe was down", "partner": "stripe", "selection": dry["selection"]}, key=w.operator,
        idem="bulk-1",
    )  # fmt: skip
    assert again.json == done.json and len(w.published) == 2  # a retry of the same call: the same answer
    # the replayed ones left the open set: the same selection no longer holds
    stale = w.post(REPLAY, {"reason": "x", "partner": "stripe", "selection": dry["selection"]}, key=w.operator)
    assert stale.json["error"]["code"] == "selection_changed"


def test_a_dead_letter_arriving_after_the_dry_run_changes_the_selection(w):
    dry = w.post(REPLAY, {"reason": "x", "dry_run": True, "partner": "adyen"}, key=w.operator).json
    seed(w, 9, "adyen", 700)
    late = w.post(REPLAY, {"reason": "x", "partner": "adyen", "selection": dry["selection"]}, key=w.operator)
    assert (late.status_code, late.json["error"]["code"]) == (409, "selection_changed") and not w.published


@pytest.mark.parametrize(
    "body, param",
    [
        ({"dry_run": True}, "reason"),
        ({"reason": "x", "dry_run": True, "since": "2026-11-28T09:00:00"}, "since"),
        ({"reason": "x", "dry_run": True, "limit": 101}, "limit"),
        ({"reason": "x", "dry_run": True, "source": "elsewhere"}, "source"),
        ({"reason": "x", "selection": "abc"}, "selection"),
        ({"reason": "x", "dry_run": True, "status": "replayed"}, "status"),
    ],
)
def test_bad_bulk_replays_are_400_with_the_field(w, body, param):
    reply = w.post(REPLAY, body, key=w.operator)
    assert (reply.status_code, reply.json["error"]["param"]) == (400, param), reply.json
    assert not w.published


def test_bulk_replay_is_for_operators_only(w):
    assert w.post(REPLAY, {"reason": "x", "dry_run": True}).status_code == 403


def test_the_audit_log_by_time(w):
    times = [NOW + timedelta(hours=h) for h in (0, 1, 2, 3)]
    for i, at in enumerate(times):
        audit.record_change(w.store, at, actor="ana", action="note", reason=f"r{i}", target=f"t{i}")
    late_writer = audit.record_change(w.store, NOW, actor="bo", action="note", reason="clock behind", target="t4")
    assert late_writer.at == times[-1]  # lifted to the head's time: the log's time never goes back

    def targets(**params):
        reply = w.get("/v1/audit-log", query_string=params, key=w.operator)
        assert reply.status_code == 200, reply.json
        return [e["target"] for e in reply.json["data"]]

    assert targets(**{"from": times[1].isoformat(), "to": times[2].isoformat()}) == ["t2", "t1"]
    assert targets(to=(times[0] + timedelta(minutes=30)).isoformat()) == ["t0"]
    assert targets(**{"from": times[3].isoformat()}) == ["t4", "t3"]
    assert targets(to=(NOW - timedelta(days=1)).isoformat()) == []
    assert targets(**{"from": times[1].isoformat(), "actor": "ana"}) == ["t3", "t2", "t1"]
    page = w.get("/v1/audit-log", query_string={"to": times[3].isoformat(), "limit": 2}, key=w.operator).json
    assert [e["target"] for e in page["data"]] == ["t4", "t3"] and page["has_more"]  # t4: lifted to times[3]
    rest = targets(to=times[2].isoformat(), starting_after=str(page["data"][-1]["seq"]))
    assert rest == ["t2", "t1", "t0"]
    bad = w.get("/v1/audit-log", query_string={"from": "yesterday"}, key=w.operator)
    assert (bad.status_code, bad.json["error"]["param"]) == (400, "from")
