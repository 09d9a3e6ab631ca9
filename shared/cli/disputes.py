"""Disputes (the operators' view) and the one-off legacy-dispute migration."""

from __future__ import annotations

import json
import sys

from shared.cli.output import print_json, table
from shared.domain.money import format_minor
from shared.ledger import outbox


def dispute_rows(root, status: str | None = None, inquiries: bool = False) -> list[dict]:
    """The operators' view of disputes (shared.ledger.disputes): one row per dispute, newest first."""
    from shared.ledger import disputes

    records = root.store.snapshot((disputes.KIND,))[disputes.KIND]
    rows = [
        {
            "dispute": name,
            "status": r["status"],
            "inquiry": r["inquiry"],
            "final": r["final"],
            "payment": r["payment_reference"],
            "customer": r["customer"],
            "amount": format_minor(r["amount"], r["currency"]) if r.get("amount") is not None else "",
            "withdrawn": r["withdrawn"],
            "reinstated": r["reinstated"],
            "fees": r["fees"],
            "currency": r["currency"],
            "updated_at": r["updated_at"].isoformat(),
        }
        for name, r in records.items()
        if (status is None or r["status"] == status) and (not inquiries or r["inquiry"])
    ]
    return sorted(rows, key=lambda row: row["updated_at"], reverse=True)


def cmd_disputes(args, root) -> int:
    from shared.ledger import disputes

    if args.id:
        name = args.id if ":" in args.id else disputes.key("stripe", args.id)
        record = root.store.get(disputes.KIND, name)
        if record is None:
            print(f"no dispute {name}", file=sys.stderr)
            return 1
        record = {**record, "timeline": json.loads(record["timeline"])}
        if args.json:
            print_json(record)
            return 0
        for k in ("partner", "dispute_id", "status", "inquiry", "final", "payment_reference", "customer"):
            print(f"{k:18} {record.get(k)}")
        print(f"{'funds':18} withdrawn {record['withdrawn']}, reinstated {record['reinstated']}, fees {record['fees']}")
        table(record["timeline"], [(k, k) for k in ("occurred_at", "partner_event_type", "status", "amount", "fee")])
        return 0
    rows = dispute_rows(root, args.status, args.inquiries)
    if args.json:
        print_json(rows)
    else:
        columns = ("dispute", "status", "inquiry", "payment", "customer", "amount", "withdrawn", "reinstated", "fees")
        table(rows, [(k, k) for k in columns])
    return 0


def cmd_migrate_disputes(args, root) -> int:
    cfg = root.cfg
    from shared.ledger import dispute_migration

    inbox = root.inbox
    rows = dispute_migration.migrate_legacy_disputes(
        root.store, lambda key: getattr(inbox.get(key), "body", None), dry_run=args.dry_run
    )
    if args.json:
        print_json(rows)
    else:
        columns = ("dispute", "kind", "transaction_id", "indexed", "reversed", "problem")
        table([{k: row.get(k) or "" for k in columns} for row in rows], [(k, k) for k in columns])
        verb = "would change" if args.dry_run else "changed"
        changed = sum(1 for r in rows if r.get("indexed") in ("written", "would write") or r.get("reversed") != "no")
        problems = sum(1 for r in rows if r.get("problem"))
        print(f"{len(rows)} legacy dispute posting(s); {verb} {changed}; {problems} problem(s)")
    if not args.dry_run:  # the reversals' entries to BigQuery now (the periodic sweep would too)
        outbox.restream_pending(cfg, store=root.store)
    return 1 if any(r.get("problem") for r in rows) else 0
