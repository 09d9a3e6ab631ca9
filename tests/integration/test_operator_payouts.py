"""Operator payouts on the emulators: a payout made through the customer API, paid by the bank sandbox,
then listed across tenants by an operator and read with its timeline (states in order, the partner's
attempt, the bank's webhooks), its destination masked."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from .conftest import cli
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


def _webhooks(reader, pid: str) -> list[str]:
    return [i["target"] for i in reader.get(f"/v1/operator/payouts/{pid}").json()["items"] if i["kind"] == "webhook"]


def test_an_operator_follows_a_paid_payout(db, tenant, operator, fund, sandbox):  # noqa: F811
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
    events = [
        i["event"]
        for i in body["items"]
        if i["kind"] not in ("ledger", "webhook") and (i["kind"] != "attempt" or i["event"])
    ]
    assert events[0] == "requested" and events[-1] == "settled", body["items"]
    ledger = {i["event"]: i["target"] for i in body["items"] if i["kind"] == "ledger"}
    assert set(ledger) == {"hold", "capture"}, body["items"]  # the wallet's hold, captured when paid
    attempts = [i for i in body["items"] if i["kind"] == "attempt" and i["event"] is None]
    assert attempts and attempts[0]["partner"] in BANKS
    # the bank's signed webhooks, as intake stored them: submitted (stored only), then settled (applied,
    # or a no-op when the status query got there first); each opens as its raw event
    deadline = time.monotonic() + 30
    while not {"ach.outgoing_transfer.submitted", "ach.outgoing_transfer.settled"} <= {
        i["event"] for i in body["items"] if i["kind"] == "webhook"
    }:
        assert time.monotonic() < deadline, body["items"]
        time.sleep(0.5)
        body = operator.get(f"/v1/operator/payouts/{pid}").json()
    hooks = [i for i in body["items"] if i["kind"] == "webhook"]
    assert all(h["partner"] == attempts[-1]["partner"] and h["attempt"] == attempts[-1]["attempt"] for h in hooks)
    raw = operator.get(f"/v1/operator/raw-events/{hooks[-1]['target']}")
    assert raw.status_code == 200 and f"{pid}-{attempts[-1]['attempt']}" in raw.json()["body"], raw.text

    # inbox events stored before `our_reference` existed (the entity as the old code wrote it) are off the
    # timeline until `api-index backfill` gives them theirs (parsed again for the stored-only submitted one)
    keys = [db.key("Inbox", h["target"]) for h in hooks]
    for entity in db.get_multi(keys):
        del entity["our_reference"]
        db.put(entity)
    assert _webhooks(operator, pid) == []
    assert cli("api-index", "backfill")["inbox_referenced"] >= len(hooks)
    assert _webhooks(operator, pid) == [h["target"] for h in hooks]
    listed = operator.get("/v1/operator/payouts", params={"status": "paid", "tenant": tenant.name}).json()
    assert [p["id"] for p in listed["data"]] == [pid]
    assert pid in [p["id"] for p in operator.get("/v1/operator/payouts", params={"limit": 100}).json()["data"]]
    assert ACCOUNT_NUMBER not in str(body) + str(listed)
    assert tenant.get("/v1/operator/payouts").status_code == 403


def _paid_and_settled_webhook(body: dict) -> bool:
    return body.get("status") == "paid" and any(
        i["kind"] == "webhook" and i["event"] == "ach.outgoing_transfer.settled" for i in body.get("items", [])
    )


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
    while not _paid_and_settled_webhook(operator.get(f"/v1/operator/payouts/{pid}").json()):
        assert time.monotonic() < deadline, "the payout was not paid (and its settled webhook in) within 60 s"
        time.sleep(0.5)
    artifacts = cfg.run_dir / "artifacts" / "console" / "payouts"
    run_console(cfg, "payouts.e2e.mjs", artifacts, [operator.key], CONSOLE_KEY=operator.key, CONSOLE_PAYOUT=pid)
    shots = sorted(p.name for p in artifacts.glob("payouts-*.png"))
    assert len(shots) == 3 and all((artifacts / s).stat().st_size > 5000 for s in shots), shots
