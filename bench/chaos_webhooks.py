"""Chaos scenario 7 (issue 18): webhooks out to failing receivers, one of them down, the webhooks
function SIGKILLed twice. Run by `python -m bench.chaos --scenarios 7` on a fresh stack whose functions
see LEDGERLINE_WEBHOOK_RETRY_SCALE=0.02 (`make chaos` gives it its own line); docs/reliability.md
"Scenario 7".

    python -m bench.chaos --scenarios 7 [--webhook-events 5000] [--webhook-tenants 5] [--webhook-rate 8]

What it does, in order:
  1. --webhook-tenants tenants, each with --webhook-customers customers and an API key, and 4 endpoints
     each (the webhook receiver emulator's named receivers, each configured with its endpoint's
     secret), with different `types` filters: everything by default, `balance.updated` only (opt-in),
     holds only, and a fourth that differs per tenant; every receiver fails 30 % of attempts at random
     (500, seeded); every wallet funded by a direct ledger posting (like bench/payouts.py; its events
     count);
  2. the events, through the customer API like a platform's backend, open loop at --webhook-rate
     requests/s, each request retried with its Idempotency-Key on a 5xx, a 429 or no answer: transfers
     between a tenant's customers (transfer.posted + two balance.updated) and holds (hold.created + two
     balance.updated) later captured in full, voided, or captured in part then voided (hold.captured /
     hold.voided, each with two balance.updated): up to 3 events per hold key and dozens per wallet's
     balance key, so ordering per key is exercised; meanwhile the webhooks function is SIGKILLed twice
     (its process group, then restarted) and one receiver is down for 60 s (connections dropped);
  3. quiescing: until every subscribed (endpoint, event) has a 2xx at the receiver and Datastore has no
     pending delivery nor un-fanned event, the webhooks-sweep ticked every --webhook-sweep-every seconds
     as Cloud Scheduler would (POST {"kind": "webhook-sweep"} to the webhooks function's /tasks);
  4. the audit, from the receiver's records (raw body, webhook-* headers, `verified`, the answer,
     arrival order) and Datastore (CustomerEvent: tenant, type, key, seq; WebhookDelivery status);
  5. replay: WebhookEndpoints.replay for one endpoint over a window in the middle of the run, a dry run
     first (its count must be the window's), then for real: the endpoint must receive exactly the
     window's events again (no more, no less), in order per key.
Invariants (exit 1 if any breaks): every subscribed event delivered (2xx) at least once to every
endpoint subscribing to it, except given-up ones (counted); no event at an endpoint that does not take
it, none at another tenant's; every attempt's signature verified with its endpoint's secret and its
webhook-id the body's id; per endpoint and key, no attempt of a later event before the earlier one's
first 2xx unless that one was given up; event numbers per (tenant, key) 1..n without gaps; no delivery
left pending; the replay's dry-run count and what it sent equal the window. Duplicates per (endpoint,
event) are counted and reported (at-least-once: a kill between the attempt and its record resends).
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from google.cloud import datastore

from bench.baseline import progress
from bench.openloop import paced, post_until_answered
from emulators.webhook_receiver.client import ReceiverClient
from shared import bootstrap
from shared.api import keys, tenants
from shared.domain.ledger.model import Leg, Operation
from shared.domain.webhooks import delivery as policy
from shared.domain.webhooks.catalogue import subscribed
from shared.ledger import transactions
from shared.webhooks import outbox, records

FAIL_RATE = 0.3
DOWN_SECONDS = 60
FUNDING = 10**9
CLIENT_RETRY_SECONDS = 180.0
HOLD_TYPES = ("hold.created", "hold.captured", "hold.voided")
# Endpoint filters per tenant: the first three the same everywhere, the fourth varies by tenant.
COMMON_FILTERS: tuple[tuple[str, ...], ...] = ((), ("balance.updated",), HOLD_TYPES)
FOURTH_FILTERS: tuple[tuple[str, ...], ...] = (
    ("transfer.posted",),
    ("transfer.posted", "balance.updated"),
    ("hold.captured", "hold.voided", "balance.updated"),
    ("hold.created",),
    ("transfer.posted", "hold.voided"),
)


@dataclass(frozen=True)
class Op:
    kind: str  # transfer | hold | capture | void
    key: str  # the Idempotency-Key
    tenant: int
    source: int = 0  # customer index within the tenant
    to: int = 0
    amount: int = 0  # transfer / hold amount; capture: 0 = everything left
    hold: str = ""  # capture / void: the key of the hold op


@dataclass
class Answers:
    status: Counter = field(default_factory=Counter)  # (kind, final status or error)
    holds: dict = field(default_factory=dict)  # hold op key -> hold id
    retried: int = 0


@dataclass
class Endpoint:
    endpoint_id: str
    tenant: str
    receiver: str
    types: tuple[str, ...]
    secret: str


def plan(ops: int, tenant_count: int, customers: int, seed: int, run: str) -> list[Op]:
    """About `ops` requests: transfers and holds (each followed 2-8 % of the run later by a full
    capture, a void, or a partial capture then a void), spread over the tenants, in send order."""
    rng = random.Random(seed)
    timed: list[tuple[float, int, Op]] = []
    n = 0

    def add(at: float, op: Op) -> None:
        nonlocal n
        timed.append((at, n, op))
        n += 1

    while n < ops:
        tenant = rng.randrange(tenant_count)
        source, to = rng.sample(range(customers), 2)
        at = rng.random()
        if rng.random() < 0.65:
            add(at, Op("transfer", f"c7-{run}-{n}", tenant, source, to, 100 + rng.randrange(9900)))
            continue
        hold = Op("hold", f"c7-{run}-{n}", tenant, source, to, 200 + rng.randrange(4800))
        at = at * 0.9
        add(at, hold)
        later = at + rng.uniform(0.02, 0.08)
        ending = rng.randrange(3)
        if ending == 0:
            add(later, Op("capture", f"c7-{run}-{n}", tenant, hold=hold.key))
        elif ending == 1:
            add(later, Op("void", f"c7-{run}-{n}", tenant, hold=hold.key))
        else:
            add(later, Op("capture", f"c7-{run}-{n}", tenant, amount=hold.amount // 2, hold=hold.key))
            add(later + 0.01, Op("void", f"c7-{run}-{n}", tenant, hold=hold.key))
    return [op for _, _, op in sorted(timed)]


class Stack:
    def __init__(self, cfg, db: datastore.Client):
        self.cfg, self.db = cfg, db
        self.root = bootstrap.root(cfg)
        self.api = cfg.function_urls["api"]
        self.webhooks = cfg.function_urls["webhooks"]
        self.receiver = ReceiverClient()
        self.endpoints = bootstrap.webhook_endpoints(self.root)

    def sweep(self) -> str:
        """What Cloud Scheduler's webhooks-sweep job posts every minute."""
        try:
            answer = requests.post(
                self.webhooks + "/tasks",
                json={"kind": "webhook-sweep", "key": f"chaos7-{time.time():.0f}"},
                timeout=300,
            )
            return answer.json().get("detail", str(answer.status_code))
        except (requests.RequestException, ValueError) as exc:
            return f"sweep tick failed: {exc}"


