"""The operator audit log (pure): append-only entries — who, what, when, why, the request and its
approval, before/after, the resulting ledger transactions — each hashed with the previous entry's
hash, so an entry edited, removed or inserted afterwards breaks the chain (`verify_chain`), like the
ledger's own chain (shared.domain.ledger.chain)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    action: str
    reason: str
    target: str
    request_id: str | None = None
    approved_by: str | None = None
    before: dict | None = None
    after: dict | None = None
    transactions: tuple[str, ...] = field(default=())
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> dict:
        data = asdict(self)
        data.pop("hash")
        data["at"] = self.at.isoformat()
        data["transactions"] = list(self.transactions)
        return data


def entry_hash(entry: Entry) -> str:
    text = json.dumps(entry.body(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def append(last: Entry | tuple[int, str] | None, entry: Entry) -> Entry:
    """The entry as the next link after `last` — the previous entry, or the log's head (seq, hash) —
    its seq and prev_hash set, its hash computed."""
    if not entry.reason or not entry.reason.strip():
        raise ValueError("an audit entry has a reason")
    seq, prev = (last.seq, last.hash) if isinstance(last, Entry) else (last or (0, GENESIS))
    linked = replace(entry, seq=seq + 1, prev_hash=prev, hash="")
    return replace(linked, hash=entry_hash(linked))


def verify_chain(entries: Iterable[Entry], head: str | None = None) -> list[str]:
    """Problems of a chain given in seq order: a gap or repeat in seq, a prev_hash that is not the
    previous entry's hash, a hash that is not the entry's own; with `head` (the hash the log's head
    record holds, written with each append), a chain whose newest entries were cut off."""
    problems, prev = [], None
    for e in entries:
        want_seq = (prev.seq + 1) if prev else 1
        if e.seq != want_seq:
            problems.append(f"seq {e.seq}: expected {want_seq}")
        if e.prev_hash != (prev.hash if prev else GENESIS):
            problems.append(f"seq {e.seq}: prev_hash does not link to the entry before")
        if e.hash != entry_hash(e):
            problems.append(f"seq {e.seq}: hash does not match its content (edited)")
        prev = e
    if head is not None and (prev.hash if prev else GENESIS) != head:
        problems.append("the chain does not end at the head: entries were removed from its end")
    return problems
