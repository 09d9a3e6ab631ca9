"""Payouts at a fixed offered rate through the customer API, on the emulators (open loop, loopback only).

    python -m bench.payouts [--rates 25,50] [--seconds 20] [--workers 32] [--wallets 100] [--settle-after 0.2]
                            [--out .run/bench/payouts.json]

Measured in the same run, so the ratios mean something on whatever machine runs it:
  floor           GET /healthz of the api function at the first rate (functions-framework + loopback +
                  this client, no I/O)
  datastore_txn   the raw Datastore transaction rate (bench.baseline's probe: get 2, put 3, one process,
                  sequential; the emulator's ceiling for one client)
  payouts@R       POST /v1/payouts with a fresh Idempotency-Key at R requests/s, from --wallets wallets
                  (each payout's hold serialises on its customer's exposure record: wallets spread them),
                  latency of the API's answer measured from the scheduled instant (no coordinated
                  omission); then, from each payout's timeline (the payments function's clock, the same
                  host's), the time from the request's scheduled instant to `submitted` (the bank
                  accepted the transfer) and to `paid` (the bank's settled webhook or the status poll),
                  p50 / p99 / max, and the rate payouts reached `submitted` (keeping up: close to R).
  apart           at --direct-rate: the API alone (the payments queue paused: nothing downstream runs),
                  then each of those payouts' first step POSTed straight to the payments function's
                  /tasks, open loop (what a concurrent queue dispatcher does; the local Cloud Tasks
                  emulator dispatches one queue's tasks one at a time): the step's latency to `submitted`.
The bank sandbox runs without faults and settles after --settle-after seconds (its default is 2 s), so
the `paid` figure is our pipeline's (webhook through intake and Pub/Sub, or the settle poll), not the
sandbox's clock. Wallets are funded by direct ledger postings and given high limits (this measures the
payouts path, not funding). Target on the 2-core dev machine (issue 17): >= 50 payouts/s accepted with
p99 to `submitted` < 1 s while keeping up.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.baseline import datastore_transactions, progress
from bench.openloop import open_loop, percentile
from shared import bootstrap
from shared.api import keys, tenants
from shared.config import settings
from shared.domain.ledger.model import Leg, Operation
from shared.ledger import transactions

BANKS = ("column", "lakeside")
FUNDING = 10**9


def post_payout(session, url: str, auth: dict, planned: tuple, key: str, ids: dict, i: int):
    """POST one planned payout (customer, amount, account number) with its Idempotency-Key; a created
    payout's id goes into ids[i]."""
    customer, amount, account = planned
    destination = {"rail": "ach", "routing_number": "021000021", "account_number": account, "account_holder": "Bench"}
    body = {"from_account": customer, "amount": amount, "currency": "USD", "destination": destination}
    response = session.post(f"{url}/v1/payouts", json=body, headers={**auth, "Idempotency-Key": key}, timeout=30)
    if response.status_code == 201:
        ids[i] = response.json()["id"]
    return response


def setup(root, wallets: int) -> tuple[str, list[str]]:
    cfg, store, now = root.cfg, root.store, datetime.now(tz=UTC)
    run = uuid.uuid4().hex[:8]
    tenant = f"bench-po-{run}"
    tenants.create_tenant(store, tenant, "bench payouts", now)
    names = [f"cus_bpo{run}_{i}" for i in range(wallets)]
    book = bootstrap.payout_limits(root)
    for name in names:
        tenants.add_customer(store, tenant, name, now)
        book.set(name, "USD", 10**6, FUNDING, actor="bench")
        op_id = f"bench_po_fund_{run}_{name}"
        legs = (
            Leg("bank:bench:operating", "debit", FUNDING, "USD"),
            Leg(tenants.wallet(name), "credit", FUNDING, "USD"),
        )
        transactions.execute(store, Operation(op_id, "post", "bench_fund.v1", op_id, "bench", op_id, now, legs=legs))
    return keys.create_key(store, tenant, ["read", "write"], now, livemode=cfg.livemode, label="bench"), names


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


def reached(payout, state: str) -> float | None:
    """When the payout's timeline first entered `state` (epoch seconds)."""
    return next((t.at.timestamp() for t in payout.timeline if t.target == state), None)


