"""Each log-based metric's filter (terraform/modules/monitoring) run against the real log output of the
scenario that should trigger it: the code runs in-process (memory store, the functions' own code
paths), its JSON lines are captured through shared.logs' Cloud Logging formatter and wrapped as Cloud
Run writes them (resource cloud_run_revision, the function's service name, jsonPayload), and the
filter is evaluated over them. A filter that matches nothing its scenario logs — a renamed message, a
wrong field, a wrong service — fails here, where before it would only have never fired (the old
"ledger conflicts" filter matched no line the code wrote). Each filter must also match none of the
other scenarios' lines, so a metric does not count what another stands for.

The evaluator covers the subset of the Logging query language the module uses: AND-ed comparisons
`path="value"`, `path=~"regex"`, `path>=number`, and `${local.*}` / `${var.*}` substituted."""

from __future__ import annotations

import json
import logging
import operator
import re
import time
from datetime import UTC, datetime

import pytest

from shared.config import REPO_ROOT
from shared.logs import CloudLoggingFormatter
from tests.terraform.hcl import parse, resources

MODULE = REPO_ROOT / "terraform" / "modules" / "monitoring" / "main.tf"
PROJECT = "proj"
SERVICES = {"intake": "intake"}  # var.service_names: the Cloud Run service of each function
COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
TERM = re.compile(r'^\s*([A-Za-z0-9_.@\-]+)\s*(=~|>=|<=|!=|=|>|<)\s*(".*"|[0-9]+|[A-Z]+)\s*$')
# LogSeverity in its order: `severity>=ERROR` compares by rank, not by spelling
SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(CloudLoggingFormatter(PROJECT))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def expand(text: str) -> str:
    local = parse(MODULE)["locals"][0]
    for _ in range(5):
        text = re.sub(r"\$\{local\.([a-z_]+)\}", lambda m: local[m.group(1)], text)
        text = re.sub(r"\$\{var\.service_names\.([a-z_]+)\}", lambda m: SERVICES[m.group(1)], text)
        text = text.replace("${var.project_id}", PROJECT)
    assert "${" not in text, text
    return text


def lookup(entry: dict, path: str):
    value = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matches(filter_text: str, entry: dict) -> bool:
    for term in expand(filter_text).split(" AND "):
        found = TERM.match(term)
        assert found, f"the evaluator does not know {term!r}"
        path, op, raw = found.groups()
        want = json.loads(raw) if raw.startswith('"') else raw if raw.isalpha() else int(raw)
        got = lookup(entry, path)
        if got is None:
            return False
        if path == "severity":
            got, want = SEVERITIES.index(got), SEVERITIES.index(want)
        if op == "=~":
            ok = re.search(want, str(got)) is not None
        elif op in ("=", "!="):
            ok = (str(got) == str(want)) == (op == "=")
        else:
            ok = COMPARE[op](float(got), want)
        if not ok:
            return False
    return True


def cloud_run(service: str, line: str) -> dict:
    """A stdout JSON line as Cloud Logging stores it for a Cloud Run service."""
    payload = json.loads(line)
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "severity": payload.get("severity"),
        "jsonPayload": payload,
    }


def run_scenario(service: str, scenario) -> list[dict]:
    capture = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        scenario()
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)
    return [cloud_run(service, line) for line in capture.lines]


# ----------------------------------------------------------------------------- the scenarios


def dead_letter():
    from shared.adapters.memory_store import MemoryStore
    from shared.recovery.service import record_dead_letter

    now = datetime.now(tz=UTC)
    record_dead_letter(
        MemoryStore(), source="task", kind="republish", key="stripe:evt_1", now=now, payload="{}",
        reason_code="exhausted", reason="gave up", attempts=12, first_error="e", last_error="e", first_attempt_at=now,
    )  # fmt: skip


def reconciliation_break():
    from tests.unit.test_auth_and_recon_service import test_service_run_finds_planted_breaks_replays_and_closes_them

    test_service_run_finds_planted_breaks_replays_and_closes_them()


def intake_rejection():
    from functions_framework import create_app

    from shared.demo import encode, payment_intent_succeeded
    from shared.partners import stripe

    client = create_app("intake", str(REPO_ROOT / "functions" / "intake" / "main.py"), "http").test_client()
    body = encode(payment_intent_succeeded("evt_bad", "pi_bad", 100, "usd", "cus_x"))
    headers = {
        "Stripe-Signature": stripe.sign(body, "whsec_wrong", int(time.time())),
        "Content-Type": "application/json",
    }
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 401


def ledger_conflict():
    from shared.adapters.memory_store import MemoryStore
    from shared.domain.ledger.model import Leg, Operation
    from shared.ledger import transactions
    from shared.ledger.store import LedgerConflict

    store, at = MemoryStore(), datetime.now(tz=UTC)

    def op(amount: int) -> Operation:
        legs = (Leg("bank:b:operating", "debit", amount, "USD"), Leg("suspense", "credit", amount, "USD"))
        return Operation("txn_c", "post", "t.v1", "stripe:evt_c", "stripe", f"h{amount}", at, legs=legs)

    transactions.execute(store, op(100))
    with pytest.raises(LedgerConflict):
        transactions.execute(store, op(200))  # the same id with another body


def inbox_conflict():
    from shared.adapters.memory_inbox import MemoryInbox
    from shared.config import settings
    from shared.demo import encode, payment_intent_succeeded
    from shared.intake.service import Intake
    from shared.partners import stripe
    from tests.factories import Bus

    cfg = settings()
    intake = Intake(cfg, MemoryInbox(), Bus(), lambda task, at: True)
    secret = cfg.webhook_secrets("stripe")[0]
    for amount in (100, 200):  # one event id, two amounts
        body = encode(payment_intent_succeeded("evt_twice", "pi_twice", amount, "usd", "cus_x"))
        headers = {"Stripe-Signature": stripe.sign(body, secret, int(time.time()))}
        intake.receive("stripe", headers, body, now=datetime.now(tz=UTC))