def setup(stack: Stack, tenant_count: int, customers: int, run: str, seed: int):
    """Tenants, customers, keys, endpoints and their receivers (failing 30 %), funded wallets."""
    store, now = stack.root.store, datetime.now(tz=UTC)
    names, api_keys, endpoints = [], [], []
    for t in range(tenant_count):
        tenant = f"chaos7-{run}-t{t}"
        tenants.create_tenant(store, tenant, f"chaos scenario 7, tenant {t}", now)
        names.append([f"cus_c7{run}t{t}_{i}" for i in range(customers)])
        for name in names[-1]:
            tenants.add_customer(store, tenant, name, now)
        api_keys.append(keys.create_key(store, tenant, ["read", "write"], now, livemode=stack.cfg.livemode, label="c7"))
        for j, types in enumerate((*COMMON_FILTERS, FOURTH_FILTERS[t % len(FOURTH_FILTERS)])):
            receiver = f"c7{run}-t{t}-e{j}"
            ep = stack.endpoints.create(tenant, stack.receiver.url(receiver), types=list(types))
            stack.receiver.configure(receiver, [ep.secrets[0].value])
            stack.receiver.behave(receiver, fail_rate=FAIL_RATE, seed=seed * 100 + t * 10 + j)
            endpoints.append(Endpoint(ep.endpoint_id, tenant, receiver, tuple(types), ep.secrets[0].value))
    progress(f"[7-webhooks] {tenant_count} tenants x {customers} customers, {len(endpoints)} endpoints; funding")
    for tenant_names in names:
        for name in tenant_names:
            op_id = f"c7_fund_{run}_{name}"
            legs = (
                Leg("bank:bench:operating", "debit", FUNDING, "USD"),
                Leg(tenants.wallet(name), "credit", FUNDING, "USD"),
            )
            transactions.execute(
                store, Operation(op_id, "post", "bench_fund.v1", op_id, "bench", op_id, now, legs=legs)
            )
    return names, api_keys, endpoints


