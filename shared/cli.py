"""ledgerline operator CLI: `python -m shared.cli COMMAND [--json]` (or the `ledgerline` script).

Commands:
  balances            every account, per currency (posted on the account's normal side)
  account ID          one account's balances and its latest entries
  events [--partner]  raw webhook events in the inbox, with verdict and delivery count
  verify              the invariant auditor; exits 1 when a problem is found
  status              the local stack's processes and the store's counts
  restream            stream to BigQuery the entries of posted transactions not yet streamed
  reverse TXN         post the reversal of a transaction (append-only correction, at most once)
  expire-holds        release holds whose expiry has passed
  redrive             publish again every accepted inbox event the ledger has not posted (e.g. parked
                      events dead-lettered before their predecessor arrived)
  dead-letters        dead letters (default: open ones) [--status --source --kind --reason --partner --since]
  dead-letter ID      one dead letter, whole (payload, errors, attempts, timestamps)
  replay ID... | --all | filters [--dry-run]
                      send dead letters through the normal idempotent path again (never double-posts)
  parked              events waiting for their predecessor, with their deadline
  disputes [ID] [--status S] [--inquiries]
                      disputes (inquiries too: they move no money) with status and funds; ID: its timeline
  migrate-disputes [--dry-run]
                      one-off, idempotent: link Stripe disputes posted before the dispute lifecycle
                      (dispute.opened / won) and reverse those the lifecycle superseded (docs/deploy.md)
  recon run --partner P --date D [--report PATH] [--bank PATH] [--out PATH]
                      reconcile a partner's report (default: the reports directory) against the ledger
  recon breaks [--open] [--partner P]
                      reconciliation breaks with reason, severity and lifecycle
  tenants create T [--name N] | add-customer T CUSTOMER... | list [T]
                      customer API tenants and the customers they own (docs/api.md)
  api-keys create --tenant T --scopes read,write[,operator] [--label L] | revoke KEY_ID | list [--tenant T]
                      API keys: the secret is printed ONCE at creation and stored only as a hash
  demo                send the demo webhook scenario to intake, wait, print balances + verify

Machine contract (stable): `balances --json` prints a JSON list of objects with at least `account`,
`currency`, `posted` (int minor units); `verify --json` prints an object with at least `ok` (bool)
and `problems` (list) and exits non-zero when not ok. Reads the same settings as `make up`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from shared import bootstrap, partners
from shared.adapters import datastore_store as store
from shared.config import settings
from shared.domain.ledger.accounts import account_type
from shared.domain.ledger.errors import UnknownAccount
from shared.domain.ledger.operations import reversal
from shared.domain.money import format_minor
from shared.ledger import balances as ledger_balances
from shared.ledger import holds, outbox, transactions


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
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


def _balance_row(b) -> dict:
    return {
        "account": b.account,
        "currency": b.currency,
        "type": account_type(b.account),
        "posted": b.posted,
        "pending_in": b.pending_in,
        "pending_out": b.pending_out,
        "available": b.available,
        "debits_posted": b.debits_posted,
        "credits_posted": b.credits_posted,
        "posted_display": format_minor(b.posted, b.currency),
        "available_display": format_minor(b.available, b.currency),
    }


def balance_rows(root) -> list[dict]:
    return [_balance_row(b) for b in ledger_balances.all_balances(root.store)]


def cmd_balances(args, root) -> int:
    rows = balance_rows(root)
    if args.json:
        _print_json(rows)
    else:
        _table(
            rows,
            [
                ("account", "account"),
                ("type", "type"),
                ("currency", "currency"),
                ("posted_display", "posted"),
                ("available_display", "available"),
            ],
        )
    return 0


def cmd_account(args, root) -> int:
    ledger = root.store
    try:
        current = ledger_balances.balances(ledger, args.id)
    except UnknownAccount as exc:
        current, error = {}, str(exc)
    else:
        error = f"no account {args.id!r}"
    if args.as_of:
        current = ledger_balances.balance_as_of(ledger, args.id, datetime.fromisoformat(args.as_of), clock=args.clock)
    if not current and not args.as_of:
        print(
            json.dumps({"error": {"code": "account_not_found", "message": error, "param": "id"}})
            if args.json
            else error,
            file=sys.stderr,
        )
        return 1
    entries = sorted(
        ((f"{t.id}:{e.index}", t, e) for t in ledger.transactions_of_account(args.id) for e in t.entries_on(args.id)),
        key=lambda item: (item[1].recorded_at, item[0]),
    )[-args.limit :]
    out = {
        "account": args.id,
        "type": account_type(args.id),
        "as_of": args.as_of,
        "balances": [_balance_row(b) for b in current.values()],
        "entries": [
            {
                "entry_id": name,
                "transaction_id": t.id,
                "direction": e.direction,
                "phase": e.phase,
                "amount": e.amount,
                "currency": e.currency,
                "effective_at": t.effective_at,
                "recorded_at": t.recorded_at,
            }
            for name, t, e in entries
        ],
    }
    if args.json:
        _print_json(out)
    else:
        print(f"{args.id} ({out['type']})" + (f" as of {args.as_of} ({args.clock} clock)" if args.as_of else ""))
        for b in out["balances"]:
            print(f"  {b['currency']}: posted {b['posted_display']}, available {b['available_display']}")
        _table(
            [{**e, "amount": format_minor(e["amount"], e["currency"])} for e in out["entries"]],
            [
                ("recorded_at", "recorded at"),
                ("direction", "side"),
                ("phase", "phase"),
                ("amount", "amount"),
                ("currency", "cur"),
                ("transaction_id", "transaction"),
            ],
        )
    return 0


def cmd_events(args, root) -> int:
    rows = [
        {
            "event": e.key,
            "partner": e.partner,
            "type": e.partner_event_type,
            "verdict": e.verdict,
            "reason": e.reason,
            "deliveries": e.deliveries,
            "received_at": e.received_at,
            "published": e.published,
        }
        for e in root.inbox.events(partner=args.partner)
    ]
    rows.sort(key=lambda r: (r["received_at"], r["event"]))
    if args.json:
        _print_json(rows)
    else:
        _table(
            rows,
            [
                ("received_at", "received"),
                ("event", "event"),
                ("type", "type"),
                ("verdict", "verdict"),
                ("deliveries", "deliveries"),
                ("published", "published"),
            ],
        )
    return 0


def cmd_verify(args, root) -> int:
    cfg, db = root.cfg, root.db
    from shared.ledger.verify import verify

    report = verify(cfg, db=db, with_bigquery=not args.no_bigquery)
    if args.json:
        _print_json(report)
    else:
        print(f"verify: {'OK' if report['ok'] else 'PROBLEMS'}  {report['counts']}")
        for p in report["problems"]:
            print(f"  - {p}")
    return 0 if report["ok"] else 1


def cmd_restream(args, root) -> int:
    cfg = root.cfg
    from shared.ledger.outbox import restream_pending

    done = restream_pending(cfg, store=root.store)
    print(json.dumps({"restreamed": done}) if args.json else f"restreamed {len(done)} transaction(s)")
    return 0


def cmd_reverse(args, root) -> int:
    cfg = root.cfg
    op = reversal(args.transaction_id, effective_at=datetime.now(tz=UTC))
    result = transactions.execute(root.store, op)
    if result.status != "rejected":
        outbox.stream_transaction(cfg, root.store, op.op_id)
    out = {"status": result.status, "transaction_id": result.transaction_id, "reason": result.reason}
    print(json.dumps(out) if args.json else f"{result.status}: {result.transaction_id} {result.reason or ''}")
    return 0 if result.status != "rejected" else 1


def cmd_expire_holds(args, root) -> int:
    cfg = root.cfg
    ledger = root.store
    results = holds.expire_due_holds(ledger)
    for result in results:
        if result.status == "posted":
            outbox.stream_transaction(cfg, ledger, result.transaction_id)
    out = [{"transaction_id": r.transaction_id, "status": r.status, "reason": r.reason} for r in results]
    print(json.dumps(out) if args.json else f"expired {sum(r.status == 'posted' for r in results)} hold(s)")
    return 0


def cmd_redrive(args, root) -> int:
    cfg, db = root.cfg, root.db
    from shared.ledger.verify import verify

    report = verify(cfg, db=db, with_bigquery=False)
    keys = sorted({p["event"] for p in report["problems"] if p["check"] in ("inbox_not_posted", "inbox_unpublished")})
    intake = bootstrap.intake(root)
    done = [key for key in keys if intake.republish(key, force=True) == "published"]
    print(json.dumps({"redriven": done}) if args.json else f"re-drove {len(done)} event(s)")
    return 0


def _dead_letter_filter(args):
    from shared.recovery.dead_letters import Filter

    since = datetime.fromisoformat(args.since) if args.since else None
    if since is not None and since.tzinfo is None:
        raise SystemExit("--since needs a timezone, e.g. 2026-11-28T09:00:00+00:00")
    status = None if getattr(args, "status", "open") == "any" else getattr(args, "status", "open")
    return Filter(
        status=status, source=args.source, kind=args.kind, reason_code=args.reason, partner=args.partner, since=since
    )


def _dead_letters(root, selection) -> list[tuple[str, dict]]:
    from shared.recovery.service import list_dead_letters

    ledger = root.store
    records = (
        ledger.query("DeadLetter", "status", selection.status)
        if selection.status
        else ledger.snapshot(("DeadLetter",))["DeadLetter"]
    )
    return list_dead_letters(records, selection)


def cmd_dead_letters(args, root) -> int:
    rows = [
        {"id": name, **{k: r.get(k) for k in ("source", "kind", "reason_code", "attempts", "status", "replays")}}
        | {"created_at": r["created_at"].isoformat(), "reason": r["reason"]}
        for name, r in _dead_letters(root, _dead_letter_filter(args))
    ]
    if args.json:
        _print_json(rows)
    else:
        _table(
            rows,
            [
                ("id", "id"),
                ("source", "source"),
                ("reason_code", "reason"),
                ("attempts", "attempts"),
                ("status", "status"),
                ("created_at", "created"),
            ],
        )
    return 0


def cmd_dead_letter(args, root) -> int:
    record = root.store.get("DeadLetter", args.id)
    if record is None:
        print(f"no dead letter {args.id}", file=sys.stderr)
        return 1
    _print_json({"id": args.id, **record})
    return 0


def cmd_replay(args, root) -> int:
    from shared.recovery.service import replay

    ledger = root.store
    if args.ids:
        chosen = [(i, ledger.get("DeadLetter", i)) for i in args.ids]
        unknown = [i for i, r in chosen if r is None]
        if unknown:
            print(f"no such dead letter(s): {', '.join(unknown)}", file=sys.stderr)
            return 1
    elif args.all or any((args.source, args.kind, args.reason, args.partner, args.since)):
        chosen = _dead_letters(root, _dead_letter_filter(args))
    else:
        print(
            "name dead letters to replay, or select them: --all, --since, --source, --kind, --reason, --partner",
            file=sys.stderr,
        )
        return 2
    publish, schedule, now = root.publish, root.schedule, datetime.now(tz=UTC)
    out = [
        replay(ledger, name, record, publish=publish, schedule=schedule, now=now, dry_run=args.dry_run)
        for name, record in chosen
    ]
    if args.json:
        _print_json(out)
    else:
        verb = "would replay" if args.dry_run else "replayed"
        for item in out:
            print(f"{verb} {item['dead_letter']}: {item['action']}")
        print(f"{verb} {len(out)} dead letter(s)")
    return 0


def cmd_parked(args, root) -> int:
    parked = root.store.snapshot(("Parked",))["Parked"]
    rows = [
        {
            "event_id": name,
            "waiting_on": r["waiting_on"],
            "parked_at": r["parked_at"].isoformat(),
            "deadline": r["deadline"].isoformat(),
            "deliveries": r["deliveries"],
        }
        for name, r in sorted(parked.items(), key=lambda item: item[1]["parked_at"])
    ]
    if args.json:
        _print_json(rows)
    else:
        _table(rows, [(k, k) for k in ("event_id", "waiting_on", "parked_at", "deadline", "deliveries")])
    return 0


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
            _print_json(record)
            return 0
        for k in ("partner", "dispute_id", "status", "inquiry", "final", "payment_reference", "customer"):
            print(f"{k:18} {record.get(k)}")
        print(f"{'funds':18} withdrawn {record['withdrawn']}, reinstated {record['reinstated']}, fees {record['fees']}")
        _table(record["timeline"], [(k, k) for k in ("occurred_at", "partner_event_type", "status", "amount", "fee")])
        return 0
    rows = dispute_rows(root, args.status, args.inquiries)
    if args.json:
        _print_json(rows)
    else:
        columns = ("dispute", "status", "inquiry", "payment", "customer", "amount", "withdrawn", "reinstated", "fees")
        _table(rows, [(k, k) for k in columns])
    return 0


def cmd_migrate_disputes(args, root) -> int:
    cfg = root.cfg
    from shared.ledger import dispute_migration

    inbox = root.inbox
    rows = dispute_migration.migrate_legacy_disputes(
        root.store, lambda key: getattr(inbox.get(key), "body", None), dry_run=args.dry_run
    )
    if args.json:
        _print_json(rows)
    else:
        columns = ("dispute", "kind", "transaction_id", "indexed", "reversed", "problem")
        _table([{k: row.get(k) or "" for k in columns} for row in rows], [(k, k) for k in columns])
        verb = "would change" if args.dry_run else "changed"
        changed = sum(1 for r in rows if r.get("indexed") in ("written", "would write") or r.get("reversed") != "no")
        problems = sum(1 for r in rows if r.get("problem"))
        print(f"{len(rows)} legacy dispute posting(s); {verb} {changed}; {problems} problem(s)")
    if not args.dry_run:  # the reversals' entries to BigQuery now (the periodic sweep would too)
        outbox.restream_pending(cfg, store=root.store)
    return 1 if any(r.get("problem") for r in rows) else 0


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
            _print_json(rows)
        else:
            keys = ("break_id", "partner", "reason_code", "severity", "currency", "amount", "reference", "status")
            _table(
                [{k: r.get(k) for k in (*keys, "opened_on", "closed_run")} for r in rows],
                [(k, k) for k in (*keys, "opened_on", "closed_run")],
            )
        return 0
    day = datetime.strptime(args.date, "%Y-%m-%d").date()
    try:
        if args.report:
            report = (args.report, Path(args.report).read_bytes())
            bank = (args.bank, Path(args.bank).read_bytes()) if args.bank else None
        else:
            report, bank = ports.reports.inputs(args.partner, day)
        outcome = recon_service.run(
            ledger,
            partner=args.partner,
            as_of=day,
            report=report,
            bank=bank,
            canonical_of=ports.canonical_of,
            now=datetime.now(tz=UTC),
            stream=ports.stream,
            book=ports.book,
        )
    except (ReportError, ReportMissing, recon_service.UnsupportedPartner, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(outcome.report)
        where = args.out
    else:
        where = ports.reports.write(args.partner, day, f"{outcome.run_id}.md", outcome.report)
    summary = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "breaks": outcome.summary.get("breaks", {}),
        "fees_booked": outcome.summary.get("fees_booked", 0),
        "opened": outcome.opened,
        "open": outcome.still_open,
        "closed": outcome.closed,
        "drift": outcome.drift,
        "report": where,
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"run {outcome.run_id} ({outcome.status}): {outcome.still_open} open break(s), {outcome.opened} new, "
            f"{outcome.closed} closed; report: {where}"
        )


def cmd_tenants(args, root) -> int:
    from shared.api import tenants

    ledger, now = root.store, datetime.now(tz=UTC)
    try:
        if args.action == "create":
            created = tenants.create_tenant(ledger, args.tenant, args.name or args.tenant, now)
            out = {"tenant": args.tenant, "created": created}
        elif args.action == "add-customer":
            added = {c: tenants.add_customer(ledger, args.tenant, c, now) for c in args.customers}
            out = {
                "tenant": args.tenant,
                "added": [c for c, new in added.items() if new],
                "had": [c for c, new in added.items() if not new],
            }
        else:
            records = ledger.snapshot(("Tenant",))["Tenant"]
            names = [args.tenant] if args.tenant else sorted(records)
            out = [
                {"tenant": t, "name": (records.get(t) or {}).get("name"), "customers": tenants.customers(ledger, t)}
                for t in names
            ]
    except tenants.TenantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=None if not args.json else 2, default=str))
    return 0


def cmd_api_keys(args, root) -> int:
    cfg = root.cfg
    from shared.api import keys

    ledger, now = root.store, datetime.now(tz=UTC)
    if args.action == "create":
        if not args.tenant or not args.scopes:
            print("error: --tenant and --scopes are required", file=sys.stderr)
            return 2
        try:
            key = keys.create_key(
                ledger, args.tenant, args.scopes.split(","), now, livemode=cfg.livemode, label=args.label or ""
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        key_id = key.split("_")[2]
        if args.json:
            _print_json(
                {"key_id": key_id, "tenant": args.tenant, "scopes": sorted(set(args.scopes.split(","))), "api_key": key}
            )
        else:
            print(f"API key {key_id} for tenant {args.tenant} ({args.scopes}); shown once, store it now:")
            print(key)
        return 0
    if args.action == "revoke":
        if not args.key_id:
            print("error: name the key id to revoke", file=sys.stderr)
            return 2
        revoked = keys.revoke_key(ledger, args.key_id, now)
        print(json.dumps({"key_id": args.key_id, "revoked": revoked}))
        return 0 if revoked else 1
    rows = [
        {**r, "created_at": str(r["created_at"]), "revoked_at": str(r["revoked_at"] or "")}
        for r in keys.list_keys(ledger, args.tenant)
    ]
    if args.json:
        _print_json(rows)
    else:
        _table(rows, [(k, k) for k in ("key_id", "tenant", "scopes", "mode", "label", "created_at", "revoked_at")])
    return 0


def cmd_status(args, root) -> int:
    cfg, db = root.cfg, root.db
    out: dict = {"project": cfg.project, "env": cfg.env}
    try:
        from emulators import ctl

        out["processes"] = ctl.status(cfg)
    except ImportError:
        out["processes"] = None
    try:
        out["counts"] = {
            kind: store.count(db, kind)
            for kind in ("Inbox", "Account", "JournalTransaction", "Outbox", "Rejection", "Conflict")
        }
    except Exception as exc:  # status must report a down store, not crash
        out["counts"] = {"error": str(exc)}
    if args.json:
        _print_json(out)
    else:
        print(f"project {cfg.project} ({cfg.env})")
        if out["processes"]:
            ctl.print_status(out["processes"])
        print(f"store: {out['counts']}")
    return 0 if out["processes"] is None or all(p["healthy"] for p in out["processes"]) else 3


def wait_posted(root, event_keys: list[str], timeout: float = 60.0) -> list[str]:
    """Wait until each event has a transaction whose entries reached BigQuery (left the outbox);
    returns those still missing."""
    ledger = root.store
    deadline = time.monotonic() + timeout
    missing = list(event_keys)
    while missing and time.monotonic() < deadline:  # only the still-missing events are queried
        missing = [k for k in missing if not outbox.streamed_transactions(ledger, k)]
        if missing:
            time.sleep(0.25)
    return missing


def cmd_demo(args, root) -> int:
    cfg = root.cfg
    from shared.demo import demo_deliveries, send

    if not cfg.webhook_secrets("stripe"):
        print("STRIPE_WEBHOOK_SECRET is not set (see emulators/dev.env)", file=sys.stderr)
        return 2
    intake = cfg.function_urls["intake"]
    print(f"sending the demo scenario to {intake}/webhooks/stripe\n")
    failures, accepted = 0, []
    rows = []
    for d in demo_deliveries(cfg.webhook_secrets("stripe")[0]):
        resp = send(intake, d)
        body = resp.json()
        got = body.get("status") or body.get("error", {}).get("code")
        ok = resp.status_code == d.expect_status and got == d.expect
        rerun = d.expect == "accepted" and resp.status_code == 200 and got == "duplicate"
        failures += not (ok or rerun)
        if got == "accepted":
            accepted.append(f"stripe:{body['partner_event_id']}")
        rows.append(
            {
                "delivery": d.label,
                "http": resp.status_code,
                "result": got,
                "check": "ok"
                if ok
                else "ok (received in an earlier run)"
                if rerun
                else f"EXPECTED {d.expect_status} {d.expect}",
            }
        )
    _table(rows, [("delivery", "delivery"), ("http", "http"), ("result", "result"), ("check", "check")])
    missing = wait_posted(root, accepted)
    if missing:
        print(f"\nnot posted within 60 s: {missing} (see .run/logs/ledger.log)")
        failures += len(missing)
    print("\nbalances (posted, on each account's normal side):")
    cmd_balances(argparse.Namespace(json=False), root)
    print()
    verdict = cmd_verify(argparse.Namespace(json=False, no_bigquery=False), root)
    return 1 if failures or verdict else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ledgerline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("balances")
    p = sub.add_parser("account")
    p.add_argument("id")
    p.add_argument("--as-of", help="ISO timestamp with zone, e.g. 2026-11-28T09:00:00+00:00")
    p.add_argument("--clock", choices=["recorded", "effective"], default="recorded")
    p.add_argument("--limit", type=int, default=20)
    p = sub.add_parser("events")
    p.add_argument("--partner")
    p = sub.add_parser("verify")
    p.add_argument("--no-bigquery", action="store_true", help="skip the BigQuery comparison")
    sub.add_parser("status")
    sub.add_parser("restream")
    sub.add_parser("expire-holds")
    sub.add_parser("redrive")
    p = sub.add_parser("reverse")
    p.add_argument("transaction_id")
    for name in ("dead-letters", "replay"):
        p = sub.add_parser(name)
        if name == "dead-letters":
            p.add_argument("--status", choices=["open", "replayed", "any"], default="open")
        else:
            p.add_argument("ids", nargs="*", help="dead letter ids (see dead-letters)")
            p.add_argument("--all", action="store_true", help="every open dead letter")
            p.add_argument("--dry-run", action="store_true", help="say what would be replayed, change nothing")
        p.add_argument("--source", choices=["task", "pubsub", "parked"])
        p.add_argument("--kind", help="task kind, or canonical-event")
        p.add_argument("--reason", help="reason code, e.g. exhausted, permanent, max_delivery_attempts")
        p.add_argument("--partner")
        p.add_argument("--since", help="created at or after this ISO timestamp (with zone)")
    p = sub.add_parser("dead-letter")
    p.add_argument("id")
    sub.add_parser("parked")
    p = sub.add_parser("disputes")
    p.add_argument("id", nargs="?", help="one dispute: <partner>:<dispute id>, or a Stripe dispute id")
    p.add_argument("--status", help="e.g. warning_needs_response, needs_response, won, lost, warning_closed")
    p.add_argument("--inquiries", action="store_true", help="inquiries / retrievals only")
    p = sub.add_parser("migrate-disputes")
    p.add_argument("--dry-run", action="store_true", help="say what would be linked and reversed, change nothing")
    p = sub.add_parser("recon")
    recon = p.add_subparsers(dest="recon_command", required=True)
    r = recon.add_parser("run")
    r.add_argument("--partner", required=True, choices=partners.REPORTING)
    r.add_argument("--date", required=True, help="the settlement day, YYYY-MM-DD (the window's end)")
    r.add_argument("--report", help="the partner report file (default: the reports directory / bucket)")
    r.add_argument("--bank", help="a bank statement: camt.053 (.xml) or BAI2")
    r.add_argument("--out", help="where to write the Markdown report (default: next to the inputs)")
    r.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    r = recon.add_parser("breaks")
    r.add_argument("--open", action="store_true", help="open breaks only")
    r.add_argument("--partner")
    r.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    p = sub.add_parser("tenants")
    p.add_argument("action", choices=["create", "add-customer", "list"])
    p.add_argument("tenant", nargs="?")
    p.add_argument("customers", nargs="*")
    p.add_argument("--name")
    p = sub.add_parser("api-keys")
    p.add_argument("action", choices=["create", "revoke", "list"])
    p.add_argument("key_id", nargs="?")
    p.add_argument("--tenant")
    p.add_argument("--scopes", help="comma-separated: read, write, operator (operator: the internal tenant only)")
    p.add_argument("--label")
    sub.add_parser("demo")
    for name, action in sub.choices.items():
        if name != "demo":
            action.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "tenants" and args.action != "list" and not args.tenant:
        parser.error("tenants create|add-customer need a tenant id")
    handler = {
        "balances": cmd_balances,
        "account": cmd_account,
        "events": cmd_events,
        "verify": cmd_verify,
        "status": cmd_status,
        "restream": cmd_restream,
        "reverse": cmd_reverse,
        "expire-holds": cmd_expire_holds,
        "redrive": cmd_redrive,
        "dead-letters": cmd_dead_letters,
        "dead-letter": cmd_dead_letter,
        "replay": cmd_replay,
        "parked": cmd_parked,
        "disputes": cmd_disputes,
        "migrate-disputes": cmd_migrate_disputes,
        "recon": cmd_recon,
        "tenants": cmd_tenants,
        "api-keys": cmd_api_keys,
        "demo": cmd_demo,
    }[args.command]
    return handler(args, bootstrap.root(settings()))


if __name__ == "__main__":
    sys.exit(main())
