"""Intake latency at a fixed offered load (open loop, loopback only), Datastore write and publish included.

    python -m bench.intake [--rate 200] [--seconds 20] [--workers 32] [--no-pipeline] [--out .run/bench/intake.json]

Requests are scheduled at exact instants (rate per second) and latency is measured from the scheduled
instant, so a slow server cannot hide queueing (no coordinated omission). Every request is a unique,
signed Stripe payment_intent.succeeded. Three phases, same rate, same run:
  floor     GET /healthz of the intake function: functions-framework + loopback + this client, no I/O
  intake    the webhooks with the ledger's push subscription paused (switched to pull): what intake
            itself costs (verify, inbox transaction, publish, marker); then push is restored and the
            backlog drains through the ledger (drain rate reported)
  pipeline  the webhooks with the ledger consuming at the same time, on the same 2 cores
Reported per phase: achieved throughput, p50/p99/max latency, errors; and intake p99 / floor p99.
Target (issue 4): intake p99 < 25 ms at 200 req/s.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from google.cloud import pubsub_v1

from bench.baseline import progress
from shared import datastore_store
from shared.config import settings
from shared.partners import stripe
from shared.scenario import encode, payment_intent_succeeded
from shared.topology import CANONICAL_EVENTS_TOPIC, LEDGER_SUBSCRIPTION


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


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
    secret = cfg.stripe_webhook_secrets[0]
    total = int(rate * seconds)
    bodies = [b""] * total if floor else webhooks(total)
    jobs: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker():
        session = requests.Session()
        while (job := jobs.get()) is not None:
            scheduled, body = job
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": stripe.sign(body, secret, int(time.time())),
            }
            try:
                if floor:
                    status = session.get(url, timeout=30).status_code
                else:
                    status = session.post(url, data=body, headers=headers, timeout=30).status_code
            except requests.RequestException as exc:
                status = repr(exc)
            elapsed = time.perf_counter() - scheduled
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(str(status))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    start = time.perf_counter() + 0.5
    for i, body in enumerate(bodies):
        jobs.put((start + i / rate, body))
    for _ in threads:
        jobs.put(None)
    last = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        with lock:
            done = len(latencies)
        if done - last >= rate * 5:
            progress(f"{done}/{total} requests answered")
            last = done
    wall = time.perf_counter() - start
    values = sorted(latencies)
    return {
        "offered_rate": rate,
        "requests": total,
        "achieved_rate": round(total / wall, 1),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1) if values else None,
        "errors": len(errors),
        "error_sample": errors[:5],
    }


class LedgerPaused:
    """Switch the ledger's push subscription to pull for the duration (messages wait in Pub/Sub), then
    restore the push endpoint, whatever happens."""

    def __init__(self, cfg):
        self.cfg, self.subscriber = cfg, pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(cfg.project, LEDGER_SUBSCRIPTION)

    def __enter__(self):
        self.subscriber.modify_push_config(subscription=self.path, push_config=pubsub_v1.types.PushConfig())
        return self

    def __exit__(self, *exc):
        endpoint = self.cfg.push_endpoint("ledger", CANONICAL_EVENTS_TOPIC)
        self.subscriber.modify_push_config(
            subscription=self.path, push_config=pubsub_v1.types.PushConfig(push_endpoint=endpoint)
        )


def drain(cfg, expected: int, timeout: float = 600.0) -> dict:
    """Wait until the ledger has posted `expected` more transactions than before the paused phase."""
    db = datastore_store.client(cfg)
    start, began = time.perf_counter(), drain.baseline
    while time.perf_counter() - start < timeout:
        done = datastore_store.count(db, "JournalTransaction") - began
        if done >= expected:
            seconds = time.perf_counter() - start
            return {"posted": done, "seconds": round(seconds, 1), "rate_per_s": round(done / seconds, 1)}
        progress(f"ledger draining: {done}/{expected} posted")
        time.sleep(2.0)
    return {"posted": datastore_store.count(db, "JournalTransaction") - began, "timed_out": True}


drain.baseline = 0


def measure(rate: float, seconds: float, workers: int, pipeline: bool = True) -> dict:
    cfg = settings()
    result: dict = {}
    drain.baseline = datastore_store.count(datastore_store.client(cfg), "JournalTransaction")
    with LedgerPaused(cfg):
        progress(f"warm-up, not measured: webhooks at {rate / 2:.0f} req/s for 10 s (JIT of the Java emulators)")
        warm = run(rate / 2, 10, workers)
        progress(f"floor: GET /healthz at {rate:.0f} req/s")
        result["floor"] = run(rate, seconds, workers, floor=True)
        progress(f"intake alone (ledger paused) at {rate:.0f} req/s")
        result["intake"] = run(rate, seconds, workers)
    progress("ledger push restored; draining the backlog")
    accepted = warm["requests"] - warm["errors"] + result["intake"]["requests"] - result["intake"]["errors"]
    result["drain"] = drain(cfg, accepted)
    if pipeline:
        progress(f"whole pipeline (ledger consuming) at {rate:.0f} req/s")
        result["pipeline"] = run(rate, seconds, workers)
    result["intake_p99_over_floor_p99"] = round(result["intake"]["p99_ms"] / max(result["floor"]["p99_ms"], 0.1), 2)
    result["target_p99_ms"] = 25
    result["measured_at"] = datetime.now(tz=UTC).isoformat()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--no-pipeline", action="store_true", help="skip the whole-pipeline phase")
    parser.add_argument("--out", default=".run/bench/intake.json")
    args = parser.parse_args(argv)
    progress(f"intake: {args.rate:.0f} req/s for {args.seconds:.0f} s per phase ({args.workers} client threads)")
    result = measure(args.rate, args.seconds, args.workers, pipeline=not args.no_pipeline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    keys = ("requests", "achieved_rate", "p50_ms", "p99_ms", "max_ms", "errors")
    print(f"{'phase':<10} " + " ".join(f"{k:>13}" for k in keys))
    for phase in ("floor", "intake", "pipeline"):
        if phase in result:
            print(f"{phase:<10} " + " ".join(f"{result[phase][k]!s:>13}" for k in keys))
    print(f"ledger drain after the paused phase: {result['drain']}")
    print(f"intake p99 / floor p99: {result['intake_p99_over_floor_p99']}x")
    met = result["intake"]["p99_ms"] < result["target_p99_ms"] and result["intake"]["errors"] == 0
    print(f"intake p99 target < {result['target_p99_ms']} ms: {'met' if met else 'NOT met'}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
