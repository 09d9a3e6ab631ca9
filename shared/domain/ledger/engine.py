"""The engine: apply one operation to a store inside ONE transaction. No I/O of its own: it reads and
writes through the `Tx` protocol, implemented for Datastore (shared.adapters.datastore_store) and in
memory (shared.adapters.memory_store)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from shared.domain.ledger.accounts import TOTALS, AccountBalance, account_rule, account_type
from shared.domain.ledger.chain import GENESIS, chain_for, content_hash, link_hash
from shared.domain.ledger.errors import Conflict, InvariantViolation, PredecessorMissing, Rejected
from shared.domain.ledger.model import Entry, Leg, Operation, entries_for, unbalanced


def add_entry(state: dict, entry: Entry) -> None:
    """Add one entry to an account shard's totals (I4)."""
    side = "debits" if entry.direction == "debit" else "credits"
    if entry.phase == "posted":
        state[f"{side}_posted"] += entry.amount
    elif entry.phase == "pending":
        state[f"{side}_pending"] += entry.amount
    else:  # release of a pending amount
        state[f"{side}_pending"] -= entry.amount
        if state[f"{side}_pending"] < 0:
            raise InvariantViolation(f"release exceeds pending on {entry.account_key}")
    state["version"] += 1


class Tx(Protocol):
    """What the engine needs from a store inside one transaction. `prefetch` is a hint: load these
    records in one round trip (later gets are served from it); reads see the transaction's own puts."""

    def prefetch(self, pairs: list[tuple[str, str]]) -> None: ...

    def get(self, kind: str, name: str) -> dict | None: ...
    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]: ...
    def put(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None: ...
    def delete(self, kind: str, name: str) -> None: ...


def committed(tx: Tx, transaction_id: str) -> dict | None:
    """A committed transaction's record, read inside the transaction, or None."""
    return tx.get("JournalTransaction", transaction_id)


def hold_state(tx: Tx, hold: str) -> dict:
    """A hold's state, read inside the transaction (open and untouched when nothing resolved it yet)."""
    return tx.get("HoldState", hold) or {"captured": 0, "released": 0, "closed": None}


@dataclass(frozen=True)
class Result:
    status: Literal["posted", "replayed", "rejected", "conflict", "parked"]
    transaction_id: str
    reason: str | None = None
    record: dict = field(default_factory=dict, compare=False)


def _legs_of(op: Operation, tx: Tx, now: datetime) -> tuple[tuple[Leg, ...], dict]:
    """The legs an operation writes, after its preconditions (I5); plus extra records to insert."""
    if op.kind in ("post", "hold"):
        if not op.legs:
            raise InvariantViolation("an operation without legs")
        if op.kind == "hold" and op.expires_at is None:
            raise InvariantViolation("a hold needs expires_at")
        return op.legs, {}
    target = committed(tx, op.target)
    if op.kind == "reverse":
        if target is None and op.await_target:
            raise PredecessorMissing(f"{op.target} has not arrived yet", ("JournalTransaction", op.target))
        if target is None or target["kind"] not in ("post", "capture"):
            raise Rejected("not_reversible", f"{op.target} is not a posted transaction")
        if tx.get("Reversal", op.target) is not None:
            raise Rejected("already_reversed", f"{op.target} was reversed already")
        legs = tuple(
            Leg(e["account"], "credit" if e["direction"] == "debit" else "debit", e["amount"], e["currency"])
            for e in entries_of(target)
            if e["phase"] == "posted"
        )
        return legs, {("Reversal", op.target): {"reversal_id": op.op_id, "recorded_at": now}}
    if target is None:
        # Partners do not guarantee order: the capture/void may arrive before its authorization.
        raise PredecessorMissing(f"hold {op.target} has not arrived yet", ("JournalTransaction", op.target))
    if target["kind"] != "hold":
        raise Rejected("unknown_hold", f"{op.target} is not a hold")
    held = [
        Leg(e["account"], e["direction"], e["amount"], e["currency"], "pending", e["shard"]) for e in entries_of(target)
    ]
    held_amount = max(leg.amount for leg in held)  # from the chained entries, not a stored field
    state = hold_state(tx, op.target)
    remaining = held_amount - state["released"] if state["closed"] is None else 0

    def release(amount: int) -> list[Leg]:
        return [replace(leg, phase="release", amount=amount) for leg in held] if amount > 0 else []

    if op.kind == "capture":
        # A capture is a partner fact: the money moved, so it always posts. It releases what it takes
        # from the hold; a capture dated at/after the expiry (the partner's clock) closes the hold.
        if op.currency is not None and op.currency != held[0].currency:
            raise Rejected("currency_mismatch", f"capture in {op.currency} of a hold in {held[0].currency}")
        captured = op.amount or 0
        if captured <= 0:
            raise Rejected("invalid_capture", "a capture needs a positive amount")
        freed = min(captured, remaining)
        closing = state["closed"] is None and (op.effective_at >= target["expires_at"] or freed == remaining)
        if closing:
            freed = remaining
        legs = [*release(freed), *(replace(leg, phase="posted", amount=captured, shard=None) for leg in held)]
        new_state = {
            "captured": state["captured"] + captured,
            "released": state["released"] + freed,
            "closed": ("captured" if op.effective_at < target["expires_at"] else "expired")
            if closing
            else state["closed"],
            "last_transaction_id": op.op_id,
            "updated_at": now,
        }
        return tuple(legs), {("HoldState", op.target): new_state}
    if state["closed"] is not None:
        raise Rejected("hold_already_resolved", f"hold {op.target} is {state['closed']} already")
    if op.kind == "expire" and now < target["expires_at"]:
        raise Rejected("hold_not_expired", f"hold {op.target} expires at {target['expires_at'].isoformat()}")
    closed = "voided" if op.kind == "void" else "expired"
    new_state = {
        **state,
        "released": state["released"] + remaining,
        "closed": closed,
        "last_transaction_id": op.op_id,
        "updated_at": now,
    }
    return tuple(release(remaining)), {("HoldState", op.target): new_state}


def _violations(before: dict, after: dict, account: str) -> str | None:
    if not after.get("no_overdraft", account_rule(account).no_overdraft) and after.get("credit_limit") is None:
        return None
    limit = after.get("credit_limit") or 0

    def available(s):
        return AccountBalance(account, s["currency"], *(s[t] for t in TOTALS)).available

    if available(after) < -limit and available(after) < available(before):
        return f"{account} ({after['currency']}) would have {available(after)} available; limit is -{limit}"
    return None


def entries_of(record: dict) -> list[dict]:
    """A transaction's entries (stored inside its record: one entity per posting, not one per leg)."""
    return json.loads(record["entries"])


def reads_for(op: Operation, salt: int = 0) -> list[tuple[str, str]]:
    """Every record apply() will read that is known before reading anything: one round trip."""
    pairs = [("JournalTransaction", op.op_id), ("ChainHead", chain_for(op, salt))]
    if op.target:
        pairs += [("JournalTransaction", op.target), ("HoldState", op.target), ("Reversal", op.target)]
    pairs += [("Account", e.account_key) for e in entries_for(op.op_id, op.legs, salt)]
    return pairs


def recorded_after(now: datetime, earlier: list[datetime | None]) -> datetime:
    """The recorded time of a posting: `now`, or 1 µs after the latest recorded time of its chain head
    and of the account shards it touches when a clock (another instance's, or this one within one
    microsecond) is behind them. So recorded time never goes back along a chain or an account: the
    chain's rows recorded before an instant are a prefix of it (a statement's anchoring head,
    shared.domain.statement_proof), and an account's versions and recorded times sort alike."""
    latest = max((t for t in earlier if t is not None), default=None)
    return now if latest is None or now > latest else latest + timedelta(microseconds=1)


def apply(op: Operation, tx: Tx, now: datetime, salt: int = 0) -> Result:
    """Apply one operation inside the caller's store transaction. Raises Rejected or Conflict (and
    the caller's transaction then writes nothing); returns `replayed` for a repeat of the same op."""
    tx.prefetch(reads_for(op, salt))
    existing = committed(tx, op.op_id)
    if existing is not None:
        if existing["body_hash"] != op.body_hash:
            raise Conflict(
                f"transaction {op.op_id} exists with a different body "
                f"(stored {existing['body_hash'][:12]}, incoming {op.body_hash[:12]})"
            )
        return Result("replayed", op.op_id, record=existing)
    legs, links = _legs_of(op, tx, now)
    entries = entries_for(op.op_id, legs, salt)
    problems = unbalanced(entries)
    if problems:
        raise InvariantViolation(f"I1: operation {op.op_id} does not balance: {problems}")
    keys = sorted({e.account_key for e in entries})
    found = tx.get_multi("Account", keys)
    accounts, before = {}, {}
    for e in entries:
        if e.account_key in accounts:
            continue
        state = found.get(e.account_key) or {
            "account": e.account,
            "currency": e.currency,
            "shard": e.shard,
            "type": account_type(e.account),
            **dict.fromkeys(TOTALS, 0),
            "version": 0,
            "no_overdraft": account_rule(e.account).no_overdraft,
            "credit_limit": None,
            "metadata": "{}",  # JSON object, free-form (set by operators / the API)
            "created_at": now,
        }
        accounts[e.account_key] = dict(state)
        before[e.account_key] = dict(state)
    entry_records = []
    for e in entries:
        state = accounts[e.account_key]
        add_entry(state, e)
        entry_records.append(
            {
                "index": e.index,
                "account": e.account,
                "currency": e.currency,
                "shard": e.shard,
                "direction": e.direction,
                "amount": e.amount,
                "phase": e.phase,
                "account_version": state["version"],
                "resulting": [state[t] for t in TOTALS],
            }
        )
    if op.enforce_constraints:
        for key, state in accounts.items():
            reason = _violations(before[key], state, state["account"])
            if reason:
                raise Rejected("insufficient_funds", reason)  # I6
    chain_id = chain_for(op, salt)
    head = tx.get("ChainHead", chain_id) or {"seq": 0, "hash": GENESIS}
    head_time = head.get("recorded_at")
    if head_time is None and head.get("transaction_id"):  # a head written before heads kept their time
        last = tx.get("JournalTransaction", head["transaction_id"])
        head_time = last["recorded_at"] if last else None
    now = recorded_after(now, [head_time, *(found[k].get("updated_at") for k in found)])
    record = {
        "transaction_id": op.op_id,
        "ledger": op.ledger,
        "kind": op.kind,
        "rule": op.rule,
        "event_id": op.event_id,
        "partner": op.partner,
        "body_hash": op.body_hash,
        "effective_at": op.effective_at,
        "recorded_at": now,
        "target": op.target,
        "entry_count": len(entries),
        "accounts": sorted({e.account for e in entries}),  # indexed: entries of an account
        "entries": json.dumps(entry_records, separators=(",", ":")),
        "expires_at": op.expires_at,
        "chain_id": chain_id,
        "seq": head["seq"] + 1,
        "prev_hash": head["hash"],
    }
    record["content_hash"] = content_hash(record, entry_records)
    record["hash"] = link_hash(head["hash"], record["content_hash"])
    for key, state in accounts.items():
        state["updated_at"] = now
        tx.put("Account", key, state)
    tx.put("JournalTransaction", op.op_id, record, unindexed=("entries",))
    tx.put(
        "ChainHead",
        chain_id,
        {"seq": record["seq"], "hash": record["hash"], "transaction_id": op.op_id, "recorded_at": now},
    )
    for (kind, name), data in links.items():
        tx.put(kind, name, data)
    return Result("posted", op.op_id, record=record)
