"""The demo command: the demo webhook scenario sent to intake, then balances and verify."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from shared.cli.books import cmd_balances, cmd_verify, wait_posted
from shared.cli.output import table


def cmd_demo(args, root) -> int:
    cfg = root.cfg
    from shared.demo import demo_deliveries, send

    if not cfg.webhook_secrets("stripe"):
        print("STRIPE_WEBHOOK_SECRET is not set (see emulators/dev.env)", file=sys.stderr)
        return 2
    intake = cfg.function_urls["intake"]
    print(f"sending the demo scenario to {intake}/webhooks/stripe\n")
    failures, accepted = 0, []
    rows = []
    for d in demo_deliveries(cfg.webhook_secrets("stripe")[0]):
        resp = send(intake, d)
        body = resp.json()
        got = body.get("status") or body.get("error", {}).get("code")
        ok = resp.status_code == d.expect_status and got == d.expect
        rerun = d.expect == "accepted" and resp.status_code == 200 and got == "duplicate"
        failures += not (ok or rerun)
        if got == "accepted":
            accepted.append(f"stripe:{body['partner_event_id']}")
        rows.append(
            {
                "delivery": d.label,
                "http": resp.status_code,
                "result": got,
                "check": "ok"
                if ok
                else "ok (received in an earlier run)"
                if rerun
                else f"EXPECTED {d.expect_status} {d.expect}",
            }
        )
    table(rows, [("delivery", "delivery"), ("http", "http"), ("result", "result"), ("check", "check")])
    missing = wait_posted(root, accepted)
    if missing:
        print(f"\nnot posted within 60 s: {missing} (see .run/logs/ledger.log)")
        failures += len(missing)
    receiver = demo_endpoint(root)
    failures += move_money(root)
    failures += show_webhooks(root, receiver)
    failures += reconcile(root)
    print("\nbalances (posted, on each account's normal side):")
    cmd_balances(argparse.Namespace(json=False), root)
    print()
    verdict = cmd_verify(argparse.Namespace(json=False, no_bigquery=False), root)
    console_login(root)
    return 1 if failures or verdict else 0


CONSOLE_TENANT, CONSOLE_OPERATOR, CONSOLE_LABEL = "internal", "demo@ledgerline.local", "demo console"


def console_login(root) -> str:
    """The operations console's URL and an operator key for the demo (docs/console.md): a fresh key per
    run, the previous demo key revoked (its secret was never stored, so it cannot be shown again), each
    change in the operator audit log like the CLI's. Returns the key."""
    from datetime import UTC, datetime

    from shared.api import keys, tenants
    from shared.cli.tenants import _audited

    now = datetime.now(tz=UTC)
    tenants.create_tenant(root.store, CONSOLE_TENANT, "ledgerline operations", now)
    for key_id, record in root.store.snapshot(("ApiKey",)).get("ApiKey", {}).items():
        if record.get("label") == CONSOLE_LABEL and record.get("tenant") == CONSOLE_TENANT:
            if keys.revoke_key(root.store, key_id, now):
                _audited(root, now, "api_key_change", key_id, "demo: a new demo console key", {"revoked": key_id})
    key = keys.create_key(
        root.store, CONSOLE_TENANT, ["operator"], now,
        livemode=root.cfg.livemode, label=CONSOLE_LABEL, operator=CONSOLE_OPERATOR,
    )  # fmt: skip
    key_id = key.split("_")[2]
    after = {"created": key_id, "tenant": CONSOLE_TENANT, "scopes": ["operator"], "operator": CONSOLE_OPERATOR}
    _audited(root, now, "api_key_change", key_id, "demo: the demo console key", after)
    print(f"\noperations console: {root.cfg.function_urls['api']}/console/")
    print(f"  sign in with the demo operator key ({CONSOLE_OPERATOR}; kept in the browser tab only, revoked by")
    print(f"  the next `make demo`):\n  {key}")
    return key


DEMO_OWNER = "demo"
PAYOUT_DESTINATION = {"routing_number": "021000021", "account_number": "000123456789", "account_holder": "Alice"}


def move_money(root, timeout: float = 60.0) -> int:
    """ledgerline moving money itself (docs/payments.md): alice pays in $10.00 by card (localstripe; the
    wallet moves on its webhook), then pays out $15.00 to her bank account (the bank sandbox; paid on
    the bank's webhook). The same idempotency keys on every run: a rerun finds them done."""
    from shared import bootstrap
    from shared.domain.payments.destinations import Destination

    start = bootstrap.start_payments(root)
    payin = bootstrap.payins(root).request(DEMO_OWNER, "demo-card-1", "cus_demo_alice", 1000, "USD", "pm_card_visa")
    payment_id = payin.payment.payment.payment_id
    start("payment-step", payment_id)
    paid_in = _until(lambda: bootstrap.payins(root).get(payment_id).payment.status, ("succeeded", "failed"), timeout)
    destination = Destination(rail="ach", **PAYOUT_DESTINATION)
    wallet = "customer:cus_demo_alice:wallet"
    payout = bootstrap.payouts(root).request("cus_demo_alice", "demo-payout-1", wallet, 1500, "USD", destination)
    payout_id = payout.payout.payout.payout_id
    start("payout-step", payout_id)
    paid_out = _until(lambda: bootstrap.payouts(root).get(payout_id).payout.status, ("paid", "failed"), timeout)
    # their last status polls are queued a few seconds out: let them run (they find the records final),
    # so the stack is quiet when the demo ends
    _until(lambda: _queued_steps(root), (0,), 30.0)
    print("\nmoving money (payments function; localstripe and the bank sandbox play Stripe and the banks):")
    table(
        [
            {"what": "alice pays in $10.00 by card", "id": payment_id, "status": paid_in, "want": "succeeded"},
            {"what": "alice pays out $15.00 (ACH)", "id": payout_id, "status": paid_out, "want": "paid"},
        ],
        [("what", "what"), ("id", "id"), ("status", "status"), ("want", "expected")],
    )
    return (paid_in != "succeeded") + (paid_out != "paid")


