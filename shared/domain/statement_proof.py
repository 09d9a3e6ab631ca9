"""Provable statements (pure: sha256 and JSON, no I/O): the digest a statement carries and the check of a
statement file against the ledger's entries as streamed to BigQuery (the `entries` table), outside
Datastore. The algorithm, for an auditor who runs it without our code, is docs/api.md "Provable
statements"; this module is its reference implementation (`ledgerline verify-statement FILE`).

canonical(x) = JSON of x with sorted keys, no spaces, ASCII (json.dumps(x, sort_keys=True,
separators=(",", ":"))); H(x) = hex SHA-256 of canonical(x) in UTF-8.

Per currency section (strings exactly as the statement prints them):
    h0 = H(["ledgerline.statement.v1", ledger_account, currency, clock, start, end, opening_version,
            opening.posted, opening.pending_in, opening.pending_out])
    hi = H([h(i-1), id, transaction, direction, phase, amount, account_version, effective_at, recorded_at])
    section = H([hn, closing_version, closing.posted, closing.pending_in, closing.pending_out, entry_count])
statement digest = H(["ledgerline.statement.v2", ledger_account, period, start, end, clock,
                      [[currency, section] for each section in the statement's order],
                      null, or [chain.before, [[chain_id, seq, hash] for each head in the proof's order]]])

The digest commits to every entry, their order, the balances and the chain heads, and not to
generated_at: two statements of the same settled period on the same clock have the same digest.

The chain (recorded clock, once the period has settled): the head of each of the ledger's hash chains
at the closing instant (its last transaction recorded before `end`; recorded time rises along a chain,
so the chain's transactions before `end` are exactly those up to the head). Each transaction's row in
BigQuery `transactions` carries its chain position, the previous hash, its content hash (over that row
and the transaction's `entries` rows) and its hash = H(previous hash, content hash)
(shared.domain.ledger.chain.link_hash). The verifier recomputes both hashes of every transaction the
statement lists, walks each chain from those transactions to the head checking every link's hash (no
content needed), and checks that the heads are every chain's last row before `end`: the statement's
entries are then provably those of the ledger whose heads are anchored in BigQuery."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shared.domain.ledger.chain import GENESIS, chain_hash, chains_of, content_hash, link_hash

VERSION = "ledgerline.statement.v2"
ANCHOR = "bigquery:entries+transactions"
FIGURES = ("posted", "pending_in", "pending_out")
# How long after its end a period is anchored to the chain: longer than a Datastore transaction can stay
# open (270 s), so no posting recorded before the end can still commit after the heads are read.
SETTLE = timedelta(minutes=5)


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def h(value) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def section_digest(ledger_account: str, statement: dict, section: dict, opening_version, closing_version) -> str:
    head = h(
        [VERSION, ledger_account, section["currency"], statement["clock"], statement["start"], statement["end"],
         opening_version, *(section["opening"][f] for f in FIGURES)]
    )  # fmt: skip
    for e in section["entries"]:
        head = h(
            [head, e["id"], e["transaction"], e["direction"], e["phase"], e["amount"], e["account_version"],
             e["effective_at"], e["recorded_at"]]
        )  # fmt: skip
    return h([head, closing_version, *(section["closing"][f] for f in FIGURES), len(section["entries"])])


def chain_commitment(chain: dict | None) -> list | None:
    if chain is None:
        return None
    return [chain["before"], [[head["chain_id"], head["seq"], head["hash"]] for head in chain["heads"]]]


def statement_digest(ledger_account: str, statement: dict, sections: list[tuple[str, str]], chain: dict | None) -> str:
    return h(
        [VERSION, ledger_account, statement["period"], statement["start"], statement["end"], statement["clock"],
         [list(s) for s in sections], chain_commitment(chain)]
    )  # fmt: skip


def head_of(chain_id: str, transaction) -> dict:
    """A chain's head as the proof names it, from its last transaction then (None: still at genesis)."""
    if transaction is None:
        return {"chain_id": chain_id, "seq": 0, "hash": GENESIS, "transaction": None}
    return {"chain_id": chain_id, "seq": transaction.seq, "hash": transaction.hash, "transaction": transaction.id}


def prove(
    statement: dict,
    ledger_account: str,
    versions: dict[str, tuple[int | None, int | None]],
    chain: dict | None = None,
) -> dict:
    """The statement's `proof` object; `versions`: currency -> (opening_version, closing_version);
    `chain`: {"before": the statement's end, "heads": [head_of(...) per chain]} or None (not anchored)."""
    sections = []
    for section in statement["currencies"]:
        opening_version, closing_version = versions.get(section["currency"], (None, None))
        digest = section_digest(ledger_account, statement, section, opening_version, closing_version)
        sections.append(
            {
                "currency": section["currency"],
                "opening_version": opening_version,
                "closing_version": closing_version,
                "digest": digest,
            }
        )
    return {
        "version": VERSION,
        "ledger_account": ledger_account,
        "anchor": ANCHOR,
        "digest": statement_digest(ledger_account, statement, [(s["currency"], s["digest"]) for s in sections], chain),
        "sections": sections,
        "chain": chain,
    }


