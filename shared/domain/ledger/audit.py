"""The pure auditor: the ledger's invariants re-checked over a full snapshot (behind `ledgerline verify`).

It checks I1, I2, I4, I5 and I7 (shared.domain.ledger lists them). I3 (ids derive from the source) and I6
(constraints, only for operations that enforce them) hold by construction: a snapshot cannot refute
them; `verify` reports the recorded conflicts, the trace of I3's same-id-other-body refusals."""

from __future__ import annotations

from collections import defaultdict

from shared.domain.ledger.accounts import TOTALS, account_key
from shared.domain.ledger.chain import GENESIS, hash_of
from shared.domain.ledger.engine import add_entry, entries_of
from shared.domain.ledger.errors import InvariantViolation, UnknownAccount
from shared.domain.ledger.model import Entry, unbalanced

# Each check the auditor reports (a problem's `check`: a key of `ledgerline verify --json`, a contract,
# so the names stay as they are) and the invariant it checks; docs/ledger.md "Invariants" lists the same.
CHECKS: dict[str, str] = {
    "transaction_balanced": "I1",  # nets to zero per currency and phase
    "entry_count": "I1",  # the transaction has all its entries
    "entry_invalid": "I2",  # an entry is not a positive int amount on a known account
    "entries_without_account": "I4",
    "version_gap": "I4",
    "entry_resulting_balance": "I4",
    "account_equals_entries": "I4",
    "hold_state_without_transaction": "I5",  # a hold's state without its hold or its last transaction
    "chain": "I7",  # first divergence of a chain shard
    "chain_head": "I7",
    "chain_time": "I7",  # recorded time does not rise along the chain (statements anchor to it)
}


def _problem(check: str, **detail) -> dict:
    assert check in CHECKS, check
    return {"check": check, **detail}


def audit(snapshot: dict[str, dict[str, dict]]) -> list[dict]:
    """Every invariant over a full snapshot {kind: {name: data}}. Empty list = sound ledger."""
    problems: list[dict] = []
    txns, accounts = snapshot.get("JournalTransaction", {}), snapshot.get("Account", {})
    by_txn: dict[str, list] = defaultdict(list)
    by_account: dict[str, list] = defaultdict(list)
    for txn_id, t in txns.items():
        for e in entries_of(t):
            row = _Row(f"{txn_id}:{e['index']}", {**e, "transaction_id": txn_id})
            by_txn[txn_id].append(row)
            by_account[account_key(e["account"], e["currency"], e["shard"])].append(row)
    for txn_id, t in sorted(txns.items()):
        rows = by_txn.get(txn_id, [])
        if len(rows) != t.get("entry_count"):
            problems.append(
                _problem("entry_count", transaction_id=txn_id, expected=t.get("entry_count"), found=len(rows))
            )
        for (cur, phase), net in sorted(unbalanced(rows).items()):
            problems.append(_problem("transaction_balanced", transaction_id=txn_id, currency=cur, phase=phase, net=net))
    for key in sorted(set(by_account) | set(accounts)):
        problems += _audit_account(key, accounts.get(key), sorted(by_account.get(key, []), key=lambda r: r.version))
    problems += _audit_chains(txns, snapshot.get("ChainHead", {}))
    for hold, state in sorted(snapshot.get("HoldState", {}).items()):
        if hold not in txns or state.get("last_transaction_id") not in txns:
            problems.append(_problem("hold_state_without_transaction", hold=hold))
    return problems


class _Row:
    __slots__ = ("account", "amount", "currency", "data", "direction", "entry_id", "phase", "version")

    def __init__(self, entry_id: str, data: dict):
        self.entry_id, self.data = entry_id, data
        self.account, self.currency, self.direction = data["account"], data["currency"], data["direction"]
        self.amount, self.phase, self.version = data["amount"], data.get("phase", "posted"), data["account_version"]


def _audit_account(key: str, stored: dict | None, rows: list[_Row]) -> list[dict]:
    if stored is None:
        return [_problem("entries_without_account", account=key)]
    problems = []
    state = {**dict.fromkeys(TOTALS, 0), "version": 0}
    for row in rows:
        try:
            add_entry(
                state,
                Entry(
                    row.entry_id,
                    row.data["transaction_id"],
                    row.data["index"],
                    row.account,
                    row.currency,
                    row.data["shard"],
                    row.direction,
                    row.amount,
                    row.phase,
                ),
            )
        except (InvariantViolation, UnknownAccount) as exc:
            problems.append(_problem("entry_invalid", entry_id=row.entry_id, error=str(exc)))
            continue
        if row.version != state["version"]:
            problems.append(
                _problem(
                    "version_gap", account=key, entry_id=row.entry_id, expected=state["version"], found=row.version
                )
            )
            state["version"] = row.version
        if row.data.get("resulting") != [state[t] for t in TOTALS]:
            problems.append(_problem("entry_resulting_balance", account=key, entry_id=row.entry_id))
    if {t: stored.get(t) for t in (*TOTALS, "version")} != {t: state[t] for t in (*TOTALS, "version")}:
        problems.append(
            _problem(
                "account_equals_entries",
                account=key,
                stored=[stored.get(t) for t in (*TOTALS, "version")],
                entries=[state[t] for t in (*TOTALS, "version")],
            )
        )
    return problems


def _audit_chains(txns: dict, heads: dict) -> list[dict]:
    problems = []
    chains: dict[str, list] = defaultdict(list)
    for t in txns.values():
        chains[t["chain_id"]].append(t)
    for chain_id, members in sorted(chains.items()):
        prev, prev_recorded, late = GENESIS, None, None
        for expected_seq, t in enumerate(sorted(members, key=lambda t: t["seq"]), start=1):
            entries = entries_of(t)
            if t["seq"] != expected_seq or t["prev_hash"] != prev or hash_of(prev, t, entries) != t["hash"]:
                problems.append(
                    _problem("chain", chain_id=chain_id, first_divergence=t["transaction_id"], seq=t["seq"])
                )
                break
            if late is None and prev_recorded is not None and t["recorded_at"] <= prev_recorded:
                late = _problem("chain_time", chain_id=chain_id, transaction_id=t["transaction_id"], seq=t["seq"])
            prev, prev_recorded = t["hash"], t["recorded_at"]
        else:
            head = heads.get(chain_id)
            if head is None or head["hash"] != prev or head["seq"] != len(members):
                problems.append(_problem("chain_head", chain_id=chain_id))
            if late is not None:
                problems.append(late)
    return problems
