"""Customer API tenants and API keys. Every change (a tenant, its customers, a key made or revoked) is
in the operator audit log (docs/operations.md), as LEDGERLINE_OPERATOR's (else `cli:<OS user>`), with
--reason; never the key's secret."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from shared import bootstrap
from shared.cli.output import print_json, table


def _audited(root, now, action: str, target: str, reason: str | None, after: dict) -> None:
    from shared.cli.operations import operator
    from shared.operations.audit import record_change

    record_change(root.store, now, actor=operator(), action=action, reason=reason or "cli", target=target, after=after)
    bootstrap.operations(root).audit.after_commit()


def cmd_tenants(args, root) -> int:
    from shared.api import tenants

    ledger, now = root.store, datetime.now(tz=UTC)
    try:
        if args.action == "create":
            created = tenants.create_tenant(ledger, args.tenant, args.name or args.tenant, now)
            out = {"tenant": args.tenant, "created": created}
            if created:
                _audited(root, now, "tenant_change", args.tenant, args.reason, {"created": args.tenant})
        elif args.action == "add-customer":
            added = {c: tenants.add_customer(ledger, args.tenant, c, now) for c in args.customers}
            out = {
                "tenant": args.tenant,
                "added": [c for c, new in added.items() if new],
                "had": [c for c, new in added.items() if not new],
            }
            if out["added"]:
                _audited(root, now, "tenant_change", args.tenant, args.reason, {"customers_added": out["added"]})
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
                api_version=args.api_version,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        key_id = key.split("_")[2]
        scopes = sorted(set(args.scopes.split(",")))
        person = {"operator": args.operator.strip().lower()} if args.operator else {}
        pinned = ledger.get("ApiKey", key_id)["api_version"]
        after = {"created": key_id, "tenant": args.tenant, "scopes": scopes, "api_version": pinned, **person}
        _audited(root, now, "api_key_change", key_id, args.reason, after)
        if args.json:
            print_json(
                {"key_id": key_id, "tenant": args.tenant, "scopes": scopes, "api_version": pinned, "api_key": key}
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
        if revoked:
            _audited(root, now, "api_key_change", args.key_id, args.reason, {"revoked": args.key_id})
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
            [
                (k, k)
                for k in (
                    "key_id",
                    "tenant",
                    "scopes",
                    "mode",
                    "api_version",
                    "label",
                    "operator",
                    "created_at",
                    "revoked_at",
                )
            ],
        )
    return 0


def cmd_api_index(args, root) -> int:
    from shared.api.backfill import backfill, backfill_inbox

    print_json({**backfill(root.store), **backfill_inbox(root.inbox, root.cfg)})
    return 0