def reconcile(root) -> int:
    """The demo's Stripe settlement report against the ledger (docs/reconciliation.md): every payment
    agrees but one, reported a cent higher: one amount_mismatch break for the console's break desk. The
    same report on every run: a rerun is the same run (its id is a digest of its inputs)."""
    from shared import bootstrap
    from shared.demo import DEMO_MISMATCH, demo_settlement_report

    day, report = demo_settlement_report()
    as_of = day + timedelta(days=7)  # the report's rows are settled by then
    outcome = bootstrap.run_reconciliation(
        root, partner="stripe", as_of=as_of, report=("demo-stripe-report.csv", report), bank=None,
        now=datetime.now(tz=UTC),
    )  # fmt: skip
    print(
        f"\nreconciliation (stripe, {day}): run {outcome.run_id} {outcome.status}, {outcome.still_open} open "
        f"break(s) — the report says {DEMO_MISMATCH[0]} was a cent more: work it in the console"
    )
    return 0 if outcome.still_open >= 1 else 1


DEMO_RECEIVER = "demo"


def demo_endpoint(root):
    """The demo tenant owns alice, and has one webhook endpoint: the webhook receiver emulator's `demo`
    receiver, configured with the endpoint's secret so it verifies every signature (docs/webhooks.md).
    Idempotent: a rerun finds the tenant, the customer and the endpoint; the receiver's records are
    cleared so the table below shows this run's deliveries only."""
    from emulators.webhook_receiver.client import ReceiverClient
    from shared import bootstrap
    from shared.api import tenants

    now = root.clock()
    tenants.create_tenant(root.store, DEMO_OWNER, "Demo platform", now)
    tenants.add_customer(root.store, DEMO_OWNER, "cus_demo_alice", now)
    receiver = ReceiverClient()
    endpoints = bootstrap.webhook_endpoints(root)
    url = receiver.url(DEMO_RECEIVER)
    endpoint = next((e for e in endpoints.list(DEMO_OWNER) if e.url == url), None)
    if endpoint is None:
        endpoint = endpoints.create(DEMO_OWNER, url, description="make demo: the webhook receiver emulator")
    receiver.forget(DEMO_RECEIVER)
    receiver.configure(DEMO_RECEIVER, [s.value for s in endpoint.secrets])
    return receiver


WANTED_EVENTS = ("payment.succeeded", "payout.pending", "payout.submitted", "payout.paid")


def show_webhooks(root, receiver, timeout: float = 60.0) -> int:
    """What the demo tenant's endpoint received: each event, its ordering and whether its signature
    verified. Waits for the pay-in's and the payout's events."""
    import json

    def bodies():
        return [(r, json.loads(r["body"])) for r in receiver.received(DEMO_RECEIVER) if r["status"] == 200]

    earlier = delivered_earlier(root, receiver.url(DEMO_RECEIVER))  # a rerun waits for nothing it had
    _until(lambda: set(WANTED_EVENTS) - earlier <= {b["type"] for _, b in bodies()}, (True,), timeout)
    got = bodies()
    print(f"\nwebhooks the demo tenant received ({receiver.url(DEMO_RECEIVER)}, signed, verified by the receiver):")
    table(
        [
            {
                "type": b["type"],
                "key": b["ordering"]["key"][:24],
                "seq": b["ordering"]["sequence"],
                "verified": "yes" if r["verified"] else "NO",
            }
            for r, b in got
        ],
        [("type", "type"), ("key", "ordering key"), ("seq", "seq"), ("verified", "signature")],
    )
    missing = set(WANTED_EVENTS) - {b["type"] for _, b in got}
    earlier &= missing
    if earlier:  # a rerun: the payments replayed idempotently, so their events were delivered by a run before
        print(f"delivered in an earlier run: {sorted(earlier)}")
        missing -= earlier
    if missing:
        print(f"missing: {sorted(missing)} (see .run/logs/webhooks.log)")
    return len(missing) + sum(not r["verified"] for r, _ in got)


def delivered_earlier(root, url: str) -> set[str]:
    """The event types the demo endpoint has had delivered, by the webhooks' own records (the receiver
    emulator keeps this run's requests only)."""
    from shared.webhooks.records import DELIVERY

    endpoints = [e.endpoint_id for e in _endpoints(root) if e.url == url]
    events = {name: row["type"] for name, row in root.store.query("CustomerEvent", "tenant", DEMO_OWNER).items()}
    delivered = set()
    for endpoint in endpoints:
        for row in root.store.query(DELIVERY, "endpoint", endpoint).values():
            if row.get("status") == "delivered" and row.get("event") in events:
                delivered.add(events[row["event"]])
    return delivered


def _endpoints(root):
    from shared import bootstrap

    return bootstrap.webhook_endpoints(root).list(DEMO_OWNER)


def _queued_steps(root) -> int:
    from shared.adapters import tasks_queue
    from shared.topology import PAYMENTS_QUEUE

    parent = tasks_queue.queue_path(root.cfg, PAYMENTS_QUEUE)
    return sum(1 for _ in tasks_queue.client(root.cfg).list_tasks(request={"parent": parent}))


def _until(status, done: tuple, timeout: float):
    import time

    deadline = time.monotonic() + timeout
    while True:
        now = status()
        if now in done or time.monotonic() > deadline:
            return now
        time.sleep(0.3)
