"""The local Cloud Scheduler: runs topology.json `scheduler.jobs` on their schedules against the local
functions, with the request terraform/modules/scheduler builds in the cloud, so reconciliation, the
safety-net sweeps and the payments janitor run on the local stack as they do there.

    python -m emulators.scheduler serve [--port P] [--state FILE] [--paused] [--start-at RFC3339]
    python -m emulators.scheduler run JOB [--schedule-time RFC3339] [--no-wait]   force a run now
    python -m emulators.scheduler status                                          every job, as JSON

`emulators/ctl.py` starts `serve` as the service "scheduler" once the functions are healthy (`make up`:
live; `ctl run --fresh`, i.e. tests, benches and chaos: paused, as Terraform's `paused` variable of the
module pauses every job; tests force the runs they need). Nothing is simulated beyond the job contract:

- request: `POST <function URL><path>` with body `jsonencode(body)` (Terraform's encoding: sorted keys,
  no spaces), the job's `headers` (`Content-Type: application/json`) and the headers Cloud Scheduler
  adds to every HTTP target: `User-Agent: Google-Cloud-Scheduler`, `X-CloudScheduler: true`,
  `X-CloudScheduler-JobName`, `X-CloudScheduler-ScheduleTime` (the schedule time, RFC 3339 UTC "Zulu";
  the reconciliation function reconciles the UTC day before it). Source: the v1 HttpTarget `headers`
  reference (cloud.google.com/java/docs/reference/google-cloud-scheduler/latest/
  com.google.cloud.scheduler.v1.HttpTargetOrBuilder, "containsHeaders").
- OIDC: the audience is computed as Terraform does (the function URL without the path) and shown in the
  state, `make status` and every log line, but no token is sent: the local stack has no token issuer,
  the Tasks and Pub/Sub emulators send none either, and shared/auth.py is off locally.
- schedule: unix-cron evaluated on the job's `time_zone` wall clock (croniter + zoneinfo), like Cloud
  Scheduler ("runs on wall clock time": a time the DST change repeats fires twice, one it skips fires at
  the first minute after the gap; cloud.google.com/scheduler/docs/configuring/cron-job-schedules says to
  expect anomalies there and to use UTC, which every job of ours does). Missed times are not caught up.
- retries (RetryConfig): a non-2xx answer, no answer or `attempt_deadline` exceeded is a failed attempt,
  retried `retry_count` times with backoff from min 60 s doubling (max_doublings 5, then linear) up to
  max 600 s (Terraform's retry_config), never past the job's next scheduled time; one execution of a job
  at a time (a fire time reached while it still runs is skipped, as retries "might skip" the next run).
  LEDGERLINE_SCHEDULER_BACKOFF_SCALE (local) compresses the backoff for tests.

State (per job: last run and its HTTP status, last schedule time, attempts, next run) is kept in a JSON
file under the run directory (<run dir>/scheduler/state.json), which `make status` reads; an admin API
on SCHEDULER_PORT (loopback) serves it and forces runs: `GET /healthz`, `GET /jobs`,
`POST /jobs/<name>:run {"schedule_time"?, "wait"?}` (gcloud's `scheduler jobs run`; a paused job can be
forced, a local convenience). Logs are structured JSON lines (shared/logs.py) on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from croniter import croniter

from emulators import ctl
from shared import logs
from shared.config import Settings, settings
from shared.topology import topology

log = logging.getLogger("ledgerline.scheduler")

# terraform/modules/scheduler/main.tf, http_target and retry_config (tests/unit/test_scheduler.py reads the
# HCL and holds these equal to it).
HTTP_METHOD = "POST"
JOB_HEADERS = {"Content-Type": "application/json"}
MIN_BACKOFF_S = 60.0
MAX_BACKOFF_S = 600.0
MAX_DOUBLINGS = 5  # the RetryConfig default; Terraform does not set it
USER_AGENT = "Google-Cloud-Scheduler"
PREVIEW_CHARS = 300  # of a function's answer kept in the state (never logged)


@dataclass(frozen=True)
class Job:
    """One topology.json `scheduler.jobs` entry."""

    name: str
    target: str
    path: str
    schedule: str
    time_zone: str
    attempt_deadline_s: float
    retry_count: int
    body: dict

    @classmethod
    def from_topology(cls, spec: dict) -> Job:
        return cls(
            name=spec["name"],
            target=spec["target"],
            path=spec["path"],
            schedule=spec["schedule"],
            time_zone=spec["time_zone"],
            attempt_deadline_s=float(spec["attempt_deadline"].removesuffix("s")),
            retry_count=int(spec["retry_count"]),
            body=spec["body"],
        )


def jobs() -> list[Job]:
    """The jobs of topology.json (shared.topology: the file Terraform's jsondecode reads too)."""
    return [Job.from_topology(spec) for spec in topology()["scheduler"]["jobs"]]


def next_fire(job: Job, after: datetime) -> datetime:
    """The first schedule time strictly after `after`, in UTC, evaluated on the job's time zone."""
    local = after.astimezone(ZoneInfo(job.time_zone))
    return croniter(job.schedule, local).get_next(datetime).astimezone(UTC)


def rfc3339(at: datetime) -> str:
    """RFC 3339 UTC "Zulu", as X-CloudScheduler-ScheduleTime carries it."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    audience: str  # the OIDC token's audience in the cloud; locally no token is sent (module docstring)


def build_request(job: Job, function_urls: dict[str, str], schedule_time: datetime) -> Request:
    """The HTTP request of one attempt, derived from topology as terraform/modules/scheduler does:
    uri = function_urls[target] + path, body = jsonencode(body), audience = function_urls[target]."""
    base = function_urls[job.target]
    return Request(
        method=HTTP_METHOD,
        url=f"{base}{job.path}",
        headers={
            **JOB_HEADERS,
            "User-Agent": USER_AGENT,
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": job.name,
            "X-CloudScheduler-ScheduleTime": rfc3339(schedule_time),
        },
        # Terraform's jsonencode: keys sorted, no whitespace (it also escapes <, >, &; no body of ours has them).
        body=json.dumps(job.body, sort_keys=True, separators=(",", ":")).encode(),
        audience=base,
    )


def backoff_s(retry: int, scale: float = 1.0) -> float:
    """Wait before retry number `retry` (1 = the first retry): RetryConfig's min_backoff doubled
    max_doublings times, then growing linearly by that last interval, capped at max_backoff."""
    k = retry - 1
    delay = MIN_BACKOFF_S * 2**k if k <= MAX_DOUBLINGS else MIN_BACKOFF_S * 2**MAX_DOUBLINGS * (k - MAX_DOUBLINGS + 1)
    return min(delay, MAX_BACKOFF_S) * scale


@dataclass
class Attempt:
    started: str
    status: int | None  # None: no answer (connection refused, attempt deadline exceeded)
    error: str | None
    duration_ms: int
    preview: str = ""  # the start of the function's answer

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(request: Request, timeout_s: float) -> Attempt:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        answer = requests.request(
            request.method, request.url, data=request.body, headers=request.headers, timeout=(5.0, timeout_s)
        )
        status, error, preview = answer.status_code, None, answer.text[:PREVIEW_CHARS]
    except requests.Timeout:
        status, error, preview = None, f"attempt deadline ({timeout_s:g}s) exceeded", ""
    except requests.RequestException as exc:
        status, error, preview = None, type(exc).__name__, ""
    return Attempt(rfc3339(started), status, error, int((time.monotonic() - t0) * 1000), preview)


def execute(
    job: Job,
    request: Request,
    *,
    send: Callable[[Request, float], Attempt] = send,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime],
    until: datetime | None,
    scale: float = 1.0,
) -> list[Attempt]:
    """One execution: the first attempt, then up to retry_count retries with backoff while they fail,
    none starting at or after `until` (the job's next schedule time)."""
    attempts = [send(request, job.attempt_deadline_s)]
    while not attempts[-1].ok and len(attempts) <= job.retry_count:
        delay = backoff_s(len(attempts), scale)
        if until is not None and now() + timedelta(seconds=delay) >= until:
            break
        sleep(delay)
        attempts.append(send(request, job.attempt_deadline_s))
    return attempts


class Clock:
    """Wall clock, optionally shifted (`--start-at`: tests start just before a minute boundary)."""

    def __init__(self, start_at: datetime | None = None):
        self.offset = (start_at - datetime.now(UTC)) if start_at else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Scheduler:
    """The jobs, their state and the loop that fires them; one thread per running execution."""

    def __init__(self, cfg: Settings, state_file: Path, paused: bool, clock: Clock, scale: float):
        self.cfg, self.state_file, self.paused, self.clock, self.scale = cfg, state_file, paused, clock, scale
        self.jobs = {job.name: job for job in jobs()}
        self.lock = threading.Lock()  # the state
        self.save_lock = threading.Lock()  # the state file (executions finish on their own threads)
        now = clock.now()
        self.state: dict[str, dict] = {
            name: {
                "name": name,
                "schedule": job.schedule,
                "time_zone": job.time_zone,
                "target": job.target,
                "url": f"{cfg.function_urls[job.target]}{job.path}",
                "audience": cfg.function_urls[job.target],
                "retry_count": job.retry_count,
                "attempt_deadline_s": job.attempt_deadline_s,
                "next_run": rfc3339(next_fire(job, now)),
                "running": False,
                "executions": 0,
                "last_run": None,
                "last_status": None,
                "last_error": None,
                "last_schedule_time": None,
                "last_attempts": 0,
                "last_forced": None,
                "last_response": None,
            }
            for name, job in self.jobs.items()
        }
        self._save()

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "paused": self.paused,
                "now": rfc3339(self.clock.now()),
                "pid": os.getpid(),
                "jobs": [dict(s) for s in self.state.values()],
            }

    def _save(self) -> None:
        with self.save_lock:
            data = json.dumps(self.snapshot(), indent=1)
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(data)
            tmp.replace(self.state_file)  # atomic: `make status` never reads half a file

    def start(self, name: str, schedule_time: datetime, forced: bool) -> threading.Thread | None:
        """Begin one execution of job `name` in its own thread; None if one is still running."""
        with self.lock:
            entry = self.state[name]
            if entry["running"]:
                return None
            entry["running"] = True
        thread = threading.Thread(target=self._execute, args=(name, schedule_time, forced), daemon=True)
        thread.start()
        return thread

    def _execute(self, name: str, schedule_time: datetime, forced: bool) -> None:
        job = self.jobs[name]
        request = build_request(job, self.cfg.function_urls, schedule_time)
        until = None if forced else next_fire(job, schedule_time)
        meta = {"job": name, "target": job.target, "url": request.url, "audience": request.audience}
        meta |= {"schedule_time": rfc3339(schedule_time), "forced": forced}

        def logged(req: Request, timeout_s: float) -> Attempt:
            started = self.clock.now()
            attempt = send(req, timeout_s)
            attempt.started = rfc3339(started)  # on the scheduler's clock, as next_run is
            level = logging.INFO if attempt.ok else logging.WARNING
            extra = {k: v for k, v in asdict(attempt).items() if k != "preview"}
            log.log(level, "scheduler job attempt", extra={**meta, **extra})
            return attempt

        attempts: list[Attempt] = []
        try:
            attempts = execute(job, request, send=logged, now=self.clock.now, until=until, scale=self.scale)
        finally:
            last = attempts[-1] if attempts else None
            with self.lock:
                entry = self.state[name]
                entry.update(
                    running=False,
                    executions=entry["executions"] + 1,
                    last_run=attempts[0].started if attempts else None,
                    last_status=last.status if last else None,
                    last_error=last.error if last else "the execution raised",
                    last_schedule_time=rfc3339(schedule_time),
                    last_attempts=len(attempts),
                    last_forced=forced,
                    last_response=last.preview if last else None,
                )
            self._save()
        ok = bool(last and last.ok)
        extra = {**meta, "attempts": len(attempts), "status": last.status if last else None}
        log.log(logging.INFO if ok else logging.ERROR, f"scheduler job {'succeeded' if ok else 'failed'}", extra=extra)

    def loop(self, stop: threading.Event) -> None:
        """Fire every due job (unless paused) and advance its next run; wake at the soonest next run,
        at least once a second (the clock is the wall clock: a suspended laptop catches up at once)."""
        while not stop.is_set():
            now = self.clock.now()
            fired = []
            with self.lock:
                for name, entry in self.state.items():
                    at = datetime.fromisoformat(entry["next_run"])
                    if at <= now:  # missed times are not caught up: one fire, then the next from now
                        entry["next_run"] = rfc3339(next_fire(self.jobs[name], now))
                        fired.append((name, at))
                soonest = min(datetime.fromisoformat(e["next_run"]) for e in self.state.values())
            for name, at in fired:
                if not self.paused and self.start(name, at, forced=False) is None:
                    log.warning("scheduler job skipped: its previous execution still runs", extra={"job": name})
            if fired:
                self._save()
            stop.wait(max(0.05, min(1.0, (soonest - self.clock.now()).total_seconds())))


def _handler(scheduler: Scheduler):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                return self._answer(200, {"status": "ok", "paused": scheduler.paused})
            if self.path == "/jobs":
                return self._answer(200, scheduler.snapshot())
            return self._answer(404, {"error": {"code": "not_found", "message": "GET /healthz or /jobs"}})

        def do_POST(self):
            name = self.path.removeprefix("/jobs/").removesuffix(":run")
            if not (self.path.startswith("/jobs/") and self.path.endswith(":run")):
                return self._answer(404, {"error": {"code": "not_found", "message": "POST /jobs/<name>:run"}})
            if name not in scheduler.jobs:
                return self._answer(404, {"error": {"code": "unknown_job", "message": f"no job {name!r}"}})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                at = body.get("schedule_time")
                schedule_time = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else scheduler.clock.now()
            except (ValueError, AttributeError):
                return self._answer(400, {"error": {"code": "invalid_request", "message": "schedule_time: RFC 3339"}})
            thread = scheduler.start(name, schedule_time.replace(microsecond=0), forced=True)
            if thread is None:
                return self._answer(409, {"error": {"code": "running", "message": f"{name} is running"}})
            if not body.get("wait", True):
                return self._answer(202, {"job": name, "schedule_time": rfc3339(schedule_time)})
            thread.join()
            return self._answer(200, next(s for s in scheduler.snapshot()["jobs"] if s["name"] == name))

        def log_message(self, format, *args):  # the admin API's access log: the JSON lines above suffice
            pass

    return Handler


def serve(port: int, state_file: Path, paused: bool, start_at: datetime | None) -> None:
    cfg = settings()
    logs.configure(cfg.project)
    scheduler = Scheduler(cfg, state_file, paused, Clock(start_at), cfg.scheduler_backoff_scale)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(scheduler))
    stop = threading.Event()
    threading.Thread(target=scheduler.loop, args=(stop,), daemon=True).start()
    log.info(
        "scheduler started",
        extra={"port": port, "paused": paused, "jobs": len(scheduler.jobs), "now": rfc3339(scheduler.clock.now())},
    )
    try:
        server.serve_forever()
    finally:
        stop.set()


