"""The demo command: the demo webhook scenario sent to intake, then balances and verify."""

from __future__ import annotations

import argparse
import sys

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
    print("\nbalances (posted, on each account's normal side):")
    cmd_balances(argparse.Namespace(json=False), root)
    print()
    verdict = cmd_verify(argparse.Namespace(json=False, no_bigquery=False), root)
    return 1 if failures or verdict else 0
