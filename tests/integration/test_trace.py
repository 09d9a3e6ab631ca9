"""One trace through every hop (W3C Trace Context, shared.logs): a partner's webhook sent with a
`traceparent` is logged under that trace by intake, by the ledger (Pub/Sub push: the `trace`
attribute), by retries (the stream-pending Cloud Task the posting asked for: a `traceparent` header)
and by the webhooks function (the customer event's fan-out and delivery tasks); a payout requested
through the api continues its caller's trace into the payments function; a scheduled reconciliation
run logs under the trace of the scheduler's request. Read from the functions' own log files."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests

from emulators.webhook_receiver.client import ReceiverClient
from shared import bootstrap
from shared.adapters import gcs_reports
from shared.demo import encode, payment_intent_succeeded
from shared.partners import stripe
from tests.log_secrets import stack_run_dir

from .conftest import posted, wait_for
from .test_api import Tenant, api_url, fund, payment  # noqa: F401 - fixtures shared with test_api
from .test_reconciliation import HEADER, report_row


def traceparent() -> tuple[str, str]:
    trace = secrets.token_hex(16)
    return trace, f"00-{trace}-{secrets.token_hex(8)}-01"


def logged_under(cfg, function: str, trace: str) -> list[dict]:
    """The JSON log lines of `function` (its log file on the running stack) in `trace`."""
    run_dir = stack_run_dir(cfg)
    assert run_dir is not None, "no log directory of the running stack"
    path = Path(run_dir) / "logs" / f"{function}.log"
    wanted = f"projects/{cfg.project}/traces/{trace}"
    lines = []
    for raw in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if wanted in raw and raw.startswith("{"):
            entry = json.loads(raw)
            if entry.get("logging.googleapis.com/trace") == wanted:
                lines.append(entry)
    return lines


def every_function_logged(cfg, functions: tuple[str, ...], trace: str, timeout: float = 45.0) -> dict:
    def found():
        logged = {f: logged_under(cfg, f, trace) for f in functions}
        return logged if all(logged.values()) else None

    try:
        return wait_for(found, timeout=timeout, what=f"trace {trace} in the logs of {functions}")
    except AssertionError:
        missing = [f for f in functions if not logged_under(cfg, f, trace)]
        raise AssertionError(f"trace {trace} never reached the logs of {missing}") from None


@pytest.fixture(scope="module")
def shop(api_url):  # noqa: F811
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"trace-{run}", [f"cus_trace{run}_0"])


def test_one_webhook_is_one_trace_through_every_function_it_touched(cfg, db, intake, secret, shop):
    customer = shop.customers[0]
    receiver, name = ReceiverClient(), f"trace-{uuid.uuid4().hex[:8]}"
    endpoints = bootstrap.webhook_endpoints(bootstrap.root(cfg))
    ep = endpoints.create(shop.name, receiver.url(name), types=["balance.updated"])
    receiver.configure(name, [ep.secrets[0].value])
    evt, pi = f"evt_tr{uuid.uuid4().hex[:16]}", f"pi_tr{uuid.uuid4().hex[:16]}"
    body = encode(payment_intent_succeeded(evt, pi, 4_200, "usd", customer))
    trace, parent = traceparent()
    # A stream-pending task is asked for once per second per ledger instance (shared.ledger.outbox):
    # start in a fresh second so that this posting is the one that asks.
    time.sleep(1.05 - time.time() % 1)
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe.sign(body, secret, int(time.time())),
        "traceparent": parent,
    }
    answer = requests.post(f"{intake}/webhooks/stripe", data=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    posted(db, f"stripe:{evt}")
    wait_for(lambda: any(r["status"] == 200 for r in receiver.received(name)), timeout=60, what="balance.updated")

    logged = every_function_logged(cfg, ("intake", "ledger", "retries", "webhooks"), trace)
    assert any(e["message"] == "webhook accepted" and e.get("partner_event_id") == evt for e in logged["intake"])
    assert any(e.get("task_kind") == "stream-pending" for e in logged["retries"]), logged["retries"]
    # and nothing else was logged under it: one webhook's trace is its own
    others = logged_under(cfg, "api", trace) + logged_under(cfg, "payments", trace)
    assert others == []


def test_a_payout_continues_the_api_callers_trace_into_payments(cfg, shop, fund):  # noqa: F811
    customer = shop.customers[0]
    fund(customer, 50_000)
    trace, parent = traceparent()
    created = shop.session.post(
        f"{shop.url}/v1/payouts",
        json={
            "from_account": customer,
            "amount": 1_000,
            "currency": "USD",
            "destination": {
                "rail": "ach",
                "routing_number": "021000021",
                "account_number": "000123456789",
                "account_holder": "Ada L",
            },
        },
        headers={"Idempotency-Key": uuid.uuid4().hex, "traceparent": parent},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    logged = every_function_logged(cfg, ("api", "payments"), trace)
    assert "000123456789" not in json.dumps(logged)  # the account number is masked in logs too


def test_a_scheduled_run_logs_under_the_trace_of_the_schedulers_request(cfg):
    reports = gcs_reports.reports(cfg)
    day = date(1998, 1 + secrets.randbelow(12), 1 + secrets.randbelow(28))
    pi = f"pi_trace{uuid.uuid4().hex[:12]}"
    report = HEADER + "\n" + report_row(1, pi, 700, str(day)) + "\n"
    reports.put("stripe", day, "report", "export.csv", report.encode())
    trace = secrets.token_hex(16)
    # what Google's front end gives a Cloud Scheduler request (TRACE/SPAN;o=1)
    headers = {"X-Cloud-Trace-Context": f"{trace}/1;o=1", "X-CloudScheduler": "true"}
    url = cfg.function_urls["reconciliation"]
    ran = requests.post(f"{url}/runs", json={"partner": "stripe", "date": str(day)}, headers=headers, timeout=60)
    assert ran.status_code == 200, ran.text
    every_function_logged(cfg, ("reconciliation",), trace)