def follow(root, ids: dict[int, str], scheduled_at, timeout: float) -> dict:
    """Wait until every payout is paid (or timeout); then the times from request to submitted and paid."""
    service = bootstrap.payouts(root)
    waiting, records = dict(ids), {}
    started = time.monotonic()
    while waiting and time.monotonic() - started < timeout:
        for i, pid in list(waiting.items()):
            found = service.get(pid)
            if found is not None and found.payout.status in ("paid", "failed", "returned"):
                records[i] = found.payout
                del waiting[i]
        if waiting:
            progress(f"  {len(records)}/{len(ids)} payouts paid; waiting")
            time.sleep(2.0)
    for i, pid in waiting.items():  # not paid in time: what they reached
        records[i] = service.get(pid).payout
    to_submitted, to_paid, submitted_at = [], [], []
    for i, payout in records.items():
        if (at := reached(payout, "submitted")) is not None:
            to_submitted.append(at - scheduled_at(i))
            submitted_at.append(at)
        if (at := reached(payout, "paid")) is not None:
            to_paid.append(at - scheduled_at(i))
    statuses: dict[str, int] = {}
    for payout in records.values():
        statuses[payout.status] = statuses.get(payout.status, 0) + 1
    first = scheduled_at(min(ids)) if ids else 0.0
    span = (max(submitted_at) - first) if submitted_at else 0.0
    return {
        "statuses": statuses,
        "to_submitted": ms(to_submitted),
        "to_paid": ms(to_paid),
        "submitted_per_second": round(len(submitted_at) / span, 1) if span > 0 else None,
        "not_paid_in_time": len(waiting),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="25,50", help="offered payouts/s, comma-separated, one phase each")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--wallets", type=int, default=100)
    parser.add_argument("--settle-after", type=float, default=0.2, help="the sandbox banks' settle delay (s)")
    parser.add_argument("--txn-n", type=int, default=300, help="raw Datastore transactions timed")
    parser.add_argument("--paid-timeout", type=float, default=300)
    parser.add_argument(
        "--direct-rate", type=float, default=50, help="the accept-only and direct-step phases' rate (0: skip them)"
    )
    parser.add_argument("--out", default=str(settings().run_dir / "bench" / "payouts.json"))
    args = parser.parse_args(argv)
    cfg = settings()  # under `ctl run --fresh` LEDGERLINE_RUN_DIR names the stack it started
    root = bootstrap.root(cfg)
    url = cfg.function_urls["api"]
    sandbox = f"http://127.0.0.1:{cfg.port('bank_sandbox')}"
    for bank in BANKS:
        requests.delete(f"{sandbox}/_control/{bank}/faults", timeout=10).raise_for_status()
        clock = {"settle_after_seconds": args.settle_after}
        requests.post(f"{sandbox}/_control/{bank}/clock", json=clock, timeout=10).raise_for_status()
    rates = [float(r) for r in args.rates.split(",")]
    progress(f"setting up a tenant with {args.wallets} funded wallets (limits raised)")
    key, names = setup(root, args.wallets)
    auth = {"Authorization": f"Bearer {key}"}
    result: dict = {
        "seconds": args.seconds,
        "wallets": args.wallets,
        "settle_after_seconds": args.settle_after,
        "measured_at": datetime.now(tz=UTC).isoformat(),
    }

    progress(f"floor: GET /healthz at {rates[0]:g}/s for {args.seconds:g} s")
    result["floor"] = open_loop(
        rates[0], int(rates[0] * args.seconds), args.workers, lambda s, i: s.get(f"{url}/healthz", timeout=30)
    )
    progress(f"  floor: {result['floor']}")
    progress(f"raw Datastore transactions (n={args.txn_n})")
    txn = datastore_transactions(root.db, f"bench-po-{uuid.uuid4().hex[:6]}", args.txn_n)
    result["datastore_txn_per_second"] = round(txn.per_second, 1)
    progress(f"  {result['datastore_txn_per_second']} transactions/s")

    ok = True
    for rate in rates:
        total = int(rate * args.seconds)
        rng = random.Random(int(rate))
        plan = [
            (names[rng.randrange(len(names))], 100 + rng.randrange(9900), str(rng.randrange(10**9, 10**12)))
            for _ in range(total)
        ]
        ids: dict[int, str] = {}
        tag = uuid.uuid4().hex[:6]

        def payout(session, i, plan=plan, ids=ids, tag=tag):
            return post_payout(session, url, auth, plan[i], f"bench-{tag}-{i}", ids, i)

        progress(f"payouts at {rate:g}/s for {args.seconds:g} s ({total} requests)")
        phase = open_loop(rate, total, args.workers, payout, ok=(201,))
        progress(f"  answers: {phase}")
        started_at = phase["started_at"]
        followed = follow(root, ids, lambda i, r=rate, s=started_at: s + i / r, args.paid_timeout)
        phase.update(followed)
        phase["accepted"] = len(ids)
        phase["accepted_per_second"] = round(len(ids) / max(phase["finished_at"] - started_at, 1e-9), 1)
        phase["api_p99_over_floor"] = round(phase["p99_ms"] / (result["floor"]["p99_ms"] or 1), 1)
        phase["accepted_per_second_over_datastore_txn"] = round(phase["accepted_per_second"] / txn.per_second, 3)
        result[f"payouts@{rate:g}"] = phase
        progress(f"  {rate:g}/s: {followed}")
        ok = ok and phase["errors"] == 0 and followed["not_paid_in_time"] == 0

    if args.direct_rate:
        result["direct"] = direct_phase(root, url, auth, names, args)
        ok = ok and result["direct"]["accept"]["errors"] == 0 and result["direct"]["steps"]["errors"] == 0

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(table(result, rates))
    return 0 if ok else 1


