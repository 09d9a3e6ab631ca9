"""Customer API tenants and API keys."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from shared.cli.output import print_json, table


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
                ledger,
                args.tenant,
                args.scopes.split(","),
                now,
                livemode=cfg.livemode,
                label=args.label or "",
                operator=args.operator,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        key_id = key.split("_")[2]
        if args.json:
            print_json(
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
        print_json(rows)
    else:
        table(
            rows,
            [(k, k) for k in ("key_id", "tenant", "scopes", "mode", "label", "operator", "created_at", "revoked_at")],
        )
    return 0
