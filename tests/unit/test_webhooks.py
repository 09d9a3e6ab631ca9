"""Webhooks out over the memory store (shared.webhooks): events written with the change that produced
them, fan-out to the tenant's endpoints, signed delivery on the domain's schedule, ordering per
endpoint and key under random failures, 410 / 5-day disabling, dead letters and replays. A small
queue runs the tasks through shared.recovery.service.run_task, as the webhooks function does."""

from __future__ import annotations

import heapq
import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from shared.adapters.memory_store import MemoryStore
from shared.api import tenants
from shared.domain.ledger.ids import digest
from shared.domain.ledger.model import Leg, Operation
from shared.domain.webhooks import delivery as policy
from shared.domain.webhooks.catalogue import BY_NAME, envelope_schema
from shared.domain.webhooks.endpoints import EndpointError
from shared.ledger.transactions import execute
from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task
from shared.recovery.service import Handler, Reschedule, replay, run_task
from shared.webhooks import outbox, records
from shared.webhooks.endpoints import NotFound, WebhookEndpoints
from shared.webhooks.service import Answer, Deliveries

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Receivers:
    """Plays the tenants' endpoints: answers per URL from a script (a function of the attempt)."""

    def __init__(self):
        self.received: list[tuple[str, dict, dict]] = []  # (url, headers, body)
        self.answer = lambda url, n: 200
        self.calls = 0

    def __call__(self, url: str, body: bytes, headers: dict, ordering_key: str = "") -> Answer:
        self.calls += 1
        status = self.answer(url, self.calls)
        self.received.append((url, dict(headers), json.loads(body)))
        retry_after = {}
        if isinstance(status, tuple):
            status, retry_after = status[0], {"retry-after": str(status[1])}
        if status is None:
            return Answer(None, {}, b"", 15000, "timeout")
        return Answer(status, retry_after, b"ok", 3)


class World:
    """A store with two tenants, their customers and endpoints, the services, and a task queue."""

    def __init__(self):
        self.clock = Clock()
        self.store = MemoryStore()
        self.queue: list[tuple[datetime, int, Task]] = []
        self.seq = 0
        self.receivers = Receivers()
        self.fanouts = 0

        def request_fanout():
            self.fanouts += 1
            self.schedule(Task("webhook-fanout", f"f{self.fanouts}"), self.clock())

        self.store.on_events = request_fanout
        self.deliveries = Deliveries(
            self.store,
            self.schedule,
            self.receivers,
            lambda sealed, _id: sealed,
            self.clock,
            request_fanout,
            rng=random.Random(7),
        )
        self.endpoints = WebhookEndpoints(
            self.store, lambda secret, _id: secret, lambda sealed, _id: sealed, self.clock, True, self.schedule
        )
        self.handlers = {
            "webhook-fanout": Handler("datastore", lambda key: str(self.deliveries.fanout())),
            "webhook-deliver": Handler("datastore", self.deliveries.deliver),
            "webhook-replay": Handler("datastore", lambda key: str(self.endpoints.run_replay(key))),
        }
        for tenant, customers in (("acme", ("alice", "bob")), ("globex", ("carol",))):
            tenants.create_tenant(self.store, tenant, tenant, T0)
            for c in customers:
                tenants.add_customer(self.store, tenant, c, T0)

    def schedule(self, task: Task, at: datetime) -> bool:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, task))
        return True

    def drain(self, until: timedelta = timedelta(days=6), limit: int = 100_000, sweeps: bool = False) -> None:
        """Run due tasks in time order, moving the clock to each task's time. `sweeps`: also the
        per-minute safety net (Cloud Scheduler's webhooks-sweep), which re-queues every pending delivery
        due for a while, whether or not its predecessor is final: the ordering gate must hold it."""
        end = self.clock() + until
        next_sweep = self.clock() + timedelta(minutes=1)
        for _ in range(limit):
            if not self.queue or self.queue[0][0] > end:
                return
            if sweeps and self.queue[0][0] > next_sweep:
                self.clock.now = max(self.clock.now, next_sweep)
                self.deliveries.sweep()
                next_sweep = self.clock() + timedelta(minutes=1)
                continue
            at, _, task = heapq.heappop(self.queue)
            self.clock.now = max(self.clock.now, at)
            run_task(
                task,
                handler=self.handlers[task.kind],
                store=self.store,
                schedule=self.schedule,
                now=self.clock(),
                rng=random.Random(1),
            )
        raise AssertionError("the queue did not drain")

    def fund(self, customer: str, amount: int, ref: str, expect: str = "posted") -> None:
        legs = (
            Leg("partner:stripe:clearing", "debit", amount, "USD"),
            Leg(f"customer:{customer}:wallet", "credit", amount, "USD"),
        )
        op = Operation(f"txn_{ref}", "post", "payment_captured.v1", ref, "stripe", digest(ref), T0, legs=legs)
        assert execute(self.store, op, self.clock).status == expect

    def hold(self, customer: str, amount: int, ref: str) -> str:
        legs = (
            Leg(f"customer:{customer}:wallet", "debit", amount, "USD", phase="pending"),
            Leg("suspense", "credit", amount, "USD", phase="pending"),
        )
        op = Operation(
            f"hold_{ref}",
            "hold",
            "api_hold.v1",
            ref,
            "api",
            digest(ref),
            self.clock(),
            legs=legs,
            expires_at=self.clock() + timedelta(days=1),
        )
        assert execute(self.store, op, self.clock).status == "posted"
        return op.op_id

    def void(self, hold: str) -> None:
        op = Operation(
            f"void_{hold}", "void", "api_void.v1", f"v{hold}", "api", digest("v", hold), self.clock(), target=hold
        )
        assert execute(self.store, op, self.clock).status == "posted"

    def events(self, tenant: str) -> list[dict]:
        rows = self.store.query(outbox.EVENT, "tenant", tenant)
        return sorted(
            (json.loads(r["body"]) for r in rows.values()),
            key=lambda e: (e["ordering"]["key"], e["ordering"]["sequence"]),
        )


