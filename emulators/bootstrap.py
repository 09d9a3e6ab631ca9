"""Create exactly what topology/topology.json declares, on the emulators. Idempotent: safe to re-run;
push endpoints are refreshed so a port change takes effect."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import bigquery, pubsub_v1, tasks_v2
from google.protobuf import duration_pb2

from shared.adapters import bigquery_sink, tasks_queue
from shared.config import Settings
from shared.topology import check_names, dataset, table_schema, topology


def _duration(text: str) -> duration_pb2.Duration:
    if not text.endswith("s"):
        raise ValueError(f"durations in topology.json are seconds like '10s', got {text!r}")
    return duration_pb2.Duration(seconds=int(text[:-1]))


DELETED_TOPIC = "_deleted-topic_"  # what a subscription reads once its topic is deleted


def bootstrap_pubsub(cfg: Settings) -> None:
    spec = topology()["pubsub"]
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in spec["topics"]:
        try:
            publisher.create_topic(name=publisher.topic_path(cfg.project, topic["name"]))
        except gexc.AlreadyExists:
            pass
    for sub in spec["subscriptions"]:
        name = subscriber.subscription_path(cfg.project, sub["name"])
        push = (
            pubsub_v1.types.PushConfig(push_endpoint=cfg.push_endpoint(sub["push_to"], sub["topic"]))
            if sub.get("push_to")
            else pubsub_v1.types.PushConfig()
        )
        request = {
            "name": name,
            "topic": publisher.topic_path(cfg.project, sub["topic"]),
            "push_config": push,
            "ack_deadline_seconds": sub.get("ack_deadline_seconds", 10),
        }
        if sub.get("filter"):
            request["filter"] = sub["filter"]  # accepted by the emulator, not applied (topology.json says)
        if sub.get("message_retention_duration"):
            request["message_retention_duration"] = _duration(sub["message_retention_duration"])
        if sub.get("dead_letter_topic"):
            request["dead_letter_policy"] = {
                "dead_letter_topic": publisher.topic_path(cfg.project, sub["dead_letter_topic"]),
                "max_delivery_attempts": sub["max_delivery_attempts"],
            }
        if sub.get("retry_minimum_backoff"):
            request["retry_policy"] = {
                "minimum_backoff": _duration(sub["retry_minimum_backoff"]),
                "maximum_backoff": _duration(sub["retry_maximum_backoff"]),
            }
        try:
            subscriber.create_subscription(request=request)
        except gexc.AlreadyExists:
            current = subscriber.get_subscription(subscription=name).topic
            if current == DELETED_TOPIC:
                # Its topic was deleted: it never receives again (as in the cloud) and can only be
                # recreated, which drops what it still held (the inbox keeps every event; the
                # redrive-stale sweep and replay bring them back).
                subscriber.delete_subscription(subscription=name)
                subscriber.create_subscription(request=request)
                continue
            if current != request["topic"]:
                raise RuntimeError(
                    f"subscription {name} reads {current}, topology.json says {request['topic']}: "
                    "not recreating it (its backlog would be lost); delete it yourself or `make clean`"
                ) from None
            subscriber.modify_push_config(subscription=name, push_config=push)


def bootstrap_tasks(cfg: Settings) -> None:
    client = tasks_queue.client(cfg)
    queues = topology()["tasks"]["queues"]
    if not queues:
        return
    parent = tasks_queue.queue_path(cfg, queues[0]["name"]).rsplit("/queues/", 1)[0]
    # list, not get: the emulator answers get_queue on a missing queue with UNKNOWN, not NOT_FOUND.
    existing = {q.name for q in client.list_queues(parent=parent)}
    for queue in queues:
        path = tasks_queue.queue_path(cfg, queue["name"])
        if path not in existing:
            # Rate/retry settings are applied by Terraform in the cloud; the emulator ignores them.
            client.create_queue(parent=parent, queue=tasks_v2.Queue(name=path))


def bootstrap_bigquery(cfg: Settings) -> None:
    client = bigquery_sink.client(cfg)
    spec = topology()["bigquery"]
    ds = bigquery.Dataset(f"{cfg.project}.{dataset()}")
    ds.location = spec["location"]
    client.create_dataset(ds, exists_ok=True)
    for table in spec["tables"]:
        schema = [bigquery.SchemaField.from_api_repr(field) for field in table_schema(table["name"])]
        tbl = bigquery.Table(f"{cfg.project}.{dataset()}.{table['name']}", schema=schema)
        tbl.description = table.get("description")
        if table.get("time_partitioning"):
            tp = table["time_partitioning"]
            days = tp.get("expiration_days")
            tbl.time_partitioning = bigquery.TimePartitioning(
                type_=tp["type"], field=tp["field"], expiration_ms=days * 86_400_000 if days else None
            )
        tbl.require_partition_filter = table.get("require_partition_filter", False)
        if table.get("clustering"):
            tbl.clustering_fields = table["clustering"]
        created = client.create_table(tbl, exists_ok=True)
        add_missing_columns(client, created, schema)


def add_missing_columns(client: bigquery.Client, table: bigquery.Table, schema: list) -> list[str]:
    """A table kept from an earlier run (`.run/data`) gains the NULLABLE columns its schema file has
    since added (what `terraform apply` does in the cloud), so an existing dev stack keeps streaming.
    A missing REQUIRED column cannot be added to a table with rows: that needs `make clean`."""
    have = {field.name.casefold() for field in table.schema}
    missing = [field for field in schema if field.name.casefold() not in have]
    if not missing:
        return []
    required = [field.name for field in missing if field.mode != "NULLABLE"]
    if required:
        raise RuntimeError(
            f"table {table.table_id} lacks the non-NULLABLE column(s) {required} of its schema file: "
            "an existing table cannot gain them; `make clean` starts from empty data"
        )
    table.schema = [*table.schema, *missing]
    client.update_table(table, ["schema"])
    return [field.name for field in missing]


def bootstrap_storage(cfg: Settings) -> None:
    """The reports bucket (terraform/modules/reports), versioned as in the cloud. Skipped when the
    reports location is an explicit local directory (file://). fake-gcs-server's filesystem backend
    (the dev stack that keeps its data, emulators/ctl.py) has no object versioning ("fs storage type does
    not support versioning yet", 1.54): there the bucket is made unversioned; the memory backend of
    test stacks versions it, as the cloud does. Nothing ledgerline does reads old generations: its
    writes are create-only (if_generation_match=0)."""
    from shared.adapters import gcs_reports

    reports = gcs_reports.reports(cfg)
    if not isinstance(reports, gcs_reports.GcsReports):
        return
    bucket = reports.bucket
    if not bucket.exists():
        bucket.versioning_enabled = not cfg.datastore_on_disk
        try:
            bucket.create()
        except gexc.Conflict:  # created by a concurrent bootstrap
            pass


def bootstrap(cfg: Settings) -> None:
    check_names()
    bootstrap_pubsub(cfg)
    bootstrap_tasks(cfg)
    bootstrap_bigquery(cfg)
    bootstrap_storage(cfg)