def webhook_gone():
    from tests.unit.test_webhooks import World

    world = World()
    world.endpoints.create("acme", "http://127.0.0.1:9/gone")
    world.receivers.answer = lambda url, n: 410
    world.fund("alice", 1, "p1")
    world.drain()


# metric -> (the function whose logs it reads, the scenario, how many of its lines it must count at least)
SCENARIOS = {
    "dead_letters": ("retries", dead_letter, 1),
    "reconciliation_breaks": ("reconciliation", reconciliation_break, 3),
    "intake_rejections": ("intake", intake_rejection, 1),
    "ledger_conflicts": ("ledger", ledger_conflict, 1),
    "webhook_endpoints_disabled": ("webhooks", webhook_gone, 1),
    "webhook_attempts": ("webhooks", webhook_gone, 1),
}
# Logs of the platform, not lines the code writes: checked against entries shaped like them.
REQUEST_LOG = {"intake_server_errors", "scheduler_failures"}


@pytest.fixture(scope="module")
def logged() -> dict[str, list[dict]]:
    out = {name: run_scenario(service, scenario) for name, (service, scenario, _) in SCENARIOS.items()}
    out["inbox_conflict"] = run_scenario("intake", inbox_conflict)
    return out


def metrics() -> dict[str, dict]:
    return {r.name: r.body for r in resources("google_logging_metric") if r.module == "modules/monitoring"}


def test_every_metric_has_a_scenario():
    assert set(metrics()) == set(SCENARIOS) | REQUEST_LOG


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_filter_counts_its_scenarios_lines_and_no_other(name, logged):
    body = metrics()[name]
    ours = [e for e in logged[name] if matches(body["filter"], e)]
    assert len(ours) >= SCENARIOS[name][2], (name, [e["jsonPayload"]["message"] for e in logged[name]])
    labels = {
        k: re.match(r"^EXTRACT\(jsonPayload\.([a-z_]+)\)$", v).group(1)
        for k, v in body.get("label_extractors", {}).items()
    }
    for entry in ours:  # every label has a value in every line counted
        assert all(entry["jsonPayload"].get(field) not in (None, "") for field in labels.values()), entry
    same_lines = {n for n, (_, s, _) in SCENARIOS.items() if s is SCENARIOS[name][1]}
    for other, entries in logged.items():
        if other in same_lines or other == "inbox_conflict":
            continue
        stray = [e["jsonPayload"]["message"] for e in entries if matches(body["filter"], e)]
        assert not stray, f"{name} also counts {other}'s lines: {stray}"


def test_conflicts_are_counted_from_the_intake_too(logged):
    body = metrics()["ledger_conflicts"]
    counted = [e for e in logged["inbox_conflict"] if matches(body["filter"], e)]
    assert [e["jsonPayload"]["conflict_kind"] for e in counted] == ["inbox"]
    assert [e["jsonPayload"]["conflict_kind"] for e in logged["ledger_conflicts"] if matches(body["filter"], e)] == [
        "ledger"
    ]


def test_the_intake_5xx_filter_reads_cloud_runs_request_log():
    body = metrics()["intake_server_errors"]

    def request(service: str, status: int) -> dict:
        return {
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
            "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
            "httpRequest": {"status": status},
        }

    assert matches(body["filter"], request("intake", 503))
    assert not matches(body["filter"], request("intake", 200))
    assert not matches(body["filter"], request("api", 500))


def scheduler_attempt(job: str, status: int | None, kind: str = "AttemptFinished") -> dict:
    """An entry of Cloud Scheduler's executions log as it writes them for an HTTP target: one
    AttemptStarted and one AttemptFinished per attempt; a failed attempt is ERROR with the target's
    answer as an RPC code in jsonPayload.status (shapes from public log exports: the AttemptFinished
    @type, debugInfo, httpRequest.status)."""
    payload = {
        "@type": f"type.googleapis.com/google.cloud.scheduler.logging.{kind}",
        "jobName": f"projects/{PROJECT}/locations/us-central1/jobs/{job}",
        "targetType": "HTTP",
        "url": "https://retries-abc-uc.a.run.app/tasks",
    }
    failed = status is not None and status >= 400
    if kind == "AttemptFinished":
        payload["debugInfo"] = f"URL_CRAWLED. Original HTTP response code number = {status}"
        if failed:
            payload["status"] = "INTERNAL" if status >= 500 else "PERMISSION_DENIED"
    return {
        "resource": {"type": "cloud_scheduler_job", "labels": {"job_id": job, "location": "us-central1"}},
        "logName": f"projects/{PROJECT}/logs/cloudscheduler.googleapis.com%2Fexecutions",
        "severity": "ERROR" if failed else "INFO",
        "httpRequest": {"status": status} if status is not None else {},
        "jsonPayload": payload,
    }


def test_the_scheduler_filter_counts_failed_attempts_by_job_and_nothing_else(logged):
    body = metrics()["scheduler_failures"]
    assert body["label_extractors"] == {"job": "EXTRACT(resource.labels.job_id)"}
    assert matches(body["filter"], scheduler_attempt("reconcile-stripe", 500))
    assert matches(body["filter"], scheduler_attempt("expire-holds", 403))
    assert not matches(body["filter"], scheduler_attempt("reconcile-stripe", 200))
    assert not matches(body["filter"], scheduler_attempt("reconcile-stripe", None, kind="AttemptStarted"))
    stray = [e for entries in logged.values() for e in entries if matches(body["filter"], e)]
    assert stray == []  # the functions' own ERROR lines are not scheduler failures
