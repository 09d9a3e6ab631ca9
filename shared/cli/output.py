"""JSON and table output of the operator CLI."""

from __future__ import annotations

import json


def print_json(value) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(title), *(len(str(r.get(key, ""))) for r in rows)) for key, title in columns]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        cells = []
        for (key, _), w in zip(columns, widths, strict=True):
            value = str(r.get(key, ""))
            cells.append(value.rjust(w) if key in ("amount", "posted_display", "available_display") else value.ljust(w))
        print("  ".join(cells))