@pytest.fixture
def world() -> World:
    return World()


def verified(headers: dict, body: dict, secret: str) -> bool:
    """The library's own check of one signature (its `verify` also refuses a timestamp 5 minutes away
    from the real clock; these tests run on a simulated one)."""
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    expected = Webhook(secret).sign(headers["webhook-id"], at, text)
    return expected in headers["webhook-signature"].split(" ")


# ----------------------------------------------------------------------------- production (outbox)


def test_a_posting_emits_events_to_the_owning_tenant_only_and_validates_against_the_catalogue(world):
    world.fund("alice", 10_000, "p1")
    world.fund("carol", 500, "p2")
    acme, globex = world.events("acme"), world.events("globex")
    assert [e["type"] for e in acme] == ["balance.updated", "transfer.posted"]
    assert [e["type"] for e in globex] == ["balance.updated", "transfer.posted"]
    transfer = next(e for e in acme if e["type"] == "transfer.posted")
    assert transfer["data"]["entries"] == [
        {
            "customer": "alice",
            "account": "customer:alice:wallet",
            "direction": "credit",
            "amount": 10_000,
            "currency": "USD",
        }
    ]  # only the tenant's wallet entries: the partner's clearing account is not shown
    balance = next(e for e in acme if e["type"] == "balance.updated")
    assert (balance["data"]["posted"], balance["data"]["available"]) == (10_000, 10_000)
    for event in acme + globex:
        jsonschema_rs.validator_for(envelope_schema(BY_NAME[event["type"]])).validate(event)


def test_a_customer_without_tenant_and_a_rejected_or_replayed_operation_emit_nothing(world):
    legs = (Leg("partner:stripe:clearing", "debit", 5, "USD"), Leg("customer:dave:wallet", "credit", 5, "USD"))
    op = Operation("txn_d", "post", "payment_captured.v1", "d", "stripe", digest("d"), T0, legs=legs)
    assert execute(world.store, op, world.clock).status == "posted"
    assert world.store.query(outbox.EVENT, "tenant", "acme") == {}
    world.fund("alice", 100, "p1")
    before = len(world.events("acme"))
    world.fund("alice", 100, "p1", expect="replayed")  # the same operation again
    overdraw = (
        Leg("customer:alice:wallet", "debit", 10_000, "USD"),
        Leg("partner:stripe:clearing", "credit", 10_000, "USD"),
    )
    rejected = Operation("txn_x", "post", "r.v1", "x", "api", digest("x"), T0, legs=overdraw, enforce_constraints=True)
    assert execute(world.store, rejected, world.clock).status == "rejected"
    assert len(world.events("acme")) == before


