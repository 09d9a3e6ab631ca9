"""The tamper-evidence hash chain (I7): each transaction's hash covers its content and the previous hash
of its chain shard. Sharded like the hot accounts (CHAIN_SHARDS), so one head is not a hot spot."""

from __future__ import annotations

import hashlib
import json

from shared.domain.ledger.ids import micros
from shared.domain.ledger.model import Operation

CHAIN_SHARDS = 32


def chain_hash(prev_hash: str, record: dict, entries: list[dict]) -> str:
    """I7: what each transaction's hash commits to (its content and its predecessor)."""
    content = {
        "prev": prev_hash,
        "seq": record["seq"],
        "id": record["transaction_id"],
        "kind": record["kind"],
        "rule": record["rule"],
        "event_id": record["event_id"],
        "body_hash": record["body_hash"],
        "effective_us": micros(record["effective_at"]),
        "recorded_us": micros(record["recorded_at"]),
        "expires_us": micros(record["expires_at"]) if record.get("expires_at") else None,
        "partner": record["partner"],
        "ledger": record["ledger"],
        "target": record.get("target"),
        "entries": [
            [e["account"], e["currency"], e["shard"], e["direction"], e["amount"], e["phase"]] for e in entries
        ],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


GENESIS = "0" * 64


def chain_for(op: Operation, salt: int) -> str:
    return f"{op.ledger}#{salt % CHAIN_SHARDS}"


def chains_of(ledger: str) -> list[str]:
    """Every chain of a ledger, in shard order."""
    return [f"{ledger}#{n}" for n in range(CHAIN_SHARDS)]
