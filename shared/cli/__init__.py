"""ledgerline operator CLI: `python -m shared.cli COMMAND [--json]` (or the `ledgerline` script).

Commands:
  balances            every account, per currency (posted on the account's normal side)
  account ID          one account's balances and its latest entries
  events [--partner]  raw webhook events in the inbox, with verdict and delivery count
  verify              the invariant auditor; exits 1 when a problem is found
  verify-statement FILE [--require-chain]
                      prove a statement (its JSON, from GET …/statements/…) complete and unaltered against
                      the entries in BigQuery; exits 1 when a problem is found (docs/api.md "Provable statements")
  status              the local stack's processes and the store's counts
  restream            stream to BigQuery the entries of posted transactions not yet streamed
  reverse TXN --reason R
                      ask to reverse a transaction (append-only correction, at most once): an operator
                      request, approved by a second operator above the threshold (docs/operations.md)
  expire-holds        release holds whose expiry has passed
  redrive             publish again every accepted inbox event the ledger has not posted (e.g. parked
                      events dead-lettered before their predecessor arrived)
  dead-letters        dead letters (default: open ones) [--status --source --kind --reason-code --partner --since]
  dead-letter ID      one dead letter, whole (payload, errors, attempts, timestamps)
  replay ID... | --all | filters --reason R [--dry-run]
                      send dead letters through the normal idempotent path again (never double-posts),
                      each as an operator request
  parked              events waiting for their predecessor, with their deadline
  disputes [ID] [--status S] [--inquiries]
                      disputes (inquiries too: they move no money) with status and funds; ID: its timeline
  migrate-disputes [--dry-run]
                      one-off, idempotent: link Stripe disputes posted before the dispute lifecycle
                      (dispute.opened / won) and reverse those the lifecycle superseded (docs/deploy.md)
  recon run --partner P --date D [--report PATH] [--bank PATH] [--out PATH]
                      reconcile a partner's report (default: the reports bucket) against the ledger
  recon put --partner P --date D FILE [--bank]
                      upload a partner's report (or, --bank, the bank statement) as that day's input
  recon breaks [--open] [--partner P]
                      reconciliation breaks with reason, severity and lifecycle
  breaks list [--state --partner --severity --currency --assignee --reason-code --min-age]
         | show ID | acknowledge ID... | note ID --reason TEXT [--reference R] | accept ID... --reason R
         --until T | write-off ID... --reason R | adjust ID --leg ACCOUNT:debit|credit:AMOUNT:CUR ... --reason R
         | match ID --counterpart X --reason R | unmatch MATCH_ID --reason R   [--dry-run on the bulk ones]
                      work reconciliation breaks (docs/operations.md); the actor is LEDGERLINE_OPERATOR
  requests list [--status S] | show ID | approve ID [--reason R] | reject ID --reason R | expire
                      maker-checker: the approvals inbox; never approve your own
  audit-log [--actor --action --target --limit] | --verify
                      the operator audit log, newest first; --verify checks its hash chain
  transfer FROM TO AMOUNT CURRENCY --reason R
                      ask to move money between wallets / suspense (int minor units; a second operator
                      approves at or above the threshold)
  erase CUSTOMER --reason R
                      ask to erase a customer's personal data, keeping the books (a second operator approves)
  retention run [--dry-run] [--limit N] | rules
                      redact raw partner bodies past their retention (13 months); the retention rules
  tenants create T [--name N] | add-customer T CUSTOMER... | list [T]
                      customer API tenants and the customers they own (docs/api.md)
  api-keys create --tenant T --scopes read,write[,operator --operator PERSON] [--label L] [--api-version V]
           | revoke KEY_ID | list [--tenant T]
                      API keys: the secret is printed ONCE at creation and stored only as a hash; an
                      operator key names the person who holds it (their identity in the audit log)
  api-index backfill  index what existed before the API listings (customers, transfers, holds, pay-ins, the inbox's
                      references: a payout's webhooks): run
                      once after deploying them (idempotent; docs/api.md)
  chain-anchor backfill  anchor transactions committed before provable statements linked to the chain:
                      index their chain and stream their BigQuery `transactions` rows (idempotent)
  payout-limits get CUSTOMER CURRENCY | set CUSTOMER CURRENCY --max-single N --daily-outflow N [--reason R]
                      a customer's payout limits (int minor units; without its own: the currency's
                      default, LEDGERLINE_PAYOUT_DEFAULT_LIMITS); every change an operator request (a
                      raise at or above the threshold waits for a second operator), audited
  demo                send the demo webhook scenario to intake, wait, print balances + verify

Machine contract (stable): `balances --json` prints a JSON list of objects with at least `account`,
`currency`, `posted` (int minor units); `verify --json` prints an object with at least `ok` (bool)
and `problems` (list) and exits non-zero when not ok. Reads the same settings as `make up`.
"""

