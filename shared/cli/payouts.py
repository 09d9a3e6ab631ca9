"""Payout limits per customer and currency (operators): `payout-limits get CUSTOMER CURRENCY` and
`payout-limits set CUSTOMER CURRENCY --max-single N --daily-outflow N` (int minor units). Every change
is recorded on the limits record with who (`cli:<os user>`, or --actor) and when, old and new values
(shared/payments/limits.py); the API's operator route does the same (`api_key:<key id>`)."""

from __future__ import annotations

import getpass
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
    from shared.domain.money import UnknownCurrency

    book = bootstrap.payout_limits(root)
    try:
        if args.action == "set":
            if args.max_single is None or args.daily_outflow is None:
                print("error: set needs --max-single and --daily-outflow (int minor units)", file=sys.stderr)
                return 2
            actor = args.actor or f"cli:{getpass.getuser()}"
            book.set(args.customer, args.currency, args.max_single, args.daily_outflow, actor)
        found = book.get(args.customer, args.currency)
    except (ValueError, UnknownCurrency) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = _view(found)
    if args.json:
        print_json(out)
    else:
        table([out], [(k, k) for k in ("customer", "currency", "max_single", "daily_outflow", "source", "updated_by")])
        for change in out["history"]:
            print(f"  {change['at']}  {change['actor']}: {change['old']} -> {change['new']}")
    return 0
