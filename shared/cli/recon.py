"""Reconciliation runs and breaks."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from shared import bootstrap
from shared.cli.output import print_json, table


def cmd_recon(args, root) -> int:
    from shared.adapters.gcs_reports import ReportMissing
    from shared.reconciliation import ReportError
    from shared.reconciliation import service as recon_service

    ledger, ports = root.store, bootstrap.reconciliation(root)
    if args.recon_command == "breaks":
        records = ledger.snapshot(("ReconBreak",))["ReconBreak"].values()
        rows = sorted(
            (
                r
                for r in records
                if (not args.open or r["status"] == "open") and (not args.partner or r["partner"] == args.partner)
            ),
            key=lambda r: (r["partner"], r["status"], r.get("opened_on") or "", r["break_id"]),
        )
        if args.json:
            print_json(rows)
        else:
            keys = ("break_id", "partner", "reason_code", "severity", "currency", "amount", "reference", "status")
            table(
                [{k: r.get(k) for k in (*keys, "opened_on", "closed_run")} for r in rows],
                [(k, k) for k in (*keys, "opened_on", "closed_run")],
            )
        return 0
    day = datetime.strptime(args.date, "%Y-%m-%d").date()
    if args.recon_command == "put":
        try:
            where = ports.reports.put(
                args.partner, day, "bank" if args.bank else "report", args.file, Path(args.file).read_bytes()
            )
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(where)
        return 0
    try:
        if args.report:
            report = (args.report, Path(args.report).read_bytes())
            bank = (args.bank, Path(args.bank).read_bytes()) if args.bank else None
        else:
            report, bank = ports.reports.inputs(args.partner, day)
        outcome = bootstrap.run_reconciliation(
            root, partner=args.partner, as_of=day, report=report, bank=bank, now=datetime.now(tz=UTC)
        )
    except (ReportError, ReportMissing, recon_service.UnsupportedPartner, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(outcome.report)
        where = args.out
    else:
        where = ports.reports.write(args.partner, day, f"{outcome.run_id}.md", outcome.report)
    summary = outcome.answer(where)
    if args.json:
        print_json(summary)
    else:
        print(
            f"run {outcome.run_id} ({outcome.status}): {outcome.still_open} open break(s), {outcome.opened} new, "
            f"{outcome.closed} closed; report: {where}"
        )
