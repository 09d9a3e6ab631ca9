"""The operations console in a real browser (issue 22, steps 1 and 2): Debian's headless Chromium, driven by
playwright-core (console/e2e/console.e2e.mjs, run with node), against the running api function, which
serves the built console under /console/. An operator signs in with their key, reads the overview,
follows the dead-letter figure to the list, inspects a dead letter, dry-runs and replays it (it is
replayed: its status in the API says so), finds a real reconciliation break with its amounts formatted
by the currency's exponent, works it — a note, acknowledged, a write-off asked (a request) by operator A,
who is not offered to approve it; operator B signs in and approves it; the break is written off (the API
says so too) and the audit log page shows both — and opens the approvals page; no console error,
page error or CSP violation on the way. Screenshots: <run dir>/artifacts/console/*.png (not committed).

Needs `make console` (the build), `make console-deps` (node_modules) and `make chromium`; `make test`
runs all three first."""

import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.adapters import datastore_store
from shared.config import REPO_ROOT
from shared.demo import Delivery, send
from shared.recovery.service import record_dead_letter

from .conftest import cli, posted
from .test_api import Tenant
from .test_reconciliation import HEADER, report_row

CONSOLE = REPO_ROOT / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's; GitHub's runners: their Google Chrome
BUDGET_SECONDS = 120  # the bound for the browser tests in make test


def _missing() -> str | None:
    if not shutil.which("node"):
        return "node is missing"
    if not (CONSOLE / "node_modules" / "playwright-core").is_dir():
        return "console/node_modules is missing: make console-deps"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: make chromium"
    if not (CONSOLE / "dist" / "index.html").is_file():
        return "the console is not built: make console"
    return None


def run_console(cfg, script: str, artifacts, keys: list[str], **env: str) -> dict:
    """Run one console/e2e script (on console/e2e/harness.mjs) against this stack's api; fail unless it
    passed, with no key in its output. Its screenshots go to `artifacts` (its earlier ones removed first;
    other scripts' folders below it kept). The summary."""
    for old in artifacts.glob("*.png") if artifacts.is_dir() else ():
        old.unlink()
    done = subprocess.run(
        ["node", f"e2e/{script}"],
        cwd=CONSOLE,
        env={**os.environ, "CONSOLE_URL": f"{cfg.function_urls['api']}/console/", "CONSOLE_ARTIFACTS": str(artifacts),
             **env},
        capture_output=True, text=True, timeout=BUDGET_SECONDS,
    )  # fmt: skip
    assert not any(k in done.stdout + done.stderr for k in keys), "a key reached the e2e's output"
    assert done.stdout.strip(), done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{script}: steps {[(s['name'], s['ms']) for s in summary['steps']]}, {artifacts}")
    assert done.returncode == 0 and summary["ok"], summary["problems"] or done.stderr[-2000:]
    return summary


def _dead_letter(db, key: str, partner: str | None = None) -> str:
    """An open dead letter of a harmless kind: replaying it enqueues one stream-pending task."""
    return record_dead_letter(
        datastore_store.DatastoreLedger(db),
        source="task",
        kind="stream-pending",
        key=key,
        now=datetime.now(tz=UTC),
        payload=json.dumps({"kind": "stream-pending", "key": "e2e"}),
        reason_code="exhausted",
        reason="e2e: BigQuery was down",
        attempts=60,
        first_error="ServiceUnavailable: 503",
        last_error="ServiceUnavailable: 503",
        first_attempt_at=datetime.now(tz=UTC),
        attributes={"replay": "0", **({"partner": partner} if partner else {})},
    )


def _a_break(intake, secret, payment, db, tmp_path) -> str:
    """A real amount_mismatch break: a 1,234.56 USD payment posted, the partner's report says 1,234.57."""
    paid = payment(amount=123_456, currency="usd")
    assert send(intake, Delivery("console", paid["body"], secret, 200, "accepted")).status_code == 200
    posted(db, paid["key"])
    pi = json.loads(paid["body"])["data"]["object"]["id"]
    today = datetime.now(tz=UTC).date()
    report = tmp_path / "report.csv"
    report.write_text("\n".join([HEADER, report_row(1, pi, 123_457, today.isoformat())]) + "\n")
    as_of = (today + timedelta(days=7)).isoformat()
    cli(
        "recon", "run", "--partner", "stripe", "--date", as_of, "--report", str(report), "--out", str(tmp_path / "r.md")
    )
    return pi