def send_all(stack: Stack, names, api_keys, ops: list[Op], rate: float, actions: dict) -> Answers:
    """Open loop at `rate`; every request retried with its Idempotency-Key on a 5xx, a 429 or no
    answer; a capture or void waits for its hold's id; actions[n] runs in the background when op n is
    sent."""
    answers, lock, local = Answers(), threading.Lock(), threading.local()
    made: dict[str, threading.Event] = defaultdict(threading.Event)

    def request(op: Op) -> tuple[str, dict] | None:
        customers = names[op.tenant]
        if op.kind in ("transfer", "hold"):
            body = {
                "from_account": customers[op.source],
                "to_account": customers[op.to],
                "amount": op.amount,
                "currency": "USD",
            }
            return ("/v1/transfers" if op.kind == "transfer" else "/v1/holds"), body
        if not made[op.hold].wait(120) or op.hold not in answers.holds:
            return None
        hold = answers.holds[op.hold]
        if op.kind == "capture":
            return f"/v1/holds/{hold}/capture", ({"amount": op.amount} if op.amount else {})
        return f"/v1/holds/{hold}/void", {}

    def send(op: Op) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            target = request(op)
            if target is None:
                with lock:
                    answers.status[(op.kind, "no hold")] += 1
                return
            path, payload = target
            auth = {"Authorization": f"Bearer {api_keys[op.tenant]}", "Idempotency-Key": op.key}
            code, data, retried = post_until_answered(session, stack.api + path, payload, auth, CLIENT_RETRY_SECONDS)
            label = code if code in (200, 201) else f"{code} {data.get('error', {}).get('code', '')}".strip()
            with lock:
                answers.status[(op.kind, label)] += 1
                answers.retried += retried
                if op.kind == "hold" and code in (200, 201):
                    answers.holds[op.key] = data["id"]
        finally:
            if op.kind == "hold":
                made[op.key].set()

    paced(ops, rate, send, actions, "7-webhooks", 250)
    return answers


def receiver_down(stack: Stack, ep: Endpoint, seed: int) -> None:
    stack.receiver.behave(ep.receiver, fail_rate=FAIL_RATE, seed=seed, down_for_s=DOWN_SECONDS)
    progress(f"[7-webhooks] receiver {ep.receiver} down for {DOWN_SECONDS} s (connections dropped)")
    time.sleep(DOWN_SECONDS + 1)
    progress(f"[7-webhooks] receiver {ep.receiver} back (still failing {FAIL_RATE:.0%} at random)")


# ----------------------------------------------------------------------------- what arrived


