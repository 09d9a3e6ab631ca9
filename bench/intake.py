"""Intake latency at a fixed offered load (open loop, loopback only), Datastore write and publish included.

    python -m bench.intake [--rate 200] [--seconds 20] [--workers 32] [--out .run/bench/intake.json]

Requests are scheduled at exact instants (rate per second) and latency is measured from the scheduled
instant, so a slow server cannot hide queueing (no coordinated omission). Every request is a unique,
signed Stripe payment_intent.succeeded. After a warm-up (JIT of the Java emulators), three phases at
the same rate, same run:
  floor         GET /healthz of the intake function: functions-framework + loopback + this client
  intake_alone  the webhooks (verify, inbox insert, publish, marker) with the ledger's push diverted to
                a sink that acknowledges (nothing posts: no ledger or BigQuery CPU); afterwards the
                diverted events are re-driven from the inbox and the ledger catches up
  pipeline      the webhooks with the ledger consuming at the same time on the same cores, then the
                time it needs to catch up (end-to-end rate)
Reported: achieved throughput, p50/p99/max latency, errors; intake_alone p99 / floor p99.
(Switching the subscription to pull instead would measure the Pub/Sub emulator: with a pull backlog
it slows publishing ~25x.)
Target (issue 4): intake p99 < 25 ms at 200 req/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from google.cloud import pubsub_v1

from bench.baseline import progress
from bench.openloop import open_loop
from shared import bootstrap as wiring
from shared.adapters import datastore_store
from shared.config import settings
from shared.demo import encode, payment_intent_succeeded
from shared.partners import stripe
from shared.topology import CANONICAL_EVENTS_TOPIC, LEDGER_SUBSCRIPTION


def webhooks(total: int) -> list[bytes]:
    run_id = uuid.uuid4().hex[:10]
    return [
        encode(
            payment_intent_succeeded(f"evt_bi{run_id}{i}", f"pi_bi{run_id}{i}", 100 + i % 900, "usd", f"cus_bi{i % 50}")
        )
        for i in range(total)
    ]


def run(rate: float, seconds: float, workers: int, floor: bool = False) -> dict:
    """One open-loop phase: signed webhooks (or GET /healthz when floor)."""
    cfg = settings()
    url = f"{cfg.function_urls['intake']}" + ("/healthz" if floor else "/webhooks/stripe")
    secret = cfg.webhook_secrets("stripe")[0]
    total = int(rate * seconds)
    bodies = [b""] * total if floor else webhooks(total)
    keys = [] if floor else [f"stripe:{json.loads(b)['id']}" for b in bodies]

    def send(session: requests.Session, i: int) -> requests.Response:
        if floor:
            return session.get(url, timeout=30)
        signature = stripe.sign(bodies[i], secret, int(time.time()))
        headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
        return session.post(url, data=bodies[i], headers=headers, timeout=30)

    return {**open_loop(rate, total, workers, send), "_keys": keys}


class LedgerDiverted:
    """Point the ledger's push subscription at a sink (the reconciliation function's /healthz, which
    answers 200 to anything): messages are delivered and acknowledged as usual, but nothing posts, so
    the ledger and BigQuery use no CPU while intake is measured. Restored on exit, whatever happens;
    the diverted events are then re-driven from the inbox (the normal idempotent path)."""

    def __init__(self, cfg):
        self.cfg, self.subscriber = cfg, pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(cfg.project, LEDGER_SUBSCRIPTION)

    def _point(self, endpoint: str) -> None:
        config = pubsub_v1.types.PushConfig(push_endpoint=endpoint)
        self.subscriber.modify_push_config(subscription=self.path, push_config=config)

    def __enter__(self):
        self._point(self.cfg.function_urls["reconciliation"] + "/healthz")
        return self

    def __exit__(self, *exc):
        self._point(self.cfg.push_endpoint("ledger", CANONICAL_EVENTS_TOPIC))


def drain(cfg, baseline: int, expected: int, timeout: float = 900.0) -> dict:
    """Wait until the ledger has posted `expected` transactions more than `baseline` (progress shown)."""
    db = datastore_store.client(cfg)
    start = time.perf_counter()
    done = 0
    while time.perf_counter() - start < timeout:
        done = datastore_store.count(db, "JournalTransaction") - baseline
        if done >= expected:
            break
        progress(f"ledger catching up: {done}/{expected} posted")
        time.sleep(5.0)
    return {"posted": done, "seconds_after_last_request": round(time.perf_counter() - start, 1)}


def measure(rate: float, seconds: float, workers: int) -> dict:
    cfg = settings()
    db = datastore_store.client(cfg)
    before = datastore_store.count(db, "JournalTransaction")
    progress(f"warm-up, not measured: webhooks at {rate / 2:.0f} req/s for 10 s (JIT of the Java emulators)")
    warm = run(rate / 2, 10, workers)
    drain(cfg, before, warm["requests"] - warm["errors"])  # start the measured phases from a quiet ledger
    progress(f"floor: GET /healthz at {rate:.0f} req/s")
    result = {"floor": run(rate, seconds, workers, floor=True)}
    baseline = datastore_store.count(db, "JournalTransaction")
    progress(f"intake alone at {rate:.0f} req/s (the ledger's push diverted to a sink: nothing posts)")
    with LedgerDiverted(cfg):
        result["intake_alone"] = run(rate, seconds, workers)
        time.sleep(3.0)  # let the sink acknowledge what is in flight before the ledger is back
    intake = wiring.intake(wiring.root(cfg))
    redriven = sum(intake.republish(key, force=True) == "published" for key in result["intake_alone"]["_keys"])
    progress(f"re-drove the {redriven} diverted events to the ledger; waiting for it to catch up")
    result["catch_up_after_alone"] = drain(cfg, baseline, redriven)
    baseline = datastore_store.count(db, "JournalTransaction")
    progress(f"whole pipeline at {rate:.0f} req/s: the ledger consuming at the same time on the same cores")
    began = time.perf_counter()
    result["pipeline"] = run(rate, seconds, workers)
    accepted = result["pipeline"]["requests"] - result["pipeline"]["errors"]
    result["ledger"] = drain(cfg, baseline, accepted)
    elapsed = time.perf_counter() - began
    result["ledger"]["end_to_end_rate_per_s"] = round(result["ledger"]["posted"] / elapsed, 1)
    for phase in ("floor", "intake_alone", "pipeline"):
        result[phase].pop("_keys", None)
    result["intake_alone_p99_over_floor_p99"] = round(
        result["intake_alone"]["p99_ms"] / max(result["floor"]["p99_ms"], 0.1), 2
    )
    result["target_p99_ms"] = 25
    result["measured_at"] = datetime.now(tz=UTC).isoformat()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--out", default=".run/bench/intake.json")
    args = parser.parse_args(argv)
    progress(f"intake: {args.rate:.0f} req/s for {args.seconds:.0f} s per phase ({args.workers} client threads)")
    result = measure(args.rate, args.seconds, args.workers)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    keys = ("requests", "achieved_rate", "p50_ms", "p99_ms", "max_ms", "errors")
    print(f"{'phase':<13} " + " ".join(f"{k:>13}" for k in keys))
    for phase in ("floor", "intake_alone", "pipeline"):
        print(f"{phase:<13} " + " ".join(f"{result[phase][k]!s:>13}" for k in keys))
    print(f"ledger catch-up after the diverted phase: {result['catch_up_after_alone']}")
    print(f"ledger during/after the pipeline phase (end-to-end rate): {result['ledger']}")
    print(f"intake alone p99 / floor p99: {result['intake_alone_p99_over_floor_p99']}x")
    met = result["intake_alone"]["p99_ms"] < result["target_p99_ms"] and result["intake_alone"]["errors"] == 0
    print(
        f"intake alone p99 target < {result['target_p99_ms']} ms: {'met' if met else 'NOT met'}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
