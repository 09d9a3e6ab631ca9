"""Chaos scenario 6 (issue 17): payouts under bank faults, function kills and a bank outage, while
transfers drain the same wallets. Run by `python -m bench.chaos --scenarios 6` on a fresh stack
(`make chaos` gives it its own line); docs/reliability.md "Scenario 6".

    python -m bench.chaos --scenarios 6 [--payouts 1000] [--wallets 100] [--transfers 500] [--payout-rate 20]

What it does, in order:
  1. a tenant with --wallets customers, each customer's payout limits raised by an operator (the
     limits book, as `PUT /v1/operator/payout-limits` does), each wallet funded by a signed Stripe
     webhook through intake (posted by the ledger);
  2. the bank sandbox's faults at `column`: the create times out after committing on 20 % of calls,
     answers 500 after committing on 5 % and 500 before committing on 5 % (status queries too);
  3. --payouts `POST /v1/payouts` and --transfers `POST /v1/transfers` between the same wallets, mixed,
     open loop at --payout-rate requests/s, each request retried with its Idempotency-Key on a 5xx or
     a connection error (a few payouts go to the sandbox's magic accounts: R01 returns after paid,
     a decline at every bank); meanwhile the payments function is SIGKILLed twice (its process group,
     then restarted) and `column` is down for 30 s (`outage_seconds`: 503 to every call);
  4. quiescing: every payout must reach its end (paid, returned, failed), the payments janitor ticked
     every --janitor-every seconds as Cloud Scheduler would (it gives a payout unchanged for 10 minutes
     a fresh step);
  5. the audit: statuses, the sandbox's oracle (`GET /_control/executed`), every wallet's balance
     history (each entry's resulting totals: posted and available never below 0), every wallet =
     funding - paid payouts + returned - transfers out + transfers in, nothing held any more, `verify`.
Invariants (exit 1 if any breaks): executed twice 0; a paid or returned payout executed exactly once,
a failed one never; wallets ever negative 0; stuck 0; wallets wrong 0; verify clean.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from bench.baseline import progress
from bench.openloop import paced, post_until_answered
from shared import bootstrap
from shared.api import keys, tenants
from shared.demo import encode, payment_intent_succeeded
from shared.ledger import balances as ledger_balances
from shared.ledger.verify import verify
from shared.partners import stripe

BANKS = ("column", "lakeside")
FINAL = ("failed", "returned", "canceled")
RETURN_ACCOUNT = "1111111111"  # the sandbox settles it, then returns it R01
DECLINE_ACCOUNT = "7777777777"  # every bank of the sandbox declines it: failed after failover
# The faults at the first-choice bank: 20 % time out after committing, 10 % answer 5xx.
COLUMN_FAULTS = {
    "timeout_after_commit_rate": 0.2,
    "error_after_commit_rate": 0.05,
    "error_before_commit_rate": 0.05,
    "hang_seconds": 8,  # past the adapter's 5 s read timeout
}
CLIENT_RETRY_SECONDS = 180.0


@dataclass(frozen=True)
class Op:
    kind: str  # payout | transfer
    key: str  # the Idempotency-Key
    source: int  # wallet index
    amount: int  # minor units
    to: int = -1  # transfers: the receiving wallet
    account: str = ""  # payouts: the destination's account number (never printed)


@dataclass
class Answers:
    status: Counter = field(default_factory=Counter)  # (kind, final HTTP status or error code)
    payouts: dict = field(default_factory=dict)  # op key -> payout id (201)
    transfers: list = field(default_factory=list)  # ops answered 201
    retried: int = 0


def plan(payouts: int, transfers: int, wallets: int, seed: int, run: str) -> list[Op]:
    rng = random.Random(seed)
    ops = []
    for n in range(payouts):
        draw = rng.random()
        account = (
            RETURN_ACCOUNT if draw < 0.03 else DECLINE_ACCOUNT if draw < 0.05 else str(rng.randrange(10**9, 10**12))
        )
        ops.append(
            Op("payout", f"c6-{run}-po{n}", rng.randrange(wallets), 1_000 + rng.randrange(190) * 100, account=account)
        )
    for n in range(transfers):
        source, to = rng.sample(range(wallets), 2)
        ops.append(Op("transfer", f"c6-{run}-tr{n}", source, 1_000 + rng.randrange(290) * 100, to=to))
    rng.shuffle(ops)
    return ops


class Stack:
    """The URLs and clients of the stack the scenario runs on."""

    def __init__(self, cfg, db):
        self.cfg, self.db = cfg, db
        self.root = bootstrap.root(cfg)
        self.api = cfg.function_urls["api"]
        self.payments = cfg.function_urls["payments"]
        self.sandbox = f"http://127.0.0.1:{cfg.port('bank_sandbox')}"

    def faults(self, bank: str, **faults) -> None:
        requests.post(f"{self.sandbox}/_control/{bank}/faults", json=faults, timeout=10).raise_for_status()

    def janitor(self) -> str:
        """What Cloud Scheduler runs: the payments janitor, and the retries' safety-net sweeps (the stale
        re-drive sends again a partner outcome whose push to payments was lost)."""
        from bench.chaos import scheduler_tick

        redriven = scheduler_tick(self.cfg)
        return f"{self._janitor()}; re-drove {redriven} stale inbox event(s)"

    def _janitor(self) -> str:
        try:
            answer = requests.post(
                self.payments + "/tasks",
                json={"kind": "payments-janitor", "key": f"chaos6-{time.time():.0f}"},
                timeout=120,
            )
            return answer.json().get("detail", str(answer.status_code))
        except (requests.RequestException, ValueError) as exc:
            return f"janitor tick failed: {exc}"


def setup(stack: Stack, wallets: int, funding: int, run: str) -> tuple[str, list[str]]:
    store, now = stack.root.store, datetime.now(tz=UTC)
    tenant = f"chaos6-{run}"
    tenants.create_tenant(store, tenant, "chaos scenario 6", now)
    names = [f"cus_c6{run}_{i}" for i in range(wallets)]
    book = bootstrap.payout_limits(stack.root)
    for name in names:
        tenants.add_customer(store, tenant, name, now)
        book.set(name, "USD", funding, 10 * funding, actor="chaos-6")  # high enough: the funds are the limit
    key = keys.create_key(store, tenant, ["read", "write"], now, livemode=stack.cfg.livemode, label="chaos-6")
    progress(f"[6-payouts] tenant {tenant}: {wallets} customers, limits set; funding each wallet through intake")
    secret = stack.cfg.webhook_secrets("stripe")[0]
    session = requests.Session()
    for i, name in enumerate(names):
        evt, pi = f"evt_c6{run}{i}", f"pi_c6{run}{i}"
        body = encode(payment_intent_succeeded(evt, pi, funding, "usd", name))
        for _ in range(30):
            signature = stripe.sign(body, secret, int(time.time()))
            answer = session.post(
                stack.cfg.function_urls["intake"] + "/webhooks/stripe",
                data=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
                timeout=30,
            )
            if answer.status_code == 200:
                break
            time.sleep(1.0)
        else:
            raise RuntimeError(f"funding webhook {evt} refused: {answer.status_code} {answer.text[:200]}")
    deadline = time.monotonic() + 300
    while True:
        unfunded = [n for n in names if posted(stack, n) != funding]
        if not unfunded:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(unfunded)} wallets not funded after 5 minutes")
        progress(f"[6-payouts] waiting for the ledger: {wallets - len(unfunded)}/{wallets} wallets funded")
        time.sleep(2.0)
    return key, names


def posted(stack: Stack, name: str) -> int | None:
    found = ledger_balances.balances(stack.root.store, f"customer:{name}:wallet").get("USD")
    return found.posted if found else None


def send_all(stack: Stack, key: str, names: list[str], ops: list[Op], rate: float, actions: dict) -> Answers:
    """Open loop at `rate`; every request retried with its Idempotency-Key on a 5xx or no answer, as an
    API client should; actions[n] runs in the background when op n is sent."""
    answers, lock, local = Answers(), threading.Lock(), threading.local()
    auth = {"Authorization": f"Bearer {key}"}

    def body(op: Op) -> tuple[str, dict]:
        if op.kind == "transfer":
            return "/v1/transfers", {
                "from_account": names[op.source], "to_account": names[op.to], "amount": op.amount, "currency": "USD",
            }  # fmt: skip
        destination = {
            "rail": "ach",
            "routing_number": "021000021",
            "account_number": op.account,
            "account_holder": "Chaos Six",
        }
        return "/v1/payouts", {
            "from_account": names[op.source],
            "amount": op.amount,
            "currency": "USD",
            "destination": destination,
        }

    def send(op: Op) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        path, payload = body(op)
        headers = {**auth, "Idempotency-Key": op.key}
        code, data, retried = post_until_answered(session, stack.api + path, payload, headers, CLIENT_RETRY_SECONDS)
        label = code if code in (200, 201) else f"{code} {data.get('error', {}).get('code', '')}".strip()
        with lock:
            answers.status[(op.kind, label)] += 1
            answers.retried += retried
            if code == 201 and op.kind == "payout":
                answers.payouts[op.key] = data["id"]
            elif code in (200, 201) and op.kind == "transfer":  # the transfers route answers 200
                answers.transfers.append(op)

    paced(ops, rate, send, actions, "6-payouts", 200)
    return answers


def column_outage(stack: Stack, seconds: int) -> None:
    stack.faults("column", **COLUMN_FAULTS, outage_seconds=seconds)  # one POST replaces every fault
    progress(f"[6-payouts] column down for {seconds} s (503 to every call)")
    time.sleep(seconds + 1)
    progress("[6-payouts] column back (its rate faults stay on)")


def done(payout, op: Op) -> bool:
    if payout.status in FINAL:
        return True
    return payout.status == "paid" and op.account != RETURN_ACCOUNT  # a return only follows its magic account


def quiesce(stack: Stack, ops_by_key: dict, payout_ids: dict, timeout: float, janitor_every: float) -> dict:
    service = bootstrap.payouts(stack.root)
    open_ = dict(payout_ids)  # op key -> payout id, not yet at its end
    started = last_janitor = time.perf_counter()
    ticks, swept = 0, []
    while open_:
        states: Counter = Counter()
        for op_key, pid in list(open_.items()):
            found = service.get(pid)
            if found is not None and done(found.payout, ops_by_key[op_key]):
                del open_[op_key]
            else:
                states[found.payout.status if found else "missing"] += 1
        elapsed = time.perf_counter() - started
        if not open_ or elapsed > timeout:
            break
        if time.perf_counter() - last_janitor > janitor_every:
            detail = stack.janitor()
            ticks, last_janitor = ticks + 1, time.perf_counter()
            swept.append(detail)
            progress(f"[6-payouts] {detail}")
        progress(f"[6-payouts] quiescing {elapsed:.0f} s: {len(open_)} payouts on their way {dict(states)}")
        time.sleep(5.0)
    return {
        "seconds_to_quiesce": round(time.perf_counter() - started, 1),
        "janitor_ticks": ticks,
        "janitor_rounds_that_swept": sum(
            1 for d in swept if d.startswith("janitor:") and not d.startswith("janitor: 0 ")
        ),
        "still_open": sorted(open_.values()),
    }


def wallet_history(stack: Stack, name: str) -> dict:
    """The wallet's entries in ledger order (per shard, by the shard's version): the lowest posted and
    available balances any entry left behind, and the final balance."""
    account = f"customer:{name}:wallet"
    entries = [e for t in stack.root.store.transactions_of_account(account) for e in t.entries_on(account)]
    lowest_posted = lowest_available = None
    for e in sorted(entries, key=lambda e: (e.shard, e.account_version)):
        after = e.balance_after()
        lowest_posted = after.posted if lowest_posted is None else min(lowest_posted, after.posted)
        lowest_available = after.available if lowest_available is None else min(lowest_available, after.available)
    final = ledger_balances.balances(stack.root.store, account).get("USD")
    return {
        "entries": len(entries),
        "shards": len({e.shard for e in entries}),
        "lowest_posted": lowest_posted,
        "lowest_available": lowest_available,
        "posted": final.posted if final else None,
        "pending_out": final.pending_out if final else None,
    }


def timeline(payout) -> list:
    return [[t.at.isoformat(), t.event, t.source, t.target, t.attempt, (t.detail or "")[:120]] for t in payout.timeline]


def audit(stack: Stack, names: list[str], funding: int, ops: list[Op], answers: Answers, settle: dict) -> dict:
    service = bootstrap.payouts(stack.root)
    ops_by_key = {op.key: op for op in ops}
    records = {pid: service.get(pid).payout for pid in answers.payouts.values()}
    status = Counter(p.status for p in records.values())
    oracle = requests.get(f"{stack.sandbox}/_control/executed", timeout=30).json()
    executed = oracle["payouts"]  # payout id -> {executed, banks}
    ours = set(records)
    twice = sorted(pid for pid in oracle.get("executed_twice", []) if pid in ours)
    per_bank = Counter(bank for pid, row in executed.items() if pid in ours for bank in row["banks"])
    paid_like = {pid for pid, p in records.items() if p.status in ("paid", "returned")}
    paid_not_once = sorted(pid for pid in paid_like if executed.get(pid, {}).get("executed", 0) != 1)
    failed_executed = sorted(
        pid for pid, p in records.items() if p.status == "failed" and executed.get(pid, {}).get("executed", 0) > 0
    )
    ended = ("paid", "returned", "failed")
    open_executed = sorted(
        pid for pid, p in records.items() if p.status not in ended and executed.get(pid, {}).get("executed", 0) > 0
    )
    # failed over: an attempt at the first-choice bank known not executed, then the next bank; routed
    # around: the first attempt already at the second bank (column's breaker was open)
    failed_over = sorted(pid for pid, p in records.items() if len({a.partner for a in p.attempts}) > 1)
    routed_around = sorted(pid for pid, p in records.items() if p.attempts and p.attempts[0].partner != BANKS[0])
    paid_at = Counter(
        next((a.partner for a in p.attempts if a.state == "accepted"), "?")
        for pid, p in records.items()
        if pid in paid_like
    )

    # every wallet = funding - paid payouts + returned - transfers out + transfers in
    expected = {name: funding for name in names}
    for op_key, pid in answers.payouts.items():
        p = records[pid]
        if p.status in ("paid", "returned"):
            expected[names[ops_by_key[op_key].source]] -= p.amount
        if p.status == "returned":
            expected[names[ops_by_key[op_key].source]] += p.amount
    for op in answers.transfers:
        expected[names[op.source]] -= op.amount
        expected[names[op.to]] += op.amount
    histories = {name: wallet_history(stack, name) for name in names}
    negative = sorted(n for n, h in histories.items() if min(h["lowest_posted"], h["lowest_available"]) < 0)
    wrong = {n: (h["posted"], expected[n]) for n, h in histories.items() if h["posted"] != expected[n]}
    still_held = {n: h["pending_out"] for n, h in histories.items() if h["pending_out"]}
    audit_ = verify(stack.cfg, db=stack.db)
    stuck = sorted(pid for pid, p in records.items() if p.status in ("pending", "submitting", "submitted"))
    anomalies = sorted(set(twice) | set(paid_not_once) | set(failed_executed) | set(stuck) | set(open_executed))
    result = {
        "scenario": "6-payouts",
        "payouts_requested": sum(1 for op in ops if op.kind == "payout"),
        "payouts_accepted": len(records),
        "payouts_refused": {k[1]: v for k, v in answers.status.items() if k[0] == "payout" and k[1] != 201},
        "paid": status.get("paid", 0),
        "failed": status.get("failed", 0),
        "returned": status.get("returned", 0),
        "failed_over": len(failed_over),
        "routed_around_column": len(routed_around),
        "paid_at": dict(paid_at),
        "executed_at_bank": {bank: per_bank.get(bank, 0) for bank in BANKS},
        "executed_twice": len(twice),
        "paid_not_executed_once": len(paid_not_once),
        "failed_but_executed": len(failed_executed),
        "open_but_executed": len(open_executed),
        "stuck": len(stuck),
        "transfers_requested": sum(1 for op in ops if op.kind == "transfer"),
        "transfers_applied": len(answers.transfers),
        "transfers_refused": {
            k[1]: v for k, v in answers.status.items() if k[0] == "transfer" and k[1] not in (200, 201)
        },
        "wallets": len(names),
        "wallets_ever_negative": len(negative),
        "lowest_available_seen": min(h["lowest_available"] for h in histories.values()),
        "wallets_wrong": len(wrong),
        "wallets_wrong_sample": dict(list(wrong.items())[:5]),
        "wallets_still_holding": len(still_held),
        "verify_ok": audit_["ok"],
        "verify_problems": audit_["problems"][:10],
        "client_retries": answers.retried,
        "status_counts": dict(status),
        "anomalies": {
            pid: {
                "status": records[pid].status,
                "attempts": [(a.number, a.partner, a.state) for a in records[pid].attempts],
                "oracle": executed.get(pid, {"executed": 0}),
                "timeline": timeline(records[pid]),
            }
            for pid in anomalies[:20]
        },
        **{k: v for k, v in settle.items() if k != "still_open"},
    }
    result["ok"] = (
        result["executed_twice"] == 0
        and result["paid_not_executed_once"] == 0
        and result["failed_but_executed"] == 0
        and result["open_but_executed"] == 0
        and result["stuck"] == 0
        and result["wallets_ever_negative"] == 0
        and result["wallets_wrong"] == 0
        and result["wallets_still_holding"] == 0
        and result["verify_ok"]
    )
    return result


def scenario(cfg, db, args, kill) -> dict:
    """Scenario 6; `kill(cfg, name)` SIGKILLs a function's process group and restarts it (bench.chaos)."""
    stack = Stack(cfg, db)
    run = uuid.uuid4().hex[:6]
    ops = plan(args.payouts, args.transfers, args.wallets, args.seed + 6, run)
    key, names = setup(stack, args.wallets, args.funding, run)
    for bank in BANKS:
        requests.delete(f"{stack.sandbox}/_control/{bank}/faults", timeout=10).raise_for_status()
        requests.post(
            f"{stack.sandbox}/_control/{bank}/clock",
            json={"settle_after_seconds": 2, "return_after_seconds": 1},
            timeout=10,
        ).raise_for_status()
    stack.faults("column", **COLUMN_FAULTS, seed=args.seed)
    progress(f"[6-payouts] column faults on: {COLUMN_FAULTS}")
    n = len(ops)
    actions = {
        int(n * 0.25): lambda: kill(cfg, "payments"),
        int(n * 0.4): lambda: column_outage(stack, 30),
        int(n * 0.65): lambda: kill(cfg, "payments"),
    }
    progress(f"[6-payouts] {args.payouts} payouts and {args.transfers} transfers at {args.payout_rate:g} requests/s")
    started = time.perf_counter()
    answers = send_all(stack, key, names, ops, args.payout_rate, actions)
    sending = round(time.perf_counter() - started, 1)
    progress(f"[6-payouts] sent: {dict(answers.status)}")
    settle = quiesce(stack, {op.key: op for op in ops}, answers.payouts, args.quiesce_timeout, args.janitor_every)
    result = audit(stack, names, args.funding, ops, answers, settle)
    result.update(
        {
            "funding_per_wallet": args.funding,
            "column_faults": COLUMN_FAULTS,
            "column_outage_seconds": 30,
            "payments_kills": 2,
            "seconds_sending": sending,
        }
    )
    stack.faults("column")  # no faults: what runs next on this stack sees a healthy bank
    return result


SHOWN = (
    "payouts_requested",
    "payouts_accepted",
    "payouts_refused",
    "paid",
    "failed",
    "returned",
    "failed_over",
    "routed_around_column",
    "executed_at_bank",
    "executed_twice",
    "paid_not_executed_once",
    "failed_but_executed",
    "stuck",
    "transfers_requested",
    "transfers_applied",
    "transfers_refused",
    "wallets_ever_negative",
    "wallets_wrong",
    "verify_ok",
    "seconds_sending",
    "seconds_to_quiesce",
)