class Arrivals:
    """The receiver's records of this run's receivers, read incrementally (received_all since_seq)."""

    def __init__(self, stack: Stack, endpoints: list[Endpoint]):
        self.stack = stack
        self.by_receiver = {ep.receiver: ep for ep in endpoints}
        self.records: list[dict] = []
        self.last_seq = 0
        self.delivered: set[tuple[str, str]] = set()  # (endpoint id, event id) with a 2xx

    def poll(self) -> None:
        found, self.last_seq = self.stack.receiver.received_all(self.last_seq)
        for r in found:
            ep = self.by_receiver.get(r["receiver"])
            if ep is None:
                continue
            try:
                body = json.loads(r["body"])
            except ValueError:
                body = {}
            r["endpoint"] = ep.endpoint_id
            r["event"] = body.get("id")
            r["ordering"] = body.get("ordering") or {}
            r.pop("body", None)  # the parsed fields are what the audit needs; bodies are big
            self.records.append(r)
            if r["status"] is not None and 200 <= r["status"] < 300:
                self.delivered.add((ep.endpoint_id, r["event"]))


def events_of(db: datastore.Client, tenant_names: list[str]) -> dict[str, dict]:
    """Every CustomerEvent of these tenants: id -> {tenant, type, key, seq, created_at}."""
    found = {}
    for tenant in tenant_names:
        query = db.query(kind=outbox.EVENT)
        query.add_filter(filter=datastore.query.PropertyFilter("tenant", "=", tenant))
        for e in query.fetch():
            found[e.key.name] = {
                "tenant": e["tenant"],
                "type": e["type"],
                "key": e["key"],
                "seq": e["seq"],
                "created_at": e["created_at"],
                "fanout_pending": e.get("fanout_pending"),
            }
    return found


def expected_pairs(events: dict[str, dict], endpoints: list[Endpoint]) -> set[tuple[str, str]]:
    return {
        (ep.endpoint_id, eid)
        for eid, e in events.items()
        for ep in endpoints
        if ep.tenant == e["tenant"] and subscribed(ep.types, e["type"])
    }


def deliveries_of(db: datastore.Client, endpoints: list[Endpoint]) -> dict[str, dict]:
    """Every WebhookDelivery of these endpoints: id -> row (status, event, replay, attempts, ...)."""
    found = {}
    for ep in endpoints:
        query = db.query(kind=records.DELIVERY)
        query.add_filter(filter=datastore.query.PropertyFilter("endpoint", "=", ep.endpoint_id))
        found.update({e.key.name: dict(e) for e in query.fetch()})
    return found


def pending_deliveries(db: datastore.Client, endpoint_ids: set[str]) -> int:
    query = db.query(kind=records.DELIVERY)
    query.add_filter(filter=datastore.query.PropertyFilter("status", "=", "pending"))
    return sum(1 for e in query.fetch() if e["endpoint"] in endpoint_ids)


def unfanned(db: datastore.Client, tenant_names: set[str]) -> int:
    query = db.query(kind=outbox.EVENT)
    query.add_filter(filter=datastore.query.PropertyFilter("fanout_pending", "=", True))
    return sum(1 for e in query.fetch() if e["tenant"] in tenant_names)


