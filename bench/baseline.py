"""Raw emulator ceilings, measured in one run: the denominators later benchmarks are expressed against.

    python -m bench.baseline [--n 300] [--pubsub-n 1000] [--webhooks 200] [--json]

Probes (each timed with time.perf_counter after one untimed warm-up call):
  datastore_put         sequential single `put` of small BenchProbe entities (namespace "bench")
  datastore_put_multi   `put_multi` in batches of 100
  datastore_txn         read-modify-write transactions via `in_transaction`: get 2 entities, put 2 + 1 new;
                        every transaction touches its own keys, so there is no contention
  pubsub_publish        publish to the throwaway topic `bench-probe`, then wait for every future
  webhook_e2e           signed Stripe payment_intent.succeeded webhooks sent sequentially to intake, timed
                        until every one is posted and streamed (shared.cli.wait_posted)

Probe entities live in namespace "bench" under a per-run key prefix and are left in place; the webhooks
post real (uniquely named) transactions to the local ledger.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import requests
from google.api_core import exceptions as gexc
from google.cloud import datastore

from shared import bootstrap
from shared.adapters import datastore_store as store
from shared.adapters import pubsub_bus
from shared.cli.books import wait_posted
from shared.config import Settings, settings
from shared.demo import Delivery, encode, payment_intent_succeeded, send

KIND = "BenchProbe"
NAMESPACE = "bench"
TOPIC = "bench-probe"
BATCH = 100
WAIT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Result:
    probe: str
    n: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(probe: str, n: int, run: Callable[[], None]) -> Result:
    start = time.perf_counter()
    run()
    return Result(probe, n, time.perf_counter() - start)


# ----------------------------------------------------------------------------- Datastore


def _key(db: datastore.Client, name: str) -> datastore.Key:
    return db.key(KIND, name, namespace=NAMESPACE)


def _entity(db: datastore.Client, name: str, n: int) -> datastore.Entity:
    entity = datastore.Entity(_key(db, name))
    entity.update({"n": n, "value": 0})
    return entity


def datastore_puts(db: datastore.Client, prefix: str, n: int) -> Result:
    entities = [_entity(db, f"{prefix}:put:{i}", i) for i in range(n)]
    db.put(_entity(db, f"{prefix}:put:warmup", -1))

    def run():
        for entity in entities:
            db.put(entity)

    return timed("datastore_put", n, run)


def datastore_put_multi(db: datastore.Client, prefix: str, n: int) -> Result:
    entities = [_entity(db, f"{prefix}:multi:{i}", i) for i in range(n)]
    db.put_multi([_entity(db, f"{prefix}:multi:warmup:{i}", i) for i in range(BATCH)])

    def run():
        for i in range(0, n, BATCH):
            db.put_multi(entities[i : i + BATCH])

    return timed(f"datastore_put_multi_{BATCH}", n, run)


def datastore_transactions(db: datastore.Client, prefix: str, n: int) -> Result:
    """Each transaction reads its own pair (seeded untimed), bumps both and adds a new entity."""
    pairs = [[_key(db, f"{prefix}:txn:{i}:a"), _key(db, f"{prefix}:txn:{i}:b")] for i in range(n + 1)]
    seed = [_entity(db, key.name, i) for i, pair in enumerate(pairs) for key in pair]
    for i in range(0, len(seed), BATCH):
        db.put_multi(seed[i : i + BATCH])

    def transaction(i: int) -> None:
        keys = pairs[i]

        def work(_txn):
            found = db.get_multi(keys)
            if len(found) != 2:
                raise RuntimeError(f"seeded probe entities missing for transaction {i}")
            for entity in found:
                entity["value"] += 1
            db.put_multi([*found, _entity(db, f"{prefix}:txn:{i}:new", i)])

        store.in_transaction(db, work)

    transaction(n)  # warm-up on the spare pair

    def run():
        for i in range(n):
            transaction(i)

    return timed("datastore_txn", n, run)


# ----------------------------------------------------------------------------- Pub/Sub


def pubsub_publishes(cfg: Settings, prefix: str, n: int) -> Result:
    publisher = pubsub_bus.publisher()
    topic = publisher.topic_path(cfg.project, TOPIC)
    try:
        publisher.create_topic(name=topic)
    except gexc.AlreadyExists:
        pass
    publisher.publish(topic, b"warmup", run=prefix).result(timeout=30)

    def run():
        futures = [publisher.publish(topic, f"probe {i}".encode(), run=prefix) for i in range(n)]
        for future in futures:
            future.result(timeout=60)

    return timed("pubsub_publish", n, run)


# ----------------------------------------------------------------------------- end to end


def webhooks_end_to_end(cfg: Settings, db: datastore.Client, n: int) -> tuple[Result, Result]:
    """(intake acceptance of the sequential sends, end to end until all are posted and streamed)."""
    if not cfg.webhook_secrets("stripe"):
        raise SystemExit("STRIPE_WEBHOOK_SECRET is not set (see emulators/dev.env)")
    secret = cfg.webhook_secrets("stripe")[0]
    intake = cfg.function_urls["intake"]
    run_hex = uuid.uuid4().hex[:12]
    deliveries, keys = [], []
    for i in range(n):
        event_id = f"evt_bench_{run_hex}_{i}"
        payload = payment_intent_succeeded(event_id, f"pi_bench_{run_hex}_{i}", 1000 + i, "usd", f"cus_bench_{i}")
        deliveries.append(Delivery(f"bench {i}", encode(payload), secret, 200, "accepted"))
        keys.append(f"stripe:{event_id}")

    with requests.Session() as session:
        session.get(f"{intake}/healthz", timeout=10).raise_for_status()  # warm the connection
        start = time.perf_counter()
        for i, delivery in enumerate(deliveries, start=1):
            resp = send(intake, delivery, session=session)
            if resp.status_code != 200 or resp.json().get("status") != "accepted":
                raise SystemExit(f"webhook {i} not accepted: HTTP {resp.status_code} {resp.text[:300]}")
            if i % 50 == 0 or i == n:
                progress(f"webhooks sent {i}/{n}")
        sent = time.perf_counter() - start

    progress(f"waiting for {n} transactions to be posted and streamed")
    missing = wait_posted(bootstrap.root(cfg), keys, timeout=WAIT_TIMEOUT)
    done = time.perf_counter() - start
    if missing:
        raise SystemExit(
            f"{len(missing)} of {n} webhooks not posted+streamed within {WAIT_TIMEOUT:.0f} s, "
            f"e.g. {missing[:3]} (see .run/logs/ledger.log)"
        )
    return Result("webhook_intake_accept", n, sent), Result("webhook_e2e", n, done)


# ----------------------------------------------------------------------------- report


def report(results: list[Result], ratio: float, as_json: bool) -> None:
    if as_json:
        out = {r.probe: {**asdict(r), "per_second": round(r.per_second, 1)} for r in results}
        out["webhook_e2e_over_datastore_txn"] = round(ratio, 4)
        print(json.dumps(out, indent=2))
        return
    rows = [(r.probe, str(r.n), f"{r.seconds:.3f}", f"{r.per_second:,.1f}") for r in results]
    header = ("probe", "n", "seconds", "ops/s")
    widths = [max(len(header[c]), *(len(row[c]) for row in rows)) for c in range(len(header))]
    print("  ".join(h.ljust(w) if c == 0 else h.rjust(w) for c, (h, w) in enumerate(zip(header, widths, strict=True))))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(row, widths, strict=True))))
    print(f"\nwebhooks/s end to end / Datastore transactions/s = {ratio:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.baseline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="operations per Datastore probe (default 300)")
    parser.add_argument("--pubsub-n", type=int, default=1000, help="messages for the Pub/Sub probe (default 1000)")
    parser.add_argument("--webhooks", type=int, default=200, help="webhooks for the end-to-end slice (default 200)")
    parser.add_argument("--json", action="store_true", help="print the results as a JSON object")
    args = parser.parse_args(argv)
    if min(args.n, args.pubsub_n, args.webhooks) < 1:
        parser.error("--n, --pubsub-n and --webhooks must be positive")

    cfg = settings()
    db = store.client(cfg)
    prefix = f"run-{uuid.uuid4().hex[:12]}"
    results = []
    progress(f"datastore single puts (n={args.n}, prefix {prefix})")
    results.append(datastore_puts(db, prefix, args.n))
    progress(f"datastore put_multi x{BATCH} (n={args.n})")
    results.append(datastore_put_multi(db, prefix, args.n))
    progress(f"datastore transactions (n={args.n})")
    txn = datastore_transactions(db, prefix, args.n)
    results.append(txn)
    progress(f"pubsub publish (n={args.pubsub_n}, topic {TOPIC})")
    results.append(pubsub_publishes(cfg, prefix, args.pubsub_n))
    progress(f"webhooks end to end (n={args.webhooks})")
    accepted, e2e = webhooks_end_to_end(cfg, db, args.webhooks)
    results += [accepted, e2e]
    report(results, e2e.per_second / txn.per_second, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
