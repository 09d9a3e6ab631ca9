"""`make test` never touches the dev stack: snapshot it, run the command, snapshot it again, compare.

    python -m tests.isolation -- CMD...        (make test: CMD = ctl run --fresh -- pytest tests …)

The dev stack is the one `make up` / `make demo` run on the dev ports (emulators/dev.env). If it runs,
it is only read. If nothing runs there (CI, a fresh clone), a canary takes its place: a stack on the
dev ports and project, with its own run directory (<run dir>/isolation, data in memory), seeded by
`shared.cli demo`, with an observer pull subscription on every topic, so the check always watches
something that would change if a test wrote to the dev stack; it is stopped afterwards.

The snapshot (of whichever of the dev stack's emulators run): every Datastore kind's entity count,
`verify --json` counts, `balances --json`, the Pub/Sub topics and subscriptions (on the canary also the
backlog of each pull subscription, pulled and handed back at once: a running dev stack is only read),
every BigQuery table's row count, the tasks waiting in each Cloud Tasks queue; taken when it has
settled, before and after the command. Exit status: the command's, or 1 when the two snapshots differ
(the differences are printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace

from shared.config import REPO_ROOT, Settings, settings
from shared.topology import topology

OBSERVER = "isolation-observer-"
PY = sys.executable


def _environ(cfg: Settings) -> dict[str, str]:
    """The environment in which the CLI talks to this stack."""
    return {**os.environ, "LEDGERLINE_RUN_DIR": str(cfg.run_dir)}


def _cli(cfg: Settings, *args: str) -> dict | list:
    out = subprocess.run(
        [PY, "-m", "shared.cli", "--json", *args], env=_environ(cfg), cwd=REPO_ROOT, capture_output=True, text=True
    )
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"exit": out.returncode, "stderr": out.stderr[-500:]}


def _datastore(cfg: Settings) -> dict[str, int]:
    from google.cloud import datastore

    client = datastore.Client(project=cfg.project)
    counts = {}
    for entity in client.query(kind="__kind__").fetch():
        kind = entity.key.name
        if not kind.startswith("__"):
            query = client.query(kind=kind)
            query.keys_only()
            counts[kind] = sum(1 for _ in query.fetch())
    return counts


def _pubsub(cfg: Settings, pull: bool) -> dict:
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project = f"projects/{cfg.project}"
    topics = sorted(t.name for t in publisher.list_topics(request={"project": project}))
    subscriptions = {}
    for sub in subscriber.list_subscriptions(request={"project": project}):
        backlog = None
        if pull and not sub.push_config.push_endpoint:  # a pull subscription: count what it holds, hand back
            got = subscriber.pull(request={"subscription": sub.name, "max_messages": 1000, "return_immediately": True})
            backlog = len(got.received_messages)
            if backlog:
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": sub.name,
                        "ack_ids": [m.ack_id for m in got.received_messages],
                        "ack_deadline_seconds": 0,
                    }
                )
        subscriptions[sub.name] = {"topic": sub.topic, "push": sub.push_config.push_endpoint, "backlog": backlog}
    return {"topics": topics, "subscriptions": subscriptions}


def _bigquery(cfg: Settings) -> dict[str, int]:
    from shared.adapters.bigquery_sink import client, dataset
    from shared.topology import table_schema, topology

    bq = client(cfg)
    specs = {t["name"]: t for t in topology()["bigquery"]["tables"]}
    counts = {}
    for table in bq.list_tables(f"{cfg.project}.{dataset()}"):
        name = f"`{cfg.project}.{dataset()}.{table.table_id}`"  # names listed by the emulator itself
        where = _all_partitions(specs.get(table.table_id), table_schema)
        rows = bq.query(f"SELECT COUNT(*) AS n FROM {name}{where}").result()  # noqa: S608
        counts[table.table_id] = next(iter(rows)).n
    return counts


def _all_partitions(spec: dict | None, table_schema) -> str:
    """A WHERE clause that keeps every row of a table that refuses queries without a partition filter
    (topology `require_partition_filter`; the emulator enforces it like BigQuery)."""
    if not spec or not spec.get("require_partition_filter"):
        return ""
    field = spec["time_partitioning"]["field"]
    kind = next(f["type"] for f in table_schema(spec["name"]) if f["name"] == field)
    earliest = "DATE '0001-01-01'" if kind == "DATE" else "TIMESTAMP '0001-01-01 00:00:00+00'"
    return f" WHERE {field} >= {earliest}"


def _tasks(cfg: Settings) -> dict[str, int]:
    from shared.adapters.tasks_queue import client, queue_path

    tasks = client(cfg)
    # the queues the stack has: a dev stack started before a queue was added to the topology lacks it
    location = queue_path(cfg, "-").rpartition("/queues/")[0]
    existing = {q.name.rpartition("/")[2] for q in tasks.list_queues(request={"parent": location})}
    return {
        queue["name"]: sum(1 for _ in tasks.list_tasks(request={"parent": queue_path(cfg, queue["name"])}))
        for queue in topology()["tasks"]["queues"]
        if queue["name"] in existing
    }


def _by_account(rows) -> dict:
    if not isinstance(rows, list):
        return rows
    return {f"{r['account']} {r['currency']}": (r["posted"], r["available"]) for r in rows}


EMULATORS = ("datastore", "pubsub", "bigquery", "tasks")


def snapshot(cfg: Settings, parts: frozenset[str] = frozenset(EMULATORS), owned: bool = True) -> dict:
    """What the stack holds, for the emulators in `parts` (a dev stack may run only some). Only a stack
    this check `owned` (the canary) has its pull subscriptions pulled: a running dev stack is only read."""
    out: dict = {}
    if "datastore" in parts:
        verify = _cli(cfg, "verify", *([] if "bigquery" in parts else ["--no-bigquery"]))
        out["datastore"] = _datastore(cfg)
        out["verify_counts"] = verify.get("counts") if isinstance(verify, dict) else verify
        out["balances"] = _by_account(_cli(cfg, "balances"))
    if "pubsub" in parts:
        out["pubsub"] = _pubsub(cfg, pull=owned)
    if "bigquery" in parts:
        out["bigquery"] = _bigquery(cfg)
    if "tasks" in parts:
        out["tasks"] = _tasks(cfg)
    return out


def differences(before: dict, after: dict, path: str = "") -> list[str]:
    """Every leaf that differs, as `path: before -> after`."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out += differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def settled(cfg: Settings, parts=frozenset(EMULATORS), owned: bool = True, timeout: float = 90.0, pause: float = 3.0):
    """A snapshot equal to the one taken `pause` seconds before (streaming and tasks have finished)."""
    deadline = time.monotonic() + timeout
    previous = snapshot(cfg, parts, owned)
    while True:
        time.sleep(pause)
        current = snapshot(cfg, parts, owned)
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current


