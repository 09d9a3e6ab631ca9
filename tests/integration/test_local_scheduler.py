"""The local Cloud Scheduler (emulators/scheduler.py) on the real stack: the stack's own scheduler (paused
on a test stack) forced to run topology jobs against the real functions, its state and `ctl status`; a
scheduler of the test's own with compressed backoff for the retries; and a live one whose clock starts
just before a minute boundary, so an every-minute job fires on its own within seconds, seen on the wire
by a recording proxy in front of the real retries function."""

import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from emulators import ctl
from emulators import scheduler as sched
from shared.config import REPO_ROOT
from shared.topology import topology

from .conftest import wait_for
from .test_reconciliation import HEADER, report_row


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def admin(cfg):
    url = f"http://127.0.0.1:{cfg.port('scheduler')}"
    requests.get(f"{url}/healthz", timeout=5).raise_for_status()
    return url


def force(admin: str, name: str, schedule_time: str | None = None, timeout: float = 120) -> dict:
    body = {"schedule_time": schedule_time} if schedule_time else {}
    answer = requests.post(f"{admin}/jobs/{name}:run", json=body, timeout=timeout)
    assert answer.status_code == 200, answer.text
    return answer.json()


class OwnScheduler:
    """`python -m emulators.scheduler serve` started by the test (own port, state file and log)."""

    def __init__(self, tmp_path, *args: str, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = tmp_path / "state.json"
        self.log = tmp_path / "scheduler.log"
        argv = [sys.executable, "-m", "emulators.scheduler", "serve", "--port", str(self.port)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*argv, "--state", str(self.state), *args],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._up, timeout=20, what="the test's scheduler to answer")

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_the_test_stacks_scheduler_is_paused_and_shows_every_job(cfg, admin):
    state = requests.get(f"{admin}/jobs", timeout=5).json()
    assert state["paused"] is cfg.scheduler_paused is True  # ctl run --fresh: nothing fires on its own
    names = [spec["name"] for spec in topology()["scheduler"]["jobs"]]
    assert [j["name"] for j in state["jobs"]] == names
    now = _parse(state["now"])
    for entry, job in zip(state["jobs"], sched.jobs(), strict=True):
        # the next run croniter gives (the loop may just have advanced it past a boundary)
        expected = {sched.next_fire(job, now - timedelta(seconds=2)), sched.next_fire(job, now)}
        assert _parse(entry["next_run"]) in expected
        assert entry["url"] == cfg.function_urls[job.target] + job.path
        assert entry["audience"] == cfg.function_urls[job.target]  # Terraform's OIDC audience
    assert [j["name"] for j in ctl.scheduler_jobs(cfg)["jobs"]] == names  # the state file `make status` reads


