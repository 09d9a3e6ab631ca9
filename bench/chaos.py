"""Fault injection against the running local stack (loopback only): prove nothing is lost, nothing is
doubled. `make chaos` runs it on a fresh stack.

    python -m bench.chaos [--payments 300] [--rate 40] [--kills 2] [--out .run/bench/chaos.json]

Scenario (issue 9, scenarios 1 and 2 combined, at a size this 2-core machine runs in minutes):
  - signed webhooks over two partners: Stripe payments, refunds of a third of them (cumulative
    amount_refunded, as Stripe sends them), disputes of a seventh (they name only the payment: one
    that arrives first is parked and re-driven) and Column ACH credits;
  - every webhook delivered 3 times, the whole sequence shuffled (a refund often arrives before its
    payment: it is parked and re-driven), sent open-loop at --rate;
  - the ledger function SIGKILLed --kills times mid-stream (its whole process group) and restarted;
  - the BigQuery emulator stopped for --bigquery-outage seconds a third of the way in (scenario 4):
    postings go on, streaming fails and is retried, then catches up with no duplicate (insertId);
then the stack is left to quiesce — with the Cloud Scheduler safety nets (re-drive of inbox events
that never reached the ledger, outbox sweep) run every 20 s, with a 60 s staleness threshold
(`make chaos` sets LEDGERLINE_STALE_AFTER_SECONDS=60; production: 15 min) — and audited:
  - `verify` (the invariant auditor, BigQuery included) must report no problem;
  - an exact reconciliation of what was sent against what was posted: every distinct event exactly
    one transaction (lost = 0, double-posted = 0), every wallet equal to the sum of its events.
Printed: sent, acknowledged, distinct events, posted, duplicates suppressed, parked on the way,
dead-lettered, lost, double-posted, time to quiesce. Exit status 1 if anything is lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.baseline import progress
from emulators import ctl
from shared import datastore_store, posting
from shared.audit import verify
from shared.config import settings
from shared.partners import column, stripe
from shared.scenario import charge_refunded, column_event, dispute, encode, payment_intent_succeeded


def build(payments: int, seed: int) -> tuple[list[tuple[str, bytes, dict]], dict[str, int]]:
    """(partner, body, meta) per distinct webhook, and the expected wallet balance per customer (USD)."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    events, expected = [], Counter()
    for i in range(payments):
        customer = f"cus_ch{run}{i % 40}"
        pi, amount = f"pi_ch{run}{i}", 500 + rng.randrange(100) * 10
        events.append(
            (
                "stripe",
                encode(payment_intent_succeeded(f"evt_chp{run}{i}", pi, amount, "usd", customer)),
                {"key": f"stripe:evt_chp{run}{i}"},
            )
        )
        expected[customer] += amount
        if i % 3 == 0:
            refund = amount // 4
            body = charge_refunded(f"evt_chr{run}{i}", "ch_" + pi[3:], pi, amount, refund, 0, "usd", customer)
            events.append(("stripe", encode(body), {"key": f"stripe:evt_chr{run}{i}"}))
            expected[customer] -= refund
        if i % 7 == 1:  # a dispute names only the payment: before it, it is parked, then re-driven
            disputed = amount // 2
            body = dispute(
                f"evt_chd{run}{i}", "charge.dispute.created", f"dp_ch{run}{i}", "ch_" + pi[3:], pi, disputed, "usd"
            )
            events.append(("stripe", encode(body), {"key": f"stripe:evt_chd{run}{i}"}))
            expected[customer] -= disputed
        if i % 5 == 0:
            account = f"acno_ch{run}ach{i % 10}"  # Column names the customer by its account number id
            credit = 1000 + i
            body = column_event(
                f"evnt_chc{run}{i}", "ach.incoming_transfer.completed", f"acht_ch{run}{i}", credit, account
            )
            events.append(("column", encode(body), {"key": f"column:evnt_chc{run}{i}"}))
            expected[account] += credit
    return events, dict(expected)


def signed(cfg, partner: str, body: bytes) -> dict:
    if partner == "stripe":
        return {"Stripe-Signature": stripe.sign(body, cfg.stripe_webhook_secrets[0], int(time.time()))}
    return {column.SIGNATURE_HEADER: column.sign(body, cfg.column_webhook_secrets[0])}


def kill_ledger(cfg) -> None:
    svc = next(s for s in ctl.services(cfg) if s.name == "ledger")
    pid = ctl.tracked_pid(cfg, svc)
    if pid is None:
        progress("ledger not tracked by this stack: cannot kill it")
        return
    os.killpg(pid, signal.SIGKILL)
    progress(f"ledger SIGKILLed (process group {pid}); restarting it")
    time.sleep(1.0)
    ctl.start(cfg, svc)  # only the ledger: whatever else is down stays down
    ctl.wait_healthy(cfg, [svc])


def bigquery_outage(cfg, seconds: float) -> None:
    """Stop the BigQuery emulator, keep going, start it again after `seconds` (in the background)."""
    svc = next(s for s in ctl.services(cfg) if s.name == "bigquery")
    ctl.stop(cfg, svc)
    progress(f"BigQuery emulator stopped for {seconds:.0f} s")

    def back():
        time.sleep(seconds)
        ctl.start(cfg, svc)
        ctl.wait_healthy(cfg, [svc])
        progress("BigQuery emulator back")

    threading.Thread(target=back, daemon=True).start()


