"""Reads topology/topology.json: the one declarative source for topics, subscriptions, queues and
BigQuery tables, shared with Terraform (jsondecode(file(...)))."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from shared.config import REPO_ROOT


def topology_dir() -> Path:
    return Path(os.environ.get("LEDGERLINE_TOPOLOGY_DIR") or REPO_ROOT / "topology")


@lru_cache(maxsize=1)
def topology() -> dict:
    return json.loads((topology_dir() / "topology.json").read_text())


def table_schema(table: str) -> list[dict]:
    spec = next(t for t in topology()["bigquery"]["tables"] if t["name"] == table)
    return json.loads((topology_dir() / spec["schema"]).read_text())


def dataset() -> str:
    return topology()["bigquery"]["dataset"]


# Names the code refers to. check_names() proves the topology file declares them all; it runs in
# the emulator bootstrap and in the unit tests (tests/unit/test_topology.py).
CANONICAL_EVENTS_TOPIC = "canonical-events"
LEDGER_SUBSCRIPTION = "ledger-canonical-events"
DEAD_LETTER_HOLD_SUBSCRIPTION = "canonical-events-dead-letter-hold"
RETRIES_QUEUE = "retries"
PAYMENTS_QUEUE = "payments"
WEBHOOKS_QUEUE = "webhooks"  # deliveries
WEBHOOKS_CONTROL_QUEUE = "webhooks-control"  # fan-out, replay pages, verification
EXPORTS_QUEUE = "exports"  # statement exports, on the exports function
ENTRIES_TABLE = "entries"
TRANSACTIONS_TABLE = "transactions"  # one row per transaction: its place in the hash chain


def check_names() -> None:
    topo = topology()
    topics = {t["name"] for t in topo["pubsub"]["topics"]}
    subs = {s["name"] for s in topo["pubsub"]["subscriptions"]}
    queues = {q["name"] for q in topo["tasks"]["queues"]}
    tables = {t["name"] for t in topo["bigquery"]["tables"]}
    missing = [
        name
        for name, pool in (
            (CANONICAL_EVENTS_TOPIC, topics),
            (LEDGER_SUBSCRIPTION, subs),
            (DEAD_LETTER_HOLD_SUBSCRIPTION, subs),
            (RETRIES_QUEUE, queues),
            (PAYMENTS_QUEUE, queues),
            (WEBHOOKS_QUEUE, queues),
            (WEBHOOKS_CONTROL_QUEUE, queues),
            (EXPORTS_QUEUE, queues),
            (ENTRIES_TABLE, tables),
            (TRANSACTIONS_TABLE, tables),
        )
        if name not in pool
    ]
    if missing:
        raise RuntimeError(f"topology/topology.json lacks names the code uses: {missing}")
