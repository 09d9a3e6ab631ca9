"""Payout limits per customer and currency (operators): `payout-limits get CUSTOMER CURRENCY` and
`payout-limits set CUSTOMER CURRENCY --max-single N --daily-outflow N` (int minor units). Every change
is an operator request (shared.operations.movements: a raise at or above the approval threshold waits
for a second operator's `requests approve`), recorded on the limits record with who
(LEDGERLINE_OPERATOR, else `cli:<os user>`) and when, old and new values, and in the audit log."""

from __future__ import annotations

import sys

from shared.cli.output import print_json, table


def _view(found) -> dict:
    stored = found.stored
    return {
        "customer": found.limits.customer,
        "currency": found.limits.currency,
        "max_single": found.limits.max_single,
        "daily_outflow": found.limits.daily_outflow,
        "source": found.source,
        "updated_at": stored.updated_at.isoformat() if stored else None,
        "updated_by": stored.updated_by if stored else None,
        "history": [
            {"at": c.at.isoformat(), "actor": c.actor, "old": list(c.old) if c.old else None, "new": list(c.new)}
            for c in (stored.history if stored else ())
        ],
    }


def cmd_payout_limits(args, root) -> int:
    from shared import bootstrap
    from shared.cli.operations import _refused, operator
    from shared.domain.money import UnknownCurrency
    from shared.domain.operations.approvals import ApprovalError
    from shared.domain.operations.workflow import WorkflowError
    from shared.operations import movements

    book = bootstrap.payout_limits(root)
    request = None
    try:
        if args.action == "set":
            if args.max_single is None or args.daily_outflow is None:
                print("error: set needs --max-single and --daily-outflow (int minor units)", file=sys.stderr)
                return 2
            sub = movements.limit_submission(book, args.customer, args.currency, args.max_single, args.daily_outflow)
            why = args.reason or f"payout limits {args.max_single}/{args.daily_outflow}"
            req, _ = bootstrap.operations(root).requests.submit(sub, operator(), why)
            request = {"id": req.request_id, "status": req.status}
        found = book.get(args.customer, args.currency)
    except (ValueError, UnknownCurrency) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (WorkflowError, ApprovalError) as exc:
        return _refused(exc)
    out = {**_view(found), **({"request": request} if request else {})}
    if args.json:
        print_json(out)
    else:
        table([out], [(k, k) for k in ("customer", "currency", "max_single", "daily_outflow", "source", "updated_by")])
        for change in out["history"]:
            print(f"  {change['at']}  {change['actor']}: {change['old']} -> {change['new']}")
        if request and request["status"] == "pending":
            print(f"request {request['id']} waits for another operator's approval (ledgerline requests approve)")
    return 0
