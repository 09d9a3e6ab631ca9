"""End to end under load: signed webhook → posted (Datastore) → row in BigQuery, open loop, against
the raw emulator ceilings measured in the same run. `make bench-e2e` runs it on a fresh stack.

    python -m bench.e2e [--events 10000] [--rate 120] [--workers 32] [--out .run/bench/e2e.json]

First, the ceilings (each on its own throwaway resource, removed afterwards):
  pubsub_push    --push-n small messages published to a throwaway topic whose push subscription
                 targets a counting HTTP sink served by this process (ThreadingHTTPServer answering
                 204): messages/s delivered. The local Pub/Sub emulator pushes about one message at a
                 time, so this bounds the ledger's rate here (the ledger is a push subscriber too).
  datastore_txn  read-modify-write transactions/s (bench.baseline.datastore_transactions).
  bigquery_rows  rows/s streamed into a throwaway table of the entries schema, --bq-batch rows per
                 insert call (insertId per row, as the ledger streams).
Then the load: --events unique signed webhooks over two partners (Stripe payment_intent.succeeded
and, every third, a Column ACH credit), request i scheduled at start + i / rate (bench.openloop: a
slow server cannot hide queueing), and the wait until every event has its rows in BigQuery.
Per event, latency is measured from its scheduled send instant to
  posted    the transaction's recorded_at (the Datastore commit; BigQuery column posted_at)
  BigQuery  the rows' streamed_at (one instant per insert call, taken just before the call)
Reported: offered and achieved intake rate; posted events/s = events / (last posting − first
scheduled send); end-to-end events/s = events / (last BigQuery row − first scheduled send); p50/p99/
max latency to posted and to BigQuery; how long after the last request the last posting and the last
row came (keeps up: both within --keep-up seconds); lost (events without a transaction or without
all their entries in BigQuery; must be 0); duplicated rows (copies of an entry_id; must be 0);
`verify` (the invariant auditor); end-to-end rate / each ceiling. Exit status 1 on loss, duplicated
rows, a double posting or a verify problem (a missed rate target is reported, not an error).
Target (issue 9): >= 100 events/s end to end, kept up (a rate reached by building a backlog does not
count), nothing lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from google.api_core import exceptions as gexc
from google.cloud import bigquery, pubsub_v1

from bench.baseline import datastore_transactions, progress
from bench.openloop import open_loop, percentile
from shared.adapters import bigquery_sink, datastore_store, pubsub_bus
from shared.config import Settings, settings
from shared.demo import encode, payment_intent_succeeded
from shared.domain.ledger.engine import entries_of
from shared.ledger.verify import verify
from shared.partners import column, stripe
from shared.topology import ENTRIES_TABLE, dataset, table_schema
from tests.factories import column_event

TARGET_EVENTS_PER_S = 100

# ----------------------------------------------------------------------------- ceilings


class PushSink:
    """A counting push endpoint: answers 204 (an ack) to every POST and records when each distinct
    message id first arrived."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.deliveries = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, if the pusher reuses connections

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()
                try:
                    message_id = json.loads(body)["message"]["messageId"]
                except (ValueError, KeyError, TypeError):
                    message_id = f"unparsed-{time.perf_counter()}"
                with lock:
                    sink.deliveries += 1
                    sink.arrivals.setdefault(message_id, time.perf_counter())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def pubsub_push_ceiling(cfg: Settings, run: str, n: int, timeout: float = 180.0) -> dict:
    publisher, subscriber = pubsub_bus.publisher(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(cfg.project, f"bench-push-{run}")
    subscription = subscriber.subscription_path(cfg.project, f"bench-push-{run}")
    with PushSink() as sink:
        publisher.create_topic(name=topic)
        try:
            subscriber.create_subscription(
                request={
                    "name": subscription,
                    "topic": topic,
                    "push_config": pubsub_v1.types.PushConfig(push_endpoint=sink.url),
                    "ack_deadline_seconds": 10,
                }
            )
            publisher.publish(topic, b"warm-up").result(timeout=30)
            _wait_for(lambda: len(sink.arrivals) >= 1, 30)
            start = time.perf_counter()
            futures = [publisher.publish(topic, f"probe {i}".encode()) for i in range(n)]
            for future in futures:
                future.result(timeout=60)
            published = time.perf_counter() - start
            _wait_for(lambda: len(sink.arrivals) >= n + 1, timeout)
            arrivals = sorted(t for t in sink.arrivals.values() if t >= start)
            delivered = len(arrivals)
            seconds = (arrivals[-1] - start) if arrivals else float("nan")
            return {
                "messages": n,
                "delivered": delivered,
                "deliveries_including_redeliveries": sink.deliveries - 1,
                "publish_seconds": round(published, 3),
                "seconds": round(seconds, 3),
                "per_second": round(delivered / seconds, 1) if arrivals else 0.0,
            }
        finally:
            subscriber.delete_subscription(subscription=subscription)
            publisher.delete_topic(topic=topic)


def _wait_for(done, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.05)
    return True


def datastore_ceiling(db, run: str, n: int) -> dict:
    result = datastore_transactions(db, f"e2e-{run}", n)
    return {"transactions": n, "seconds": round(result.seconds, 3), "per_second": round(result.per_second, 1)}


def bigquery_ceiling(cfg: Settings, run: str, rows: int, batch: int) -> dict:
    """Rows shaped like ledger entries, streamed in insert calls of `batch` rows with insertIds."""
    client = bigquery_sink.client(cfg)
    table_id = f"{cfg.project}.{dataset()}.bench_probe_{run}"
    schema = [bigquery.SchemaField.from_api_repr(field) for field in table_schema(ENTRIES_TABLE)]
    client.create_table(bigquery.Table(table_id, schema=schema))
    now = datetime.now(tz=UTC).isoformat()

    def row(i: int) -> dict:
        return {
            "entry_id": f"probe{run}:{i}",
            "transaction_id": f"probe{run}",
            "account": f"customer:cus_probe{i % 50}:wallet",
            "currency": "USD",
            "shard": i % 32,
            "direction": "credit" if i % 2 else "debit",
            "phase": "posted",
            "amount": 100 + i,
            "account_version": i,
            "rule": "probe",
            "event_id": f"probe:{i}",
            "partner": "probe",
            "effective_at": now,
            "posted_at": now,
            "streamed_at": now,
        }

    try:
        warm = [row(-1)]
        client.insert_rows_json(table_id, warm, row_ids=[warm[0]["entry_id"]])
        data = [row(i) for i in range(rows)]
        start = time.perf_counter()
        for i in range(0, rows, batch):
            chunk = data[i : i + batch]
            errors = client.insert_rows_json(table_id, chunk, row_ids=[r["entry_id"] for r in chunk])
            if errors:
                raise RuntimeError(f"BigQuery refused probe rows: {errors[:3]}")
        seconds = time.perf_counter() - start
    finally:
        client.delete_table(table_id, not_found_ok=True)
    return {"rows": rows, "batch": batch, "seconds": round(seconds, 3), "per_second": round(rows / seconds, 1)}


# ----------------------------------------------------------------------------- the load


def build(events: int, run: str) -> list[tuple[str, str, bytes]]:
    """(partner, event key, body) per event, every one unique: Stripe payments, every third a Column
    ACH credit."""
    out = []
    for i in range(events):
        if i % 3 == 2:
            event_id = f"evnt_e2e{run}n{i}"
            body = column_event(
                event_id, "ach.incoming_transfer.completed", f"acht_e2e{run}n{i}", 1000 + i, f"acno_e2e{run}a{i % 20}"
            )
            out.append(("column", f"column:{event_id}", encode(body)))
        else:
            event_id = f"evt_e2e{run}n{i}"
            customer = f"cus_e2e{run}c{i % 50}"
            body = payment_intent_succeeded(event_id, f"pi_e2e{run}n{i}", 100 + i % 900, "usd", customer)
            out.append(("stripe", f"stripe:{event_id}", encode(body)))
    return out


def headers(cfg: Settings, partner: str, body: bytes) -> dict:
    signature = (
        {"Stripe-Signature": stripe.sign(body, cfg.webhook_secrets("stripe")[0], int(time.time()))}
        if partner == "stripe"
        else {column.SIGNATURE_HEADER: column.sign(body, cfg.webhook_secrets("column")[0])}
    )
    return {"Content-Type": "application/json", **signature}


def in_bigquery(cfg: Settings, tag: str) -> tuple[int, int]:
    sql = "SELECT COUNT(DISTINCT event_id) AS events, COUNT(*) AS n FROM {table:entries} WHERE event_id LIKE @tag"
    (row,) = bigquery_sink.query(cfg, sql, tag=tag)
    return int(row["events"]), int(row["n"])


def wait_streamed(cfg: Settings, db, tag: str, events: int, stall: float, timeout: float) -> None:
    """Until every event has rows in BigQuery, or nothing new arrived for `stall` seconds."""
    began = last_change = time.perf_counter()
    seen = -1
    while True:
        got, rows = in_bigquery(cfg, tag)
        if got >= events:
            return
        now = time.perf_counter()
        if got != seen:
            seen, last_change = got, now
        if now - last_change > stall or now - began > timeout:
            progress(f"giving up: {got}/{events} events in BigQuery, no progress for {now - last_change:.0f} s")
            return
        posted = datastore_store.count(db, "JournalTransaction")
        progress(f"waiting: {got}/{events} events in BigQuery ({rows} rows); {posted} transactions posted in all")
        time.sleep(3.0)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _ms(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }


def analyse(cfg: Settings, db, plan: list[tuple[str, str, bytes]], sent: dict, tag: str, rate: float) -> dict:
    """Per event: scheduled instant, transaction(s), recorded_at, its BigQuery rows and their streamed_at."""
    index = {key: i for i, (_, key, _) in enumerate(plan)}
    txns = datastore_store.DatastoreLedger(db).snapshot(("JournalTransaction",))["JournalTransaction"]
    mine = [t for t in txns.values() if t["event_id"] in index]
    per_event = Counter(t["event_id"] for t in mine)
    expected = defaultdict(set)
    posted_at: dict[str, float] = {}
    for name, t in ((n, t) for n, t in txns.items() if t["event_id"] in index):
        expected[t["event_id"]] |= {f"{name}:{e['index']}" for e in entries_of(t)}
        posted_at[t["event_id"]] = max(posted_at.get(t["event_id"], 0.0), _epoch(t["recorded_at"]))
    rows = bigquery_sink.query(
        cfg, "SELECT entry_id, event_id, streamed_at FROM {table:entries} WHERE event_id LIKE @tag", tag=tag
    )
    copies = Counter(r["entry_id"] for r in rows)
    streamed_at: dict[str, float] = {}
    got = defaultdict(set)
    calls = set()
    for r in rows:
        got[r["event_id"]].add(r["entry_id"])
        if r["streamed_at"] is not None:
            at = _epoch(r["streamed_at"])
            calls.add(at)
            streamed_at[r["event_id"]] = max(streamed_at.get(r["event_id"], 0.0), at)
    start = sent["started_at"]
    scheduled = {key: start + i / rate for key, i in index.items()}
    lost = sorted(k for k in index if not expected.get(k) or not expected[k] <= got.get(k, set()))
    to_posted = [posted_at[k] - scheduled[k] for k in index if k in posted_at]
    tenths = [
        [posted_at[k] - scheduled[k] for k, i in index.items() if k in posted_at and i * 10 // len(plan) == t]
        for t in range(10)
    ]
    to_bigquery = [streamed_at[k] - scheduled[k] for k in index if k in streamed_at]
    events = len(plan)
    last_posted = max(posted_at.values(), default=float("nan"))
    last_streamed = max(streamed_at.values(), default=float("nan"))
    return {
        "events": events,
        "posted": len(per_event),
        "double_posted": sum(1 for n in per_event.values() if n > 1),
        "in_bigquery": sum(1 for k in index if got.get(k)),
        "lost": len(lost),
        "lost_sample": lost[:5],
        "bigquery_rows": len(rows),
        "duplicated_rows": sum(n - 1 for n in copies.values() if n > 1),
        "rows_without_streamed_at": sum(1 for r in rows if r["streamed_at"] is None),
        "insert_calls": len(calls),
        "rows_per_insert_call": round(len(rows) / len(calls), 1) if calls else None,
        "posted_events_per_s": round(len(posted_at) / (last_posted - start), 1) if posted_at else 0.0,
        "end_to_end_events_per_s": round(len(streamed_at) / (last_streamed - start), 1) if streamed_at else 0.0,
        "end_to_end_rows_per_s": round(len(rows) / (last_streamed - start), 1) if streamed_at else 0.0,
        "last_posted_after_last_request_s": round(last_posted - sent["finished_at"], 1),
        "last_row_after_last_request_s": round(last_streamed - sent["finished_at"], 1),
        "latency_to_posted": _ms(to_posted),
        "latency_to_bigquery": _ms(to_bigquery),
        # where in the run a backlog formed: p50 latency to posted of each tenth of the events, in send order
        "p50_to_posted_ms_by_tenth": [_ms(t)["p50_ms"] for t in tenths],
    }


def measure(args) -> dict:
    cfg = settings()
    db = datastore_store.client(cfg)
    run = uuid.uuid4().hex[:8]
    result: dict = {"loadavg_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    progress(f"ceiling: Pub/Sub push, {args.push_n} messages to a counting sink")
    ceilings = {"pubsub_push": pubsub_push_ceiling(cfg, run, args.push_n)}
    progress(f"ceiling: Datastore transactions (n={args.txn_n})")
    ceilings["datastore_txn"] = datastore_ceiling(db, run, args.txn_n)
    progress(f"ceiling: BigQuery streaming, {args.bq_rows} rows in calls of {args.bq_batch}")
    ceilings["bigquery_rows"] = bigquery_ceiling(cfg, run, args.bq_rows, args.bq_batch)
    result["ceilings"] = ceilings

    plan = build(args.events, run)
    tag = f"%e2e{run}n%"
    url = cfg.function_urls["intake"] + "/webhooks/"

    def send(session: requests.Session, i: int) -> requests.Response:
        partner, _, body = plan[i]
        return session.post(url + partner, data=body, headers=headers(cfg, partner, body), timeout=30)

    partners = Counter(p for p, _, _ in plan)
    progress(f"load: {args.events} webhooks ({dict(partners)}) at {args.rate:.0f}/s, open loop, {args.workers} threads")
    sent = open_loop(args.rate, args.events, args.workers, send)
    progress(f"sent: {sent['achieved_rate']}/s achieved, {sent['errors']} non-200; waiting for BigQuery")
    wait_streamed(cfg, db, tag, args.events, args.stall, args.timeout)
    result["intake"] = {**sent, "partners": dict(partners)}
    result["pipeline"] = analyse(cfg, db, plan, sent, tag, args.rate)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.verify:
        progress("verify (the invariant auditor, BigQuery included)")
        report = verify(cfg, db=db)
        result["verify"] = {"ok": report["ok"], "problems": report["problems"][:10], "counts": report["counts"]}
    pipeline = result["pipeline"]
    e2e = pipeline["end_to_end_events_per_s"]
    result["ratios"] = {
        "end_to_end_over_pubsub_push": round(e2e / ceilings["pubsub_push"]["per_second"], 3),
        "end_to_end_over_datastore_txn": round(e2e / ceilings["datastore_txn"]["per_second"], 3),
        "end_to_end_rows_over_bigquery_rows": round(
            pipeline["end_to_end_rows_per_s"] / ceilings["bigquery_rows"]["per_second"], 3
        ),
    }
    behind = (pipeline["last_row_after_last_request_s"], pipeline["last_posted_after_last_request_s"])
    result["keeps_up"] = pipeline["lost"] == 0 and all(s <= args.keep_up for s in behind)  # NaN: nothing arrived
    result["target_events_per_s"] = TARGET_EVENTS_PER_S
    result["target_met"] = (  # sustained: a rate reached by building a backlog does not count
        e2e >= TARGET_EVENTS_PER_S and result["keeps_up"] and pipeline["duplicated_rows"] == 0
    )
    result["measured_at"] = datetime.now(tz=UTC).isoformat()
    return result


def table(result: dict, command: str) -> str:
    c, i, p, r = result["ceilings"], result["intake"], result["pipeline"], result["ratios"]
    lines = [
        f"command: {command}",
        f"load average before / after: {result['loadavg_before']} / {result['loadavg_after']} ({result['cpus']} CPUs)",
        "",
        "ceilings (same run, before the load)",
        f"  Pub/Sub push to a 204 sink     {c['pubsub_push']['per_second']:>9} msg/s  "
        f"({c['pubsub_push']['delivered']}/{c['pubsub_push']['messages']} delivered)",
        f"  Datastore transactions         {c['datastore_txn']['per_second']:>9} /s",
        f"  BigQuery streaming             {c['bigquery_rows']['per_second']:>9} rows/s "
        f"({c['bigquery_rows']['batch']} rows per call)",
        "",
        f"load: {p['events']} events {i['partners']}",
        f"  offered / achieved intake      {i['offered_rate']:>9} / {i['achieved_rate']} req/s "
        f"(p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms, {i['errors']} non-200)",
        f"  posted                         {p['posted_events_per_s']:>9} events/s "
        f"(last {p['last_posted_after_last_request_s']} s after the last request)",
        f"  end to end (in BigQuery)       {p['end_to_end_events_per_s']:>9} events/s "
        f"(last row {p['last_row_after_last_request_s']} s after the last request; "
        f"{p['end_to_end_rows_per_s']} rows/s, {p['rows_per_insert_call']} rows per insert call)",
        "",
        f"  {'latency per event':<29} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}",
    ]
    for label, key in (("to posted", "latency_to_posted"), ("to BigQuery", "latency_to_bigquery")):
        lat = p[key]
        lines.append(f"  {label:<29} {lat['p50_ms']!s:>9} {lat['p99_ms']!s:>9} {lat['max_ms']!s:>9}")
    lines.append(f"  p50 to posted by tenth of the run, ms: {p['p50_to_posted_ms_by_tenth']}")
    lines += [
        "",
        f"  lost                           {p['lost']:>9}   (events without all their rows in BigQuery)",
        f"  duplicated rows                {p['duplicated_rows']:>9}   (extra copies of an entry_id)",
        f"  double-posted                  {p['double_posted']:>9}",
    ]
    if "verify" in result:
        lines.append(f"  verify                         {'clean' if result['verify']['ok'] else 'PROBLEMS':>9}")
    lines += [
        "",
        f"end to end / Pub/Sub push ceiling      {r['end_to_end_over_pubsub_push']}",
        f"end to end / Datastore transactions/s  {r['end_to_end_over_datastore_txn']}",
        f"rows/s end to end / BigQuery rows/s    {r['end_to_end_rows_over_bigquery_rows']}",
        f"keeps up: {'yes' if result['keeps_up'] else 'NO'}; target >= {result['target_events_per_s']} events/s end "
        f"to end, kept up, zero loss: {'met' if result['target_met'] else 'NOT met'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=120, help="offered webhooks per second (default 120)")
    parser.add_argument("--workers", type=int, default=32, help="client threads (default 32)")
    parser.add_argument("--push-n", type=int, default=2000, help="messages for the Pub/Sub push ceiling")
    parser.add_argument("--txn-n", type=int, default=300, help="transactions for the Datastore ceiling")
    parser.add_argument("--bq-rows", type=int, default=5000, help="rows for the BigQuery streaming ceiling")
    parser.add_argument("--bq-batch", type=int, default=250, help="rows per insert call for that ceiling")
    parser.add_argument("--keep-up", type=float, default=5.0, help="seconds after the last request that still count")
    parser.add_argument("--stall", type=float, default=120.0, help="give up after this long without progress")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up waiting for BigQuery after this")
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip the invariant auditor")
    parser.add_argument("--out", default=".run/bench/e2e.json")
    args = parser.parse_args(argv)
    if min(args.events, args.push_n, args.txn_n, args.bq_rows, args.bq_batch, args.workers) < 1 or args.rate <= 0:
        parser.error("counts and --rate must be positive")
    command = shlex.join(["python", "-m", "bench.e2e", *(sys.argv[1:] if argv is None else argv)])
    result = {"command": command, **measure(args)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(table(result, command))
    print(f"written to {args.out}")
    p = result["pipeline"]
    clean = p["lost"] == 0 and p["duplicated_rows"] == 0 and p["double_posted"] == 0
    return 0 if clean and result.get("verify", {"ok": True})["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except gexc.GoogleAPICallError as exc:  # an emulator refused a probe: say which, not a traceback
        raise SystemExit(f"bench.e2e: {exc}") from exc