def test_hold_events_are_numbered_in_their_lane_in_commit_order(world):
    world.fund("alice", 1_000, "p1")
    hold = world.hold("alice", 300, "h1")
    world.void(hold)
    lane = [e for e in world.events("acme") if e["ordering"]["key"] == hold]
    assert [(e["type"], e["ordering"]["sequence"]) for e in lane] == [("hold.created", 1), ("hold.voided", 2)]
    assert lane[0]["data"]["amount"] == 300 and lane[1]["data"]["status"] == "voided"
    assert len({e["id"] for e in world.events("acme")}) == len(world.events("acme"))


# ----------------------------------------------------------------------------- delivery


def test_events_reach_every_subscribed_endpoint_of_their_tenant_signed(world):
    a1 = world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    a2 = world.endpoints.create("acme", "http://127.0.0.1:9/a2", types=["balance.updated"])
    g1 = world.endpoints.create("globex", "http://127.0.0.1:9/g1")
    world.fund("alice", 10_000, "p1")
    world.fund("carol", 10, "p2")
    world.drain()
    got = {(url.rsplit("/", 1)[1], body["type"]) for url, _, body in world.receivers.received}
    assert got == {("a1", "transfer.posted"), ("a2", "balance.updated"), ("g1", "transfer.posted")}
    secrets = {"a1": a1, "a2": a2, "g1": g1}
    for url, headers, body in world.receivers.received:
        ep = secrets[url.rsplit("/", 1)[1]]
        assert headers["webhook-id"] == body["id"]
        assert verified(headers, body, ep.secrets[0].value)
        assert not verified(headers, body, g1.secrets[0].value if ep is not g1 else a1.secrets[0].value)
    assert {d["status"] for d in world.store.snapshot((records.DELIVERY,))[records.DELIVERY].values()} == {"delivered"}


def test_during_a_rotation_both_secrets_sign_and_after_the_overlap_only_the_new(world):
    ep = world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    old = ep.secrets[0].value
    new = world.endpoints.rotate("acme", ep.endpoint_id, timedelta(hours=1)).secrets[0].value
    world.fund("alice", 1, "p1")
    world.drain()
    _, headers, body = world.receivers.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verified(headers, body, old) and verified(headers, body, new)
    world.clock.now += timedelta(hours=2)
    world.fund("alice", 1, "p2")
    world.drain()
    _, headers, body = world.receivers.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verified(headers, body, new) and not verified(headers, body, old)


