"""Ledger throughput against the Datastore emulator, as ratios to the raw emulator transaction rate
measured in the same run (bench/baseline.py's probe).

    python -m bench.ledger [--n 300] [--batch 25] [--writers 8] [--out .run/bench/ledger.json]

Probes (each ledger gets a fresh Datastore namespace, so runs never see each other's data):
  raw_txn            bench.baseline.datastore_transactions: get 2, put 3, in one transaction
  posting_single     one payment (3 entries' worth of state) per Datastore transaction, sequential
  posting_batched    --batch payments per Datastore transaction (execute_batch), sequential batches
  hot_uncontended    --writers threads, each posting payments through its own partner's clearing account
  hot_contended      --writers threads, every payment through ONE clearing account (sharded)
Targets (issue 3): single >= 0.8x raw, batched >= 5x raw, contended >= 0.7x uncontended with exact totals.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from google.cloud import datastore

from bench.baseline import Result, datastore_transactions, progress, timed
from bench.batch import execute_batch
from shared.adapters.datastore_store import DatastoreLedger
from shared.config import settings
from shared.domain.ledger.operations import operation_for
from shared.ledger.balances import all_balances
from shared.ledger.transactions import execute
from tests.factories import canonical_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def payment_op(run: str, n: int, partner: str = "stripe", amount: int = 100):
    event = canonical_event(
        partner_event_id=f"evt_{run}_{n}",
        partner=partner,
        partner_event_type="payment_intent.succeeded",
        at=T0,
        customer=f"cus_{run}_{n}",
        amount=amount,
        fee=3,
        reference=f"pi_{run}_{n}",
    )
    return operation_for(event)


def fresh_ledger(project: str) -> DatastoreLedger:
    return DatastoreLedger(datastore.Client(project=project, namespace=f"bench-{uuid.uuid4().hex[:12]}"))


def single(project: str, n: int) -> Result:
    ledger, run = fresh_ledger(project), uuid.uuid4().hex[:8]
    ops = [payment_op(run, i) for i in range(n + 1)]
    execute(ledger, ops[-1])  # warm-up

    def go():
        for op in ops[:n]:
            assert execute(ledger, op).status == "posted"

    return timed("posting_single", n, go)


def batched(project: str, n: int, batch: int) -> Result:
    ledger, run = fresh_ledger(project), uuid.uuid4().hex[:8]
    ops = [payment_op(run, i) for i in range(n + batch)]
    execute_batch(ledger, ops[n:])  # warm-up

    def go():
        for start in range(0, n, batch):
            assert {r.status for r in execute_batch(ledger, ops[start : start + batch])} == {"posted"}

    return timed(f"posting_batched_{batch}", n, go)


def concurrent(project: str, n: int, writers: int, contended: bool) -> Result:
    """n payments split over `writers` threads; contended: all through partner 'stripe'."""
    ledger, run = fresh_ledger(project), uuid.uuid4().hex[:8]
    plans = [
        [payment_op(run, i, "stripe" if contended else f"p{w}") for i in range(w, n, writers)] for w in range(writers)
    ]
    errors: list[BaseException] = []

    def worker(ops):
        try:
            for op in ops:
                execute(ledger, op)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def go():
        threads = [threading.Thread(target=worker, args=(ops,)) for ops in plans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    result = timed("hot_contended" if contended else "hot_uncontended", n, go)
    if errors:
        raise RuntimeError(f"{len(errors)} writer(s) failed: {errors[0]!r}")
    clearing = sum(b.posted for b in all_balances(ledger) if b.account.endswith(":clearing"))
    if clearing != n * 97:  # amount 100 - fee 3 per payment: zero lost updates
        raise RuntimeError(f"lost updates: clearing {clearing}, expected {n * 97}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--out", default=".run/bench/ledger.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # contention retries are expected here; count, not log, them
    cfg = settings()
    db = datastore.Client(project=cfg.project)
    progress(f"raw Datastore transactions (n={args.n})")
    raw = datastore_transactions(db, f"ledger-{uuid.uuid4().hex[:8]}", args.n)
    progress("posting_single")
    one = single(cfg.project, args.n)
    progress(f"posting_batched (batch={args.batch})")
    many = batched(cfg.project, args.n, args.batch)
    progress(f"hot account, {args.writers} writers: uncontended, then contended")
    calm = concurrent(cfg.project, args.n, args.writers, contended=False)
    hot = concurrent(cfg.project, args.n, args.writers, contended=True)
    ratios = {
        "single_vs_raw_txn": one.per_second / raw.per_second,
        "batched_vs_raw_txn": many.per_second / raw.per_second,
        "contended_vs_uncontended": hot.per_second / calm.per_second,
    }
    results = [raw, one, many, calm, hot]
    out = {
        "results": [
            {"probe": r.probe, "n": r.n, "seconds": round(r.seconds, 3), "per_second": round(r.per_second, 1)}
            for r in results
        ],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets": {"single_vs_raw_txn": 0.8, "batched_vs_raw_txn": 5.0, "contended_vs_uncontended": 0.7},
        "measured_at": datetime.now(tz=UTC).isoformat(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"{'probe':<22} {'n':>5} {'seconds':>8} {'ops/s':>9}")
    for r in results:
        print(f"{r.probe:<22} {r.n:>5} {r.seconds:>8.3f} {r.per_second:>9.1f}")
    for name, value in ratios.items():
        target = out["targets"][name]
        print(f"{name:<26} {value:6.2f}x  (target >= {target}x: {'met' if value >= target else 'NOT met'})")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
