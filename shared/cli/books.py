"""The books: balances, an account, inbox events, verify, status, and the ledger's repairs (restream,
reverse, expire-holds, redrive)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

from shared import bootstrap
from shared.adapters import datastore_store as store
from shared.cli.output import print_json, table
from shared.domain.ledger.accounts import account_type
from shared.domain.ledger.errors import UnknownAccount
from shared.domain.money import format_minor
from shared.ledger import balances as ledger_balances
from shared.ledger import holds, outbox


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
        print_json(rows)
    else:
        table(
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
        print_json(out)
    else:
        print(f"{args.id} ({out['type']})" + (f" as of {args.as_of} ({args.clock} clock)" if args.as_of else ""))
        for b in out["balances"]:
            print(f"  {b['currency']}: posted {b['posted_display']}, available {b['available_display']}")
        table(
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
        print_json(rows)
    else:
        table(
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
        print_json(report)
    else:
        print(f"verify: {'OK' if report['ok'] else 'PROBLEMS'}  {report['counts']}")
        for p in report["problems"]:
            print(f"  - {p}")
    return 0 if report["ok"] else 1


def cmd_verify_statement(args, root) -> int:
    """A statement file against the account's rows in BigQuery `entries` (the anchor outside Datastore)."""
    from shared.adapters import bigquery_sink
    from shared.domain import statement_proof

    with open(args.file, encoding="utf-8") as handle:
        statement = json.load(handle)
    proof = statement.get("proof") or {}
    account, chain = proof.get("ledger_account"), proof.get("chain")
    rows, chain_rows, legs, latest = [], None, None, None
    if account:
        rows = bigquery_sink.query(
            root.cfg,
            "SELECT entry_id, transaction_id, account, currency, direction, phase, amount, account_version, "
            "effective_at, posted_at FROM {table:entries} WHERE account = @account",
            account=account,
        )
    if account and isinstance(chain, dict):
        try:
            chain_rows, legs, latest = _chain_rows(root.cfg, statement, chain)
        except (KeyError, TypeError, ValueError, AttributeError):
            chain_rows, legs = [], []  # a proof of the wrong shape: verify names it (chain_malformed)
    problems = statement_proof.verify(statement, rows, chain_rows, legs, latest)
    if chain is None and args.require_chain:
        problems.append({"check": "chain_missing", "detail": "the statement is not anchored to the chain"})
    report = {
        "ok": not problems,
        "digest": proof.get("digest"),
        "anchored_rows": len(rows),
        "chain": "not anchored (entries only)" if chain is None else f"{len(chain_rows or [])} transaction row(s)",
        "problems": problems,
    }
    if args.json:
        print_json(report)
    else:
        print(
            f"verify-statement: {'OK' if report['ok'] else 'PROBLEMS'}  digest {report['digest']}  "
            f"{len(rows)} anchored row(s); chain: {report['chain']}"
        )
        for p in problems:
            print(f"  - {p}")
    return 0 if report["ok"] else 1


CHAIN_ROWS = (
    "SELECT transaction_id, chain_id, seq, prev_hash, hash, content_hash, ledger, kind, rule, event_id, partner, "
    "body_hash, target, effective_at, recorded_at, expires_at, entry_count FROM {table:transactions} "
)


def _chain_rows(cfg, statement: dict, chain: dict) -> tuple[list[dict], list[dict], dict[str, int]]:
    """What the chain check reads from BigQuery: the listed transactions' and the heads' rows in full;
    the links (positions and hashes only) of their chains from the first listed transaction to `end`;
    each chain's last seq before `end` (one aggregate: 32 rows); and the `entries` rows of the listed
    transactions (every leg: their hashes cover them). Every read is bounded by `end`."""
    from shared.adapters import bigquery_sink
    from shared.domain import statement_proof

    before = statement_proof.moment(chain["before"])
    listed = statement_proof.listed_transactions(statement)
    heads = [h["transaction"] for h in chain.get("heads", []) if h.get("transaction")]
    latest = {
        r["chain_id"]: int(r["seq"])
        for r in bigquery_sink.query(
            cfg,
            "SELECT chain_id, MAX(seq) AS seq FROM {table:transactions} WHERE recorded_at < @before GROUP BY chain_id",
            before=before,
        )
    }
    full = []
    if listed or heads:
        full = bigquery_sink.query(
            cfg, CHAIN_ROWS + "WHERE transaction_id IN UNNEST(@ids) AND recorded_at < @before",
            ids=sorted(set(listed) | set(heads)), before=before,
        )  # fmt: skip
    links, legs = [], []
    wanted = set(listed)
    mine = [r for r in full if r["transaction_id"] in wanted]
    if mine:
        low = min(statement_proof.moment(r["recorded_at"]) for r in mine)
        links = bigquery_sink.query(
            cfg,
            "SELECT transaction_id, chain_id, seq, prev_hash, hash, content_hash, recorded_at "
            "FROM {table:transactions} "
            "WHERE chain_id IN UNNEST(@chains) AND recorded_at >= @low AND recorded_at < @before",
            chains=sorted({r["chain_id"] for r in mine}), low=low, before=before,
        )  # fmt: skip
        legs = bigquery_sink.query(
            cfg,
            "SELECT entry_id, transaction_id, account, currency, shard, direction, phase, amount FROM {table:entries} "
            "WHERE transaction_id IN UNNEST(@ids) AND posted_at >= @low AND posted_at < @before",
            ids=listed, low=low, before=before,
        )  # fmt: skip
    return links + full, legs, latest  # the full rows last: they are the ones a position resolves to


def cmd_chain_anchor(args, root) -> int:
    from shared.ledger.outbox import backfill_chain

    print_json(backfill_chain(root.cfg, root.store))
    return 0


def cmd_restream(args, root) -> int:
    cfg = root.cfg
    from shared.ledger.outbox import restream_pending

    done = restream_pending(cfg, store=root.store)
    audit = bootstrap.operations(root).audit.stream_pending(limit=10_000)  # the operator audit log's too
    out = {"restreamed": done, "audit_entries": audit}
    print(json.dumps(out) if args.json else f"restreamed {len(done)} transaction(s), {audit} audit entr(ies)")
    return 0


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


def cmd_status(args, root) -> int:
    cfg, db = root.cfg, root.db
    out: dict = {"project": cfg.project, "env": cfg.env}
    try:
        from emulators import ctl

        out["processes"] = ctl.status(cfg)
        out["scheduler"] = ctl.scheduler_jobs(cfg)
    except ImportError:
        out["processes"] = out["scheduler"] = None
    try:
        out["counts"] = {
            kind: store.count(db, kind)
            for kind in ("Inbox", "Account", "JournalTransaction", "Outbox", "Rejection", "Conflict")
        }
    except Exception as exc:  # status must report a down store, not crash
        out["counts"] = {"error": str(exc)}
    if args.json:
        print_json(out)
    else:
        print(f"project {cfg.project} ({cfg.env})")
        if out["processes"]:
            ctl.print_status(out["processes"], out["scheduler"])
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
