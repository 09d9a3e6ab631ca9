"""Retry policy, classification, circuit breaker and the task runner (pure: memory store, fake clock)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core import exceptions as gexc
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.memory_store import MemoryStore
from shared.errors import ClientError, PermanentError
from shared.recovery.dead_letters import Filter, dead_letter_id
from shared.recovery.policies import POLICIES, CircuitBreaker, Policy, Task, classify, retry_after_seconds
from shared.recovery.service import Handler, Reschedule, list_dead_letters, record_pubsub_dead_letter, replay, run_task

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = Policy(timedelta(seconds=1), timedelta(seconds=60), max_attempts=8, max_age=timedelta(minutes=10))


@given(st.integers(1, 40), st.integers(0, 2**32))
def test_every_delay_is_within_its_bounds(retry, seed):
    for policy in (POLICY, *POLICIES.values()):
        delay = policy.delay_seconds(retry, random.Random(seed))
        assert policy.min_delay.total_seconds() / 2 <= delay <= policy.max_delay.total_seconds()
        assert delay <= policy.ceiling_seconds(retry)


def test_ceiling_doubles_then_caps():
    assert [POLICY.ceiling_seconds(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_spreads_delays_uniformly_over_the_window():
    rng = random.Random(7)
    samples = [POLICY.delay_seconds(6, rng) for _ in range(20000)]  # window [0.5, 32]
    low, high = 0.5, 32.0
    quarters = [0, 0, 0, 0]
    for s in samples:
        quarters[min(3, int((s - low) / (high - low) * 4))] += 1
    assert all(abs(q / len(samples) - 0.25) < 0.02 for q in quarters), quarters  # no clustering at the cap
    assert abs(sum(samples) / len(samples) - (low + high) / 2) < 0.5


def test_retry_after_is_honoured_even_above_the_jittered_delay():
    assert POLICY.delay_seconds(1, random.Random(1), retry_after_s=45.0) == 45.0
    at = POLICY.next_run(attempt=1, first_attempt_at=T0, now=T0, rng=random.Random(1), retry_after_s=120.0)
    assert at == T0 + timedelta(seconds=120)


def test_gives_up_at_max_attempts_and_at_max_age():
    rng = random.Random(3)
    assert POLICY.next_run(attempt=8, first_attempt_at=T0, now=T0, rng=rng) is None
    assert POLICY.next_run(attempt=7, first_attempt_at=T0, now=T0, rng=rng) is not None
    late = T0 + timedelta(minutes=10)  # any delay would start past first attempt + max_age
    assert POLICY.next_run(attempt=2, first_attempt_at=T0, now=late, rng=rng) is None


def test_conflicts_retry_soon_whatever_the_attempt():
    at = POLICY.next_run(attempt=6, first_attempt_at=T0, now=T0, rng=random.Random(2), classification="conflict")
    assert T0 < at <= T0 + timedelta(seconds=0.75)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (gexc.ServiceUnavailable("down"), "transient"),
        (gexc.DeadlineExceeded("slow"), "transient"),
        (gexc.TooManyRequests("slow down"), "transient"),
        (ConnectionError("reset"), "transient"),
        (RuntimeError("who knows"), "transient"),
        (gexc.Aborted("contention"), "conflict"),
        (PermanentError("poison"), "permanent"),
        (ClientError(400, "bad", "bad"), "permanent"),
        (gexc.NotFound("gone"), "permanent"),
        (gexc.PermissionDenied("no"), "permanent"),
    ],
)
def test_classification(exc, expected):
    assert classify(exc) == expected


def test_retry_after_from_seconds_or_http_date():
    class Response:
        def __init__(self, value):
            self.headers = {"Retry-After": value}

    class Failing(Exception):
        def __init__(self, value):
            self.response = Response(value)

    assert retry_after_seconds(Failing("30"), T0) == 30.0
    assert retry_after_seconds(Failing("Sat, 28 Nov 2026 12:01:00 GMT"), T0) == 60.0
    assert retry_after_seconds(Failing("soon"), T0) is None
    assert retry_after_seconds(ValueError(), T0) is None


def test_circuit_opens_after_threshold_then_half_opens_for_one_trial():
    breaker = CircuitBreaker(threshold=3, cooldown=timedelta(seconds=10))
    for _ in range(3):
        assert breaker.allow(T0)
        breaker.failure(T0)
    assert breaker.state(T0) == "open" and not breaker.allow(T0 + timedelta(seconds=9))
    later = T0 + timedelta(seconds=10)
    assert breaker.allow(later) and not breaker.allow(later)  # one trial at a time
    breaker.failure(later)  # the trial failed: open again, for twice as long
    assert breaker.opened_until == later + timedelta(seconds=20)
    again = later + timedelta(seconds=20)
    assert breaker.allow(again)
    breaker.success()
    assert breaker.state(again) == "closed" and breaker.allow(again)


def test_task_names_are_deterministic_and_distinct_per_attempt():
    task = Task("republish", "stripe:evt_1")
    assert task.name == Task("republish", "stripe:evt_1").name
    names = {task.name, task.retried("x").name, task.deferred().name, Task("republish", "stripe:evt_1", replay=1).name}
    assert len(names) == 4
    assert all(len(n) < 500 and n.replace("-", "").replace("_", "").isalnum() for n in names)


def test_task_envelope_round_trips_and_rejects_garbage():
    task = Task("stream", "txn_1", attempt=3, first_attempt_at=T0, first_error="a", last_error="b")
    assert Task.from_json(task.to_json()) == task
    for bad, param in [
        ({"kind": "nope", "key": "k"}, "kind"),
        ({"kind": "stream"}, "key"),
        ({"kind": "stream", "key": "k", "attempt": 0}, None),
        ({"kind": "stream", "key": "k", "first_attempt_at": "2026-11-28T12:00:00"}, "first_attempt_at"),
    ]:
        with pytest.raises(ClientError) as err:
            Task.from_json(bad)
        assert err.value.status == 400 and err.value.param == param


class Downstream:
    """A downstream that fails `failures` times with `error`, then succeeds; counts effects."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls, self.effects = failures, error, 0, set()

    def __call__(self, key: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.effects.add(key)  # idempotent effect (a set), like every real handler
        return "done"


def drive(task, downstream, store, *, now=T0, max_runs=100, circuit=None):
    """Run a task and every task it schedules, in schedule order, like Cloud Tasks would."""
    queue, outcomes, clock = [(now, task)], [], now
    circuit = circuit or CircuitBreaker(threshold=1000)
    rng = random.Random(11)
    while queue and len(outcomes) < max_runs:
        queue.sort(key=lambda item: item[0])
        at, current = queue.pop(0)
        clock = max(clock, at)
        outcome = run_task(
            current,
            handler=Handler("fake", downstream),
            store=store,
            schedule=lambda t, when: queue.append((when, t)) or True,
            now=clock,
            rng=rng,
            circuit=circuit,
        )
        outcomes.append(outcome)
    return outcomes


def test_fails_n_times_then_succeeds_with_exactly_one_effect():
    store, downstream = MemoryStore(), Downstream(3, gexc.ServiceUnavailable("blip"))
    outcomes = drive(Task("republish", "stripe:evt_9"), downstream, store)
    assert [o.status for o in outcomes] == ["retry_scheduled"] * 3 + ["done"]
    assert downstream.effects == {"stripe:evt_9"} and store.data["DeadLetter"] == {}
    retries_at = [o.next_at for o in outcomes[:3]]
    assert T0 < retries_at[0] < retries_at[1] < retries_at[2]  # each retry later than the previous one


def test_permanent_failure_is_one_dead_letter_with_its_reason():
    store, downstream = MemoryStore(), Downstream(99, PermanentError("inbox event is malformed"))
    outcomes = drive(Task("republish", "stripe:evt_bad"), downstream, store)
    assert [o.status for o in outcomes] == ["dead_letter"] and downstream.calls == 1
    letter = store.data["DeadLetter"][dead_letter_id("task", "republish", "stripe:evt_bad")]
    assert (letter["reason_code"], letter["status"], letter["attempts"]) == ("permanent", "open", 1)
    assert "inbox event is malformed" in letter["last_error"]


def test_exhausted_retries_become_a_dead_letter_with_first_and_last_error():
    store = MemoryStore()
    errors = iter([gexc.ServiceUnavailable(f"outage {i}") for i in range(100)])

    def always_down(key):
        raise next(errors)

    outcomes = drive(Task("park-expiry", "stripe:evt_x"), always_down, store)
    policy = POLICIES["park-expiry"]
    assert outcomes[-1].status == "dead_letter" and len(outcomes) <= policy.max_attempts
    letter = store.data["DeadLetter"][dead_letter_id("task", "park-expiry", "stripe:evt_x")]
    assert letter["reason_code"] == "exhausted" and letter["attempts"] == len(outcomes)
    assert "outage 0" in letter["first_error"] and f"outage {len(outcomes) - 1}" in letter["last_error"]


def test_duplicate_task_runs_have_one_effect():
    store, downstream = MemoryStore(), Downstream(0, RuntimeError())
    for _ in range(3):  # Cloud Tasks may deliver the same task more than once
        drive(Task("stream", "txn_dup"), downstream, store)
    assert downstream.effects == {"txn_dup"}


def test_open_circuit_defers_without_using_attempts():
    store, downstream = MemoryStore(), Downstream(0, RuntimeError())
    circuit = CircuitBreaker(threshold=1, cooldown=timedelta(seconds=30))
    circuit.failure(T0)
    outcome = run_task(
        Task("stream", "txn_c"),
        handler=Handler("fake", downstream),
        store=store,
        schedule=lambda t, at: True,
        now=T0 + timedelta(seconds=5),
        circuit=circuit,
    )
    assert outcome.status == "deferred" and downstream.calls == 0
    assert T0 + timedelta(seconds=30) <= outcome.next_at <= T0 + timedelta(seconds=31)


def test_reschedule_is_not_a_failure():
    store, scheduled = MemoryStore(), []

    def not_yet(key):
        raise Reschedule(T0 + timedelta(hours=1))

    outcome = run_task(
        Task("park-expiry", "stripe:evt_p"),
        handler=Handler("fake", not_yet),
        store=store,
        schedule=lambda t, at: scheduled.append((t, at)) or True,
        now=T0,
    )
    assert outcome.status == "rescheduled" and scheduled[0][1] == T0 + timedelta(hours=1)
    assert scheduled[0][0].attempt == 1 and store.data["DeadLetter"] == {}


def test_replay_goes_through_the_normal_path_once_per_call_and_dry_run_changes_nothing():
    store, downstream = MemoryStore(), Downstream(99, PermanentError("broken"))
    drive(Task("republish", "stripe:evt_r"), downstream, store)
    ((name, record),) = list_dead_letters(store.data["DeadLetter"], Filter())
    scheduled, published = [], []
    plan = replay(
        store, name, record, publish=published.append, schedule=lambda t, at: scheduled.append(t), now=T0, dry_run=True
    )
    assert (
        plan["action"] == "enqueue"
        and plan["dry_run"]
        and scheduled == []
        and store.data["DeadLetter"][name]["status"] == "open"
    )
    replay(store, name, record, publish=published.append, schedule=lambda t, at: scheduled.append(t), now=T0)
    assert [(t.kind, t.key, t.replay, t.attempt) for t in scheduled] == [("republish", "stripe:evt_r", 1, 1)]
    assert store.data["DeadLetter"][name]["status"] == "replayed" and published == []
    assert list_dead_letters(store.data["DeadLetter"], Filter()) == []  # no longer open
    # The replayed task succeeds now: exactly one effect.
    drive(scheduled[0], Downstream(0, RuntimeError()), store)


def test_pubsub_dead_letter_keeps_the_message_and_the_last_error():
    import base64

    store = MemoryStore()
    push = {
        "message": {
            "data": base64.b64encode(b'{"not": "canonical"}').decode(),
            "attributes": {
                "event_id": "stripe:evt_poison",
                "partner": "stripe",
                "CloudPubSubDeadLetterSourceDeliveryCount": "5",
            },
            "messageId": "42",
        }
    }
    failures = {
        "attempts": 5,
        "first_error": "PermanentError: first",
        "last_error": "PermanentError: last",
        "first_at": T0,
    }
    name = record_pubsub_dead_letter(store, push, failures, T0 + timedelta(minutes=3))
    assert record_pubsub_dead_letter(store, push, failures, T0 + timedelta(minutes=4)) == name  # redelivered push
    letter = store.data["DeadLetter"][name]
    assert (letter["source"], letter["reason_code"], letter["partner"]) == ("pubsub", "max_delivery_attempts", "stripe")
    assert letter["payload"] == '{"not": "canonical"}' and "PermanentError: last" in letter["reason"]
    assert letter["first_error"] == "PermanentError: first" and letter["created_at"] == T0 + timedelta(minutes=3)
    published = []
    replay(store, name, letter, publish=lambda d, a: published.append((d, a)), schedule=None, now=T0)
    assert published == [
        (b'{"not": "canonical"}', {"event_id": "stripe:evt_poison", "partner": "stripe", "replay": "1"})
    ]