@contextmanager
def canary(dev: Settings):
    """A seeded stack where the dev stack would run (its ports and project), data of its own."""
    from emulators import ctl

    # the scheduler paused: its sweeps must not change the canary while the suite runs
    cfg = replace(dev, run_dir=dev.run_dir / "isolation", datastore_on_disk=False, scheduler_paused=True)
    ctl.down(cfg)  # a canary an interrupted run left behind
    shutil.rmtree(cfg.run_dir, ignore_errors=True)
    saved = os.environ.get("LEDGERLINE_RUN_DIR")
    os.environ["LEDGERLINE_RUN_DIR"] = str(cfg.run_dir)  # what the canary's functions see
    try:
        ctl.up(cfg)  # nothing answered on these ports: everything it starts is the canary
    except BaseException:
        ctl.down(cfg)
        raise
    finally:
        os.environ.pop("LEDGERLINE_RUN_DIR") if saved is None else os.environ.update(LEDGERLINE_RUN_DIR=saved)
    try:
        demo = subprocess.run([PY, "-m", "shared.cli", "demo"], env=_environ(cfg), cwd=REPO_ROOT, capture_output=True)
        if demo.returncode != 0:
            raise SystemExit(f"isolation: seeding the canary stack failed:\n{demo.stdout[-2000:]}{demo.stderr[-2000:]}")
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        for topic in topology()["pubsub"]["topics"]:
            subscriber.create_subscription(
                request={
                    "name": f"projects/{cfg.project}/subscriptions/{OBSERVER}{topic['name']}",
                    "topic": f"projects/{cfg.project}/topics/{topic['name']}",
                }
            )
        yield cfg
    finally:
        ctl.down(cfg)


def main(argv: list[str]) -> int:
    if "--" not in argv or not argv[argv.index("--") + 1 :]:
        print("usage: python -m tests.isolation -- CMD...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    dev = settings()
    from emulators import ctl

    answering = {svc.name for svc in ctl.services(dev) if ctl.healthy(svc)}
    parts = frozenset(answering & set(EMULATORS)) if answering else frozenset(EMULATORS)
    if answering:
        kind = "the running dev stack" + (
            "" if parts == set(EMULATORS) else f" (what runs of it: {', '.join(sorted(parts))})"
        )
    else:
        kind = "a canary dev stack (nothing ran on the dev ports)"
    with canary(dev) if not answering else _as_is(dev) as cfg:
        before = settled(cfg, parts, owned=not answering)
        print(f"isolation: snapshot of {kind}: {json.dumps(before.get('datastore'))}", flush=True)
        status = subprocess.call(command, cwd=REPO_ROOT)
        after = settled(cfg, parts, owned=not answering)  # late writes (a push, a stream) count too
    changed = differences(before, after)
    if changed:
        print(f"isolation: FAILED: the command changed {kind}:", *changed, sep="\n  ", file=sys.stderr)
        return status or 1
    print(f"isolation: {kind} unchanged ({summary(before)})")
    return status


def summary(snap: dict) -> str:
    parts = []
    if "datastore" in snap:
        parts.append(f"{sum(snap['datastore'].values())} entities")
    if "bigquery" in snap:
        parts.append(f"{sum(snap['bigquery'].values())} BigQuery rows")
    if "pubsub" in snap:
        parts.append(f"{len(snap['pubsub']['subscriptions'])} subscriptions")
    return ", ".join(parts) or "no emulator runs: nothing holds data"


@contextmanager
def _as_is(cfg: Settings):
    yield cfg


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