def test_an_operator_signs_in_reads_the_overview_and_replays_a_dead_letter(cfg, db, intake, secret, payment, tmp_path):
    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing} (make test installs all of it)")
    api = cfg.function_urls["api"]
    page = requests.get(f"{api}/console/", timeout=10)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers, page.text[:200]

    cli("tenants", "create", "internal")
    maker, checker_name = f"e2e-{uuid.uuid4().hex[:6]}@ops.test", f"e2e-b-{uuid.uuid4().hex[:6]}@ops.test"
    operator = Tenant(api, "internal", [], scopes="operator", operator=maker)
    checker = Tenant(api, "internal", [], scopes="operator", operator=checker_name)  # the second operator
    name = _dead_letter(db, f"e2e-{uuid.uuid4().hex[:12]}")

    bulk_partner = f"e2e-bulk-{uuid.uuid4().hex[:6]}"  # two more, replayed as a filtered set
    for i in range(2):
        _dead_letter(db, f"{bulk_partner}-{i}", partner=bulk_partner)

    reference = _a_break(intake, secret, payment, db, tmp_path)

    artifacts = cfg.run_dir / "artifacts" / "console"
    started = time.monotonic()
    run_console(
        cfg, "console.e2e.mjs", artifacts, [operator.key, checker.key], CONSOLE_KEY=operator.key,
        CONSOLE_DEAD_LETTER=name, CONSOLE_BREAK_REFERENCE=reference, CONSOLE_KEY_B=checker.key,
        CONSOLE_BULK_PARTNER=bulk_partner,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(shots) == 13 and all((artifacts / s).stat().st_size > 5000 for s in shots), shots

    # the break, through the API: written off, by A's request that B approved, both in the audit log
    breaks = operator.get("/v1/operator/breaks", params={"state": "written_off", "limit": 100}).json()["data"]
    written_off = [b for b in breaks if b["reference"] == reference]
    assert len(written_off) == 1, breaks
    brk = written_off[0]
    requests_ = operator.get("/v1/operator/requests", params={"status": "executed", "limit": 100}).json()["data"]
    (req,) = [r for r in requests_ if r["target"] == brk["id"] and r["kind"] == "write_off"]
    assert (req["maker"], req["checker"]) == (maker, checker_name)
    audit = operator.get("/v1/audit-log", params={"target": brk["id"], "limit": 100}).json()["data"]
    seen = {(e["action"], e["actor"], e["approved_by"]) for e in audit}
    assert ("request:write_off", maker, None) in seen, seen
    assert ("write_off", maker, checker_name) in seen, seen

    replayed = operator.get("/v1/dead-letters", params={"status": "replayed", "limit": 100}).json()["data"]
    assert name in [d["id"] for d in replayed]
    bulk = [d for d in replayed if d["partner"] == bulk_partner]
    assert len(bulk) == 2, replayed  # the filtered set, through the console: each replayed once
    audit_bulk = operator.get("/v1/audit-log", params={"action": "dead_letter_replay", "limit": 100}).json()["data"]
    assert {d["id"] for d in bulk} <= {e["target"] for e in audit_bulk}
    assert elapsed < BUDGET_SECONDS


def test_an_operator_books_an_adjusting_entry_for_a_break_in_the_console(cfg, db, intake, secret, payment, tmp_path):
    """The break desk's adjusting entry (console/e2e/adjust.e2e.mjs): the legs typed in the console,
    checked there, posted by the API below the threshold; the ledger holds the entry, the break is resolved
    by it, and the audit log names the operator."""
    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing} (make test installs all of it)")
    cli("tenants", "create", "internal")
    maker = f"e2e-adj-{uuid.uuid4().hex[:6]}@ops.test"
    operator = Tenant(cfg.function_urls["api"], "internal", [], scopes="operator", operator=maker)
    reference = _a_break(intake, secret, payment, db, tmp_path)
    opened = operator.get("/v1/operator/breaks", params={"state": "open", "limit": 100, "partner": "stripe"}).json()
    (brk,) = [b for b in opened["data"] if b["reference"] == reference]
    assert (brk["difference"], brk["currency"]) == (1, "USD"), brk

    artifacts = cfg.run_dir / "artifacts" / "console" / "adjust"
    run_console(cfg, "adjust.e2e.mjs", artifacts, [operator.key], CONSOLE_KEY=operator.key, CONSOLE_BREAK=brk["id"])
    assert len(list(artifacts.glob("adjust-*.png"))) == 2

    after = operator.get(f"/v1/operator/breaks/{brk['id']}").json()
    assert after["state"] == "resolved", after
    executed = operator.get("/v1/operator/requests", params={"status": "executed", "limit": 100}).json()["data"]
    (req,) = [r for r in executed if r["target"] == brk["id"] and r["kind"] == "adjusting_entry"]
    assert req["maker"] == maker and req["checker"] is None  # below the USD threshold: no second operator
    assert req["amounts"] == {"USD": 1} and len(req["transactions"]) == 1, req
    posted_entry = operator.get(f"/v1/operator/transactions/{req['transactions'][0]}").json()
    legs = {(e["account"], e["direction"], e["amount"], e["currency"]) for e in posted_entry["entries"]}
    assert legs == {("fees:stripe", "debit", 1, "USD"), ("partner:stripe:clearing", "credit", 1, "USD")}, posted_entry
    audit = operator.get("/v1/audit-log", params={"target": brk["id"], "limit": 100}).json()["data"]
    assert ("adjusting_entry", maker, None) in {(e["action"], e["actor"], e["approved_by"]) for e in audit}, audit
