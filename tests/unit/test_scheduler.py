"""The local Cloud Scheduler (emulators/scheduler.py): next-run computation (time zones, DST), the request
it builds (the same URL, body, headers and OIDC audience as terraform/modules/scheduler from the same
topology), and Cloud Scheduler's retry/backoff policy."""

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from emulators import ctl
from emulators import scheduler as sched
from shared.config import settings_from
from shared.topology import topology
from tests.terraform.hcl import MODULES, module_call, parse

T = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)
URLS = settings_from({"LEDGERLINE_ENV": "local"}).function_urls


def job(schedule="* * * * *", tz="Etc/UTC", retry_count=0, **kw) -> sched.Job:
    spec = {"name": "probe", "target": "retries", "path": "/tasks", "schedule": schedule, "time_zone": tz}
    spec |= {"attempt_deadline": "60s", "retry_count": retry_count, "body": {"kind": "stream-pending", "key": "x"}}
    return sched.Job.from_topology({**spec, **kw})


# ----------------------------------------------------------------------------- schedules


def test_every_topology_job_parses_and_fires_in_the_future():
    jobs = sched.jobs()
    assert {j.name for j in jobs} == {spec["name"] for spec in topology()["scheduler"]["jobs"]}
    for j in jobs:
        at = sched.next_fire(j, T)
        assert at > T and at - T <= timedelta(days=1) and at.tzinfo is not None
        assert 15 <= j.attempt_deadline_s <= 1800  # Cloud Scheduler's range for HTTP targets
        assert 0 <= j.retry_count <= 5


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("* * * * *", "2026-12-02T10:01:00Z"),
        ("*/5 * * * *", "2026-12-02T10:05:00Z"),
        ("0 4 * * *", "2026-12-03T04:00:00Z"),
        ("30 3 * * *", "2026-12-03T03:30:00Z"),
    ],
)
def test_next_fire_in_utc(schedule, expected):
    assert sched.rfc3339(sched.next_fire(job(schedule), T)) == expected


def test_a_boundary_instant_fires_at_the_next_one():
    on_the_minute = datetime(2026, 12, 2, 10, 1, tzinfo=UTC)
    assert sched.next_fire(job(), on_the_minute) == on_the_minute + timedelta(minutes=1)