from __future__ import annotations

import argparse

from shared import bootstrap, partners
from shared.cli import books, demo, disputes, operations, payouts, recon, recovery, tenants
from shared.config import settings


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
    p = sub.add_parser("verify-statement")
    p.add_argument("file", help="the statement's JSON (GET /v1/accounts/{id}/statements/{period})")
    p.add_argument(
        "--require-chain",
        action="store_true",
        help="a statement not anchored to the hash chain is a problem (settled recorded-clock statements are)",
    )
    sub.add_parser("status")
    sub.add_parser("restream")
    sub.add_parser("expire-holds")
    sub.add_parser("redrive")
    p = sub.add_parser("reverse")
    p.add_argument("transaction_id")
    p.add_argument("--reason", required=True, help="why (kept in the operator audit log)")
    for name in ("dead-letters", "replay"):
        p = sub.add_parser(name)
        if name == "dead-letters":
            p.add_argument("--status", choices=["open", "replayed", "any"], default="open")
        else:
            p.add_argument("ids", nargs="*", help="dead letter ids (see dead-letters)")
            p.add_argument("--all", action="store_true", help="every open dead letter")
            p.add_argument("--dry-run", action="store_true", help="say what would be replayed, change nothing")
            p.add_argument("--reason", help="why (required unless --dry-run; kept in the operator audit log)")
        p.add_argument("--source", choices=["task", "pubsub", "parked"])
        p.add_argument("--kind", help="task kind, or canonical-event")
        p.add_argument(
            "--reason-code", dest="reason_code", help="reason code, e.g. exhausted, permanent, max_delivery_attempts"
        )
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
    recon_commands = p.add_subparsers(dest="recon_command", required=True)
    r = recon_commands.add_parser("run")
    r.add_argument("--partner", required=True, choices=partners.REPORTING)
    r.add_argument("--date", required=True, help="the settlement day, YYYY-MM-DD (the window's end)")
    r.add_argument("--report", help="the partner report file (default: the day's report in the reports bucket)")
    r.add_argument("--bank", help="a bank statement: camt.053 (.xml) or BAI2")
    r.add_argument("--out", help="where to write the Markdown report (default: next to the inputs)")
    r.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    r = recon_commands.add_parser("put")
    r.add_argument("--partner", required=True, choices=partners.REPORTING)
    r.add_argument("--date", required=True, help="the settlement day, YYYY-MM-DD")
    r.add_argument("file", help="the file; its extension names its format (.csv, .xml, .bai2, ...)")
    r.add_argument("--bank", action="store_true", help="the bank statement (camt.053 .xml or BAI2), not the report")
    r = recon_commands.add_parser("breaks")
    r.add_argument("--open", action="store_true", help="open breaks only")
    r.add_argument("--partner")
    r.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    p = sub.add_parser("breaks")
    p.add_argument("break_command", choices=["list", "show", "acknowledge", "note", "accept", "write-off", "adjust",
                                              "match", "unmatch"])  # fmt: skip
    p.add_argument("ids", nargs="*", help="break ids (unmatch: the manual match id)")
    p.add_argument("--state", choices=["open", "acknowledged", "resolved", "accepted", "written_off"])
    p.add_argument("--partner")
    p.add_argument("--severity", choices=["low", "medium", "high", "critical"])
    p.add_argument("--currency")
    p.add_argument("--assignee")
    p.add_argument("--reason-code", dest="reason_code_filter")
    p.add_argument("--min-age", type=int, help="opened at least this many days ago")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--reason", help="why (kept in the operator audit log); a note's text")
    p.add_argument("--reference", help="a note's attachment by reference (ticket, gs:// path)")
    p.add_argument("--until", help="accept: until this ISO timestamp with zone")
    p.add_argument("--leg", action="append", default=[], help="adjust: ACCOUNT:debit|credit:AMOUNT:CURRENCY")
    p.add_argument("--keep-open", action="store_true", help="adjust: the entry does not resolve the break")
    p.add_argument("--counterpart", help="match: the ledger transaction id, or the partner's / bank's reference")
    p.add_argument(
        "--dry-run", action="store_true", help="acknowledge / note / accept / write-off: say what each would do"
    )
    p = sub.add_parser("requests")
    p.add_argument("request_command", choices=["list", "show", "approve", "reject", "expire"])
    p.add_argument("id", nargs="?")
    p.add_argument("--status", choices=["pending", "approved", "rejected", "expired", "executed", "failed"])
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=50)
    p = sub.add_parser("audit-log")
    p.add_argument("--actor")
    p.add_argument("--action")
    p.add_argument("--target")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--verify", action="store_true", help="check the hash chain from the first entry to the head")
    p = sub.add_parser("transfer")
    p.add_argument("from_account", help="customer:<id>:wallet or suspense")
    p.add_argument("to_account")
    p.add_argument("amount", type=int, help="int minor units")
    p.add_argument("currency")
    p.add_argument("--reason", required=True, help="why (kept in the operator audit log)")
    p = sub.add_parser("erase")
    p.add_argument("customer")
    p.add_argument("--reason", required=True, help="why (kept in the operator audit log)")
    p = sub.add_parser("retention")
    p.add_argument("retention_command", choices=["run", "rules"])
    p.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    p.add_argument("--limit", type=int, default=500, help="at most this many bodies in one run")
    p = sub.add_parser("tenants")
    p.add_argument("action", choices=["create", "add-customer", "list"])
    p.add_argument("tenant", nargs="?")
    p.add_argument("customers", nargs="*")
    p.add_argument("--name")
    p.add_argument("--reason", help="why (kept in the operator audit log)")
    p = sub.add_parser("api-keys")
    p.add_argument("action", choices=["create", "revoke", "list"])
    p.add_argument("key_id", nargs="?")
    p.add_argument("--tenant")
    p.add_argument("--scopes", help="comma-separated: read, write, operator (operator: the internal tenant only)")
    p.add_argument("--label")
    p.add_argument("--operator", help="the person an operator key belongs to, e.g. ana@example.com")
    p.add_argument("--api-version", help="pin the key to this API version (default: the newest; docs/api.md#versions)")
    p.add_argument("--reason", help="why (kept in the operator audit log)")
    p = sub.add_parser("api-index")
    p.add_argument("action", choices=["backfill"])
    p = sub.add_parser("chain-anchor")
    p.add_argument("action", choices=["backfill"])
    p = sub.add_parser("payout-limits")
    p.add_argument("action", choices=["get", "set"])
    p.add_argument("customer")
    p.add_argument("currency")
    p.add_argument("--max-single", type=int, help="largest single payout, int minor units")
    p.add_argument("--daily-outflow", type=int, help="rolling 24 h outflow (open holds count), int minor units")
    p.add_argument("--reason", help="why (kept in the operator audit log)")
    sub.add_parser("demo")
    for name, action in sub.choices.items():
        if name != "demo":
            action.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "tenants" and args.action != "list" and not args.tenant:
        parser.error("tenants create|add-customer need a tenant id")
    if args.command == "breaks" and args.break_command != "list" and not args.ids:
        parser.error(f"breaks {args.break_command} needs an id")
    if args.command == "requests" and args.request_command not in ("list", "expire") and not args.id:
        parser.error(f"requests {args.request_command} needs a request id")
    if args.command == "replay" and not args.dry_run and not args.reason:
        parser.error("replay needs --reason (kept in the operator audit log), or --dry-run")
    handler = {
        "balances": books.cmd_balances,
        "account": books.cmd_account,
        "events": books.cmd_events,
        "verify": books.cmd_verify,
        "verify-statement": books.cmd_verify_statement,
        "status": books.cmd_status,
        "restream": books.cmd_restream,
        "reverse": operations.cmd_reverse,
        "breaks": operations.cmd_breaks,
        "requests": operations.cmd_requests,
        "audit-log": operations.cmd_audit_log,
        "erase": operations.cmd_erase,
        "transfer": operations.cmd_transfer,
        "retention": operations.cmd_retention,
        "expire-holds": books.cmd_expire_holds,
        "redrive": books.cmd_redrive,
        "dead-letters": recovery.cmd_dead_letters,
        "dead-letter": recovery.cmd_dead_letter,
        "replay": recovery.cmd_replay,
        "parked": recovery.cmd_parked,
        "disputes": disputes.cmd_disputes,
        "migrate-disputes": disputes.cmd_migrate_disputes,
        "recon": recon.cmd_recon,
        "tenants": tenants.cmd_tenants,
        "api-keys": tenants.cmd_api_keys,
        "api-index": tenants.cmd_api_index,
        "chain-anchor": books.cmd_chain_anchor,
        "payout-limits": payouts.cmd_payout_limits,
        "demo": demo.cmd_demo,
    }[args.command]
    return handler(args, bootstrap.root(settings()))
