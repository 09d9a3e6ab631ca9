"""The invariant auditor behind `ledgerline verify`: reads a full snapshot through the adapters and
checks it with the pure rules in shared.ledger.

Checks: every transaction balances per currency and has its entries (I1); every account's stored
debits/credits equal the sums of its entries (I4); every transaction's entries are in BigQuery exactly
once with the same amounts; every accepted inbox event was published and posted; no recorded
conflicts.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from shared import bigquery_sink
from shared import datastore_store as store
from shared.config import Settings
from shared.ledger import audit


def verify(cfg: Settings, *, db, with_bigquery: bool = True) -> dict:
    balances = store.all_balances(db)
    entries = store.all_entries(db)
    transactions = {t.key.name: t for t in store.all_transactions(db)}
    by_txn = defaultdict(list)
    for e in entries:
        by_txn[e.transaction_id].append(e)
    problems = audit({t: by_txn.get(t, []) for t in transactions}, balances)
    for txn_id in sorted(set(by_txn) - set(transactions)):
        problems.append({"check": "entries_without_transaction", "transaction_id": txn_id})
    for txn_id, txn in sorted(transactions.items()):
        if txn.get("entry_count") != len(by_txn.get(txn_id, [])):
            problems.append(
                {
                    "check": "entry_count",
                    "transaction_id": txn_id,
                    "expected": txn.get("entry_count"),
                    "found": len(by_txn.get(txn_id, [])),
                }
            )
        if not txn.get("streamed"):
            problems.append({"check": "not_streamed", "transaction_id": txn_id})

    bq_rows = 0
    if with_bigquery:
        rows = bigquery_sink.query(cfg, "SELECT entry_id, account, currency, direction, amount FROM {table:entries}")
        bq_rows = len(rows)
        counts = Counter(r["entry_id"] for r in rows)
        for entry_id, n in sorted(counts.items()):
            if n > 1:
                problems.append({"check": "bigquery_duplicate", "entry_id": entry_id, "copies": n})
        bq = {r["entry_id"]: (r["account"], r["currency"], r["direction"], int(r["amount"])) for r in rows}
        streamed = {t for t, txn in transactions.items() if txn.get("streamed")}
        for e in entries:
            if e.transaction_id not in streamed:
                continue
            got = bq.pop(e.entry_id, None)
            if got is None:
                problems.append({"check": "bigquery_missing", "entry_id": e.entry_id})
            elif got != (e.account, e.currency, e.direction, e.amount):
                problems.append({"check": "bigquery_mismatch", "entry_id": e.entry_id, "bigquery": list(got)})
        for entry_id in sorted(bq):
            problems.append({"check": "bigquery_unknown_entry", "entry_id": entry_id})

    inbox = store.inbox_list(db)
    posted_events = {txn.get("event_id") for txn in transactions.values()}
    for item in inbox:
        if item.get("verdict") != "accepted":
            continue
        if item.get("published_at") is None:
            problems.append({"check": "inbox_unpublished", "event": item.key.name})
        elif item.key.name not in posted_events:
            problems.append({"check": "inbox_not_posted", "event": item.key.name})
    for conflict in db.query(kind="Conflict").fetch():
        problems.append(
            {"check": "conflict", "transaction_id": conflict["transaction_id"], "event_id": conflict.get("event_id")}
        )
    return {
        "ok": not problems,
        "problems": problems,
        "counts": {
            "accounts": len(balances),
            "transactions": len(transactions),
            "entries": len(entries),
            "bigquery_rows": bq_rows,
            "inbox_events": len(inbox),
        },
    }
