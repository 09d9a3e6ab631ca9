"""The operator's commands of issue 19 (docs/operations.md): breaks, requests (maker-checker), the audit
log, and `reverse` / `replay` through requests. Output is the operator API's own views.

Who acts: LEDGERLINE_OPERATOR, else `cli:<OS user>`. The CLI talks to Datastore directly, so it is the
platform team's break-glass tool, not a control: maker-checker is enforced against authenticated
identities on the operator API, and Datastore access is what IAM must keep to a few people."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime

from shared import bootstrap
from shared.api import operations as views
from shared.cli.output import print_json, table
from shared.domain.operations.approvals import ApprovalError
from shared.domain.operations.workflow import WorkflowError
from shared.operations import movements
from shared.operations.breaks import BULK_ACTIONS as BULK


def operator() -> str:
    return os.environ.get("LEDGERLINE_OPERATOR") or f"cli:{getpass.getuser()}"


def _refused(exc) -> int:
    print(f"refused ({exc.code}): {exc}", file=sys.stderr)
    return 1


def _missing(what: str, name: str) -> int:
    print(f"no {what} {name}", file=sys.stderr)
    return 1


def _show(value, args, line: str) -> int:
    if args.json:
        print_json(value.model_dump(mode="json"))
    else:
        print(line)
    return 0


def _request_line(req) -> str:
    waiting = " — waiting for another operator's approval" if req.status == "pending" else ""
    moved = f" posted {', '.join(req.transactions)}" if req.transactions else ""
    return f"request {req.id} ({req.kind} of {req.target}): {req.status}{waiting}{moved}"


def cmd_breaks(args, root) -> int:
    ops = bootstrap.operations(root)
    desk, today = ops.desk, datetime.now(tz=UTC).date()
    who, action = operator(), args.break_command
    try:
        if action == "list":
            rows, _ = desk.list(
                state=args.state,
                severity=args.severity,
                partner=args.partner,
                currency=args.currency,
                assignee=args.assignee,
                reason_code=args.reason_code_filter,
                min_age_days=args.min_age,
                limit=args.limit,
            )
            data = [views.break_view(b, w, today).model_dump(mode="json") for b, w in rows]
            if args.json:
                print_json(data)
            else:
                cols = ("id", "state", "assignee", "partner", "reason_code", "severity", "currency", "amount")
                table(data, [(c, c) for c in (*cols, "age_days")])
            return 0
        if action == "show":
            brk, work = desk.get(args.id)
            print_json(views.break_view(brk, work, today).model_dump(mode="json"))
            return 0
        bulk_action = action.replace("-", "_")
        if bulk_action in BULK and (len(args.ids) > 1 or args.dry_run):
            until = _until(args) if action == "accept" else None
            reason = args.reason or ("taken" if action == "acknowledge" else _reason(args))
            out = desk.bulk(bulk_action, args.ids, who, reason=reason, until=until, dry_run=args.dry_run)
            if args.json:
                print_json(out)
            for o in [] if args.json else out:
                print(f"{o['break_id']}: {o['outcome']} {o.get('state') or o.get('request_id') or o.get('code') or ''}")
            return 0 if all(o["outcome"] != "error" for o in out) else 1
        if action == "acknowledge":
            work = desk.acknowledge(args.ids[0], who, args.reason)
        elif action == "note":
            work = desk.note(args.ids[0], who, _reason(args), args.reference)
        elif action == "accept":
            work = desk.accept(args.ids[0], who, _reason(args), _until(args))
        elif action == "write-off":
            req, record = desk.write_off(args.ids[0], who, _reason(args))
            view = views.request_view(req, record)
            return _show(view, args, _request_line(view))
        elif action == "adjust":
            legs = [_leg(text) for text in args.leg]
            req, record = desk.adjust(args.ids[0], who, _reason(args), legs, resolve=not args.keep_open)
            view = views.request_view(req, record)
            return _show(view, args, _request_line(view))
        elif action == "match":
            match = desk.manual_match(args.ids[0], who, args.counterpart, _reason(args))
            return _show(views.match_view(match), args, f"matched {match['left']} ↔ {match['right']}: {match['id']}")
        else:  # unmatch
            match = desk.unmatch(args.ids[0], who, _reason(args))
            return _show(views.match_view(match), args, f"undone {match['id']}; break {match['break_id']} is open")
    except LookupError as exc:
        return _missing("break or match", str(exc))
    except (WorkflowError, ApprovalError) as exc:
        return _refused(exc)
    brk, work = desk.get(args.ids[0])
    view = views.break_view(brk, work, today)
    return _show(view, args, f"{view.id}: {view.state} (assignee {view.assignee or '-'})")


def _reason(args) -> str:
    if not args.reason:
        raise WorkflowError("reason_required", "say why: --reason")
    return args.reason


def _until(args) -> datetime:
    if not args.until:
        raise WorkflowError("invalid_expiry", "accept needs --until (an ISO timestamp with zone)")
    until = datetime.fromisoformat(args.until)
    if until.tzinfo is None:
        raise WorkflowError("invalid_expiry", "--until needs a timezone, e.g. 2026-12-31T00:00:00+00:00")
    return until


def _leg(text: str) -> dict:
    """ACCOUNT:debit|credit:AMOUNT:CURRENCY, e.g. fees:stripe:debit:125:USD (the account may hold ':')."""
    account, direction, amount, currency = text.rsplit(":", 3)
    if not amount.isdigit():
        raise WorkflowError("invalid_amount", f"{text}: the amount is int minor units")
    return {"account": account, "direction": direction, "amount": int(amount), "currency": currency}


def cmd_requests(args, root) -> int:
    requests = bootstrap.operations(root).requests
    who = operator()
    try:
        if args.request_command == "list":
            data = [views.request_view(q, r).model_dump(mode="json") for q, r in requests.list(args.status, args.limit)]
            if args.json:
                print_json(data)
            else:
                cols = ("id", "kind", "status", "maker", "checker", "target", "amounts", "expires_at")
                table(data, [(c, c) for c in cols])
            return 0
        if args.request_command == "show":
            found = requests.get(args.id)
            if found is None:
                return _missing("request", args.id)
            print_json(views.request_view(*found).model_dump(mode="json"))
            return 0
        if args.request_command == "expire":
            done = requests.expire_due()
            print_json({"expired": done}) if args.json else print(f"expired {len(done)} request(s)")
            return 0
        if args.request_command == "approve":
            req, record = requests.approve(args.id, who, args.reason)
        else:
            req, record = requests.reject(args.id, who, _reason(args))
    except LookupError:
        return _missing("request", args.id)
    except (WorkflowError, ApprovalError) as exc:
        return _refused(exc)
    view = views.request_view(req, record)
    return _show(view, args, _request_line(view))


def _submit(args, root, submission, what: str, name: str) -> int:
    """Make an operator request from `submission()` (its reason: --reason) and show it: executed, or
    waiting for another operator's approval."""
    requests = bootstrap.operations(root).requests
    try:
        req, record = requests.submit(submission(), operator(), args.reason)
    except LookupError:
        return _missing(what, name)
    except (WorkflowError, ApprovalError) as exc:
        return _refused(exc)
    view = views.request_view(req, record)
    return _show(view, args, _request_line(view))


