"""Statement exports at their largest (200,000 entries), per format, against the exports function's
limits (topology: memory and timeout), as ratios to a floor measured in the same run (pure: no emulator).

    python -m bench.exports [--entries 200000] [--out .run/bench/exports.json]

Each probe runs in its own process (so its peak RSS is its own): it builds the statement with
shared.domain.statements.build over --entries synthetic lines of one wallet, then renders it with
shared.api.statements.render, exactly as the exports function's handler does after reading the journal
(the journal read itself is not included: it is the Datastore emulator's speed, not ours).
  floor  the same lines written as JSON arrays by json.dumps (the least any rendering must do)
  csv, json, pdf  the renderings a customer can ask an export for
Targets: every format within half the function's memory and half its timeout (the rest is the journal
read and headroom).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.baseline import progress
from shared.topology import topology

FORMATS = ("floor", "csv", "json", "pdf")


def _mib(memory: str) -> int:
    number, unit = int(memory[:-2]), memory[-2:]
    return number * 1024 if unit == "Gi" else number


def probe(fmt: str, entries: int) -> dict:
    """One format, in this process: seconds and output bytes (the caller reads the peak RSS)."""
    from shared.api import statements
    from shared.domain import statements as domain
    from shared.domain.ledger.accounts import AccountBalance

    account, t0 = "customer:cus_bench:wallet", datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        domain.Line(f"t{i}:1", f"t{i}", "post", "USD", "credit", "posted", 100, t0 + timedelta(seconds=i),
                    t0 + timedelta(seconds=i), i + 1)
        for i in range(entries)
    ]  # fmt: skip
    start = time.perf_counter()
    if fmt == "floor":
        body = json.dumps([[ln.id, ln.amount, ln.recorded_at.isoformat()] for ln in lines]).encode()
    else:
        period = domain.parse_period("custom", t0, t0 + timedelta(days=3000), max_days=domain.EXPORT_MAX_DAYS)
        closing = {"USD": AccountBalance(account, "USD", 0, 100 * entries, 0, 0)}
        s = domain.build(
            account, "cus_bench", period, "recorded", lines, {}, closing, t0 + timedelta(days=3001),
            max_entries=domain.EXPORT_MAX_ENTRIES,
        )  # fmt: skip
        body = statements.render(s, fmt).body
    return {"seconds": time.perf_counter() - start, "bytes": len(body)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--out", default=".run/bench/exports.json")
    parser.add_argument("--probe", choices=FORMATS, help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    if args.probe:
        out = probe(args.probe, args.entries)
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return 0

    cloud = topology()["functions"]["exports"]["cloud"]
    limit_mib, limit_s = _mib(cloud["memory"]), cloud["timeout_seconds"]
    results = {}
    for fmt in FORMATS:
        progress(f"{fmt}: {args.entries:,} entries")
        run = subprocess.run(
            [sys.executable, "-m", "bench.exports", "--probe", fmt, "--entries", str(args.entries)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[fmt] = json.loads(run.stdout.strip().splitlines()[-1])
    floor = results["floor"]["seconds"]
    ok = True
    print(f"\nstatement exports, {args.entries:,} entries (exports function: {limit_mib} MiB, {limit_s} s)")
    print(f"{'format':<6} {'seconds':>8} {'x floor':>8} {'peak MiB':>9} {'bytes':>12}  within half the limits")
    for fmt, r in results.items():
        fits = r["peak_rss_mib"] <= limit_mib / 2 and r["seconds"] <= limit_s / 2
        ok &= fits or fmt == "floor"
        r["ratio_to_floor"] = r["seconds"] / floor
        print(
            f"{fmt:<6} {r['seconds']:>8.1f} {r['ratio_to_floor']:>8.1f} {r['peak_rss_mib']:>9.0f} "
            f"{r['bytes']:>12,}  {'yes' if fits else 'NO'}"
        )
    report = {
        "entries": args.entries,
        "limits": {"memory_mib": limit_mib, "timeout_seconds": limit_s},
        "results": results,
        "ok": ok,
        "machine": platform.platform(),
        "at": datetime.now(tz=UTC).isoformat(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\n{'OK' if ok else 'OVER THE LIMITS'}; results in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