def direct_phase(root, url: str, auth: dict, names: list[str], args) -> dict:
    """The two halves apart, at --direct-rate: the API accepting payouts with the payments queue paused
    (nothing downstream competes for the CPU), then each payout's first step POSTed straight to the
    payments function's /tasks (what Cloud Tasks does, without the local emulator's one-at-a-time
    dispatch loop), open loop: the step's own latency is the time to `submitted` a concurrent queue
    would give. The paused queue's hand-off tasks are purged after (their steps already ran), the queue
    resumed; the webhooks then make the payouts paid."""
    from shared.adapters import tasks_queue
    from shared.recovery.policies import Task
    from shared.topology import PAYMENTS_QUEUE

    cfg, rate = root.cfg, args.direct_rate
    total = int(rate * args.seconds)
    client, queue = tasks_queue.client(cfg), tasks_queue.queue_path(cfg, PAYMENTS_QUEUE)
    rng = random.Random(99)
    plan = [
        (names[rng.randrange(len(names))], 100 + rng.randrange(9900), str(rng.randrange(10**9, 10**12)))
        for _ in range(total)
    ]
    ids: dict[int, str] = {}
    tag = uuid.uuid4().hex[:6]

    def payout(session, i):
        return post_payout(session, url, auth, plan[i], f"bench-d{tag}-{i}", ids, i)

    client.pause_queue(name=queue)
    try:
        progress(f"direct: payouts at {rate:g}/s with the payments queue paused")
        accept = open_loop(rate, total, args.workers, payout, ok=(201,))
        accept["accepted_per_second"] = round(len(ids) / max(accept["finished_at"] - accept["started_at"], 1e-9), 1)
        progress(f"  accept-only: {accept}")
        order = sorted(ids)
        steps_url = cfg.function_urls["payments"] + "/tasks"

        def step(session, n):
            return session.post(steps_url, json=Task("payout-step", ids[order[n]]).to_json(), timeout=60)

        progress(f"direct: {len(order)} first steps POSTed to payments /tasks at {rate:g}/s")
        steps = open_loop(rate, len(order), args.workers, step)
        progress(f"  steps: {steps}")
    finally:
        client.purge_queue(name=queue)
        client.resume_queue(name=queue)
    # time to submitted from each step's scheduled instant: the step's own latency, queueing included
    service = bootstrap.payouts(root)
    to_submitted = []
    for n, i in enumerate(order):
        found = service.get(ids[i])
        at = reached(found.payout, "submitted") if found else None
        if at is not None:
            to_submitted.append(at - (steps["started_at"] + n / rate))
    return {"rate": rate, "accept": accept, "steps": steps, "step_to_submitted": ms(to_submitted)}


def table(result: dict, rates: list[float]) -> str:
    floor = result["floor"]
    lines = [
        "",
        f"floor GET /healthz: p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms; "
        f"raw Datastore transactions: {result['datastore_txn_per_second']}/s",
        "| offered/s | accepted/s | API p50 / p99 ms | to submitted p50 / p99 ms | submitted/s "
        "| to paid p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        p = result[f"payouts@{rate:g}"]
        sub, paid = p["to_submitted"], p["to_paid"]
        lines.append(
            f"| {rate:g} | {p['accepted_per_second']} | {p['p50_ms']} / {p['p99_ms']} | "
            f"{sub.get('p50_ms')} / {sub.get('p99_ms')} | {p['submitted_per_second']} | "
            f"{paid.get('p50_ms')} / {paid.get('p99_ms')} | {p['errors']} |"
        )
    if "direct" in result:
        d = result["direct"]
        a, st, sub = d["accept"], d["steps"], d["step_to_submitted"]
        lines += [
            "",
            f"apart, at {d['rate']:g}/s: the API alone (payments queue paused) accepted {a['accepted_per_second']}/s, "
            f"p50 / p99 {a['p50_ms']} / {a['p99_ms']} ms, {a['errors']} errors; first steps POSTed straight to "
            f"payments: {st['achieved_rate']}/s, answer p50 / p99 {st['p50_ms']} / {st['p99_ms']} ms, "
            f"to submitted p50 / p99 {sub.get('p50_ms')} / {sub.get('p99_ms')} ms",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