def cmd_reverse(args, root) -> int:
    txn = args.transaction_id
    return _submit(args, root, lambda: movements.reverse_submission(root.store, txn), "transaction", txn)


def replay_through_requests(root, chosen: list[tuple[str, dict]], reason: str) -> list[dict]:
    """`replay`: each dead letter as an operator request (replayed at once under the threshold)."""
    ops = bootstrap.operations(root)
    out = []
    for name, _ in chosen:
        try:
            req, record = ops.requests.submit(
                movements.replay_submission(root.store, name, ops.inbox), operator(), reason
            )
            view = views.request_view(req, record)
            out.append({"dead_letter": name, "request": view.id, "status": view.status})
        except (WorkflowError, ApprovalError) as exc:
            out.append({"dead_letter": name, "request": None, "status": f"refused: {exc.code}"})
    return out


def cmd_audit_log(args, root) -> int:
    audit = bootstrap.operations(root).audit
    if args.verify:
        problems = audit.problems()
        print_json({"ok": not problems, "problems": problems}) if args.json else print(
            "audit log: OK" if not problems else "\n".join(["audit log: PROBLEMS", *problems])
        )
        return 0 if not problems else 1
    rows, _ = audit.page(actor=args.actor, action=args.action, target=args.target, limit=args.limit)
    data = [views.entry_view(e).model_dump(mode="json") for e in rows]
    if args.json:
        print_json(data)
    else:
        table(data, [(c, c) for c in ("seq", "at", "actor", "action", "target", "approved_by", "reason")])
    return 0


def cmd_transfer(args, root) -> int:
    def submission():
        return movements.transfer_submission(root.store, args.from_account, args.to_account, args.amount, args.currency)

    return _submit(args, root, submission, "account", args.from_account)


def cmd_erase(args, root) -> int:
    retention = bootstrap.operations(root).retention
    return _submit(args, root, lambda: retention.erasure_submission(args.customer), "customer", args.customer)


def cmd_retention(args, root) -> int:
    from shared.domain.operations.retention import RETENTION

    if args.retention_command == "rules":
        rows = [{"data": r.data, "keep": r.keep_text, "then": r.then, "how": r.how} for r in RETENTION]
        if args.json:
            print_json(rows)
        else:
            for r in rows:
                print(f"- {r['data']}\n    keep: {r['keep']}; then: {r['then']}\n    by: {r['how']}")
        return 0
    out = bootstrap.operations(root).retention.sweep(limit=args.limit, dry_run=args.dry_run)
    if args.json:
        print_json(out)
    else:
        verb = "would redact" if args.dry_run else "redacted"
        print(f"{verb} {out['due'] if args.dry_run else out['redacted']} raw bod(ies) received before {out['cutoff']}")
    return 0