def run(payments: int, rate: float, kills: int, seed: int, quiesce_timeout: float, bq_outage: float = 0) -> dict:
    cfg = settings()  # under `ctl run --fresh` LEDGERLINE_RUN_DIR names the stack it started
    db = datastore_store.client(cfg)
    events, expected = build(payments, seed)
    deliveries = [e for e in events for _ in range(3)]
    random.Random(seed).shuffle(deliveries)
    url = cfg.function_urls["intake"] + "/webhooks/"
    statuses: Counter = Counter()
    lock = threading.Lock()
    kill_at = {int(len(deliveries) * (k + 1) / (kills + 1)) for k in range(kills)}
    progress(f"{len(events)} distinct webhooks, {len(deliveries)} deliveries at {rate:.0f}/s, {kills} ledger kill(s)")

    def deliver(item):
        partner, body, _ = item
        try:
            answer = requests.post(
                url + partner,
                data=body,
                headers={"Content-Type": "application/json", **signed(cfg, partner, body)},
                timeout=30,
            ).status_code
        except requests.RequestException as exc:
            answer = type(exc).__name__
        with lock:
            statuses[answer] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for n, item in enumerate(deliveries):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(deliver, item)
            if n in kill_at:
                kill_ledger(cfg)
            if bq_outage and n == len(deliveries) // 3:
                bigquery_outage(cfg, bq_outage)
            if n and n % 500 == 0:
                progress(f"{n}/{len(deliveries)} deliveries sent")
    sent_at = time.perf_counter()

    keys = {meta["key"] for _, _, meta in events}
    store = datastore_store.DatastoreLedger(db)

    def settled() -> tuple[set, Counter]:
        txns = store.snapshot(("JournalTransaction",))["JournalTransaction"].values()
        per_event = Counter(t["event_id"] for t in txns if t["event_id"] in keys)
        return set(per_event), per_event

    sweeps, redriven, last_sweep = 0, 0, 0.0

    def scheduler_tick() -> int:
        """What Cloud Scheduler does every few minutes, here every 20 s: the safety-net sweeps."""
        found = 0
        for kind in ("redrive-stale", "stream-pending"):
            answer = requests.post(
                cfg.function_urls["retries"] + "/tasks", json={"kind": kind, "key": f"chaos-{time.time()}"}, timeout=120
            ).json()
            if kind == "redrive-stale" and answer.get("detail", "").startswith("re-drove"):
                found += int(answer["detail"].split()[1])
        return found

    while True:
        posted, per_event = settled()
        pending = store.snapshot(("Outbox", "Parked"))
        if posted >= keys and not pending["Outbox"] and not pending["Parked"]:
            break
        if time.perf_counter() - sent_at > quiesce_timeout:
            progress("quiesce timeout")
            break
        if time.perf_counter() - last_sweep > 20:
            redriven += scheduler_tick()
            sweeps, last_sweep = sweeps + 1, time.perf_counter()
        progress(
            f"quiescing: {len(posted)}/{len(keys)} posted, "
            f"outbox {len(pending['Outbox'])}, parked {len(pending['Parked'])}"
        )
        time.sleep(5.0)
    quiesced = time.perf_counter() - sent_at
    report = verify(cfg, db=db)
    wallets = {c: posting.balances(store, f"customer:{c}:wallet").get("USD") for c in expected}
    wrong = {
        c: (w.posted if w else None, expected[c])
        for c, w in wallets.items()
        if (w.posted if w else None) != expected[c]
    }
    dead = [r for r in store.snapshot(("DeadLetter",))["DeadLetter"].values() if r["key"] in keys]
    acknowledged = sum(n for s, n in statuses.items() if isinstance(s, int) and 200 <= s < 300)
    parked_seen = sum(
        1 for line in (cfg.run_dir / "logs" / "ledger.log").read_text().splitlines() if "event parked" in line
    )
    return {
        "sent": len(deliveries),
        "acknowledged": acknowledged,
        "answers": {str(k): v for k, v in statuses.items()},
        "distinct_events": len(keys),
        "posted": len(posted),
        "duplicates_suppressed": len(deliveries) - len(keys),
        "parked_on_the_way": parked_seen,
        "dead_lettered": len(dead),
        "scheduler_sweeps": sweeps,
        "stale_events_redriven": redriven,
        "lost": len(keys - posted),
        "double_posted": sum(1 for n in per_event.values() if n > 1),
        "wallets_wrong": wrong,
        "verify_ok": report["ok"],
        "verify_problems": report["problems"][:10],
        "ledger_kills": kills,
        "bigquery_outage_seconds": bq_outage,
        "seconds_sending": round(sent_at - started, 1),
        "seconds_to_quiesce": round(quiesced, 1),
        "measured_at": datetime.now(tz=UTC).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bigquery-outage", type=float, default=30, help="seconds without BigQuery (0: none)")
    parser.add_argument("--quiesce-timeout", type=float, default=900)
    parser.add_argument("--out", default=".run/bench/chaos.json")
    args = parser.parse_args(argv)
    result = run(args.payments, args.rate, args.kills, args.seed, args.quiesce_timeout, args.bigquery_outage)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    for key, value in result.items():
        print(f"{key:<22} {value}")
    ok = result["lost"] == 0 and result["double_posted"] == 0 and not result["wallets_wrong"] and result["verify_ok"]
    print("chaos: " + ("nothing lost, nothing doubled, verify clean" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
