"""Smoke test of a deployed stack (CI after `make deploy`; `make smoke ENV=… PROJECT_ID=… TF_STATE_BUCKET=…`).

Sends a uniquely identified, signed Standard Webhooks (generic partner) payment to the deployed intake,
then its full refund (net zero on the books: a smoke customer's wallet and the generic clearing account
end where they were, in prod too — the generic partner posts in live mode), checks a forged signature is a
401, waits until both are posted and streamed to BigQuery (the cloud Datastore, read in-process as the
CLI does), then runs `verify`. The signing secret is SMOKE_WEBHOOK_SECRET, or else the latest version of
Secret Manager's `generic-webhook-secrets` (first value), read with gcloud.

    python -m scripts.smoke --webhook-url URL --project P [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import requests
from standardwebhooks.webhooks import Webhook

CUSTOMER = "smoke"


def messages(tag: str, now: datetime, amount: int = 100, currency: str = "USD") -> list[tuple[str, bytes]]:
    """(webhook-id, body) of the payment and its refund; pure."""
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    common = {"amount": amount, "currency": currency, "customer": CUSTOMER}
    payment = {"type": "payment.captured", "timestamp": stamp, "data": {**common, "reference": f"smoke_pay_{tag}"}}
    refund = {
        "type": "payment.refunded",
        "timestamp": stamp,
        "data": {**common, "reference": f"smoke_ref_{tag}", "payment_reference": f"smoke_pay_{tag}"},
    }
    return [(f"smoke_{tag}_pay", _encode(payment)), (f"smoke_{tag}_refund", _encode(refund))]


def _encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(msg_id: str, body: bytes, secret: str, now: datetime) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "Content-Type": "application/json",
    }


def send(webhook_url: str, secret: str, tag: str, posted, now=lambda: datetime.now(UTC)) -> list[str]:
    """Send the forged delivery, then each message, waiting until it is posted (`posted(event key)`);
    returns the problems found (empty: the smoke test passed)."""
    problems = []
    url = f"{webhook_url.rstrip('/')}/generic"
    (first_id, first_body), *_ = msgs = messages(tag, now())
    forged = requests.post(
        url, data=first_body, headers=headers(first_id, first_body, "whsec_Zm9yZ2Vk", now()), timeout=30
    )
    if forged.status_code != 401:
        problems.append(f"a forged signature was answered {forged.status_code}, not 401")
    for msg_id, body in msgs:
        resp = requests.post(url, data=body, headers=headers(msg_id, body, secret, now()), timeout=30)
        status = (
            resp.json().get("status") if resp.headers.get("content-type", "").startswith("application/json") else None
        )
        if resp.status_code != 200 or status != "accepted":
            problems.append(f"{msg_id}: {resp.status_code} {resp.text[:200]}")
            break
        if not posted(f"generic:{msg_id}"):
            problems.append(f"{msg_id}: accepted but not posted in time")
            break
    return problems


def secret_from(project: str, environ=os.environ) -> str:
    value = (
        environ.get("SMOKE_WEBHOOK_SECRET")
        or subprocess.run(
            [
                "gcloud",
                "secrets",
                "versions",
                "access",
                "latest",
                "--secret",
                "generic-webhook-secrets",
                "--project",
                project,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return value.split(",")[0].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhook-url", required=True, help="terraform output webhook_url (…/webhooks)")
    parser.add_argument("--project", required=True)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    os.environ["LEDGERLINE_ENV"], os.environ["GOOGLE_CLOUD_PROJECT"] = "cloud", args.project
    from shared import bootstrap
    from shared.cli.books import wait_posted
    from shared.config import settings
    from shared.ledger.verify import verify

    root = bootstrap.root(settings())
    tag = f"{int(time.time())}_{uuid.uuid4().hex[:8]}"
    problems = send(
        args.webhook_url, secret_from(args.project), tag, lambda key: not wait_posted(root, [key], args.timeout)
    )
    report = verify(root.cfg, db=root.db, with_bigquery=True)
    if not report["ok"]:
        problems += [f"verify: {p}" for p in report["problems"]]
    print(json.dumps({"tag": tag, "ok": not problems, "problems": problems, "counts": report["counts"]}, default=str))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
