"""The tamper-evidence hash chain (I7): each transaction's hash covers its content and the previous hash
of its chain shard. Sharded like the hot accounts (CHAIN_SHARDS), so one head is not a hot spot."""

from __future__ import annotations

import hashlib
import json

from shared.domain.ledger.ids import micros
from shared.domain.ledger.model import Operation

CHAIN_SHARDS = 32


def _content(record: dict, entries: list[dict]) -> dict:
    return {
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


def _sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def chain_hash(prev_hash: str, record: dict, entries: list[dict]) -> str:
    """I7, the first form (transactions without `content_hash`): one hash over the predecessor's hash
    and the content. Checking a link needs the whole content of the transaction."""
    return _sha256({"prev": prev_hash, **_content(record, entries)})


def content_hash(record: dict, entries: list[dict]) -> str:
    """I7, the linked form: the hash of a transaction's content alone (every leg included)."""
    return _sha256({"v": 2, **_content(record, entries)})


def link_hash(prev_hash: str, content: str) -> str:
    """I7, the linked form: a transaction's hash = H(predecessor's hash, its content hash). Anyone holding
    the chain's rows (seq, prev_hash, content_hash, hash) checks every link from a transaction to a head
    without its content: rewriting one transaction changes every hash after it, up to the head."""
    return _sha256(["ledgerline.chain.v2", prev_hash, content])


def hash_of(prev_hash: str, record: dict, entries: list[dict]) -> str:
    """The hash a stored transaction must have: the linked form when it carries `content_hash`."""
    if record.get("content_hash") is None:
        return chain_hash(prev_hash, record, entries)
    return link_hash(prev_hash, content_hash(record, entries))


GENESIS = "0" * 64


def chain_for(op: Operation, salt: int) -> str:
    return f"{op.ledger}#{salt % CHAIN_SHARDS}"


def chains_of(ledger: str) -> list[str]:
    """Every chain of a ledger, in shard order."""
    return [f"{ledger}#{n}" for n in range(CHAIN_SHARDS)]
