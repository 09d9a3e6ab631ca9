"""The invariant auditor behind `ledgerline verify`: reads a full snapshot through the adapters and
checks it with the pure rules in shared.domain.ledger.audit (the invariants its CHECKS name), then compares
BigQuery with the ledger and the intake inbox with what was posted (`CHECKS` below: every check name).

Checks: every transaction balances per currency and phase and has its entries; every account shard's
totals and version equal the replay of its entries, and each entry's recorded resulting totals match;
every hash chain recomputes (first divergence reported); every committed entry is in BigQuery exactly
once with the same amounts (or still in the outbox: in flight for up to 2 minutes, then
`not_streamed`); every accepted inbox event was published and reached the ledger (or is parked,
waiting for its predecessor, until its deadline; a dead-lettered one is reported as such); no
recorded conflicts.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from shared.adapters import bigquery_sink, ledger_rows
from shared.adapters import datastore_store as store
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.config import Settings
from shared.domain.ledger.audit import CHECKS as AUDIT_CHECKS
from shared.domain.ledger.audit import audit
from shared.intake.inbox import InboxEvent
from shared.ledger.outbox import transaction_row
from shared.ledger.store import LEDGER_KINDS, AccountShard, StoredTransaction, aware
from shared.topology import table_schema

TRANSACTION_COLUMNS = tuple(f["name"] for f in table_schema("transactions") if f["name"] != "streamed_at")

# Every check `verify` reports (a problem's `check` in `verify --json`: a contract, the names stay) and the
# ledger invariant it checks (docs/ledger.md "Invariants"); None: it compares the ledger with BigQuery, the
# intake inbox or reconciliation, no ledger invariant.
CHECKS: dict[str, str | None] = {
    **AUDIT_CHECKS,
    "conflict": "I3",  # the same transaction id arrived with another body: recorded, never applied
    "not_streamed": None,
    "bigquery_duplicate": None,
    "bigquery_missing": None,
    "bigquery_mismatch": None,
    "bigquery_unknown_entry": None,
    "chain_bigquery_missing": None,  # a committed transaction's row is not in BigQuery `transactions`
    "chain_bigquery_mismatch": None,  # its chain position or hashes differ there
    "chain_bigquery_duplicate": None,
    "chain_bigquery_unknown": None,
    "inbox_unpublished": None,
    "parked_overdue": None,
    "dead_lettered": None,
    "inbox_not_posted": None,
    "inbox_conflict": None,
    "clearing_drift": None,
    "audit_chain": None,  # the operator audit log: an entry edited, removed or inserted (docs/operations.md)
    "audit_not_streamed": None,
    "audit_bigquery_missing": None,
    "audit_bigquery_mismatch": None,
}
STREAMING_GRACE = timedelta(minutes=2)
PARKED_GRACE = timedelta(hours=1)


def _comparable(row: dict) -> dict:
    """A `transactions` row as compared (BigQuery's TIMESTAMPs and the stream's ISO strings alike; not
    streamed_at, which only says when it was sent)."""
    out = {}
    for key in TRANSACTION_COLUMNS:
        value = row.get(key)
        if isinstance(value, str) and key.endswith("_at") and value:
            value = datetime.fromisoformat(value)
        out[key] = aware(value) if isinstance(value, datetime) else value
    return out


def chain_checks(cfg: Settings, txns: list[StoredTransaction], outbox: set[str]) -> list[dict]:
    """BigQuery `transactions` (the chain anchored outside Datastore) against the committed transactions:
    one row each (once out of the outbox) with the same chain position and hashes, and no other row."""
    problems = []
    rows = bigquery_sink.query(cfg, "SELECT * FROM {table:transactions}")
    for transaction_id, n in sorted(Counter(r["transaction_id"] for r in rows).items()):
        if n > 1:
            problems.append({"check": "chain_bigquery_duplicate", "transaction_id": transaction_id, "copies": n})
    bq = {r["transaction_id"]: _comparable(r) for r in rows}
    for t in txns:
        if t.id in outbox:
            continue
        got = bq.pop(t.id, None)
        if got is None:
            problems.append({"check": "chain_bigquery_missing", "transaction_id": t.id})
        elif got != _comparable(transaction_row(t)):
            differ = sorted(k for k, v in _comparable(transaction_row(t)).items() if got.get(k) != v)
            problems.append({"check": "chain_bigquery_mismatch", "transaction_id": t.id, "fields": differ})
    for transaction_id in sorted(bq):
        problems.append({"check": "chain_bigquery_unknown", "transaction_id": transaction_id})
    return problems


def verify(cfg: Settings, *, db, with_bigquery: bool = True) -> dict:
    snapshot = store.DatastoreLedger(db).snapshot(LEDGER_KINDS)
    problems = audit(snapshot)
    txns = ledger_rows.transactions(snapshot[ledger_rows.TRANSACTION])
    outbox = {txn for record in snapshot["Outbox"].values() for txn in record["transactions"]}
    # Streaming is a batched sweep about a second after a posting: a young outbox record is in flight,
    # an old one means the sweep is failing (its retries task, then a dead letter, say why).
    now = datetime.now(tz=UTC)
    in_flight = set()
    for record in snapshot["Outbox"].values():
        if now - aware(record["recorded_at"]) < STREAMING_GRACE:
            in_flight.update(record["transactions"])
    for txn_id in sorted(outbox - in_flight):
        problems.append({"check": "not_streamed", "transaction_id": txn_id})
    entries = {f"{t.id}:{e.index}": (t.id, e) for t in txns for e in t.entries}

    bq_rows = 0
    if with_bigquery:
        rows = bigquery_sink.query(
            cfg, "SELECT entry_id, account, currency, direction, phase, amount FROM {table:entries}"
        )
        bq_rows = len(rows)
        for entry_id, n in sorted(Counter(r["entry_id"] for r in rows).items()):
            if n > 1:
                problems.append({"check": "bigquery_duplicate", "entry_id": entry_id, "copies": n})
        bq = {r["entry_id"]: (r["account"], r["currency"], r["direction"], r["phase"], int(r["amount"])) for r in rows}
        for entry_id, (txn_id, e) in sorted(entries.items()):
            if txn_id in outbox:
                continue
            got = bq.pop(entry_id, None)
            if got is None:
                problems.append({"check": "bigquery_missing", "entry_id": entry_id})
            elif got != (e.account, e.currency, e.direction, e.phase, e.amount):
                problems.append({"check": "bigquery_mismatch", "entry_id": entry_id, "bigquery": list(got)})
        for entry_id in sorted(bq):
            problems.append({"check": "bigquery_unknown_entry", "entry_id": entry_id})
        problems += chain_checks(cfg, txns, outbox)

    inbox_port = DatastoreInbox(db)
    inbox = inbox_port.events()
    waiting = store.DatastoreLedger(db).snapshot(("Parked", "DeadLetter"))
    parked = waiting["Parked"]
    dead = {r["key"]: name for name, r in waiting["DeadLetter"].items() if r["status"] == "open"}
    seen_events = {t.event_id for t in txns} | {r["event_id"] for r in snapshot["Rejection"].values()}
    for item in inbox:
        if not item.accepted:
            continue
        if not item.published:
            problems.append({"check": "inbox_unpublished", "event": item.key})
        elif item.key not in seen_events and not _moves_no_money(item):
            if item.key in parked:  # waiting for its predecessor, until its deadline: not (yet) a problem
                overdue = now - aware(parked[item.key]["deadline"]) > PARKED_GRACE
                if overdue:  # its expiry task should have dead-lettered it by now
                    problems.append({"check": "parked_overdue", "event": item.key})
                continue
            if item.key in dead:
                problems.append({"check": "dead_lettered", "event": item.key, "dead_letter": dead[item.key]})
            else:
                problems.append({"check": "inbox_not_posted", "event": item.key})
    for conflict in inbox_port.conflicts():
        problems.append({"check": "inbox_conflict", "event": conflict.inbox_key})
    for conflict in snapshot["Conflict"].values():
        problems.append(
            {"check": "conflict", "transaction_id": conflict["transaction_id"], "event_id": conflict.get("event_id")}
        )
    recon = store.DatastoreLedger(db).snapshot(("ReconBalance", "ReconBreak"))
    shards = ledger_rows.account_shards(snapshot[ledger_rows.ACCOUNT])
    clearing, unexplained = clearing_checks(recon["ReconBalance"], recon["ReconBreak"], txns, shards)
    problems += unexplained
    audit_checked = audit_checks(db, cfg, problems, with_bigquery, now)
    return {
        "ok": not problems,
        "problems": problems,
        "counts": {
            "account_shards": len(shards),
            "transactions": len(txns),
            "entries": len(entries),
            "rejections": len(snapshot["Rejection"]),
            "bigquery_rows": bq_rows,
            "inbox_events": len(inbox),
            "parked": len(parked),
            "streaming_in_flight": len(in_flight),
            "dead_letters_open": sum(r["status"] == "open" for r in waiting["DeadLetter"].values()),
            "clearing_checked": len(clearing),
            "audit_entries": audit_checked,
        },
        "clearing": clearing,
    }


def audit_checks(db, cfg: Settings, problems: list[dict], with_bigquery: bool, now: datetime) -> int:
    """The operator audit log: its chain recomputes from the first entry to the head, and every entry
    reached BigQuery with the same hash (older than STREAMING_GRACE: else `audit_not_streamed`; another
    hash there: `audit_bigquery_mismatch`, the entry was rewritten in Datastore). Returns the entry count."""
    from shared.operations.audit import AuditLog

    log = AuditLog(store.DatastoreLedger(db))
    problems += [{"check": "audit_chain", "problem": p} for p in log.problems()]
    entries = log.entries()
    if with_bigquery and entries:
        rows = bigquery_sink.query(cfg, "SELECT seq, hash FROM {table:operator_audit}")
        streamed: dict[int, set[str]] = {}
        for r in rows:
            streamed.setdefault(int(r["seq"]), set()).add(r["hash"])
        through = log.streamed_through()
        for e in entries:
            copies = streamed.get(e.seq)
            if copies:  # the copy outside Datastore: an entry rewritten (and re-chained) there differs here
                if copies != {e.hash}:
                    problems.append({"check": "audit_bigquery_mismatch", "seq": e.seq})
                continue
            if e.seq <= through:
                problems.append({"check": "audit_bigquery_missing", "seq": e.seq})
            elif now - e.at >= STREAMING_GRACE:
                problems.append({"check": "audit_not_streamed", "seq": e.seq})
    return len(entries)


def clearing_checks(
    balances: dict, breaks: dict, transactions: list[StoredTransaction], shards: list[AccountShard]
) -> tuple[list[dict], list[dict]]:
    """Each partner's clearing account, per currency, against the latest reconciliation run that
    reconciled that currency: clearing now = the partner balance the run left (its report, fees booked)
    + what was posted to clearing since — every entry the run's period did not cover (effective after
    its as_of day, or recorded after the run). Returns (rows, problems). A difference is explained when
    the partner's open breaks in that currency are at least as large (payments the report does not
    show yet, …): reported in the row, not a problem; otherwise it is `clearing_drift`."""
    latest: dict[tuple[str, str], dict] = {}
    for run in balances.values():  # ReconBalance records: one per reconciliation run
        for currency in json.loads(run["partner_balance"]):
            key, seen = (run["partner"], currency), latest.get((run["partner"], currency))
            if seen is None or (run["as_of"], aware(run["balance_at"])) > (seen["as_of"], aware(seen["balance_at"])):
                latest[key] = run
    open_breaks: dict[tuple, list[int]] = {}
    for b in breaks.values():
        if b.get("status") == "open":
            open_breaks.setdefault((b.get("partner"), b.get("currency")), []).append(abs(b.get("amount") or 0))
    rows, problems = [], []
    for (partner, currency), run in sorted(latest.items()):
        account, recorded_by, day = f"partner:{partner}:clearing", aware(run["balance_at"]), run["as_of"]
        clearing = sum(
            a.debits_posted - a.credits_posted for a in shards if a.account == account and a.currency == currency
        )
        posted_since = sum(
            (e.amount if e.direction == "debit" else -e.amount)
            for t in transactions
            if t.recorded_at > recorded_by or t.effective_at.date().isoformat() > day
            for e in t.entries_on(account)
            if e.currency == currency and e.phase == "posted"
        )
        reconciled = json.loads(run["partner_balance"])[currency]
        explained_by = open_breaks.get((partner, currency), [])
        row = {
            "partner": partner,
            "currency": currency,
            "run_id": run["run_id"],
            "as_of": day,
            "reconciled_balance": reconciled,
            "posted_since": posted_since,
            "expected": reconciled + posted_since,
            "clearing": clearing,
            "difference": clearing - reconciled - posted_since,
            "open_breaks": len(explained_by),
            "open_break_amounts": sum(explained_by),
        }
        row["explained"] = row["difference"] == 0 or abs(row["difference"]) <= row["open_break_amounts"]
        rows.append(row)
        if not row["explained"]:
            problems.append({"check": "clearing_drift", **row})
    return rows, problems


def _moves_no_money(inbox_item: InboxEvent) -> bool:
    from shared.domain.ledger.operations import operation_for

    return operation_for(inbox_item.event()) is None
