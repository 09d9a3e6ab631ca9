"""Trace context across hops (shared.logs): which trace a request adopts, the traceparent its
outgoing tasks carry and the attribute its Pub/Sub messages carry (W3C Trace Context)."""

import json
import logging
import re

import pytest

from shared import logs
from shared.adapters import pubsub_bus, tasks_queue
from shared.config import settings

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(autouse=True)
def no_trace():
    logs.set_trace(None)
    yield
    logs.set_trace(None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f"00-{TRACE.upper()}-00F067AA0BA902B7-01", TRACE),  # hex is case-insensitive on input
        (f"01-{TRACE}-00f067aa0ba902b7-01-future-field", TRACE),  # a later version may append fields
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),  # version ff is invalid
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"00-{TRACE[:-1]}-00f067aa0ba902b7-01", None),
    ],
)
def test_traceparent_is_parsed_as_the_spec_says(value, expected):
    assert logs.trace_from_headers({"traceparent": value}) == expected


def test_a_push_attribute_wins_over_the_push_requests_own_headers():
    # the push service's request has a trace of its own; the message names its publisher's
    headers = {"traceparent": f"00-{OTHER}-00f067aa0ba902b7-01"}
    assert logs.begin("p", headers, {"trace": TRACE}) == TRACE
    assert logs.begin("p", headers, {"trace": "not-a-trace"}) == OTHER
    assert logs.begin("p", {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}) == TRACE


def test_a_request_without_trace_context_starts_a_new_trace_and_never_inherits_one():
    logs.begin("p", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    first = logs.begin("p", {})
    second = logs.begin("p", {})
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first not in (TRACE, second)


def test_traceparent_continues_the_trace_with_a_new_span_and_the_sampling_flag():
    assert logs.traceparent() is None
    logs.begin("p", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"})
    one, two = logs.traceparent(), logs.traceparent()
    assert re.fullmatch(rf"00-{TRACE}-[0-9a-f]{{16}}-00", one) and one != two
    logs.begin("p", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    assert logs.traceparent().endswith("-01")


def test_push_attributes_of_anything():
    assert logs.push_attributes({"message": {"attributes": {"trace": TRACE}}}) == {"trace": TRACE}
    for body in (None, [], {"message": "x"}, {"message": {"attributes": ["x"]}}):
        assert logs.push_attributes(body) == {}


def test_log_lines_of_a_request_carry_its_trace():
    logs.begin("proj", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    record = logging.LogRecord("ledgerline.x", logging.INFO, __file__, 1, "hello", None, None)
    line = json.loads(logs.CloudLoggingFormatter("proj").format(record))
    assert line["logging.googleapis.com/trace"] == f"projects/proj/traces/{TRACE}"


class RecordingTasks:
    def __init__(self):
        self.tasks = []

    def create_task(self, parent, task):
        self.tasks.append(task)


def test_an_enqueued_task_carries_the_current_traceparent(monkeypatch):
    recording = RecordingTasks()
    monkeypatch.setattr(tasks_queue, "client", lambda cfg: recording)
    cfg = settings()
    tasks_queue.enqueue(cfg, "q", "http://x/tasks", {"kind": "k"}, task_id="a")
    assert "traceparent" not in recording.tasks[-1]["http_request"]["headers"]
    logs.begin("p", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    tasks_queue.enqueue(cfg, "q", "http://x/tasks", {"kind": "k"}, task_id="b")
    headers = recording.tasks[-1]["http_request"]["headers"]
    assert logs.trace_from_headers(headers) == TRACE and headers["Content-Type"] == "application/json"


class RecordingPublisher:
    def __init__(self):
        self.published = []

    def topic_path(self, project, topic):
        return f"projects/{project}/topics/{topic}"

    def publish(self, topic, data, **attributes):
        self.published.append(attributes)

        class Done:
            def result(self, timeout):
                return "1"

        return Done()


def test_a_published_message_carries_the_trace_unless_it_names_its_own(monkeypatch):
    recording = RecordingPublisher()
    monkeypatch.setattr(pubsub_bus, "publisher", lambda: recording)
    cfg = settings()
    pubsub_bus.publish(cfg, "t", b"{}", {"event_id": "e"})
    assert recording.published[-1] == {"event_id": "e"}
    logs.begin("p", {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    pubsub_bus.publish(cfg, "t", b"{}", {"event_id": "e"})
    assert recording.published[-1] == {"event_id": "e", "trace": TRACE}
    pubsub_bus.publish(cfg, "t", b"{}", {"event_id": "e", "trace": OTHER})  # a re-drive keeps the event's trace
    assert recording.published[-1]["trace"] == OTHER
