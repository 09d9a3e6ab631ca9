"""Dead letters (list, show, replay) and parked events."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from shared.cli.output import print_json, table


def _dead_letter_filter(args):
    from shared.recovery.dead_letters import Filter

    since = datetime.fromisoformat(args.since) if args.since else None
    if since is not None and since.tzinfo is None:
        raise SystemExit("--since needs a timezone, e.g. 2026-11-28T09:00:00+00:00")
    status = None if getattr(args, "status", "open") == "any" else getattr(args, "status", "open")
    return Filter(
        status=status,
        source=args.source,
        kind=args.kind,
        reason_code=args.reason_code,
        partner=args.partner,
        since=since,
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
        print_json(rows)
    else:
        table(
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
    print_json({"id": args.id, **record})
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
    elif args.all or any((args.source, args.kind, args.reason_code, args.partner, args.since)):
        chosen = _dead_letters(root, _dead_letter_filter(args))
    else:
        print(
            "name dead letters to replay, or select them: --all, --since, --source, --kind, --reason-code, --partner",
            file=sys.stderr,
        )
        return 2
    if not args.dry_run:  # each an operator request: audited, approved above the threshold
        from shared.cli.operations import replay_through_requests

        out = replay_through_requests(root, chosen, args.reason)
        if args.json:
            print_json(out)
        else:
            for item in out:
                print(f"{item['dead_letter']}: request {item['request']} {item['status']}")
            print(f"{sum(i['status'] == 'executed' for i in out)} of {len(out)} dead letter(s) replayed")
        return 0 if all(i["status"] in ("executed", "pending") for i in out) else 1
    now = datetime.now(tz=UTC)
    out = [
        replay(ledger, name, record, publish=root.publish, schedule=root.schedule, now=now, dry_run=True)
        for name, record in chosen
    ]
    if args.json:
        print_json(out)
    else:
        for item in out:
            print(f"would replay {item['dead_letter']}: {item['action']}")
        print(f"would replay {len(out)} dead letter(s)")
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
        print_json(rows)
    else:
        table(rows, [(k, k) for k in ("event_id", "waiting_on", "parked_at", "deadline", "deliveries")])
    return 0
