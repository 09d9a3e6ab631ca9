"""The released BigQuery schemas (topology/bigquery.lock.json) and the rule that guards them.

BigQuery changes a table in place only additively: a new NULLABLE (or REPEATED) column, or a REQUIRED
column relaxed to NULLABLE. Anything else — a column removed, renamed, retyped, a REPEATED one changed,
a new REQUIRED one — makes Terraform replace the table (data loss in dev, a failed apply in prod where
deletion protection is on). tests/unit/test_topology.py fails on such a change to topology/bigquery/*.json
against this lock; `make schema-lock` records an additive change (and refuses any other). A change that
is not additive takes the migration path in docs/deploy.md ("BigQuery schema changes").

    python -m scripts.schema_lock [--check]
"""

from __future__ import annotations

import json
import sys

from shared.config import REPO_ROOT
from shared.topology import table_schema, topology

LOCK = REPO_ROOT / "topology" / "bigquery.lock.json"


def current() -> dict[str, list[list[str]]]:
    return {
        t["name"]: [[f["name"], f["type"], f.get("mode", "NULLABLE")] for f in table_schema(t["name"])]
        for t in topology()["bigquery"]["tables"]
    }


def locked() -> dict[str, list[list[str]]]:
    return json.loads(LOCK.read_text()) if LOCK.is_file() else {}


def breaking(released: dict, now: dict) -> list[str]:
    """What in `now` BigQuery cannot apply in place to the `released` tables (a table new in `now`
    is free: nothing to keep)."""
    problems = []
    for table, fields in released.items():
        if table not in now:
            problems.append(f"{table}: the table is gone")
            continue
        have = {name: (kind, mode) for name, kind, mode in now[table]}
        for name, kind, mode in fields:
            if name not in have:
                problems.append(f"{table}.{name}: removed (or renamed)")
                continue
            new_kind, new_mode = have[name]
            if new_kind != kind:
                problems.append(f"{table}.{name}: type {kind} -> {new_kind}")
            if new_mode != mode and not (mode == "REQUIRED" and new_mode == "NULLABLE"):
                problems.append(f"{table}.{name}: mode {mode} -> {new_mode}")
        old = {name for name, _, _ in fields}
        for name, _, mode in now[table]:
            if name not in old and mode == "REQUIRED":
                problems.append(f"{table}.{name}: a new column of an existing table is NULLABLE or REPEATED")
    return problems


def main(argv: list[str]) -> int:
    problems = breaking(locked(), current())
    if problems:
        print("not additive (docs/deploy.md, BigQuery schema changes):\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if "--check" in argv:
        stale = locked() != current()
        print("bigquery.lock.json is stale: run make schema-lock" if stale else "bigquery.lock.json is current")
        return 1 if stale else 0
    tables = current()
    lines = [
        f'  "{table}": [\n' + ",\n".join(f"    {json.dumps(field)}" for field in fields) + "\n  ]"
        for table, fields in sorted(tables.items())
    ]
    LOCK.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one column a line: a diff shows what changed
    print(f"wrote {LOCK.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
