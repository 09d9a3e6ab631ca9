"""Intake latency at a fixed offered load (open loop, loopback only), Datastore write and publish included.

    python -m bench.intake [--rate 200] [--seconds 20] [--workers 32] [--out .run/bench/intake.json]

Requests are scheduled at exact instants (rate per second) and latency is measured from the scheduled
instant, so a slow server cannot hide queueing (no coordinated omission). Every request is a unique,
signed Stripe payment_intent.succeeded. Reported: achieved throughput, p50/p99/max latency, errors.
Target (issue 4): p99 < 25 ms at 200 req/s.
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

from bench.baseline import progress
from shared.config import settings
from shared.partners import stripe
from shared.scenario import encode, payment_intent_succeeded


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(rate: float, seconds: float, workers: int) -> dict:
    cfg = settings()
    url = f"{cfg.function_urls['intake']}/webhooks/stripe"
    secret = cfg.stripe_webhook_secrets[0]
    run_id = uuid.uuid4().hex[:10]
    total = int(rate * seconds)
    bodies = [
        encode(
            payment_intent_succeeded(f"evt_bi{run_id}{i}", f"pi_bi{run_id}{i}", 100 + i % 900, "usd", f"cus_bi{i % 50}")
        )
        for i in range(total)
    ]
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
        "target_p99_ms": 25,
        "measured_at": datetime.now(tz=UTC).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--out", default=".run/bench/intake.json")
    args = parser.parse_args(argv)
    progress(f"intake: {args.rate:.0f} req/s for {args.seconds:.0f} s ({args.workers} client threads)")
    result = run(args.rate, args.seconds, args.workers)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for key in ("offered_rate", "requests", "achieved_rate", "p50_ms", "p99_ms", "max_ms", "errors"):
        print(f"{key:<14} {result[key]}")
    met = result["p99_ms"] < result["target_p99_ms"] and result["errors"] == 0
    print(f"p99 target < {result['target_p99_ms']} ms: {'met' if met else 'NOT met'}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
