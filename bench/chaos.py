"""Fault injection against the running local stack (loopback only): prove nothing is lost, nothing is
doubled. `make chaos` runs every scenario on fresh stacks (docs/reliability.md).

    python -m bench.chaos [--scenarios 5,2,4] [--events 10000] [--out .run/bench/chaos-<scenarios>.json]

Scenarios (issue 9), each on its own customers, each ending with the invariant auditor (`verify`) and
an exact reconciliation of what was sent against what was posted:
  1 duplicates   --events distinct signed webhooks over three partners (Stripe payments, refunds of a
                 third, disputes of a seventh that name only the payment; Column ACH credits; Standard
                 Webhooks EUR payments), every one delivered 3 times, the whole sequence shuffled (a
                 refund or dispute often comes before its payment: it is parked, then re-driven)
  2 ledger-kills the same traffic, the ledger function SIGKILLed (its process group) 3 times mid-stream
                 and restarted
  3 restarts     the same traffic, the Pub/Sub emulator restarted mid-stream (it keeps nothing: the
                 topology is bootstrapped again, what it held is re-driven from the inbox) and the
                 Datastore emulator restarted with its on-disk state (the stack must run it on disk:
                 LEDGERLINE_DATASTORE_ON_DISK=true; `make chaos` starts a second stack for it)
  4 bigquery     the same traffic, the BigQuery emulator down for 30 s: postings go on, the outbox
                 sweep fails and is retried, then catches up with no duplicate row (insertId)
  5 dead-letters poison messages published straight to canonical-events (never canonical: they must
                 end in the dead-letter store with the ledger's error, not be dropped), and an operator
                 error: the canonical-events topic deleted mid-stream, so intake's publishes and their
                 republish tasks fail permanently (NotFound) and end as dead letters; the topology is
                 restored (what `terraform apply` does) and `replay` posts each exactly once (a second
                 replay changes nothing)
  6 payouts      1,000 payouts and 500 transfers through the API under bank faults, two payments
                 kills and a bank outage (bench/chaos_payouts.py)
  7 webhooks     5,000 customer events to 20 endpoints of 5 tenants, receivers failing 30 % at random,
                 one down 60 s, the webhooks function SIGKILLed twice, then a replay of a window
                 (bench/chaos_webhooks.py; the stack's functions need LEDGERLINE_WEBHOOK_RETRY_SCALE=0.02)
Deliveries behave like a partner: open loop at --rate, a 5xx or a connection error retried with
backoff (1 s doubling to 8 s, for up to 3 minutes), fresh signature timestamps on each attempt. The
Cloud Scheduler safety nets (re-drive of inbox events that never reached the ledger, outbox sweep) run
every 20 s while quiescing, with a 60 s staleness threshold (`make chaos` sets
LEDGERLINE_STALE_AFTER_SECONDS=60; production: 15 min).
Printed per scenario: sent, acknowledged, posted, duplicates suppressed, dead-lettered, lost (must be
0), double-posted (must be 0), time to quiesce. Exit status 1 if any scenario fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from google.cloud import datastore, pubsub_v1

from bench.baseline import progress
from emulators import bootstrap, ctl
from shared.adapters import datastore_store
from shared.config import REPO_ROOT, Settings, settings
from shared.demo import encode, payment_intent_succeeded
from shared.ledger import balances as ledger_balances
from shared.ledger.verify import verify
from shared.partners import column, stripe
from shared.topology import CANONICAL_EVENTS_TOPIC
from tests.factories import charge_refunded, column_event, dispute, generic_headers, generic_message

RETRY_WINDOW_SECONDS = 180.0  # how long a delivery is retried (Stripe: 3 days; a bounded run: minutes)
SWEEP_EVERY_SECONDS = 20.0


@dataclass(frozen=True)
class Webhook:
    partner: str
    key: str  # the canonical event id: <partner>:<partner event id>
    body: bytes
    msg_id: str = ""  # Standard Webhooks message id
    also: tuple[str, ...] = ()  # the other inbox events the webhook carries (a dispute's status event)


@dataclass
class Traffic:
    webhooks: list[Webhook] = field(default_factory=list)
    expected: Counter = field(default_factory=Counter)  # (account, currency) -> posted balance


def traffic(events: int, seed: int, tag: str) -> Traffic:
    """`events` distinct webhooks over Stripe, Column and a Standard Webhooks partner, on customers of
    this run only, and the balance every customer wallet must end with."""
    rng = random.Random(seed)
    run = f"{tag}{uuid.uuid4().hex[:6]}"
    out = Traffic()

    def add(webhook: Webhook, account: str, currency: str, amount: int) -> None:
        out.webhooks.append(webhook)
        out.expected[(account, currency)] += amount

    i = 0
    while len(out.webhooks) < events:
        customer = f"cus_{run}{i % 40}"
        pi, amount = f"pi_{run}{i}", 500 + rng.randrange(100) * 10
        body = encode(payment_intent_succeeded(f"evt_p{run}{i}", pi, amount, "usd", customer))
        add(Webhook("stripe", f"stripe:evt_p{run}{i}", body), customer, "USD", amount)
        if i % 3 == 0:  # a refund: Stripe sends cumulative amount_refunded
            refund = amount // 4
            body = encode(charge_refunded(f"evt_r{run}{i}", "ch_" + pi[3:], pi, amount, refund, 0, "usd", customer))
            add(Webhook("stripe", f"stripe:evt_r{run}{i}", body), customer, "USD", -refund)
        if i % 7 == 1:  # a dispute names only the payment: before it, it is parked, then re-driven
            disputed = amount // 2
            body = encode(
                dispute(f"evt_d{run}{i}", "charge.dispute.created", f"dp_{run}{i}", "ch_" + pi[3:], pi, disputed, "usd")
            )
            # the money is the withdrawal's balance transaction the dispute lists (its own event id)
            add(
                Webhook("stripe", f"stripe:txn_w{run}{i}", body, also=(f"stripe:evt_d{run}{i}",)),
                customer,
                "USD",
                -disputed,
            )
        if i % 5 == 0:  # Column names the customer by its account number id
            account, credit = f"acno_{run}{i % 10}", 1000 + i
            kind = "ach.incoming_transfer.completed"
            body = encode(column_event(f"evnt_c{run}{i}", kind, f"acht_{run}{i}", credit, account))
            add(Webhook("column", f"column:evnt_c{run}{i}", body), account, "USD", credit)
        if i % 4 == 2:
            eur_customer, eur = f"gen_{run}{i % 20}", 700 + i
            body = encode(
                generic_message(
                    "payment.captured", "2026-11-28T08:59:00Z", amount=eur, currency="EUR",
                    customer=eur_customer, reference=f"pay_{run}{i}",
                )
            )  # fmt: skip
            add(Webhook("generic", f"generic:msg_{run}{i}", body, f"msg_{run}{i}"), eur_customer, "EUR", eur)
        i += 1
    return out


def headers(cfg: Settings, webhook: Webhook) -> dict:
    """Signed as the partner signs each attempt (fresh timestamps)."""
    if webhook.partner == "stripe":
        signature = stripe.sign(webhook.body, cfg.webhook_secrets("stripe")[0], int(time.time()))
        return {"Content-Type": "application/json", "Stripe-Signature": signature}
    if webhook.partner == "column":
        signature = column.sign(webhook.body, cfg.webhook_secrets("column")[0])
        return {"Content-Type": "application/json", column.SIGNATURE_HEADER: signature}
    return generic_headers(webhook.msg_id, webhook.body, cfg.webhook_secrets("generic")[0])


@dataclass
class Sent:
    deliveries: int = 0
    answers: Counter = field(default_factory=Counter)  # final HTTP status (or exception name)
    outcomes: Counter = field(default_factory=Counter)  # intake's status: accepted, duplicate, ...
    retried: int = 0  # attempts a partner would have retried (5xx, connection errors)
    seconds: float = 0.0


def deliver_all(cfg: Settings, deliveries: list[Webhook], rate: float, actions: dict[int, Callable[[], None]]) -> Sent:
    """Send open loop at `rate`, each delivery retried like a partner retries; actions[n] runs (in the
    background, so pacing goes on) when delivery n is sent."""
    url = cfg.function_urls["intake"] + "/webhooks/"
    sent, lock, local = Sent(deliveries=len(deliveries)), threading.Lock(), threading.local()

    def deliver(webhook: Webhook) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        deadline, backoff, retried = time.monotonic() + RETRY_WINDOW_SECONDS, 1.0, 0
        while True:
            outcome = None
            try:
                signed = headers(cfg, webhook)
                response = session.post(url + webhook.partner, data=webhook.body, headers=signed, timeout=30)
                answer = response.status_code
                if answer < 300:
                    outcome = response.json().get("status")
            except requests.RequestException as exc:
                answer = type(exc).__name__
            if (isinstance(answer, int) and answer < 500) or time.monotonic() > deadline:
                break
            retried += 1
            time.sleep(backoff)
            backoff = min(backoff * 2, 8.0)
        with lock:
            sent.answers[answer] += 1
            sent.retried += retried
            if outcome:
                sent.outcomes[outcome] += 1

    background = []
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=48) as pool:
        for n, webhook in enumerate(deliveries):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(deliver, webhook)
            if n in actions:
                background.append(threading.Thread(target=actions[n], daemon=True))
                background[-1].start()
            if n and n % 2000 == 0:
                progress(f"{n}/{len(deliveries)} deliveries sent")
    sent.seconds = time.perf_counter() - started  # the last delivery answered
    for thread in background:  # quiescing starts once every fault is over (the emulator is back)
        thread.join()
    return sent


# ----------------------------------------------------------------------------- faults


def service(cfg: Settings, name: str) -> ctl.Service:
    return next(s for s in ctl.services(cfg) if s.name == name)


def kill_function(cfg: Settings, name: str) -> None:
    svc = service(cfg, name)
    pid = ctl.tracked_pid(cfg, svc)
    if pid is None:
        progress(f"{name} not tracked by this stack: cannot kill it")
        return
    os.killpg(pid, signal.SIGKILL)
    progress(f"{name} SIGKILLed (process group {pid}); restarting it")
    time.sleep(1.0)
    ctl.start(cfg, svc)  # only this function: whatever else is down stays down
    ctl.wait_healthy(cfg, [svc])


def kill_ledger(cfg: Settings) -> None:
    kill_function(cfg, "ledger")


def outage(cfg: Settings, name: str, seconds: float) -> None:
    """Stop an emulator (SIGTERM: the Datastore emulator writes its state to disk on the way out),
    wait, start it again on the same data directory."""
    svc = service(cfg, name)
    ctl.stop(cfg, svc)
    progress(f"{name} emulator stopped for {seconds:.0f} s")
    time.sleep(seconds)
    ctl.start(cfg, svc)
    ctl.wait_healthy(cfg, [svc])
    if name == "pubsub":  # the emulator keeps nothing across a restart; the cloud keeps its topology
        bootstrap.bootstrap_pubsub(cfg)
        progress("pubsub emulator back; topology bootstrapped again (in the cloud it is never lost)")
    else:
        progress(f"{name} emulator back")


# ----------------------------------------------------------------------------- audit


def transactions_by_event(db: datastore.Client, keys: set[str]) -> Counter:
    """How many journal transactions each of `keys` has (a projection query: event ids only)."""
    query = db.query(kind="JournalTransaction", projection=["event_id"])
    return Counter(e["event_id"] for e in query.fetch() if e["event_id"] in keys)


def scheduler_tick(cfg: Settings) -> int:
    """What Cloud Scheduler runs every few minutes, here every 20 s: the safety-net sweeps."""
    found = 0
    for kind in ("redrive-stale", "stream-pending"):
        try:
            answer = requests.post(
                cfg.function_urls["retries"] + "/tasks", json={"kind": kind, "key": f"chaos-{time.time()}"}, timeout=120
            ).json()
        except (requests.RequestException, ValueError) as exc:
            progress(f"scheduler tick {kind} failed: {exc}")
            continue
        if kind == "redrive-stale" and answer.get("detail", "").startswith("re-drove"):
            found += int(answer["detail"].split()[1])
    return found


def logged_postings(cfg: Settings, keys: set[str]) -> set[str]:
    """Keys the ledger logged as posted or replayed (a replay also covers a posting whose log line a
    SIGKILL swallowed). Progress only: the audit reads Datastore. Polling Datastore with a query over
    every transaction instead would grow the emulator's heap with each poll (it keeps query results:
    measured ~9 MB per 50 queries of 1,000 small entities; a 10,000-event run ran it out of memory)."""
    return set(log_count(cfg, "ledger", ('"transaction posted"', '"transaction replayed"'), keys))


def quiesce(cfg: Settings, db: datastore.Client, keys: set[str], timeout: float) -> dict:
    """Wait until every key is posted, nothing waits in the outbox and nothing of this run is parked,
    running the scheduled sweeps as Cloud Scheduler would. Progress from the ledger's log (cheap);
    done when Datastore agrees (checked at most every 30 s)."""
    store = datastore_store.DatastoreLedger(db)
    started, last_sweep, last_check, sweeps, redriven = time.perf_counter(), time.perf_counter(), 0.0, 0, 0
    while True:
        logged = logged_postings(cfg, keys)
        pending = store.snapshot(("Outbox", "Parked"))
        parked = [k for k in pending["Parked"] if k in keys]
        quiet = not pending["Outbox"] and not parked
        if quiet and (len(logged) == len(keys) or time.perf_counter() - last_check > 30):
            last_check = time.perf_counter()
            if len(transactions_by_event(db, keys)) == len(keys):
                break
        if time.perf_counter() - started > timeout:
            progress("quiesce timeout")
            break
        if time.perf_counter() - last_sweep > SWEEP_EVERY_SECONDS:
            redriven += scheduler_tick(cfg)
            sweeps, last_sweep = sweeps + 1, time.perf_counter()
        outbox = len(pending["Outbox"])
        progress(f"quiescing: {len(logged)}/{len(keys)} posted, outbox {outbox}, parked {len(parked)}")
        time.sleep(3.0)
    return {
        "seconds_to_quiesce": round(time.perf_counter() - started, 1),
        "scheduler_sweeps": sweeps,
        "stale_events_redriven": redriven,
    }


def account_errors(store, expected: Counter) -> dict:
    wrong = {}
    for (account, currency), amount in expected.items():
        found = ledger_balances.balances(store, f"customer:{account}:wallet").get(currency)
        if (found.posted if found else None) != amount:
            wrong[f"{account} {currency}"] = (found.posted if found else None, amount)
    return wrong


def log_count(
    cfg: Settings, function: str, needles: str | tuple[str, ...], keys: set[str], field: str = "event_id"
) -> Counter:
    """Per key, the lines of a function's log containing one of `needles` whose `field` names the key
    (e.g. the ledger's replays by event id, the retries function's republish tasks by key)."""
    needles = (needles,) if isinstance(needles, str) else needles
    counts: Counter = Counter()
    for line in (cfg.run_dir / "logs" / f"{function}.log").read_text(errors="replace").splitlines():
        if any(needle in line for needle in needles):
            try:
                key = json.loads(line).get(field)
            except ValueError:
                continue
            if key in keys:
                counts[key] += 1
    return counts


def report(cfg, db, name, plan: Traffic, sent: Sent, settle: dict, extra: dict | None = None) -> dict:
    keys = {w.key for w in plan.webhooks}
    store = datastore_store.DatastoreLedger(db)
    per_event = transactions_by_event(db, keys)
    committed = log_count(cfg, "ledger", '"transaction posted"', keys)
    dead = [r for r in store.snapshot(("DeadLetter",))["DeadLetter"].values() if r["key"] in keys]
    audit = verify(cfg, db=db)
    result = {
        "scenario": name,
        "sent": sent.deliveries,
        "acknowledged": sum(n for s, n in sent.answers.items() if isinstance(s, int) and 200 <= s < 300),
        "distinct_events": len(keys),
        "posted": len(per_event),
        "duplicates_suppressed": sent.outcomes.get("duplicate", 0),
        "ledger_replays": sum(log_count(cfg, "ledger", '"transaction replayed"', keys).values()),
        "parked_on_the_way": sum(log_count(cfg, "ledger", "event parked", keys).values()),
        "dead_lettered": len(dead),
        "lost": len(keys - set(per_event)),
        # A second commit of an event: two journal transactions for it (its transaction id is derived
        # from the event, so a second posting would have to slip past that), or two "transaction
        # posted" lines (each logged after its own commit; a redelivery logs "replayed"). The money
        # itself is checked by wallets_wrong and verify.
        "double_posted": sum(1 for k in keys if max(per_event[k], committed[k]) > 1),
        "wallets_wrong": account_errors(store, plan.expected),
        "verify_ok": audit["ok"],
        "verify_problems": audit["problems"][:10],
        "answers": {str(k): v for k, v in sent.answers.items()},
        "partner_retries": sent.retried,
        "seconds_sending": round(sent.seconds, 1),
        **settle,
        **(extra or {}),
    }
    result["ok"] = (
        result["lost"] == 0
        and result["double_posted"] == 0
        and not result["wallets_wrong"]
        and result["verify_ok"]
        and result["acknowledged"] == result["sent"]
    )
    return result


# ----------------------------------------------------------------------------- scenarios


def shuffled_thrice(plan: Traffic, seed: int) -> list[Webhook]:
    deliveries = [w for w in plan.webhooks for _ in range(3)]
    random.Random(seed).shuffle(deliveries)
    return deliveries


def at_fractions(total: int, fractions: list[float], action: Callable[[], None]) -> dict[int, Callable[[], None]]:
    return {int(total * f): action for f in fractions}


def run_faulted(cfg, db, name, events, rate, seed, actions_for, timeout, extra=None) -> dict:
    plan = traffic(events, seed, f"c{name[0]}")
    deliveries = shuffled_thrice(plan, seed)
    progress(f"[{name}] {len(plan.webhooks)} distinct webhooks, {len(deliveries)} deliveries at {rate:.0f}/s")
    sent = deliver_all(cfg, deliveries, rate, actions_for(len(deliveries)))
    settle = quiesce(cfg, db, {w.key for w in plan.webhooks}, timeout)
    return report(cfg, db, name, plan, sent, settle, extra)


def scenario_duplicates(cfg, db, args) -> dict:
    return run_faulted(cfg, db, "1-duplicates", args.events, args.rate, args.seed, lambda n: {}, args.quiesce_timeout)


def scenario_ledger_kills(cfg, db, args) -> dict:
    kills = [0.2, 0.45, 0.7]
    return run_faulted(
        cfg,
        db,
        "2-ledger-kills",
        args.fault_events,
        args.fault_rate,
        args.seed + 2,
        lambda n: at_fractions(n, kills, lambda: kill_ledger(cfg)),
        args.quiesce_timeout,
        {"ledger_kills": len(kills)},
    )


def scenario_restarts(cfg, db, args) -> dict:
    if not cfg.datastore_on_disk:
        raise SystemExit(
            "scenario 3 restarts the Datastore emulator: run the stack with its state on disk "
            "(LEDGERLINE_DATASTORE_ON_DISK=true python -m emulators.ctl run --fresh -- ...), as `make chaos` does"
        )
    return run_faulted(
        cfg,
        db,
        "3-emulator-restarts",
        args.fault_events,
        args.fault_rate,
        args.seed + 3,
        lambda n: {int(n * 0.2): lambda: outage(cfg, "pubsub", 5), int(n * 0.7): lambda: outage(cfg, "datastore", 5)},
        args.quiesce_timeout,
        {"restarted": ["pubsub (state lost, topology bootstrapped)", "datastore (on-disk state kept)"]},
    )


def scenario_bigquery(cfg, db, args) -> dict:
    return run_faulted(
        cfg,
        db,
        "4-bigquery-outage",
        args.fault_events,
        args.fault_rate,
        args.seed + 4,
        lambda n: {int(n * 0.3): lambda: outage(cfg, "bigquery", 30)},
        args.quiesce_timeout,
        {"bigquery_outage_seconds": 30},
    )


POISON = [
    b"not json at all",
    b'{"event_id": "x"}',
    json.dumps({"event_id": "stripe:evt_bad", "kind": "payment.captured", "amount": "12.50"}).encode(),
]


def cli(*args: str) -> list | dict:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cli {args} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def scenario_dead_letters(cfg, db, args) -> dict:
    """Poison messages, and an operator deleting the canonical-events topic mid-stream."""
    store = datastore_store.DatastoreLedger(db)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cfg.project, CANONICAL_EVENTS_TOPIC)
    marker = uuid.uuid4().hex[:8]
    poison_ids = [f"poison:{marker}-{n}" for n in range(len(POISON))]

    def dead_letters(source: str, ids: set[str]) -> list[dict]:
        letters = store.snapshot(("DeadLetter",))["DeadLetter"].values()
        return [r for r in letters if r["source"] == source and r["key"] in ids]

    # One at a time: the local emulator's redelivery backoff compounds across the failing messages of a
    # subscription (three together were once not redelivered for over 6 minutes); alone, each reaches
    # its 5th delivery in about 2.5 minutes, as in the cloud where the backoff is per message.
    for n, event_id in enumerate(poison_ids):
        publisher.publish(topic, POISON[n], event_id=event_id).result(timeout=10)
        progress(f"[5-dead-letters] poison message {n + 1}/{len(poison_ids)} published to {CANONICAL_EVENTS_TOPIC}")
        deadline = time.monotonic() + 300
        while not dead_letters("pubsub", {event_id}) and time.monotonic() < deadline:
            time.sleep(5.0)

    # Then the traffic (the poison first: recreating the subscription below would drop its backlog).
    def delete_topic_for_a_while() -> None:
        publisher.delete_topic(topic=topic)
        progress("canonical-events topic deleted (operator error): publishes now fail with NotFound")
        time.sleep(6.0)
        bootstrap.bootstrap_pubsub(cfg)
        progress("topology restored (topic recreated, its subscription re-attached)")

    plan = traffic(args.fault_events // 3, args.seed + 5, "c5")
    keys = {w.key for w in plan.webhooks}
    deliveries = list(plan.webhooks)  # in order, once each: this scenario is about the dead letters
    sent = deliver_all(cfg, deliveries, args.fault_rate / 3, {len(deliveries) // 3: delete_topic_for_a_while})

    poison = dead_letters("pubsub", set(poison_ids))

    def settled() -> tuple[set, set, set]:
        """(posted, dead-lettered, parked) keys of this run."""
        parked = {k for k in store.snapshot(("Parked",))["Parked"] if k in keys}
        return logged_postings(cfg, keys), {r["key"] for r in dead_letters("task", keys)}, parked

    # Everything else posts on its own (safety nets included); the dead letters, and the follow-ups
    # parked behind a dead-lettered payment, wait for the operator.
    first = last_sweep = time.perf_counter()
    while True:
        posted_keys, lettered, parked = settled()
        if posted_keys | lettered | parked >= keys or time.perf_counter() - first > args.quiesce_timeout:
            break
        if time.perf_counter() - last_sweep > SWEEP_EVERY_SECONDS:  # what the recreated subscription dropped
            scheduler_tick(cfg)
            last_sweep = time.perf_counter()
        progress(f"settling: {len(posted_keys)} posted, {len(lettered)} dead-lettered, {len(parked)} parked")
        time.sleep(3.0)
    task_letters = dead_letters("task", keys)
    # What the operator's dry run lists: every republish dead letter of this run's inbox events, a
    # dispute's status event (which moves no money) included.
    inbox_letters = dead_letters("task", keys | {k for w in plan.webhooks for k in w.also})
    not_yet = keys - posted_keys
    progress(f"[5-dead-letters] {len(task_letters)} events dead-lettered by the deleted topic; replaying them")
    dry = cli("replay", "--source", "task", "--kind", "republish", "--dry-run")
    time.sleep(3.0)
    # Nothing posted since, and no dead letter marked (a replay marks it before sending anything).
    unchanged = settled()[0] == posted_keys and all(r["status"] == "open" for r in dead_letters("task", keys))
    cli("replay", "--source", "task", "--kind", "republish")
    settle = quiesce(cfg, db, keys, args.quiesce_timeout)
    letters = store.snapshot(("DeadLetter",))["DeadLetter"]
    again = [name for name, r in letters.items() if r["source"] == "task" and r["key"] in keys]

    def republish_runs() -> int:  # retries tasks that ran a republish of one of these events
        return sum(log_count(cfg, "retries", '"task done: republish', keys, field="key").values())

    runs_before = republish_runs()
    cli("replay", *again)  # an operator replays them again: each task finds the event published
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until every second replay ran (or 2 minutes)
        replayed_again = republish_runs() - runs_before
        if replayed_again >= len(again):
            break
        time.sleep(3.0)
    time.sleep(3.0)  # anything it published would reach the ledger by now (checked: double_posted)
    extra = {
        "poison_published": len(poison_ids),
        "poison_dead_lettered": len(poison),
        "poison_reasons": sorted(Counter(r["reason_code"] for r in poison).items()),
        "poison_with_ledger_error": sum(1 for r in poison if "not a canonical event" in (r.get("last_error") or "")),
        "permanent_failures_dead_lettered": len(task_letters),
        "permanent_reasons": sorted(Counter(r["reason_code"] for r in task_letters).items()),
        "unposted_before_replay": len(not_yet),
        "unposted_neither_dead_lettered_nor_parked": sorted(not_yet - lettered - parked)[:10],
        "dry_run_listed": len(dry),
        "dead_lettered_inbox_events": len(inbox_letters),
        "dry_run_changed_nothing": unchanged,
        "second_replay_sent": len(again),
        "second_replay_tasks_ran": replayed_again,
        "seconds_settling_before_replay": round(time.perf_counter() - first, 1),
    }
    result = report(cfg, db, "5-dead-letters", plan, sent, settle, extra)
    result["dead_lettered"] = len(task_letters) + len(poison)
    result["ok"] = (
        result["ok"]
        and len(poison) == len(poison_ids)
        and extra["poison_with_ledger_error"] == len(poison_ids)
        and len(task_letters) > 0
        and unchanged
        and not_yet <= lettered | parked
        and lettered <= not_yet  # the replay posted them, not a sweep behind the operator's back
        and len(dry) == len(inbox_letters)
        and replayed_again >= len(again)
    )
    return result


def scenario_payouts(cfg, db, args) -> dict:
    """Payouts under bank faults, two payments kills and a bank outage: bench/chaos_payouts.py."""
    from bench import chaos_payouts

    return chaos_payouts.scenario(cfg, db, args, kill_function)


def scenario_webhooks(cfg, db, args) -> dict:
    """Webhooks out to failing receivers, an outage and two webhooks kills: bench/chaos_webhooks.py."""
    from bench import chaos_webhooks

    return chaos_webhooks.scenario(cfg, db, args, kill_function)


SCENARIOS = {
    "1": scenario_duplicates,
    "2": scenario_ledger_kills,
    "3": scenario_restarts,
    "4": scenario_bigquery,
    "5": scenario_dead_letters,
    "6": scenario_payouts,
    "7": scenario_webhooks,
}
SHOWN = (
    "sent",
    "acknowledged",
    "distinct_events",
    "posted",
    "duplicates_suppressed",
    "ledger_replays",
    "parked_on_the_way",
    "dead_lettered",
    "lost",
    "double_posted",
    "seconds_sending",
    "seconds_to_quiesce",
    "partner_retries",
    "verify_ok",
)


def shown_of(scenario: str) -> tuple[str, ...]:
    if scenario == "6-payouts":
        from bench import chaos_payouts

        return chaos_payouts.SHOWN
    if scenario == "7-webhooks":
        from bench import chaos_webhooks

        return chaos_webhooks.SHOWN
    return SHOWN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenarios", default="5,2,4", help="comma-separated, of 1-7, run in that order (3 needs Datastore on disk)"
    )
    parser.add_argument("--events", type=int, default=10000, help="distinct webhooks of scenario 1")
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second, scenario 1")
    parser.add_argument("--fault-events", type=int, default=1000, help="distinct webhooks of scenarios 2-5")
    parser.add_argument("--fault-rate", type=float, default=90, help="deliveries per second, scenarios 2-5")
    parser.add_argument("--payouts", type=int, default=1000, help="payouts of scenario 6")
    parser.add_argument("--wallets", type=int, default=100, help="wallets the payouts of scenario 6 come from")
    parser.add_argument("--transfers", type=int, default=None, help="transfers of scenario 6 (default: payouts / 2)")
    parser.add_argument("--funding", type=int, default=150_000, help="minor units funded per wallet, scenario 6")
    parser.add_argument("--payout-rate", type=float, default=20, help="API requests per second, scenario 6")
    parser.add_argument("--janitor-every", type=float, default=60, help="seconds between janitor ticks, scenario 6")
    parser.add_argument("--webhook-events", type=int, default=5000, help="customer events of scenario 7 (about)")
    parser.add_argument("--webhook-tenants", type=int, default=5, help="tenants of scenario 7 (4 endpoints each)")
    parser.add_argument("--webhook-customers", type=int, default=16, help="customers per tenant, scenario 7")
    parser.add_argument("--webhook-rate", type=float, default=8, help="API requests per second, scenario 7")
    parser.add_argument(
        "--webhook-sweep-every", type=float, default=60, help="seconds between webhooks-sweep ticks, scenario 7"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quiesce-timeout", type=float, default=900)
    parser.add_argument("--out", default=None, help="JSON results (default .run/bench/chaos-<scenarios>.json)")
    args = parser.parse_args(argv)
    if args.transfers is None:
        args.transfers = args.payouts // 2
    cfg = settings()  # under `ctl run --fresh` LEDGERLINE_RUN_DIR names the stack it started
    db = datastore_store.client(cfg)
    results = []
    for number in args.scenarios.split(","):
        started = time.perf_counter()
        result = SCENARIOS[number.strip()](cfg, db, args)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        result["measured_at"] = datetime.now(tz=UTC).isoformat()
        results.append(result)
        print(f"\n== scenario {result['scenario']}: " + ("OK" if result["ok"] else "FAILED"))
        shown = shown_of(result["scenario"])
        for key in shown:
            print(f"  {key:<22} {result[key]}")
        for key, value in result.items():
            if key not in shown and key not in ("scenario", "ok"):
                print(f"  {key:<22} {value}")
        sys.stdout.flush()
    out = Path(args.out or f".run/bench/chaos-{args.scenarios.replace(',', '')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    ok = all(r["ok"] for r in results)
    print("\nchaos: " + ("nothing lost, nothing doubled, verify clean" if ok else "FAILED") + f" ({out})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