def test_the_time_zone_is_the_wall_clock_of_the_job():
    nine_in_new_york = job("0 9 * * *", "America/New_York")
    winter = sched.next_fire(nine_in_new_york, datetime(2026, 1, 15, tzinfo=UTC))
    summer = sched.next_fire(nine_in_new_york, datetime(2026, 7, 15, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (14, 13)  # EST UTC-5, EDT UTC-4
    assert winter.astimezone(ZoneInfo("America/New_York")).hour == 9


def test_dst_gap_and_repeat_follow_the_wall_clock():
    """Cloud Scheduler runs on wall clock time and warns of anomalies around DST changes: 02:30 Berlin
    does not exist on 2026-03-29 (fired at 03:00 CEST, the end of the gap) and happens twice on 2026-10-25."""
    berlin = job("30 2 * * *", "Europe/Berlin")
    spring = sched.next_fire(berlin, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert sched.rfc3339(spring) == "2026-03-29T01:00:00Z"
    assert sched.rfc3339(sched.next_fire(berlin, spring)) == "2026-03-30T00:30:00Z"  # CEST from then on
    first = sched.next_fire(berlin, datetime(2026, 10, 24, 12, tzinfo=UTC))
    second = sched.next_fire(berlin, first)
    assert [sched.rfc3339(t) for t in (first, second)] == ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]


def test_schedule_time_header_format():
    assert sched.rfc3339(datetime(2026, 12, 2, 4, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == "2026-12-02T03:00:00Z"


# ----------------------------------------------------------------------------- request vs Terraform


def terraform_job() -> dict:
    return parse(MODULES / "scheduler" / "main.tf")["resource"][0]["google_cloud_scheduler_job"]["this"]


def test_terraform_builds_the_job_from_the_same_fields_the_local_scheduler_reads():
    tf = terraform_job()
    target = tf["http_target"][0]
    assert target["http_method"] == sched.HTTP_METHOD
    assert target["uri"] == "${var.function_urls[each.value.target]}${each.value.path}"
    assert target["body"] == "${base64encode(jsonencode(each.value.body))}"
    assert target["headers"] == sched.JOB_HEADERS
    assert target["oidc_token"][0]["audience"] == "${var.function_urls[each.value.target]}"  # no path
    assert (tf["schedule"], tf["time_zone"]) == ("${each.value.schedule}", "${each.value.time_zone}")
    assert tf["attempt_deadline"] == "${each.value.attempt_deadline}"
    retry = tf["retry_config"][0]
    assert retry["retry_count"] == "${each.value.retry_count}"
    assert (retry["min_backoff_duration"], retry["max_backoff_duration"]) == (
        f"{sched.MIN_BACKOFF_S:g}s",
        f"{sched.MAX_BACKOFF_S:g}s",
    )
    assert "max_doublings" not in retry  # the API default, which MAX_DOUBLINGS mirrors
    assert tf["paused"] == "${var.paused}"
    call = module_call("scheduler")
    assert call["jobs"] == "${local.topology.scheduler.jobs}"  # the file shared.topology reads
    assert call["function_urls"] == "${local.function_urls}"  # base URL per function, like Settings'


@pytest.mark.parametrize("spec", topology()["scheduler"]["jobs"], ids=lambda s: s["name"])
def test_each_jobs_request_is_what_terraform_sends(spec):
    j = sched.Job.from_topology(spec)
    request = sched.build_request(j, URLS, datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    assert request.method == "POST"
    assert request.url == URLS[spec["target"]] + spec["path"]
    assert request.audience == URLS[spec["target"]]
    # jsonencode: keys sorted, no whitespace
    assert request.body == json.dumps(spec["body"], sort_keys=True, separators=(",", ":")).encode()
    assert json.loads(request.body) == spec["body"]
    assert request.headers == {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": spec["name"],
        "X-CloudScheduler-ScheduleTime": "2026-12-02T04:00:00Z",
    }
    assert "Authorization" not in request.headers  # no token issuer locally (module docstring)


# ----------------------------------------------------------------------------- retries


def test_backoff_doubles_from_min_to_max():
    assert [sched.backoff_s(n) for n in range(1, 8)] == [60, 120, 240, 480, 600, 600, 600]
    assert sched.backoff_s(2, scale=0.01) == pytest.approx(1.2)


def test_backoff_after_max_doublings_grows_linearly(monkeypatch):
    # RetryConfig's own example: min 10 s, max 300 s, max_doublings 3 -> 10, 20, 40, 80, 160, 240, 300, 300
    monkeypatch.setattr(sched, "MIN_BACKOFF_S", 10.0)
    monkeypatch.setattr(sched, "MAX_BACKOFF_S", 300.0)
    monkeypatch.setattr(sched, "MAX_DOUBLINGS", 3)
    assert [sched.backoff_s(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]


class Fake:
    def __init__(self, statuses):
        self.statuses, self.sent, self.slept = list(statuses), [], []
        self.t = T

    def send(self, request, timeout_s):
        self.sent.append(timeout_s)
        status = self.statuses.pop(0)
        return sched.Attempt(sched.rfc3339(self.t), status, None if status else "timeout", 1)

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)

    def run(self, j, until=None, scale=1.0):
        request = sched.build_request(j, URLS, T)
        return sched.execute(j, request, send=self.send, sleep=self.sleep, now=lambda: self.t, until=until, scale=scale)


def test_a_failing_job_is_retried_retry_count_times_with_backoff():
    fake = Fake([500, None, 503, 502])
    attempts = fake.run(job(retry_count=3))
    assert [a.status for a in attempts] == [500, None, 503, 502]
    assert fake.slept == [60, 120, 240]
    assert fake.sent == [60.0] * 4  # each attempt bounded by attempt_deadline


def test_success_ends_the_execution_and_zero_retries_means_one_attempt():
    fake = Fake([500, 204])
    assert [a.status for a in fake.run(job(retry_count=3))] == [500, 204]
    fake = Fake([500])
    assert [a.status for a in fake.run(job(retry_count=0))] == [500] and fake.slept == []


def test_retries_stop_at_the_next_schedule_time():
    fake = Fake([500, 500, 500, 500])
    attempts = fake.run(job(retry_count=3), until=T + timedelta(seconds=150))
    assert len(attempts) == 2 and fake.slept == [60]  # 60 s + the 120 s wait would pass the next run


def test_the_backoff_scale_compresses_waits():
    fake = Fake([500, 500])
    fake.run(job(retry_count=1), scale=0.01)
    assert fake.slept == [pytest.approx(0.6)]


# ----------------------------------------------------------------------------- state and ctl


def test_an_execution_records_last_and_next_run(tmp_path, monkeypatch):
    sent = []

    def fake_send(request, timeout_s):
        sent.append(request)
        return sched.Attempt("ignored", 200, None, 3, '{"status": "done"}')

    monkeypatch.setattr(sched, "send", fake_send)
    cfg = settings_from({"LEDGERLINE_ENV": "local"})
    clock = sched.Clock(T)
    s = sched.Scheduler(cfg, tmp_path / "state.json", paused=True, clock=clock, scale=1.0)
    thread = s.start("expire-holds", datetime(2026, 12, 2, 10, 0, tzinfo=UTC), forced=True)
    thread.join()
    state = json.loads((tmp_path / "state.json").read_text())
    entry = next(e for e in state["jobs"] if e["name"] == "expire-holds")
    assert state["paused"] is True
    assert entry["last_status"] == 200 and entry["last_attempts"] == 1 and entry["executions"] == 1
    assert entry["last_schedule_time"] == "2026-12-02T10:00:00Z"
    assert entry["last_run"].startswith("2026-12-02T10:00:3")  # on the scheduler's clock
    assert entry["next_run"] == "2026-12-02T10:05:00Z"
    assert entry["audience"] == cfg.function_urls["retries"] and entry["url"] == cfg.function_urls["retries"] + "/tasks"
    assert sent[0].headers["X-CloudScheduler-JobName"] == "expire-holds"


def test_fresh_stacks_pause_the_scheduler_unless_asked_for_live():
    assert ctl.isolated_environ({})["LEDGERLINE_SCHEDULER_PAUSED"] == "true"
    assert ctl.isolated_environ({"LEDGERLINE_SCHEDULER_PAUSED": "false"})["LEDGERLINE_SCHEDULER_PAUSED"] == "false"
    assert settings_from({"LEDGERLINE_ENV": "local"}).scheduler_paused is False  # make up: live


def test_ctl_starts_the_scheduler_last_on_its_own_port(tmp_path):
    cfg = replace(settings_from({"LEDGERLINE_ENV": "local"}), run_dir=tmp_path)
    services = ctl.services(cfg)
    last = services[-1]
    assert last.name == "scheduler" and last.group == "scheduler"
    assert last.health == f"ok:http://127.0.0.1:{cfg.port('scheduler')}/healthz"
    assert str(ctl.scheduler_state(cfg)) in last.argv and "--paused" not in last.argv
    paused = ctl.services(replace(cfg, scheduler_paused=True))[-1]
    assert "--paused" in paused.argv


@pytest.mark.parametrize("paused", [False, True])
def test_the_loop_fires_due_jobs_unless_paused_and_advances_next_run(tmp_path, monkeypatch, paused):
    sent = []

    def fake_send(request, timeout_s):
        sent.append(request)
        return sched.Attempt("", 200, None, 1)

    monkeypatch.setattr(sched, "send", fake_send)
    cfg = settings_from({"LEDGERLINE_ENV": "local"})
    boundary = datetime(2026, 12, 2, 10, 1, tzinfo=UTC)  # not a multiple of 5 minutes: every-minute jobs only
    s = sched.Scheduler(cfg, tmp_path / "state.json", paused, sched.Clock(boundary - timedelta(seconds=0.3)), 1.0)
    stop = threading.Event()
    loop = threading.Thread(target=s.loop, args=(stop,))
    loop.start()
    try:
        time.sleep(1.0)
    finally:
        stop.set()
        loop.join()
    every_minute = {j["name"] for j in topology()["scheduler"]["jobs"] if j["schedule"] == "* * * * *"}
    if paused:
        assert sent == []
    else:
        assert sorted(r.headers["X-CloudScheduler-JobName"] for r in sent) == sorted(every_minute)
        assert {r.headers["X-CloudScheduler-ScheduleTime"] for r in sent} == {"2026-12-02T10:01:00Z"}
    state = {j["name"]: j for j in json.loads((tmp_path / "state.json").read_text())["jobs"]}
    assert {state[n]["next_run"] for n in every_minute} == {"2026-12-02T10:02:00Z"}
    assert state["expire-holds"]["next_run"] == "2026-12-02T10:05:00Z"