def quiesce(stack: Stack, arrivals: Arrivals, expected: set, endpoints, timeout: float, sweep_every: float) -> dict:
    """Until every expected pair has a 2xx and Datastore has nothing pending (checked at most every
    20 s: queries grow the in-memory emulator's heap), ticking the webhooks-sweep."""
    endpoint_ids = {ep.endpoint_id for ep in endpoints}
    tenant_names = {ep.tenant for ep in endpoints}
    started = last_sweep = time.perf_counter()
    last_check, ticks, swept = 0.0, 0, []
    pending = fanout = None
    while True:
        arrivals.poll()
        missing = len(expected - arrivals.delivered)
        elapsed = time.perf_counter() - started
        since_check = time.perf_counter() - last_check
        if since_check > 20 and (not missing or since_check > 60):
            last_check = time.perf_counter()
            pending, fanout = pending_deliveries(stack.db, endpoint_ids), unfanned(stack.db, tenant_names)
            if not pending and not fanout:
                break  # what is still missing, if anything, was given up (the audit says)
        if elapsed > timeout:
            progress("[7-webhooks] quiesce timeout")
            break
        if time.perf_counter() - last_sweep > sweep_every:
            detail = stack.sweep()
            ticks, last_sweep = ticks + 1, time.perf_counter()
            swept.append(detail)
            progress(f"[7-webhooks] webhooks-sweep: {detail}")
        progress(
            f"[7-webhooks] quiescing {elapsed:.0f} s: {len(expected) - missing}/{len(expected)} delivered, "
            f"{len(arrivals.records)} attempts seen; last check: {pending} pending, {fanout} not fanned out"
        )
        time.sleep(5.0)
    return {
        "seconds_to_quiesce": round(time.perf_counter() - started, 1),
        "sweep_ticks": ticks,
        "sweep_details": swept,
    }


# ----------------------------------------------------------------------------- audit


def ordering_breaks(records_: list[dict], events: dict[str, dict], endpoints: list[Endpoint], given_up: set):
    """Per endpoint and key: an attempt of a later event (by seq, among the events the endpoint takes)
    that arrived before the earlier event's first 2xx, the earlier not given up. Returns (breaks, sample)."""
    first_ok: dict[tuple[str, str], int] = {}
    for r in records_:
        if r["status"] is not None and 200 <= r["status"] < 300:
            first_ok.setdefault((r["endpoint"], r["event"]), r["global_seq"])
    lanes: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for ep in endpoints:
        for eid, e in events.items():
            if e["tenant"] == ep.tenant and subscribed(ep.types, e["type"]):
                lanes[(ep.endpoint_id, e["key"])].append((e["seq"], eid))
    previous: dict[tuple[str, str], str] = {}  # (endpoint, event) -> the endpoint's previous event of its key
    for (endpoint, _key), lane in lanes.items():
        lane.sort()
        for (_, before), (_, after) in itertools.pairwise(lane):
            previous[(endpoint, after)] = before
    breaks, sample = 0, []
    for r in records_:
        before = previous.get((r["endpoint"], r["event"]))
        if before is None or (r["endpoint"], before) in given_up:
            continue
        ok_at = first_ok.get((r["endpoint"], before))
        if ok_at is None or ok_at > r["global_seq"]:
            breaks += 1
            if len(sample) < 10:
                sample.append({"endpoint": r["endpoint"], "event": r["event"], "after": before, "at": r["global_seq"]})
    return breaks, sample


def attempts_of(db: datastore.Client, endpoints: list[Endpoint]) -> dict[str, list[dict]]:
    """Every WebhookAttempt the webhooks function recorded for these endpoints, per delivery, by number."""
    found: dict[str, list[dict]] = defaultdict(list)
    for ep in endpoints:
        query = db.query(kind=records.ATTEMPT)
        query.add_filter(filter=datastore.query.PropertyFilter("endpoint", "=", ep.endpoint_id))
        for e in query.fetch():
            found[e["delivery"]].append({"number": e["number"], "at": e["at"], "status": e.get("status_code")})
    for rows in found.values():
        rows.sort(key=lambda a: a["number"])
    return found


def ahead_of_schedule(attempts: dict[str, list[dict]], scale: float) -> tuple[int, list]:
    """Recorded attempts that came sooner after the one before than the schedule allows (the nominal
    delay after attempt n, scaled, less the jitter): a second retry chain would show here."""
    early, sample = 0, []
    for delivery, rows in attempts.items():
        deadline = rows[0]["at"] + policy.DEADLINE * scale  # the schedule stops at it (a shorter last delay)
        for a, b in itertools.pairwise(rows):
            if b["number"] != a["number"] + 1 or b["at"] >= deadline - timedelta(seconds=1):
                continue
            least = policy.nominal_delay(a["number"]).total_seconds() * scale * (1 - policy.JITTER)
            gap = (b["at"] - a["at"]).total_seconds()
            if gap < least - 0.01:
                early += 1
                if len(sample) < 5:
                    sample.append((delivery, a["number"], round(gap, 3), round(least, 3)))
    return early, sample


