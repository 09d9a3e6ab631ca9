"""Customer API latency at a fixed offered load (open loop, loopback only), on the emulators.

    python -m bench.api [--rate 50] [--seconds 15] [--workers 16] [--customers 40] [--out .run/bench/api.json]

Requests are scheduled at exact instants and latency is measured from the scheduled instant (no
coordinated omission), as in bench/intake.py. Three phases at the same rate, same run:
  floor     GET /healthz of the api function: functions-framework + loopback + this client, no I/O
  balance   GET /v1/accounts/{id}/balance (key lookup, tenancy, the account's shards query)
  transfer  POST /v1/transfers with a fresh Idempotency-Key (key lookup, tenancy, idempotency insert,
            one ledger transaction with constraints, the outbox streamed to BigQuery, record update),
            between random pairs of --customers wallets (a customer wallet is one entity: pairs spread
            the writes as real traffic would)
Reported per phase: achieved rate, p50/p99/max, errors; and balance p99 / floor p99, transfer p99 / floor p99.
The key's rate limit (LEDGERLINE_API_RATE_LIMIT, 100/s per instance) is above the default rate."""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.baseline import progress
from bench.openloop import open_loop
from shared.adapters import datastore_store
from shared.api import keys, tenants
from shared.config import settings
from shared.domain.ledger.model import Leg, Operation
from shared.ledger import transactions


def setup(customers: int) -> tuple[str, list[str]]:
    cfg = settings()
    store = datastore_store.DatastoreLedger(datastore_store.client(cfg))
    run, now = uuid.uuid4().hex[:8], datetime.now(tz=UTC)
    tenant = f"bench-{run}"
    tenants.create_tenant(store, tenant, "bench", now)
    names = [f"cus_bench{run}_{i}" for i in range(customers)]
    for name in names:
        tenants.add_customer(store, tenant, name, now)
        op_id = f"bench_fund_{run}_{name}"
        legs = (Leg("bank:bench:operating", "debit", 10**9, "USD"), Leg(tenants.wallet(name), "credit", 10**9, "USD"))
        transactions.execute(store, Operation(op_id, "post", "bench_fund.v1", op_id, "bench", op_id, now, legs=legs))
    return keys.create_key(store, tenant, ["read", "write"], now, livemode=cfg.livemode, label="bench"), names


def run(rate: float, seconds: float, workers: int, make_request) -> dict:
    return open_loop(rate, int(rate * seconds), workers, make_request)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--out", default=str(settings().run_dir / "bench" / "api.json"))
    args = parser.parse_args(argv)
    url = settings().function_urls["api"]
    progress(f"setting up a tenant with {args.customers} funded customers")
    key, names = setup(args.customers)
    auth = {"Authorization": f"Bearer {key}"}
    rng = random.Random(7)
    pairs = [rng.sample(names, 2) for _ in range(int(args.rate * args.seconds))]

    def transfer(session, i):
        source, to = pairs[i]
        body = {"from_account": source, "to_account": to, "amount": 1 + i % 500, "currency": "USD"}
        headers = {**auth, "Idempotency-Key": f"bench-{uuid.uuid4()}"}
        return session.post(f"{url}/v1/transfers", json=body, headers=headers, timeout=30)

    phases = {
        "floor": lambda s, i: s.get(f"{url}/healthz", timeout=30),
        "balance": lambda s, i: s.get(f"{url}/v1/accounts/{names[i % len(names)]}/balance", headers=auth, timeout=30),
        "transfer": transfer,
    }
    result: dict = {"rate": args.rate, "seconds": args.seconds, "customers": args.customers}
    for name, make in phases.items():
        progress(f"phase {name}: {args.rate:g} req/s for {args.seconds:g} s")
        result[name] = run(args.rate, args.seconds, args.workers, make)
        progress(f"  {name}: {result[name]}")
    floor = result["floor"]["p99_ms"] or 1
    result["balance_p99_over_floor"] = round(result["balance"]["p99_ms"] / floor, 1)
    result["transfer_p99_over_floor"] = round(result["transfer"]["p99_ms"] / floor, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if not (result["balance"]["errors"] or result["transfer"]["errors"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
