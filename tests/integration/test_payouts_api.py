"""Payouts through the running api function on the emulators: a wallet funded by a signed Stripe
webhook, then a payout (Idempotency-Key required; the hold drops `available` at once, `posted`
unchanged), its retry and a reused key, the masked destination, the listing by status, cancel (the
hold released), the daily limit (422 with nothing changed) and an operator's new limit that lets
the payout pass. The account number must never reach a response body or the api's log.

The payments queue is paused for the test: the payouts stay `pending` (cancel is only allowed there)
while the payments function would otherwise start submitting them, and the tasks the api handed off
are visible in the queue (one per payout, named after it), then purged."""

from __future__ import annotations

import uuid

import pytest
import requests

from shared.adapters import tasks_queue
from shared.recovery.policies import Task
from shared.topology import PAYMENTS_QUEUE

from .test_api import Tenant, api_url, fund, operator, payment  # noqa: F401 - fixtures shared with test_api

ACCOUNT_NUMBER = "004455667788"
DEST = {"rail": "ach", "routing_number": "021000021", "account_number": ACCOUNT_NUMBER, "account_holder": "Ada L"}
# emulators/dev.env LEDGERLINE_PAYOUT_DEFAULT_LIMITS: USD max_single 500000, daily_outflow 1000000
MAX_SINGLE, DAILY = 500_000, 1_000_000


@pytest.fixture(scope="module")
def tenant(api_url):  # noqa: F811
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"payco-{run}", [f"cus_pay{run}_{i}" for i in range(2)])


@pytest.fixture(scope="module")
def handed_off(cfg):
    """The payments queue, paused: what the api enqueued stays there (listed by name), then is purged."""
    client, queue = tasks_queue.client(cfg), tasks_queue.queue_path(cfg, PAYMENTS_QUEUE)
    client.pause_queue(name=queue)
    try:
        yield lambda: {t.name.rsplit("/", 1)[-1] for t in client.list_tasks(parent=queue)}
    finally:
        client.purge_queue(name=queue)
        client.resume_queue(name=queue)


def balance(tenant: Tenant, customer: str) -> tuple[int, int]:
    rows = tenant.get(f"/v1/accounts/{customer}/balance").json()["balances"]
    usd = next(b for b in rows if b["currency"] == "USD")
    return usd["posted"], usd["available"]


def payout(customer: str, amount: int, **extra) -> dict:
    return {"from_account": customer, "amount": amount, "currency": "USD", "destination": dict(DEST), **extra}


def put_limits(op: Tenant, customer: str, max_single: int, daily: int) -> requests.Response:
    """Set limits as an operator; a raise at or above the approval threshold waits for a second
    operator (docs/operations.md), who approves it here: the answer is then the limits in force."""
    path = f"{op.url}/v1/operator/payout-limits/{customer}/USD"
    put = op.session.put(path, json={"max_single": max_single, "daily_outflow": daily}, timeout=30)
    request = put.json().get("request") if put.status_code == 200 else None
    if request and request["status"] == "pending":
        checker = Tenant(op.url, "internal", [], scopes="operator", operator="checker@ops.test")
        approved = checker.post(f"/v1/operator/requests/{request['id']}/approve", {"reason": "limits agreed"})
        assert approved.json()["status"] == "executed", approved.text
        return op.session.get(path, timeout=30)
    return put