def lane_gaps(events: dict[str, dict]) -> int:
    """(tenant, key) lanes whose numbers are not exactly 1..n."""
    lanes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in events.values():
        lanes[(e["tenant"], e["key"])].append(e["seq"])
    return sum(1 for seqs in lanes.values() if sorted(seqs) != list(range(1, len(seqs) + 1)))


def audit(stack: Stack, arrivals: Arrivals, events: dict, endpoints: list[Endpoint], expected: set) -> dict:
    by_id = {ep.endpoint_id: ep for ep in endpoints}
    records_ = arrivals.records
    deliveries = deliveries_of(stack.db, endpoints)
    fanned = {d_id: d for d_id, d in deliveries.items() if not d.get("replay")}
    status = Counter(d["status"] for d in fanned.values())
    given_up = {(d["endpoint"], d["event"]) for d in fanned.values() if d["status"] == "failed"}
    missing = expected - arrivals.delivered
    unexpected = [r for r in records_ if (r["endpoint"], r["event"]) not in expected]
    cross_tenant = [
        r for r in unexpected if r["event"] not in events or events[r["event"]]["tenant"] != by_id[r["endpoint"]].tenant
    ]
    unverified = [r for r in records_ if not r["verified"]]
    id_mismatch = [r for r in records_ if r["headers"].get("webhook-id") != r["event"]]
    body_mismatch = [
        r
        for r in records_
        if r["event"] in events
        and (r["ordering"].get("key"), r["ordering"].get("sequence"))
        != (events[r["event"]]["key"], events[r["event"]]["seq"])
    ]
    oks = Counter((r["endpoint"], r["event"]) for r in records_ if r["status"] is not None and 200 <= r["status"] < 300)
    duplicated = {pair: n for pair, n in oks.items() if n > 1}
    breaks, break_sample = ordering_breaks(records_, events, endpoints, given_up)
    answered = Counter("dropped" if r["status"] is None else str(r["status"]) for r in records_)
    attempts_recorded = sum(int(d.get("attempts", 0)) for d in fanned.values())
    early, early_sample = ahead_of_schedule(attempts_of(stack.db, endpoints), stack.cfg.webhook_retry_scale)
    per_type = Counter(e["type"] for e in events.values())
    lanes = Counter((e["tenant"], e["key"]) for e in events.values())
    result = {
        "events": len(events),
        "events_by_type": dict(sorted(per_type.items())),
        "ordering_keys": len(lanes),
        "longest_lane": max(lanes.values()) if lanes else 0,
        "endpoints": len(endpoints),
        "subscribed_pairs": len(expected),
        "deliveries": len(fanned),
        "delivery_status": dict(status),
        "attempts": len(records_),
        "attempts_recorded": attempts_recorded,
        "answers": dict(sorted(answered.items())),
        "failures_injected": sum(n for s, n in answered.items() if s != "200"),
        "delivered_pairs": len(expected & arrivals.delivered),
        "missing": len(missing - given_up),
        "missing_sample": sorted(missing - given_up)[:10],
        "given_up": len(given_up),
        "given_up_sample": sorted(given_up)[:10],
        "unexpected": len(unexpected),
        "cross_tenant": len(cross_tenant),
        "unverified": len(unverified),
        "unverified_sample": [(r["receiver"], r["verify_error"]) for r in unverified[:5]],
        "webhook_id_mismatch": len(id_mismatch),
        "body_mismatch": len(body_mismatch),
        "out_of_order": breaks,
        "out_of_order_sample": break_sample,
        "attempts_ahead_of_schedule": early,
        "attempts_ahead_of_schedule_sample": early_sample,
        "duplicated_pairs": len(duplicated),
        "duplicate_deliveries": sum(n - 1 for n in duplicated.values()),
        "lane_gaps": lane_gaps(events),
        "still_pending": status.get("pending", 0),
    }
    return result


