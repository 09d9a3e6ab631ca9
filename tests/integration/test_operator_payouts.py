"""Operator payouts on the emulators: a payout made through the customer API, paid by the bank sandbox,
then listed across tenants by an operator and read with its timeline (states in order, the partner's
attempt), its destination masked."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from .test_api import Tenant, api_url, fund, operator, payment  # noqa: F401 - fixtures shared with test_api
from .test_payouts_flow import BANKS

ACCOUNT_NUMBER = "004455667711"
DEST = {"rail": "ach", "routing_number": "021000021", "account_number": ACCOUNT_NUMBER, "account_holder": "Ada L"}


@pytest.fixture(scope="module")
def tenant(api_url):  # noqa: F811
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"opo-{run}", [f"cus_opo{run}"])


@pytest.fixture
def sandbox(cfg):
    base = f"http://127.0.0.1:{cfg.port('bank_sandbox')}"
    for bank in BANKS:
        requests.delete(f"{base}/_control/{bank}/faults", timeout=5).raise_for_status()
        requests.post(f"{base}/_control/{bank}/clock", json={"settle_after_seconds": 0.5}, timeout=5).raise_for_status()
    return base


def test_an_operator_follows_a_paid_payout(tenant, operator, fund, sandbox):  # noqa: F811
    customer = tenant.customers[0]
    fund(customer, 50_000)
    created = tenant.post(
        "/v1/payouts", {"from_account": customer, "amount": 12_345, "currency": "USD", "destination": dict(DEST)}
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    deadline, body = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        body = operator.get(f"/v1/operator/payouts/{pid}").json()
        if body.get("status") == "paid":
            break
        time.sleep(0.5)
    assert body["status"] == "paid", body
    assert body["tenant"] == tenant.name and body["destination"]["account_number"] == "••••7711"
    events = [i["event"] for i in body["items"] if i["kind"] != "ledger" and (i["kind"] != "attempt" or i["event"])]
    assert events[0] == "requested" and events[-1] == "settled", body["items"]
    ledger = {i["event"]: i["target"] for i in body["items"] if i["kind"] == "ledger"}
    assert set(ledger) == {"hold", "capture"}, body["items"]  # the wallet's hold, captured when paid
    attempts = [i for i in body["items"] if i["kind"] == "attempt" and i["event"] is None]
    assert attempts and attempts[0]["partner"] in BANKS
    listed = operator.get("/v1/operator/payouts", params={"status": "paid", "tenant": tenant.name}).json()
    assert [p["id"] for p in listed["data"]] == [pid]
    assert pid in [p["id"] for p in operator.get("/v1/operator/payouts", params={"limit": 100}).json()["data"]]
    assert ACCOUNT_NUMBER not in str(body) + str(listed)
    assert tenant.get("/v1/operator/payouts").status_code == 403


def test_an_operator_follows_a_payouts_timeline_in_the_console(cfg, tenant, operator, fund, sandbox):  # noqa: F811
    """The console (issue 22): Debian's Chromium follows a paid payout from the list to its timeline and
    on to its hold's transaction (console/e2e/payouts.e2e.mjs)."""
    from .test_console_e2e import _missing, run_console

    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing} (make test installs all of it)")
    customer = tenant.customers[0]
    fund(customer, 5_000)
    created = tenant.post(
        "/v1/payouts", {"from_account": customer, "amount": 1_500, "currency": "USD", "destination": dict(DEST)}
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    deadline = time.monotonic() + 60
    while operator.get(f"/v1/operator/payouts/{pid}").json().get("status") != "paid":
        assert time.monotonic() < deadline, "the payout was not paid within 60 s"
        time.sleep(0.5)
    artifacts = cfg.run_dir / "artifacts" / "console" / "payouts"
    run_console(cfg, "payouts.e2e.mjs", artifacts, [operator.key], CONSOLE_KEY=operator.key, CONSOLE_PAYOUT=pid)
    shots = sorted(p.name for p in artifacts.glob("payouts-*.png"))
    assert len(shots) == 3 and all((artifacts / s).stat().st_size > 5000 for s in shots), shots
