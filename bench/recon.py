"""Reconciliation at a million rows, as a ratio to the floor measured in the same run (pure: no emulator).

    python -m bench.recon [--rows 1000000] [--repeat 3] [--seed 7] [--out .run/bench/recon.json]

Data: tests.planted.dataset — --rows partner rows and as many ledger rows (Stripe
shape, payouts of 1,000 rows, bank lines per payout) with ~0.5 % planted breaks of every reason, seeded.
Probes (same frames, each run --repeat times after one untimed warm-up; the median is reported):
  floor     a single-key FULL OUTER JOIN of the partner and ledger frames on `reference` (polars)
  cascade   shared.reconciliation.reconcile: duplicates, exact reference, payment reference, composite,
            tolerance, grouping, payout composition, payout ↔ bank, leftovers, break ids and severity
Targets (issue 6): cascade <= 4x floor and <= 60 s; the breaks found equal the planted ones exactly.
Peak RSS (ru_maxrss of this process: data generation included) is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bench.baseline import progress
from shared.reconciliation import MatchParams, reconcile
from tests.planted import dataset, found

TARGET_RATIO = 4.0
TARGET_SECONDS = 60.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed(run, repeat: int) -> tuple[float, list[float], object]:
    result = run()  # warm-up (and the result we check)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tolerance", type=int, default=5, help="amount tolerance, minor units")
    parser.add_argument("--out", default=".run/bench/recon.json")
    args = parser.parse_args(argv)

    progress(f"generating {args.rows:,} partner × ledger rows with planted breaks (seed {args.seed})")
    start = time.perf_counter()
    data = dataset(args.rows, seed=args.seed, tolerance=args.tolerance)
    generated = time.perf_counter() - start
    rss_data = peak_rss_mib()
    params = MatchParams(amount_tolerance=args.tolerance)

    def floor():
        return data.partner.join(data.ledger, on="reference", how="full", suffix="_r").height

    def cascade():
        return reconcile(data.partner, data.ledger, data.bank, as_of=data.as_of, params=params)

    progress("floor: single-key full outer join")
    floor_s, floor_all, _ = timed(floor, args.repeat)
    progress("cascade")
    cascade_s, cascade_all, result = timed(cascade, args.repeat)
    got = found(result.breaks)
    exact = got == data.expected
    ratio = cascade_s / floor_s
    out = {
        "rows": {"partner": data.partner.height, "ledger": data.ledger.height, "bank": data.bank.height},
        "generated_seconds": round(generated, 3),
        "floor_seconds": round(floor_s, 3),
        "cascade_seconds": round(cascade_s, 3),
        "floor_runs": [round(t, 3) for t in floor_all],
        "cascade_runs": [round(t, 3) for t in cascade_all],
        "ratio_cascade_vs_floor": round(ratio, 2),
        "peak_rss_mib": {"after_data": round(rss_data, 1), "after_runs": round(peak_rss_mib(), 1)},
        "planted_breaks": len(data.expected),
        "found_breaks": len(got),
        "breaks_by_reason": result.summary["breaks"],
        "matches_by_rule": result.summary["matches"],
        "exact": exact,
        "missed": sorted(data.expected - got)[:10],
        "unexpected": sorted(got - data.expected)[:10],
        "targets": {"ratio_max": TARGET_RATIO, "seconds_max": TARGET_SECONDS},
        "environment": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "threads": pl.thread_pool_size(),
        },
        "measured_at": datetime.now(tz=UTC).isoformat(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    ok = exact and ratio <= TARGET_RATIO and cascade_s <= TARGET_SECONDS
    verdict = "OK" if ok else "TARGET MISSED"
    progress(f"{verdict}: cascade {cascade_s:.2f}s = {ratio:.2f}x floor {floor_s:.2f}s; breaks exact: {exact}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