# ----------------------------------------------------------------------------- replay


def replay_check(stack: Stack, arrivals: Arrivals, events: dict, ep: Endpoint, timeout: float) -> dict:
    """Replay one endpoint over the middle fifth of its tenant's events (by commit time)."""
    mine = sorted(e["created_at"] for e in events.values() if e["tenant"] == ep.tenant)
    since, until = mine[int(len(mine) * 0.4)], mine[int(len(mine) * 0.6)]
    window = {
        eid
        for eid, e in events.items()
        if e["tenant"] == ep.tenant and since <= e["created_at"] <= until and subscribed(ep.types, e["type"])
    }
    dry = stack.endpoints.replay(ep.tenant, ep.endpoint_id, since, until, dry_run=True)
    arrivals.poll()
    before = arrivals.last_seq
    progress(f"[7-webhooks] replay of {ep.receiver} {since.isoformat()} .. {until.isoformat()}: dry run {dry.matched}")
    job = stack.endpoints.replay(ep.tenant, ep.endpoint_id, since, until)
    started = time.perf_counter()
    while True:
        arrivals.poll()
        again = [r for r in arrivals.records if r["global_seq"] > before and r["endpoint"] == ep.endpoint_id]
        ok = {r["event"] for r in again if r["status"] is not None and 200 <= r["status"] < 300}
        if ok >= window or time.perf_counter() - started > timeout:
            break
        progress(f"[7-webhooks] replay: {len(ok)}/{len(window)} events received again")
        time.sleep(3.0)
    time.sleep(10.0)  # anything more it would send (it must not) arrives by now
    arrivals.poll()
    again = [r for r in arrivals.records if r["global_seq"] > before and r["endpoint"] == ep.endpoint_id]
    oks = Counter(r["event"] for r in again if r["status"] is not None and 200 <= r["status"] < 300)
    ordered, _ = ordering_breaks(again, {e: events[e] for e in window}, [ep], set())
    job_row = stack.endpoints.replay_job(ep.tenant, job.replay_id)
    return {
        "replay_endpoint": ep.receiver,
        "replay_since": since.isoformat(),
        "replay_until": until.isoformat(),
        "replay_window_events": len(window),
        "replay_dry_run_count": dry.matched,
        "replay_job_matched": job_row.matched,
        "replay_job_status": job_row.status,
        "replay_received_again": len(set(oks) & window),
        "replay_outside_window": len({r["event"] for r in again} - window),
        "replay_missing": len(window - set(oks)),
        "replay_attempts": len(again),
        "replay_duplicates": sum(n - 1 for n in oks.values() if n > 1),
        "replay_out_of_order": ordered,
        "replay_seconds": round(time.perf_counter() - started, 1),
    }


# ----------------------------------------------------------------------------- the scenario


def requeued(detail: str) -> int:
    """The deliveries a webhooks-sweep answer says it re-queued (`…; re-queued N delivery(ies)`)."""
    _, found, rest = detail.partition("re-queued ")
    return int(rest.split()[0]) if found and rest.split()[0].isdigit() else 0


