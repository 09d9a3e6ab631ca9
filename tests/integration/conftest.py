"""Integration tests run against the real local cloud (`make up`, or `make test` which starts it).
They talk to the emulators through the official google-cloud clients and to the functions over HTTP."""

import json
import subprocess
import sys
import time
import uuid

import pytest
import requests

from shared.adapters import datastore_store
from shared.config import REPO_ROOT, settings
from shared.demo import encode, payment_intent_succeeded
from shared.ledger.balances import balances
from shared.ledger.outbox import streamed_transactions
from tests.log_secrets import known_secrets, log_files, scan, stack_run_dir


@pytest.fixture(scope="session")
def cfg():
    current = settings()
    try:
        requests.get(current.function_urls["intake"] + "/healthz", timeout=2).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"the local cloud is not running ({exc}); start it with `make up` or run `make test`")
    return current


@pytest.fixture(scope="session")
def db(cfg):
    return datastore_store.client(cfg)


@pytest.fixture(scope="session")
def intake(cfg):
    return cfg.function_urls["intake"]


@pytest.fixture(scope="session")
def secret(cfg):
    return cfg.webhook_secrets("stripe")[0]


def unique(prefix: str) -> str:
    return f"{prefix}_it{uuid.uuid4().hex[:16]}"


@pytest.fixture
def payment():
    """A fresh, unique Stripe payment_intent.succeeded body (and its ids)."""

    def make(amount=2000, currency="usd", customer="auto", event_type="payment_intent.succeeded"):
        evt, pi = unique("evt"), unique("pi")
        cus = unique("cus") if customer == "auto" else customer
        body = encode(payment_intent_succeeded(evt, pi, amount, currency, cus, event_type=event_type))
        return {"event_id": evt, "customer": cus, "body": body, "key": f"stripe:{evt}"}

    return make


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def transaction_for(db, event_key):
    query = db.query(kind="JournalTransaction")
    query.add_filter(filter=datastore_store.datastore.query.PropertyFilter("event_id", "=", event_key))
    return list(query.fetch())


def posted(db, event_key, timeout: float = 30.0):
    """Wait until the event's transaction is committed and its entries reached BigQuery (outbox empty)."""

    def done():
        names = set(streamed_transactions(datastore_store.DatastoreLedger(db), event_key))
        return [t for t in transaction_for(db, event_key) if t.key.name in names]

    return wait_for(done, timeout=timeout, what=f"{event_key} posted and streamed")


def wallet_balance(db, customer, currency):
    found = balances(datastore_store.DatastoreLedger(db), f"customer:{customer}:wallet").get(currency)
    return found.posted if found else None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Secrets never appear in logs: once every test ran (their requests, including the security
    sweep's attacks, are in the logs), scan every log file of the stack for the dev secrets and the API
    keys the tests created. A finding fails the session; it names file, line and secret, never the value."""
    run_dir = stack_run_dir(settings())
    files = log_files(run_dir / "logs") if run_dir else []
    secrets = known_secrets()
    findings = scan(files, secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else (lambda line, **_: print(line))
    if run_dir is None:  # no stack: every test needing one failed already
        write("log secret scan: no local cloud found: nothing to scan", yellow=True)
        return
    if not files:  # a scan of nothing must not read as a pass
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        write(f"log secret scan: no log files under {run_dir}: nothing was checked", red=True, bold=True)
        return
    if not findings:
        write(f"log secret scan: {len(files)} log files, {len(secrets)} secrets: none found")
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    write(f"log secret scan: {len(findings)} secret occurrence(s) in the logs of {run_dir}:", red=True, bold=True)
    for finding in findings[:50]:
        write(f"  {finding}", red=True)


def cli(*args: str, timeout: float = 120) -> dict | list:
    """`python -m shared.cli --json ARGS` against the stack; its JSON output (a non-zero exit fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
