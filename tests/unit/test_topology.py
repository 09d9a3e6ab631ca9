"""The topology file is the one source for the emulator bootstrap and Terraform."""

import json

from shared.config import FUNCTION_NAMES, REPO_ROOT
from shared.topology import check_names, table_schema, topology


def test_code_names_exist_in_topology():
    check_names()


def test_every_push_subscription_targets_a_function_and_has_a_dead_letter_topic():
    topo = topology()
    topics = {t["name"] for t in topo["pubsub"]["topics"]}
    for sub in topo["pubsub"]["subscriptions"]:
        assert sub["topic"] in topics
        if sub.get("push_to"):
            assert sub["push_to"] in topo["functions"]
            if sub.get("terminal"):  # the dead-letter consumer: retried with backoff, a hold copy exists
                held = [
                    s for s in topo["pubsub"]["subscriptions"] if s["topic"] == sub["topic"] and not s.get("push_to")
                ]
                assert held and sub.get("retry_minimum_backoff"), sub["name"]
                continue
            assert sub["dead_letter_topic"] in topics and sub["max_delivery_attempts"] >= 5
    dead_letter_topics = {s["dead_letter_topic"] for s in topo["pubsub"]["subscriptions"] if s.get("dead_letter_topic")}
    held = {s["topic"] for s in topo["pubsub"]["subscriptions"]}
    assert dead_letter_topics <= held, "a dead-letter topic without a subscription loses messages"


def test_functions_match_folders():
    assert set(topology()["functions"]) == set(FUNCTION_NAMES)
    for name in FUNCTION_NAMES:
        assert (REPO_ROOT / "functions" / name / "main.py").is_file()


def test_bigquery_schemas_are_valid_and_money_is_integer():
    for table in topology()["bigquery"]["tables"]:
        schema = table_schema(table["name"])
        names = [f["name"] for f in schema]
        assert len(names) == len(set(names))
        assert table["time_partitioning"]["field"] in names
        assert all(f["type"] != "FLOAT" and f["type"] != "FLOAT64" for f in schema)
    amount = next(f for f in table_schema("entries") if f["name"] == "amount")
    assert (amount["type"], amount["mode"]) == ("INTEGER", "REQUIRED")


def test_terraform_reads_the_same_files():
    tf = "\n".join(p.read_text() for p in (REPO_ROOT / "terraform").rglob("*.tf"))
    assert "topology/topology.json" in tf and "jsondecode" in tf
    json.loads((REPO_ROOT / "topology" / "topology.json").read_text())


def test_retention_durations_are_within_pubsubs_bounds_and_dead_letters_keep_the_most():
    """Pub/Sub keeps a topic's messages up to 31 days and a subscription's unacked ones up to 7 (the
    emulator refuses more, as the service does): the dead letters get both maxima."""
    from shared.topology import topology

    def seconds(text: str) -> int:
        return int(text.removesuffix("s"))

    spec = topology()["pubsub"]
    topics = {t["name"]: seconds(t.get("message_retention_duration", "604800s")) for t in spec["topics"]}
    subs = {s["name"]: seconds(s.get("message_retention_duration", "604800s")) for s in spec["subscriptions"]}
    assert all(600 <= v <= 31 * 86400 for v in topics.values()) and all(600 <= v <= 7 * 86400 for v in subs.values())
    assert topics["canonical-events-dead-letter"] == 31 * 86400
    assert subs["canonical-events-dead-letter-hold"] == 7 * 86400


def test_bigquery_schemas_change_only_additively_against_the_released_lock():
    """topology/bigquery/*.json against topology/bigquery.lock.json (scripts/schema_lock.py): what
    BigQuery cannot apply in place (Terraform would replace the table) fails here, and the lock is
    current (`make schema-lock` after an additive change)."""
    from scripts.schema_lock import breaking, current, locked

    assert breaking(locked(), current()) == []
    assert locked() == current(), "topology/bigquery.lock.json is stale: run `make schema-lock`"
    released = {"t": [["a", "STRING", "REQUIRED"], ["b", "INTEGER", "NULLABLE"], ["c", "STRING", "REPEATED"]]}
    fine = {"t": [["a", "STRING", "NULLABLE"], ["b", "INTEGER", "NULLABLE"], ["c", "STRING", "REPEATED"],
                  ["d", "STRING", "NULLABLE"]], "new": [["x", "STRING", "REQUIRED"]]}  # fmt: skip
    assert breaking(released, fine) == []
    bad = {"t": [["a", "INTEGER", "REQUIRED"], ["c", "STRING", "NULLABLE"], ["e", "STRING", "REQUIRED"]]}
    assert breaking(released, bad) == [
        "t.a: type STRING -> INTEGER",
        "t.b: removed (or renamed)",
        "t.c: mode REPEATED -> NULLABLE",
        "t.e: a new column of an existing table is NULLABLE or REPEATED",
    ]
    assert breaking(released, {}) == ["t: the table is gone"]


def test_the_function_marked_serves_console_is_the_one_that_serves_it():
    """Terraform puts the console's IAP backend on the NEG of topology `serves_console`: that function's
    main.py is the one that serves /console/ (shared.api.console), and it is public (on the edge)."""
    marked = [name for name, fn in topology()["functions"].items() if fn.get("serves_console")]
    serving = [
        p.parent.name for p in sorted((REPO_ROOT / "functions").glob("*/main.py")) if "console.serve(" in p.read_text()
    ]
    assert marked == serving == ["api"]
    assert topology()["functions"]["api"]["public"]