def test_payout_lifecycle_through_the_api(cfg, tenant, operator, fund, handed_off):  # noqa: F811
    customer = tenant.customers[0]
    fund(customer, 3_000_000)
    assert balance(tenant, customer) == (3_000_000, 3_000_000)

    missing = tenant.post("/v1/payouts", payout(customer, 300_000), idem=None)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_missing"

    created = tenant.post("/v1/payouts", payout(customer, 300_000, description="rent"), idem="po-1")
    assert created.status_code == 201, created.text
    body = created.json()
    pid = body["id"]
    assert body["object"] == "payout" and body["status"] == "pending" and body["amount"] == 300_000
    assert body["destination"]["account_number"] == "••••7788" and ACCOUNT_NUMBER not in created.text
    assert balance(tenant, customer) == (3_000_000, 2_700_000)  # held at once, nothing posted

    again = tenant.post("/v1/payouts", payout(customer, 300_000, description="rent"), idem="po-1")
    assert again.status_code == 201 and again.json()["id"] == pid
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert Task("payout-step", pid).name in handed_off()  # handed to payments once (the retry: same name)
    reused = tenant.post("/v1/payouts", payout(customer, 300_001, description="rent"), idem="po-1")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reuse"
    assert balance(tenant, customer) == (3_000_000, 2_700_000)

    got = tenant.get(f"/v1/payouts/{pid}")
    assert got.status_code == 200 and got.json()["destination"]["account_number"] == "••••7788"
    assert ACCOUNT_NUMBER not in got.text and [t["event"] for t in got.json()["timeline"]] == ["requested"]
    pending = tenant.get(f"/v1/payouts?customer={customer}&status=pending").json()
    assert [p["id"] for p in pending["data"]] == [pid]

    canceled = tenant.post(f"/v1/payouts/{pid}/cancel", {})
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert balance(tenant, customer) == (3_000_000, 3_000_000)  # the hold released
    assert tenant.get(f"/v1/payouts?customer={customer}&status=pending").json()["data"] == []
    assert [p["id"] for p in tenant.get(f"/v1/payouts?customer={customer}&status=canceled").json()["data"]] == [pid]

    # the default daily limit counts open holds: two payouts at max_single use it up
    for key in ("po-2", "po-3"):
        assert tenant.post("/v1/payouts", payout(customer, MAX_SINGLE), idem=key).status_code == 201
    before = balance(tenant, customer)
    assert before == (3_000_000, 3_000_000 - DAILY)
    over = tenant.post("/v1/payouts", payout(customer, 100), idem="po-4")
    assert over.status_code == 422, over.text
    error = over.json()["error"]
    assert (error["code"], error["limit"], error["limit_value"], error["remaining"]) == (
        "limit_exceeded",
        "daily_outflow",
        DAILY,
        0,
    )
    assert balance(tenant, customer) == before
    listed = tenant.get(f"/v1/payouts?customer={customer}&limit=10").json()["data"]
    assert len(listed) == 3  # nothing was written for the refused one

    raised = put_limits(operator, customer, MAX_SINGLE, 2 * DAILY)
    assert raised.status_code == 200, raised.text
    assert raised.json()["source"] == "customer" and raised.json()["history"][-1]["old"] is None
    passed = tenant.post("/v1/payouts", payout(customer, 100), idem="po-5")  # a new key: po-4's 422 replays
    assert passed.status_code == 201, passed.text
    assert balance(tenant, customer) == (3_000_000, 3_000_000 - DAILY - 100)
    mine = {p["id"] for p in tenant.get(f"/v1/payouts?customer={customer}&limit=100").json()["data"]}
    assert len(mine) == 4  # po-1, -2, -3, -5
    queued = handed_off()  # (other tests' payouts may have steps queued too)
    assert all(Task("payout-step", pid).name in queued for pid in mine), (mine, queued)

    # never in the api's log: the account number
    candidates = [d / "logs" / "api.log" for d in (cfg.run_dir, cfg.run_dir / "test")]
    logs = [p.read_text(errors="replace") for p in candidates if p.exists()]
    assert logs and all(ACCOUNT_NUMBER not in text for text in logs)


def test_concurrent_payouts_never_add_up_past_the_daily_limit(cfg, tenant, operator, fund, handed_off):  # noqa: F811
    """The limit is checked in the Datastore transaction that places the hold, on the customer's
    exposure record: 12 requests at once for 100 each under a daily limit of 500 — exactly 5 pass,
    whatever the interleaving (the emulator aborts the later of two commits that read the record, and
    the retry sees the first hold); the refused ones change nothing."""
    from concurrent.futures import ThreadPoolExecutor

    customer = tenant.customers[1]
    fund(customer, 10_000)
    assert put_limits(operator, customer, 1_000, 500).status_code == 200

    def request(i: int) -> int:
        return tenant.post("/v1/payouts", payout(customer, 100), idem=f"burst-{i}").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = sorted(pool.map(request, range(12)))
    assert codes == [201] * 5 + [422] * 7, codes
    assert balance(tenant, customer) == (10_000, 10_000 - 500)
