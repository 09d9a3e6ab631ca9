"""BigQuery partition settings per table (topology.json bigquery.tables): every table states how long
its partitions live and whether a query must filter on the partition column, the ledger's own records
never expire, and a table that requires a partition filter is never queried without one by our code
(BigQuery would refuse the query in the cloud; the local emulator does not enforce it)."""

from __future__ import annotations

import re

from shared.config import REPO_ROOT
from shared.topology import topology
from tests.terraform.hcl import one

TABLES = {t["name"]: t for t in topology()["bigquery"]["tables"]}
# The ledger's own records: `ledgerline verify` reads them whole against Datastore (completeness), and
# they are the record of what moved: never expired, never needing a filter to read in full.
LEDGER_RECORDS = {"entries", "operator_audit"}
CODE = [
    p
    for folder in ("shared", "functions", "bench", "scripts", "tests/integration")
    for p in sorted((REPO_ROOT / folder).rglob("*.py"))
]
QUERY = re.compile(r'"(SELECT[^"]*\{table:([a-z_]+)\}[^"]*)"', re.S)


def test_every_table_states_its_partition_expiry_and_filter_rule():
    for name, table in TABLES.items():
        assert "expiration_days" in table["time_partitioning"], name
        assert isinstance(table.get("require_partition_filter"), bool), name
        days = table["time_partitioning"]["expiration_days"]
        assert days is None or (isinstance(days, int) and days >= 5 * 365), (name, days)  # records, not caches


def test_the_ledgers_records_never_expire_and_can_be_read_whole():
    for name in LEDGER_RECORDS:
        assert TABLES[name]["time_partitioning"]["expiration_days"] is None, name
        assert TABLES[name]["require_partition_filter"] is False, name


def test_terraform_applies_both_settings_from_the_topology():
    body = one("google_bigquery_table", "modules/analytics").body
    assert body["require_partition_filter"] == "${try(each.value.require_partition_filter, false)}"
    partitioning = body["dynamic"][0]["time_partitioning"]["content"][0]
    assert "time_partitioning.value.expiration_days * 86400000" in partitioning["expiration_ms"]


def test_no_query_of_a_filtered_table_omits_its_partition_column():
    checked = 0
    for path in CODE:
        for sql, table in QUERY.findall(path.read_text()):
            if table not in TABLES or not TABLES[table]["require_partition_filter"]:
                continue
            field = TABLES[table]["time_partitioning"]["field"]
            where = sql.upper().partition(" WHERE ")[2]
            assert re.search(rf"\b{field.upper()}\b", where), f"{path}: {sql!r} does not filter on {field}"
            checked += 1
    assert checked >= 1  # tests/integration/test_reconciliation.py reads recon_runs
