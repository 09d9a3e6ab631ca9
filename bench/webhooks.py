"""Webhooks out at a fixed offered rate of event-producing requests, on the emulators (open loop,
loopback only).

    python -m bench.webhooks [--rates 1,2,4,8] [--seconds 30] [--customers 50] [--probe-tasks 2000]
                             [--out .run/bench/webhooks.json]

Measured in the same run, so the ratio means something on whatever machine runs it:
  dispatch        the raw Cloud Tasks dispatch rate: --probe-tasks no-op tasks enqueued on the paused
                  `webhooks` queue, each a POST to a receiver of the webhook receiver emulator that has
                  no secret and no fault (it records the arrival and answers 200 at once), then the
                  queue resumed; rate = tasks / (last arrival - first arrival). The local emulator
                  dispatches one queue's tasks one at a time: this is the ceiling of any work on it.
  deliveries@R    `POST /v1/transfers` between a tenant's customers at R requests/s for --seconds, open
                  loop (bench/openloop.py: latency from the scheduled instant). Each transfer commits 3
                  customer events (transfer.posted, two balance.updated) and the tenant has 4
                  endpoints, receivers answering 200 at once: everything by default
                  (transfer.posted), `balance.updated` only, both, and everything again: 7 deliveries per
                  request. Per (endpoint, event): commit (the CustomerEvent's created_at, the api
                  function's clock) to the first delivery attempt (the receiver's received_at of its
                  first record, the same host's clock), p50 / p99 / max; deliveries/s = first attempts /
                  (last first attempt - first request's scheduled instant); keeping up = the last
                  attempt within 3 s of the last request (below that rate deliveries/s is the offered
                  rate; above it, what the pipeline sustains). The ratio: deliveries/s over the
                  raw dispatch rate (1.0 would be the queue doing nothing but POSTs: each delivery is a
                  task that reads the delivery, its predecessor, the endpoint and the event, signs,
                  POSTs and records the attempt in a transaction, plus a fan-out task per second).
Wallets are funded by direct ledger postings (their events are delivered before the first phase and
not counted). Results in .run/bench/webhooks.json and docs/webhooks.md "Measured".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.baseline import progress
from bench.openloop import open_loop, percentile
from emulators.webhook_receiver.client import ReceiverClient
from shared import bootstrap
from shared.adapters import tasks_queue
from shared.api import keys, tenants
from shared.config import REPO_ROOT, settings
from shared.domain.ledger.model import Leg, Operation
from shared.domain.webhooks.catalogue import subscribed
from shared.ledger import transactions
from shared.topology import WEBHOOKS_QUEUE
from shared.webhooks import records

FUNDING = 10**9
KEEPS_UP_WITHIN_S = 3.0  # the last first attempt this soon after the last request: the rate is sustained
FILTERS: tuple[tuple[str, ...], ...] = ((), ("balance.updated",), ("transfer.posted", "balance.updated"), ())


def ms(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def raw_dispatch(cfg, receiver: ReceiverClient, n: int) -> dict:
    """n no-op tasks on the paused webhooks queue to a receiver that answers 200, then resumed."""
    name = f"tasks-probe-{uuid.uuid4().hex[:6]}"
    url = receiver.configure(name)  # no secret: it takes everything, unverified
    client, queue = tasks_queue.client(cfg), tasks_queue.queue_path(cfg, WEBHOOKS_QUEUE)
    client.pause_queue(name=queue)
    try:
        for i in range(n):
            tasks_queue.enqueue(cfg, WEBHOOKS_QUEUE, url, {"probe": i}, task_id=f"{name}-{i}")
    finally:
        resumed = time.time()
        client.resume_queue(name=queue)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = receiver.received(name)
        if len(got) >= n:
            break
        time.sleep(1.0)
    arrivals = sorted(epoch(r["received_at"]) for r in got)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    receiver.forget(name)
    return {
        "tasks": n,
        "arrived": len(arrivals),
        "per_second": round((len(arrivals) - 1) / span, 1) if span > 0 else None,
        "first_after_resume_ms": round((arrivals[0] - resumed) * 1000, 1) if arrivals else None,
    }


def setup(root, receiver: ReceiverClient, customers: int) -> tuple[str, str, list[str], list]:
    """A tenant, its customers (funded by direct postings), an API key and 4 endpoints on receivers
    that answer 200 at once; returns once the funding events are delivered."""
    store, now = root.store, datetime.now(tz=UTC)
    run = uuid.uuid4().hex[:8]
    tenant = f"bench-wh-{run}"
    tenants.create_tenant(store, tenant, "bench webhooks", now)
    names = [f"cus_bwh{run}_{i}" for i in range(customers)]
    endpoints = []
    service = bootstrap.webhook_endpoints(root)
    for j, types in enumerate(FILTERS):
        name = f"bwh{run}-e{j}"
        ep = service.create(tenant, receiver.url(name), types=list(types))
        receiver.configure(name, [ep.secrets[0].value])
        endpoints.append((ep.endpoint_id, name, types))
    for name in names:
        tenants.add_customer(store, tenant, name, now)
        op_id = f"bench_wh_fund_{run}_{name}"
        legs = (
            Leg("bank:bench:operating", "debit", FUNDING, "USD"),
            Leg(tenants.wallet(name), "credit", FUNDING, "USD"),
        )
        transactions.execute(store, Operation(op_id, "post", "bench_fund.v1", op_id, "bench", op_id, now, legs=legs))
    key = keys.create_key(store, tenant, ["read", "write"], now, livemode=root.cfg.livemode, label="bench")
    wanted = len(names) * sum(subscribed(t, "transfer.posted") + subscribed(t, "balance.updated") for t in FILTERS)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = sum(1 for _, name, _ in endpoints for r in receiver.received(name) if r["status"] == 200)
        if got >= wanted:
            break
        progress(f"funding events delivered: {got}/{wanted}")
        time.sleep(2.0)
    return tenant, key, names, endpoints


def phase(root, receiver, tenant, key, names, endpoints, rate: float, seconds: float, workers: int, timeout: float):
    url = root.cfg.function_urls["api"]
    total = int(rate * seconds)
    rng = random.Random(int(rate * 1000))
    pairs = [rng.sample(range(len(names)), 2) for _ in range(total)]
    tag = uuid.uuid4().hex[:6]
    auth = {"Authorization": f"Bearer {key}"}
    marks = {name: (receiver.received(name) or [{"seq": 0}])[-1]["seq"] for _, name, _ in endpoints}

    def transfer(session, i):
        a, b = pairs[i]
        body = {"from_account": names[a], "to_account": names[b], "amount": 100 + i % 900, "currency": "USD"}
        return session.post(
            f"{url}/v1/transfers", json=body, headers={**auth, "Idempotency-Key": f"bwh-{tag}-{i}"}, timeout=30
        )

    progress(f"transfers at {rate:g}/s for {seconds:g} s ({total} requests)")
    answers = open_loop(rate, total, workers, transfer)
    started = datetime.fromtimestamp(answers["started_at"] - 1, tz=UTC)
    events = {
        name: row
        for name, row in root.store.customer_events_since(tenant, started)
        if row["type"] in ("transfer.posted", "balance.updated")
    }
    expected = {(ep, eid) for ep, _, types in endpoints for eid, e in events.items() if subscribed(types, e["type"])}
    first: dict[tuple[str, str], float] = {}
    deadline = time.monotonic() + timeout
    while True:
        for ep, name, _ in endpoints:
            for r in receiver.received(name, since_seq=marks[name]):
                marks[name] = r["seq"]
                pair = (ep, json.loads(r["body"])["id"])
                if pair in expected:
                    first.setdefault(pair, epoch(r["received_at"]))
        if len(first) >= len(expected) or time.monotonic() > deadline:
            break
        progress(f"  {len(first)}/{len(expected)} delivered")
        time.sleep(2.0)
    latencies = [at - events[eid]["created_at"].timestamp() for (_, eid), at in first.items()]
    # where the time goes: commit -> fanned out (the delivery's created_at, the webhooks function's
    # clock) -> first attempt
    made = root.store.get_multi(records.DELIVERY, [records.delivery_id(ep, eid) for ep, eid in first])
    to_fanout, to_attempt = [], []
    for (ep, eid), at in first.items():
        row = made.get(records.delivery_id(ep, eid))
        if row is not None:
            to_fanout.append(row["created_at"].timestamp() - events[eid]["created_at"].timestamp())
            to_attempt.append(at - row["created_at"].timestamp())
    last = max(first.values(), default=answers["started_at"])
    span = last - answers["started_at"]
    return {
        **answers,
        "events": len(events),
        "deliveries_expected": len(expected),
        "delivered": len(first),
        "not_delivered_in_time": len(expected) - len(first),
        "commit_to_first_attempt": ms(latencies),
        "commit_to_fanned_out": ms(to_fanout),
        "fanned_out_to_first_attempt": ms(to_attempt),
        "deliveries_per_second": round(len(first) / span, 1) if span > 0 else None,
        "last_delivery_after_last_request_s": round(last - answers["finished_at"], 1),
        "keeps_up": last - answers["finished_at"] < KEEPS_UP_WITHIN_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1,2,4,8", help="offered transfers/s, comma-separated, one phase each")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--probe-tasks", type=int, default=2000, help="no-op tasks timed for the raw dispatch rate")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a phase's deliveries")
    parser.add_argument("--out", default=str(REPO_ROOT / ".run" / "bench" / "webhooks.json"))
    args = parser.parse_args(argv)
    cfg = settings()  # under `ctl run --fresh` LEDGERLINE_RUN_DIR names the stack it started
    root = bootstrap.root(cfg)
    receiver = ReceiverClient()
    rates = [float(r) for r in args.rates.split(",")]
    result: dict = {
        "measured_at": datetime.now(tz=UTC).isoformat(),
        "seconds": args.seconds,
        "load_average_before": os.getloadavg(),
    }
    progress(f"raw Cloud Tasks dispatch: {args.probe_tasks} no-op tasks on the paused webhooks queue")
    result["dispatch"] = raw_dispatch(cfg, receiver, args.probe_tasks)
    progress(f"  {result['dispatch']}")
    progress(f"setting up a tenant with {args.customers} funded wallets and {len(FILTERS)} endpoints")
    tenant, key, names, endpoints = setup(root, receiver, args.customers)
    ok = result["dispatch"]["arrived"] == args.probe_tasks
    for rate in rates:
        found = phase(root, receiver, tenant, key, names, endpoints, rate, args.seconds, args.workers, args.timeout)
        found["deliveries_per_second_over_dispatch"] = round(
            (found["deliveries_per_second"] or 0) / (result["dispatch"]["per_second"] or 1), 3
        )
        result[f"deliveries@{rate:g}"] = found
        progress(f"  {rate:g}/s: {found}")
        ok = ok and found["errors"] == 0 and found["not_delivered_in_time"] == 0
    result["load_average_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(table(result, rates))
    return 0 if ok else 1


def table(result: dict, rates: list[float]) -> str:
    d = result["dispatch"]
    lines = [
        "",
        f"raw Cloud Tasks dispatch (one queue, no-op POST to the receiver): {d['per_second']} tasks/s",
        "| transfers/s offered | achieved | API p50 / p99 ms | events | deliveries | deliveries/s | "
        "commit -> first attempt p50 / p99 / max ms | of which commit -> fanned out p50 / p99 ms | "
        "last attempt after last request | keeps up | / dispatch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        p = result[f"deliveries@{rate:g}"]
        lat, fan = p["commit_to_first_attempt"], p["commit_to_fanned_out"]
        lines.append(
            f"| {rate:g} | {p['achieved_rate']} | {p['p50_ms']} / {p['p99_ms']} | {p['events']} | {p['delivered']} | "
            f"{p['deliveries_per_second']} | {lat.get('p50_ms')} / {lat.get('p99_ms')} / {lat.get('max_ms')} | "
            f"{fan.get('p50_ms')} / {fan.get('p99_ms')} | {p['last_delivery_after_last_request_s']} s | "
            f"{'yes' if p['keeps_up'] else 'no'} | {p['deliveries_per_second_over_dispatch']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