def test_failures_are_retried_on_the_schedule_honouring_retry_after(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    answers = iter([500, None, (429, 3600), 200])
    world.receivers.answer = lambda url, n: next(answers)
    world.fund("alice", 1, "p1")
    world.drain()
    (d,) = world.store.snapshot((records.DELIVERY,))[records.DELIVERY].values()
    assert (d["status"], d["attempts"]) == ("delivered", 4)
    attempts = sorted(world.store.snapshot((records.ATTEMPT,))[records.ATTEMPT].values(), key=lambda a: a["number"])
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert 4 <= gaps[0] <= 6 and 12 <= gaps[1] <= 18  # 5 s, then 15 s (±20 %)
    assert gaps[2] >= 3600  # Retry-After: one hour, over the schedule's 45 s
    assert [a["status_code"] for a in attempts] == [500, None, 429, 200]
    assert attempts[1]["error"] == "timeout"


def test_an_event_that_never_gets_through_is_given_up_into_a_dead_letter_and_replayed(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    world.receivers.answer = lambda url, n: 503
    world.fund("alice", 1, "p1")
    world.drain()
    ((name, d),) = world.store.snapshot((records.DELIVERY,))[records.DELIVERY].items()
    assert (d["status"], d["attempts"]) == ("failed", policy.MAX_ATTEMPTS)
    assert timedelta(days=2, hours=10) <= d["finished_at"] - d["first_attempt_at"] <= policy.DEADLINE  # ~3 d ±20 %
    dead = world.store.get("DeadLetter", dead_letter_id("task", "webhook-deliver", name))
    assert dead["status"] == "open" and dead["reason_code"] == "exhausted"
    calls = world.receivers.calls
    world.receivers.answer = lambda url, n: 500 if n <= calls + 3 else 200  # three more failures, then up
    replay(
        world.store,
        dead_letter_id("task", "webhook-deliver", name),
        dead,
        publish=lambda *a: None,
        schedule=world.schedule,
        now=world.clock(),
    )
    world.drain()
    d = world.store.get(records.DELIVERY, name)
    # a fresh schedule after the replay: not given up at its first failure
    assert (d["status"], d["attempts"], d["restarts"]) == ("delivered", policy.MAX_ATTEMPTS + 4, 1)


def test_410_disables_the_endpoint_skips_what_follows_and_tells_the_other_endpoints(world):
    gone = world.endpoints.create("acme", "http://127.0.0.1:9/gone")
    world.endpoints.create("acme", "http://127.0.0.1:9/ok")
    world.receivers.answer = lambda url, n: 410 if url.endswith("/gone") else 200
    world.fund("alice", 1, "p1")
    world.drain()
    assert not world.endpoints.get("acme", gone.endpoint_id).enabled
    assert world.endpoints.get("acme", gone.endpoint_id).disabled_reason == "gone"
    world.fund("alice", 1, "p2")
    world.drain()
    to_gone = [b["type"] for u, _, b in world.receivers.received if u.endswith("/gone")]
    to_ok = [b["type"] for u, _, b in world.receivers.received if u.endswith("/ok")]
    assert to_gone == ["transfer.posted"]  # once: the 410; nothing after it
    assert to_ok.count("transfer.posted") == 2 and "webhook_endpoint.disabled" in to_ok
    disabled = next(b for u, _, b in world.receivers.received if b["type"] == "webhook_endpoint.disabled")
    assert disabled["data"]["id"] == gone.endpoint_id and disabled["data"]["disabled_reason"] == "gone"


def test_an_endpoint_failing_for_five_days_is_disabled(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/down")
    world.receivers.answer = lambda url, n: 500
    for day in range(6):
        world.fund("alice", 1, f"p{day}")
        world.drain(until=timedelta(days=1))
    ep = world.endpoints.list("acme")[0]
    assert (ep.enabled, ep.disabled_reason) == (False, "failing")
    assert ep.failing_since == T0
    deliveries = world.store.snapshot((records.DELIVERY,))[records.DELIVERY].values()
    assert "skipped" in {d["status"] for d in deliveries}  # what was still waiting when it was disabled


# ----------------------------------------------------------------------------- ordering


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), fail_rate=st.sampled_from([0.0, 0.3, 0.6]), holds=st.integers(1, 4))
def test_per_endpoint_and_key_a_later_event_never_goes_before_an_earlier_one_is_final(seed, fail_rate, holds):
    world = World()
    rng = random.Random(seed)
    world.endpoints.create("acme", "http://127.0.0.1:9/a1", types=["hold.created", "hold.voided", "balance.updated"])
    world.endpoints.create("acme", "http://127.0.0.1:9/a2")
    world.receivers.answer = lambda url, n: 500 if rng.random() < fail_rate else 200
    world.fund("alice", 10_000, "fund")
    made = [world.hold("alice", 10 + i, f"h{i}") for i in range(holds)]
    world.drain(until=timedelta(seconds=rng.choice([0, 5, 30])), sweeps=True)
    for hold in made:
        world.void(hold)
    world.drain(sweeps=True)
    deliveries = world.store.snapshot((records.DELIVERY,))[records.DELIVERY]
    assert {d["status"] for d in deliveries.values()} <= {"delivered", "failed"}
    # for each endpoint and key: the first successful sends are in sequence order, and an attempt of
    # sequence n+1 comes only after n's delivery is final
    finished = {(d["endpoint"], d["key"], d["seq"]): d["finished_at"] for d in deliveries.values()}
    attempts = world.store.snapshot((records.ATTEMPT,))[records.ATTEMPT].values()
    for a in attempts:
        d = deliveries[a["delivery"]]
        earlier = finished.get((d["endpoint"], d["key"], d["seq"] - 1))
        if d["seq"] > 1 and (d["endpoint"], d["key"], d["seq"] - 1) in finished:
            assert earlier is not None and earlier <= a["at"]
    expected = {
        (ep, e["id"])
        for e in world.events("acme")
        for ep in ("a1", "a2")
        if (ep == "a1" and e["type"] in ("hold.created", "hold.voided", "balance.updated"))
        or (ep == "a2" and e["type"] != "balance.updated")
    }
    got = {(u.rsplit("/", 1)[1], b["id"]) for u, _, b in world.receivers.received}
    assert expected == got  # every subscribed event reached its endpoint at least once (attempted)


# ----------------------------------------------------------------------------- the tenant's API


def test_endpoint_rules_and_tenancy(world):
    with pytest.raises(EndpointError) as bad:
        world.endpoints.create("acme", "http://example.com/hook")  # http only to loopback locally
    assert bad.value.code == "url_scheme"
    with pytest.raises(EndpointError) as bad:
        world.endpoints.create("acme", "http://127.0.0.1:9/x", types=["payout.lost"])
    assert (bad.value.code, bad.value.field) == ("unknown_event_type", "enabled_events.0")
    ep = world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    with pytest.raises(NotFound):
        world.endpoints.get("globex", ep.endpoint_id)
    world.fund("alice", 1, "p1")
    event = world.events("acme")[0]
    assert world.endpoints.event("acme", event["id"]) == event
    with pytest.raises(NotFound):
        world.endpoints.event("globex", event["id"])
    page, more = world.endpoints.events("acme", None, 1)
    assert len(page) == 1 and more
    page2, more2 = world.endpoints.events("acme", None, 5, starting_after=page[0]["id"])
    assert {e["id"] for e in page + page2} == {e["id"] for e in world.events("acme")} and not more2


def test_replay_sends_exactly_the_window_again_in_order_and_a_dry_run_only_counts(world):
    ep = world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    for i in range(5):
        world.fund("alice", 1, f"p{i}")
        world.clock.now += timedelta(minutes=10)
    world.drain()
    first = len(world.receivers.received)
    assert first == 5
    since = T0 + timedelta(minutes=15)
    until = T0 + timedelta(minutes=35)
    dry = world.endpoints.replay("acme", ep.endpoint_id, since, until, dry_run=True)
    assert (dry.status, dry.matched) == ("dry_run", 2)
    assert not world.queue and len(world.receivers.received) == first
    job = world.endpoints.replay("acme", ep.endpoint_id, since, until)
    world.drain()
    again = [b for _, _, b in world.receivers.received[first:]]
    window = [
        e
        for e in world.events("acme")
        if e["type"] == "transfer.posted" and since <= datetime.fromisoformat(e["timestamp"]) <= until
    ]
    assert sorted(b["id"] for b in again) == sorted(e["id"] for e in window)
    assert world.endpoints.replay_job("acme", job.replay_id).status == "done"
    with pytest.raises(NotFound):
        world.endpoints.replay("globex", ep.endpoint_id, since, until)


def test_the_schedule_compressed_for_local_chaos_runs_keeps_its_shape():
    rng = random.Random(3)
    full = policy.judge(500, None, 9, T0, T0, None, random.Random(3))
    fast = policy.judge(500, None, 9, T0, T0, None, rng, scale=0.02)
    assert fast.next_at - T0 == (full.next_at - T0) * 0.02  # 3 h 2 min -> 3.6 min
    late = T0 + policy.DEADLINE * 0.02
    assert policy.judge(500, None, 3, T0, late, None, rng, scale=0.02).outcome == "give_up"
    assert policy.judge(500, None, 3, T0, late, None, rng).outcome == "retry"


def test_one_fan_out_at_a_time_and_the_holder_looks_again_after_releasing(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    world.store.on_events = None  # no automatic requests: this test runs the fan-outs itself
    world.fund("alice", 1, "p1")
    world.store.record("FanoutLease", "fanout", {"holder": "someone", "until": world.clock() + timedelta(seconds=30)})
    assert world.deliveries.fanout() == (0, 0)  # busy: the holder will see the event
    assert world.store.query(outbox.EVENT, "fanout_pending", True)
    world.clock.now += timedelta(seconds=91)  # the holder crashed: its lease expires
    assert world.deliveries.fanout() == (2, 0)  # transfer.posted and balance.updated
    assert world.store.get("FanoutLease", "fanout")["holder"] is None


def test_a_sweep_gives_an_overdue_delivery_a_new_chain_that_keeps_its_schedule(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    answers = iter([500, 500, 500, 200])
    world.receivers.answer = lambda url, n: next(answers)
    world.fund("alice", 1, "p1")
    world.drain(until=timedelta(seconds=1))  # the first attempt failed: the next in about 5 s
    ((name, d),) = world.store.snapshot((records.DELIVERY,))[records.DELIVERY].items()
    assert world.deliveries.sweep() == 0  # not overdue
    (_, _, lost), *_ = world.queue  # its task is lost, say
    world.queue.clear()
    world.clock.now = d["next_attempt_at"] + timedelta(minutes=3)
    assert world.deliveries.sweep() == 1
    ((_, _, task),) = world.queue
    assert (lost.key, task.key) == (f"{name}@1", f"{name}@2")
    assert "superseded" in world.deliveries.deliver(lost.key)  # the old chain, found again: nothing
    world.drain()  # no more sweeps: the new chain alone runs the rest of the schedule
    d = world.store.get(records.DELIVERY, name)
    assert (d["status"], d["attempts"], d["chain"]) == ("delivered", 4, 2)
    attempts = sorted(world.store.snapshot((records.ATTEMPT,))[records.ATTEMPT].values(), key=lambda a: a["number"])
    assert (attempts[3]["at"] - attempts[2]["at"]).total_seconds() < 60  # 45 s, not a sweep's minutes


def test_an_event_committed_during_a_fan_out_pass_is_asked_for_after_it(world):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    world.store.on_events = None  # only the fan-out's own look after releasing its lease can ask
    world.fund("alice", 1, "p1")
    first_pass = world.deliveries._fanout_pass

    def pass_during_which_an_event_commits():
        result = first_pass()
        world.fund("alice", 1, "p2")  # after the pass read its batch, before the lease is released
        return result

    world.deliveries._fanout_pass = pass_during_which_an_event_commits
    before = world.fanouts
    assert world.deliveries.fanout() == (2, 0)
    assert world.fanouts == before + 1  # the holder saw the new event after releasing and asked again
    world.deliveries._fanout_pass = first_pass
    world.drain()
    assert {b["data"]["id"] for _, _, b in world.receivers.received} == {"txn_p1", "txn_p2"}


def test_events_page_one_by_one_through_ties_in_the_stores_order(world):
    for i in range(3):
        world.fund("alice", 1, f"p{i}")  # two events a posting, at the same instant
    seen, cursor = [], None
    while True:
        page, more = world.endpoints.events("acme", None, 1, starting_after=cursor)
        seen += [e["id"] for e in page]
        if not more:
            break
        cursor = page[-1]["id"]
    assert sorted(seen) == sorted(e["id"] for e in world.events("acme")) and len(seen) == 6


def test_a_replay_whose_page_task_was_lost_is_resumed_by_the_sweep(world):
    ep = world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    world.fund("alice", 1, "p1")
    world.drain()
    job = world.endpoints.replay("acme", ep.endpoint_id, T0 - timedelta(minutes=1))
    world.queue.clear()  # its first task was never enqueued, say
    assert world.endpoints.resume_replays() == 0  # not stalled yet
    world.clock.now += timedelta(minutes=6)
    assert world.endpoints.resume_replays() == 1
    world.drain()
    assert world.endpoints.replay_job("acme", job.replay_id).status == "done"
    assert [b["type"] for _, _, b in world.receivers.received].count("transfer.posted") == 2


def test_every_kind_with_a_ttl_policy_is_written_with_its_timestamp(world):
    from shared.topology import topology

    world.endpoints.create("acme", "http://127.0.0.1:9/a1")
    world.receivers.answer = lambda url, n: 500 if n == 1 else 200
    world.fund("alice", 1, "p1")
    world.drain()
    policies = [p for p in topology()["datastore"]["ttl"] if p["kind"] != "IdempotencyRecord"]  # (test_api)
    assert {p["kind"] for p in policies} == {outbox.EVENT, records.DELIVERY, records.ATTEMPT}
    for ttl in policies:
        rows = world.store.snapshot((ttl["kind"],))[ttl["kind"]].values()
        assert rows and all(isinstance(r[ttl["field"]], datetime) for r in rows), ttl["kind"]
        assert all(r[ttl["field"]] >= T0 + policy.RETENTION for r in rows)


def test_a_pubsub_destination_is_enabled_only_by_the_token_published_to_its_topic(world):
    cloud = WebhookEndpoints(
        world.store, lambda secret, _id: secret, lambda sealed, _id: sealed, world.clock, False, world.schedule
    )
    topic = "pubsub://projects/tenant-proj-1/topics/hooks"
    ep = cloud.create("acme", topic)
    assert (ep.enabled, ep.verified, ep.disabled_reason) == (False, False, "unverified")
    with pytest.raises(EndpointError) as refused:
        cloud.update("acme", ep.endpoint_id, enabled=True)
    assert refused.value.code == "endpoint_unverified"
    world.fund("alice", 1, "p1")
    world.receivers.answer = lambda url, n: None if n == 1 else 200  # the grant comes after the first try
    world.handlers["webhook-verify"] = Handler("datastore", world.deliveries.send_verification)
    world.drain()
    published = [b for url, _, b in world.receivers.received if url == topic]
    assert [b["type"] for b in published] == ["webhook_endpoint.verification"] * 2  # retried, then published
    assert all(b.get("data") is None for b in published)  # no event went there before the proof
    with pytest.raises(EndpointError) as wrong:
        cloud.verify("acme", ep.endpoint_id, "not-the-token")
    assert wrong.value.code == "verification_failed"
    with pytest.raises(NotFound):
        cloud.verify("globex", ep.endpoint_id, published[-1]["token"])  # another tenant: nothing to prove
    done = cloud.verify("acme", ep.endpoint_id, published[-1]["token"])
    assert (done.enabled, done.verified, done.disabled_reason) == (True, True, None)
    world.fund("alice", 1, "p2")
    world.drain()
    assert [b["type"] for url, _, b in world.receivers.received if url == topic][-1] == "transfer.posted"
    moved = cloud.update("acme", ep.endpoint_id, url="pubsub://projects/tenant-proj-2/topics/hooks")
    assert (moved.enabled, moved.verified) == (False, False)  # another topic: proven again


@pytest.mark.parametrize("scale", [1.0, 0.02])  # 0.02: the compressed schedule of local chaos runs
def test_a_delivery_that_waited_behind_its_predecessor_is_retried_on_the_schedule_not_faster(world, scale):
    """The sweep re-queues a delivery that waits behind a failing predecessor (it is overdue); that task
    then looks again every half minute. Once the predecessor is delivered it wakes the delivery, whose
    attempts must then follow the schedule: the leftover look-again task is a duplicate, not a second
    retry chain (two chains spend the 15 attempts in half the time and give up after ~1.4 days)."""
    world.endpoints.create("acme", "http://127.0.0.1:9/a1", types=["hold.created", "hold.voided"])
    sent: list[tuple[str, datetime]] = []

    def send(url: str, body: bytes, headers: dict, ordering_key: str = "") -> Answer:
        kind = json.loads(body)["type"]
        sent.append((kind, world.clock()))
        if kind == "hold.created":  # the predecessor: fails for its first 6 attempts (~10 minutes)
            return Answer(500 if sum(k == kind for k, _ in sent) <= 6 else 200, {}, b"", 3)
        return Answer(503, {}, b"", 3)  # the waiting one: never gets through

    world.deliveries.send = send
    world.deliveries.retry_scale = scale
    world.fund("alice", 1_000, "fund")
    hold = world.hold("alice", 300, "h1")
    world.void(hold)
    world.drain(sweeps=True)
    voided = [at for kind, at in sent if kind == "hold.voided"]
    assert len(voided) == policy.MAX_ATTEMPTS
    for n, (a, b) in enumerate(itertools.pairwise(voided), start=1):
        assert (b - a) >= policy.nominal_delay(n) * scale * (1 - policy.JITTER), (n, b - a)
    assert voided[-1] - voided[0] >= timedelta(days=2, hours=10) * scale  # about 3 days, as the docs promise


@pytest.mark.parametrize("scale", [1.0, 0.02])
def test_a_second_task_for_a_delivery_on_its_retry_schedule_sends_nothing(world, scale):
    world.endpoints.create("acme", "http://127.0.0.1:9/a1", types=["transfer.posted"])
    world.receivers.answer = lambda url, n: 500
    world.deliveries.retry_scale = scale
    world.fund("alice", 1, "p1")
    world.drain(until=timedelta(0))  # the fan-out and the first attempt, failed: a retry is scheduled
    ((name, d),) = world.store.snapshot((records.DELIVERY,))[records.DELIVERY].items()
    assert (d["status"], d["attempts"]) == ("pending", 1)
    sent = world.receivers.calls
    assert "duplicate" in world.deliveries.deliver(f"{name}@1")  # e.g. a task re-run by the queue
    assert world.receivers.calls == sent
    world.clock.now = d["next_attempt_at"]  # its own task, when due, sends
    with pytest.raises(Reschedule):
        world.deliveries.deliver(f"{name}@1")
    assert world.receivers.calls == sent + 1