# ----------------------------------------------------------------------------- verification


def moment(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _fold(totals: dict[str, int], row: dict) -> None:
    side = "debits" if row["direction"] == "debit" else "credits"
    amount = int(row["amount"])
    if row["phase"] == "posted":
        totals[f"{side}_posted"] += amount
    elif row["phase"] == "pending":
        totals[f"{side}_pending"] += amount
    else:
        totals[f"{side}_pending"] -= amount


def _figures(totals: dict[str, int]) -> dict[str, int]:
    """A customer wallet's figures (a liability: credits are its normal side)."""
    return {
        "posted": totals["credits_posted"] - totals["debits_posted"],
        "pending_in": totals["credits_pending"],
        "pending_out": totals["debits_pending"],
    }


def _empty() -> dict[str, int]:
    return dict.fromkeys(("debits_posted", "credits_posted", "debits_pending", "credits_pending"), 0)


def verify(
    statement: dict,
    rows: Iterable[dict],
    chain_rows: Iterable[dict] | None = None,
    legs: Iterable[dict] | None = None,
    latest: dict[str, int] | None = None,
) -> list[dict]:
    """Problems of a statement file against the anchored rows of its account (BigQuery `entries`, any
    superset: other accounts' rows are ignored) and, when the proof names chain heads, against the
    chain (`chain_rows`: BigQuery `transactions` rows; `legs`: the `entries` rows of the statement's
    transactions, every account's, which their hashes cover). Empty: complete and unaltered."""
    problems: list[dict] = []
    proof = statement.get("proof") or {}
    account = proof.get("ledger_account")
    if proof.get("version") != VERSION or not account:
        return [{"check": "proof_missing", "detail": "no proof of a known version"}]
    if proof.get("chain") is not None:
        if chain_rows is None or legs is None:
            problems.append({"check": "chain_unchecked", "detail": "the chain's rows were not given"})
        else:
            problems += verify_chain(statement, proof["chain"], chain_rows, legs, latest)
    versions = {}
    recomputed = []
    for section, claimed in zip(statement.get("currencies", []), proof.get("sections", []), strict=False):
        if claimed.get("currency") != section.get("currency"):
            problems.append({"check": "digest", "currency": section.get("currency"), "detail": "sections differ"})
            continue
        versions[section["currency"]] = (claimed.get("opening_version"), claimed.get("closing_version"))
        digest = section_digest(account, statement, section, *versions[section["currency"]])
        recomputed.append((section["currency"], digest))
        if digest != claimed.get("digest"):
            problems.append({"check": "digest", "currency": section["currency"], "detail": "the section was altered"})
    if len(statement.get("currencies", [])) != len(proof.get("sections", [])):
        problems.append({"check": "digest", "detail": "sections and proof differ in number"})
    if statement_digest(account, statement, recomputed, proof.get("chain")) != proof.get("digest"):
        problems.append({"check": "digest", "detail": "the statement digest does not match"})

    # the anchor: the account's rows, once each
    anchored: dict[str, dict] = {}
    for row in rows:
        if row.get("account") != account:
            continue
        seen = anchored.get(row["entry_id"])
        if seen is not None and _key(seen) != _key(row):
            problems.append({"check": "anchor_conflict", "entry": row["entry_id"]})
        anchored[row["entry_id"]] = row
    start, end, clock = moment(statement["start"]), moment(statement["end"]), statement["clock"]
    at = "posted_at" if clock == "recorded" else "effective_at"
    listed = {s["currency"] for s in statement.get("currencies", [])}
    expected_currencies = {
        r["currency"] for r in anchored.values() if moment(r[at]) < end
    }  # a balance or an entry by the end
    if statement.get("currency") is None:  # not one currency only: every currency of the account is there
        for code in sorted(expected_currencies - listed):
            problems.append({"check": "currency_missing", "currency": code})
    for section in statement.get("currencies", []):
        code = section["currency"]
        mine = sorted((r for r in anchored.values() if r["currency"] == code), key=lambda r: int(r["account_version"]))
        numbers = [int(r["account_version"]) for r in mine]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append({"check": "anchor_gap", "currency": code, "detail": "BigQuery lacks some of the entries"})
        opening, closing = _empty(), _empty()
        inside = []
        for r in mine:
            when = moment(r[at])
            if when < start:
                _fold(opening, r)
            if when < end:
                _fold(closing, r)
            if start <= when < end:
                inside.append(r)
        order = (
            (lambda r: (moment(r["posted_at"]), r["transaction_id"], int(r["entry_id"].rpartition(":")[2])))
            if clock == "recorded"
            else (
                lambda r: (
                    moment(r["effective_at"]), moment(r["posted_at"]), r["transaction_id"],
                    int(r["entry_id"].rpartition(":")[2]),
                )
            )
        )  # fmt: skip
        inside.sort(key=order)
        expected_ids = [r["entry_id"] for r in inside]
        got_ids = [e["id"] for e in section["entries"]]
        for entry_id in sorted(set(expected_ids) - set(got_ids)):
            problems.append({"check": "entry_missing", "currency": code, "entry": entry_id})
        for entry_id in sorted(set(got_ids) - set(expected_ids)):
            problems.append({"check": "entry_unknown", "currency": code, "entry": entry_id})
        common = [i for i in got_ids if i in set(expected_ids)]
        if common != [i for i in expected_ids if i in set(got_ids)]:
            problems.append({"check": "entry_order", "currency": code})
        by_id = {r["entry_id"]: r for r in inside}
        for e in section["entries"]:
            r = by_id.get(e["id"])
            if r is not None and _key(r) != _entry_key(e):
                problems.append({"check": "entry_altered", "currency": code, "entry": e["id"]})
        if {k: section["opening"][k] for k in FIGURES} != _figures(opening):
            problems.append({"check": "opening_balance", "currency": code, "anchored": _figures(opening)})
        if {k: section["closing"][k] for k in FIGURES} != _figures(closing):
            problems.append({"check": "closing_balance", "currency": code, "anchored": _figures(closing)})
        if clock == "recorded":
            opening_version, closing_version = versions.get(code, (None, None))
            before = [int(r["account_version"]) for r in mine if moment(r["posted_at"]) < start]
            by_end = [int(r["account_version"]) for r in mine if moment(r["posted_at"]) < end]
            if opening_version != (max(before) if before else 0) or closing_version != (max(by_end) if by_end else 0):
                problems.append({"check": "versions", "currency": code, "detail": "opening/closing version"})
            if [e["account_version"] for e in section["entries"]] != list(
                range((opening_version or 0) + 1, (closing_version or 0) + 1)
            ):
                problems.append({"check": "versions", "currency": code, "detail": "entries are not contiguous"})
    return problems


def _key(row: dict) -> tuple:
    return (
        row["transaction_id"],
        row["direction"],
        row["phase"],
        int(row["amount"]),
        int(row["account_version"]),
        moment(row["effective_at"]),
        moment(row["posted_at"]),
    )


def _entry_key(e: dict) -> tuple:
    return (
        e["transaction"],
        e["direction"],
        e["phase"],
        int(e["amount"]),
        int(e["account_version"]),
        moment(e["effective_at"]),
        moment(e["recorded_at"]),
    )


# ----------------------------------------------------------------------------- the chain


def listed_transactions(statement: dict) -> list[str]:
    """The transactions the statement's entries belong to, once each, in order of first appearance."""
    return list(dict.fromkeys(e["transaction"] for c in statement.get("currencies", []) for e in c["entries"]))


def _recomputed(row: dict, legs: list[dict]) -> bool:
    """A `transactions` row's hash recomputed from its fields and its `entries` rows (index order): the
    linked form (content_hash, then the link) or, for a row without content_hash, the first form."""
    record = {
        "seq": int(row["seq"]),
        "transaction_id": row["transaction_id"],
        "kind": row["kind"],
        "rule": row["rule"],
        "event_id": row.get("event_id"),
        "body_hash": row["body_hash"],
        "effective_at": moment(row["effective_at"]),
        "recorded_at": moment(row["recorded_at"]),
        "expires_at": moment(row["expires_at"]) if row.get("expires_at") else None,
        "partner": row.get("partner"),
        "ledger": row["ledger"],
        "target": row.get("target"),
    }
    entries = [
        {
            "account": e["account"],
            "currency": e["currency"],
            "shard": int(e["shard"]),
            "direction": e["direction"],
            "amount": int(e["amount"]),
            "phase": e["phase"],
        }
        for e in sorted(legs, key=lambda e: int(e["entry_id"].rpartition(":")[2]))
    ]
    if row.get("content_hash") is None:
        return chain_hash(row["prev_hash"], record, entries) == row["hash"]
    content = content_hash(record, entries)
    return content == row["content_hash"] and link_hash(row["prev_hash"], content) == row["hash"]


def _linked(row: dict, prev: dict | None) -> bool:
    """One link of a walk: the row follows `prev`, and (linked form) its hash is H(prev_hash, content_hash)
    — no content needed. A first-form row's own hash needs its content: only its pointer is checked."""
    if prev is None or row["prev_hash"] != prev["hash"]:
        return False
    return row.get("content_hash") is None or link_hash(row["prev_hash"], row["content_hash"]) == row["hash"]


def latest_before(chain_rows: Iterable[dict], before: datetime) -> dict[str, int]:
    """Each chain's last seq recorded before `before`, from rows that hold every row before it."""
    latest: dict[str, int] = {}
    for row in chain_rows:
        if moment(row["recorded_at"]) < before:
            latest[row["chain_id"]] = max(latest.get(row["chain_id"], 0), int(row["seq"]))
    return latest


def verify_chain(
    statement: dict,
    chain: dict,
    chain_rows: Iterable[dict],
    legs: Iterable[dict],
    latest: dict[str, int] | None = None,
) -> list[dict]:
    """The statement's link to the ledger's hash chain (module docstring): its heads are every chain of
    the ledger, anchored, and the chains' last rows before `end` (`latest`: each chain's last seq
    recorded before `end`, from BigQuery; None: computed from `chain_rows`, which must then hold every
    row before `end`); every listed transaction's hash recomputes from its rows and is linked to its
    chain's head. A proof of the wrong shape is `chain_malformed`, never an exception."""
    try:
        return _verify_chain(statement, chain, list(chain_rows), list(legs), latest)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return [{"check": "chain_malformed", "detail": f"{type(exc).__name__}: {exc}"[:200]}]


def _verify_chain(statement, chain, chain_rows, legs, latest) -> list[dict]:
    problems: list[dict] = []
    before = moment(chain["before"])
    if before != moment(statement["end"]):
        problems.append({"check": "chain_instant", "detail": "the heads are not those at the statement's end"})
    heads = {head["chain_id"]: head for head in chain["heads"]}
    names = [head["chain_id"] for head in chain["heads"]]
    if not names or names != chains_of(names[0].rpartition("#")[0]):
        problems.append({"check": "chain_heads", "detail": "not every chain of the ledger once, in order"})
    by_position: dict[tuple[str, int], dict] = {}
    by_id: dict[str, dict] = {}
    for row in chain_rows:
        position = (row["chain_id"], int(row["seq"]))
        seen = by_position.get(position)
        if seen is not None and (seen["transaction_id"], seen["hash"]) != (row["transaction_id"], row["hash"]):
            problems.append({"check": "chain_conflict", "chain": position[0], "seq": position[1]})
        by_position[position] = row
        by_id[row["transaction_id"]] = row
    latest = latest_before(chain_rows, before) if latest is None else latest
    for chain_id, head in heads.items():
        seq = int(head["seq"])
        if seq == 0:
            anchored = head["hash"] == GENESIS and head.get("transaction") is None
        else:
            row = by_position.get((chain_id, seq))
            anchored = (
                row is not None
                and (row["hash"], row["transaction_id"]) == (head["hash"], head.get("transaction"))
                and moment(row["recorded_at"]) < before
            )
        if not anchored:
            problems.append({"check": "head_unanchored", "chain": chain_id, "seq": seq})
        if latest.get(chain_id, 0) > seq:
            problems.append({"check": "head_not_last", "chain": chain_id, "seq": seq, "last": latest[chain_id]})
    for chain_id in sorted(set(latest) - set(heads)):
        problems.append({"check": "head_not_last", "chain": chain_id, "seq": None, "last": latest[chain_id]})
    by_transaction: dict[str, dict[str, dict]] = {}
    for leg in legs:
        by_transaction.setdefault(leg["transaction_id"], {})[leg["entry_id"]] = leg
    claimed = {e["transaction"]: e for c in statement.get("currencies", []) for e in c["entries"]}
    lowest: dict[str, int] = {}
    for transaction in listed_transactions(statement):
        row = by_id.get(transaction)
        head = heads.get(row["chain_id"]) if row is not None else None
        if row is None or head is None or int(row["seq"]) > int(head["seq"]):
            problems.append({"check": "transaction_unanchored", "transaction": transaction})
            continue
        mine = list(by_transaction.get(transaction, {}).values())
        if len(mine) != int(row["entry_count"]) or not _recomputed(row, mine):
            problems.append({"check": "transaction_hash", "transaction": transaction})
        entry = claimed[transaction]  # the entry's times are the hashed transaction's
        if (moment(entry["recorded_at"]), moment(entry["effective_at"])) != (
            moment(row["recorded_at"]),
            moment(row["effective_at"]),
        ):
            problems.append({"check": "transaction_times", "transaction": transaction})
        lowest[row["chain_id"]] = min(lowest.get(row["chain_id"], int(row["seq"])), int(row["seq"]))
    for chain_id, first in sorted(lowest.items()):
        for seq in range(first + 1, int(heads[chain_id]["seq"]) + 1):
            row = by_position.get((chain_id, seq))
            if row is None or not _linked(row, by_position.get((chain_id, seq - 1))):
                problems.append({"check": "chain_link", "chain": chain_id, "seq": seq})
                break
    return problems