def _admin(cfg: Settings) -> str:
    return f"http://127.0.0.1:{cfg.port('scheduler')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.scheduler", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve")
    p_serve.add_argument("--port", type=int, default=None, help="admin API port (default SCHEDULER_PORT)")
    p_serve.add_argument("--state", type=Path, default=None, help="state file (default <run dir>/scheduler/state.json)")
    p_serve.add_argument("--paused", action="store_true", default=None, help="fire nothing on schedule")
    p_serve.add_argument("--start-at", default=None, help="RFC 3339: the scheduler's clock starts there")
    p_run = sub.add_parser("run")
    p_run.add_argument("job")
    p_run.add_argument("--schedule-time", default=None, help="RFC 3339 (default: now)")
    p_run.add_argument("--no-wait", action="store_true")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    cfg = settings()
    if args.command == "serve":
        start_at = datetime.fromisoformat(args.start_at.replace("Z", "+00:00")) if args.start_at else None
        paused = cfg.scheduler_paused if args.paused is None else args.paused
        serve(args.port or cfg.port("scheduler"), args.state or ctl.scheduler_state(cfg), paused, start_at)
        return 0
    if args.command == "run":
        body = {"wait": not args.no_wait, **({"schedule_time": args.schedule_time} if args.schedule_time else {})}
        answer = requests.post(f"{_admin(cfg)}/jobs/{args.job}:run", json=body, timeout=3600)
        result = answer.json()
        print(json.dumps(result, indent=2))
        ok = answer.status_code == 202 or (answer.status_code == 200 and 200 <= (result["last_status"] or 0) < 300)
        return 0 if ok else 1
    try:  # the running scheduler's view, else what the last one left in the state file
        state = requests.get(f"{_admin(cfg)}/jobs", timeout=5).json()
    except requests.RequestException:
        state = ctl.scheduler_jobs(cfg)
    print(json.dumps(state, indent=2))
    return 0 if state else 3


if __name__ == "__main__":
    sys.exit(main())