def scenario(cfg, db, args, kill) -> dict:
    """Scenario 7; `kill(cfg, name)` SIGKILLs a function's process group and restarts it (bench.chaos)."""
    if cfg.webhook_retry_scale >= 1:
        progress(
            "[7-webhooks] warning: LEDGERLINE_WEBHOOK_RETRY_SCALE is 1 (the real 3-day schedule): a run with "
            "receivers failing at random will not quiesce in minutes; `make chaos` sets 0.02"
        )
    stack = Stack(cfg, db)
    run = uuid.uuid4().hex[:6]
    customers = args.webhook_customers
    # each request makes 3 events (transfer or hold event + two balance.updated); funding 2 per wallet
    requests_wanted = max(10, (args.webhook_events - 2 * customers * args.webhook_tenants) // 3)
    ops = plan(requests_wanted, args.webhook_tenants, customers, args.seed + 7, run)
    names, api_keys, endpoints = setup(stack, args.webhook_tenants, customers, run, args.seed)
    down = endpoints[1]  # the first tenant's balance.updated endpoint: its long lanes wait out the outage
    n = len(ops)
    actions = {
        int(n * 0.3): lambda: kill(cfg, "webhooks"),
        int(n * 0.45): lambda: receiver_down(stack, down, args.seed + 70),
        int(n * 0.7): lambda: kill(cfg, "webhooks"),
    }
    progress(f"[7-webhooks] {n} API requests at {args.webhook_rate:g}/s over {args.webhook_tenants} tenants")
    started = time.perf_counter()
    answers = send_all(stack, names, api_keys, ops, args.webhook_rate, actions)
    sending = round(time.perf_counter() - started, 1)
    progress(f"[7-webhooks] sent: {dict(answers.status)}")
    tenant_names = sorted({ep.tenant for ep in endpoints})
    events = events_of(db, tenant_names)
    expected = expected_pairs(events, endpoints)
    progress(f"[7-webhooks] {len(events)} events committed, {len(expected)} (endpoint, event) pairs to deliver")
    arrivals = Arrivals(stack, endpoints)
    settle = quiesce(stack, arrivals, expected, endpoints, args.quiesce_timeout, args.webhook_sweep_every)
    result = {"scenario": "7-webhooks", **audit(stack, arrivals, events, endpoints, expected)}
    replayed = endpoints[4 * min(2, args.webhook_tenants - 1)]  # the third tenant's unfiltered endpoint
    result.update(replay_check(stack, arrivals, events, replayed, args.quiesce_timeout))
    refused = {f"{k[0]} {k[1]}": v for k, v in answers.status.items() if k[1] not in (200, 201)}
    result.update(
        {
            "api_requests": n,
            "api_refused": refused,
            "client_retries": answers.retried,
            "receiver_fail_rate": FAIL_RATE,
            "receiver_down": down.receiver,
            "receiver_down_seconds": DOWN_SECONDS,
            "webhooks_kills": 2,
            "retry_scale": cfg.webhook_retry_scale,
            "seconds_sending": sending,
            **{k: v for k, v in settle.items() if k != "sweep_details"},
            "sweep_requeued": sum(requeued(d) for d in settle["sweep_details"]),
            "sweep_rounds_that_requeued": sum(1 for d in settle["sweep_details"] if requeued(d)),
        }
    )
    result["ok"] = (
        result["missing"] == 0
        and result["unexpected"] == 0
        and result["cross_tenant"] == 0
        and result["unverified"] == 0
        and result["webhook_id_mismatch"] == 0
        and result["body_mismatch"] == 0
        and result["out_of_order"] == 0
        and result["attempts_ahead_of_schedule"] == 0
        and result["lane_gaps"] == 0
        and result["still_pending"] == 0
        and not refused
        and result["replay_dry_run_count"] == result["replay_window_events"]
        and result["replay_received_again"] == result["replay_window_events"]
        and result["replay_outside_window"] == 0
        and result["replay_missing"] == 0
        and result["replay_out_of_order"] == 0
    )
    for ep in endpoints:  # healthy receivers for whatever runs next on this stack
        stack.receiver.behave(ep.receiver)
    return result


SHOWN = (
    "events",
    "endpoints",
    "subscribed_pairs",
    "deliveries",
    "attempts",
    "failures_injected",
    "delivered_pairs",
    "missing",
    "given_up",
    "unexpected",
    "cross_tenant",
    "unverified",
    "out_of_order",
    "attempts_ahead_of_schedule",
    "duplicate_deliveries",
    "lane_gaps",
    "still_pending",
    "replay_window_events",
    "replay_dry_run_count",
    "replay_received_again",
    "replay_outside_window",
    "seconds_sending",
    "seconds_to_quiesce",
)