def test_a_forced_sweep_reaches_the_retries_function_and_status_shows_it(cfg, admin):
    done = subprocess.run(
        [sys.executable, "-m", "emulators.scheduler", "run", "stream-pending-sweep"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entry = json.loads(done.stdout)
    assert entry["last_status"] == 200 and entry["last_attempts"] == 1 and entry["last_forced"] is True
    assert json.loads(entry["last_response"])["status"] == "done"  # run_task's outcome of the topology body
    assert _parse(entry["last_run"]) - _parse(entry["last_schedule_time"]) < timedelta(seconds=5)
    # the function logged the task of the job's body (kind, key) as done
    retries_log = (cfg.run_dir / "logs" / "retries.log").read_text().splitlines()
    assert any('"task_kind": "stream-pending"' in line and '"key": "scheduler"' in line for line in retries_log)
    status = subprocess.run(
        [sys.executable, "-m", "emulators.ctl", "status"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    line = next(row for row in status.stdout.splitlines() if row.strip().startswith("stream-pending-sweep"))
    assert f"last {entry['last_run']} 200 (1 attempt)" in line and f"next {entry['next_run']}" in line
    assert "scheduler jobs (paused" in status.stdout


def test_reconciliation_through_the_scheduler_runs_the_day_before_the_schedule_time(cfg, admin):
    """No date in the topology body: the function reconciles the UTC day before X-CloudScheduler-ScheduleTime."""
    from shared.adapters import gcs_reports

    day = date(1997, 1, 1) + timedelta(days=random.randrange(365))  # a day of its own
    reports = gcs_reports.reports(cfg)
    good = HEADER + "\n" + report_row(1, f"pi_sched_{day:%m%d}", 4_200, day.isoformat()) + "\n"
    reports.put("stripe", day, "report", "export.csv", good.encode())
    schedule_time = f"{day + timedelta(days=1)}T04:00:00Z"  # what Cloud Scheduler sends for 0 4 * * *
    entry = force(admin, "reconcile-stripe", schedule_time)
    assert entry["last_status"] == 200, entry
    assert entry["last_schedule_time"] == schedule_time and entry["last_attempts"] == 1
    written = [b.name for b in reports.bucket.list_blobs(prefix=f"reports/stripe/{day}/") if b.name.endswith(".md")]
    assert len(written) == 1, written  # the run report of that day: partner and day came through


def test_a_failing_job_is_retried_retry_count_times_with_backoff(cfg, tmp_path):
    """reconcile-adyen (retry_count 3) on a day without a report: 404 on each attempt, retried with the
    backoff 60 s, 120 s, 240 s compressed 100x by LEDGERLINE_SCHEDULER_BACKOFF_SCALE."""
    own = OwnScheduler(tmp_path, "--paused", env={"LEDGERLINE_SCHEDULER_BACKOFF_SCALE": "0.01"})
    try:
        started = time.monotonic()
        entry = force(own.url, "reconcile-adyen", "1996-02-02T04:15:00Z")
        elapsed = time.monotonic() - started
    finally:
        own.stop()
    assert entry["last_status"] == 404 and entry["last_attempts"] == 4, entry
    assert json.loads(entry["last_response"])["error"]["code"] == "report_missing"
    assert 4.2 <= elapsed < 30
    attempts = [line for line in own.lines() if line["message"] == "scheduler job attempt"]
    assert [a["status"] for a in attempts] == [404] * 4 and {a["severity"] for a in attempts} == {"WARNING"}
    assert all(a["audience"] == cfg.function_urls["reconciliation"] for a in attempts)
    gaps = [(_parse(b["time"]) - _parse(a["time"])).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert [round(g, 1) for g in gaps] == pytest.approx([0.6, 1.2, 2.4], abs=0.3)


class Recorder:
    """A recording proxy: keeps what arrives (method, path, headers, body) and forwards it to `upstream`."""

    def __init__(self, upstream: str):
        self.received: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.received.append(
                    {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body}
                )
                answer = requests.post(upstream + self.path, data=body, headers=dict(self.headers), timeout=60)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_live_scheduler_fires_an_every_minute_job_on_its_own(cfg, tmp_path):
    """A topology of one every-minute job; the scheduler's clock starts 1.5 s before a minute boundary,
    so it fires on its own at once, with the headers Cloud Scheduler sends, to the real retries function
    (its URL pointed at the recording proxy in front of it)."""
    job = {"name": "live-probe", "target": "retries", "path": "/tasks", "schedule": "* * * * *"}
    job |= {"time_zone": "Etc/UTC", "attempt_deadline": "60s", "retry_count": 0}
    job["body"] = {"kind": "stream-pending", "key": "scheduler"}
    topo = tmp_path / "topology"
    topo.mkdir()
    (topo / "topology.json").write_text(json.dumps({"scheduler": {"jobs": [job]}}))
    recorder = Recorder(cfg.function_urls["retries"])
    boundary = (datetime.now(UTC) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    start_at = boundary - timedelta(seconds=1.5)
    own = OwnScheduler(
        tmp_path,
        "--start-at",
        start_at.isoformat(),
        env={"LEDGERLINE_TOPOLOGY_DIR": str(topo), "RETRIES_URL": recorder.url, "LEDGERLINE_SCHEDULER_PAUSED": "false"},
    )
    try:
        wait_for(lambda: recorder.received, timeout=15, what="the live scheduler to fire live-probe")
        entry = wait_for(
            lambda: next((j for j in json.loads(own.state.read_text())["jobs"] if j["last_run"]), None),
            timeout=15,
            what="the state file to record the run",
        )
    finally:
        own.stop()
        recorder.server.shutdown()
    got = recorder.received[0]
    assert (got["method"], got["path"]) == ("POST", "/tasks")
    assert got["body"] == b'{"key":"scheduler","kind":"stream-pending"}'  # jsonencode(body)
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Google-Cloud-Scheduler"
    assert headers["x-cloudscheduler"] == "true"
    assert headers["x-cloudscheduler-jobname"] == "live-probe"
    assert headers["x-cloudscheduler-scheduletime"] == sched.rfc3339(boundary)
    assert "authorization" not in headers
    assert entry["last_status"] == 200 and entry["last_forced"] is False
    assert entry["last_schedule_time"] == sched.rfc3339(boundary)
    assert entry["next_run"] == sched.rfc3339(boundary + timedelta(minutes=1))
    assert entry["audience"] == recorder.url  # the function URL, without the path
