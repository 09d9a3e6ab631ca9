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
statement digest = H(["ledgerline.statement.v1", ledger_account, period, start, end, clock,
                      [[currency, section] for each section in the statement's order]])

The digest commits to every entry, their order and the balances, and not to generated_at: two
statements of the same ended period on the same clock have the same digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

VERSION = "ledgerline.statement.v1"
FIGURES = ("posted", "pending_in", "pending_out")


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


def statement_digest(ledger_account: str, statement: dict, sections: list[tuple[str, str]]) -> str:
    return h(
        [VERSION, ledger_account, statement["period"], statement["start"], statement["end"], statement["clock"],
         [list(s) for s in sections]]
    )  # fmt: skip


def prove(statement: dict, ledger_account: str, versions: dict[str, tuple[int | None, int | None]]) -> dict:
    """The statement's `proof` object; `versions`: currency -> (opening_version, closing_version)."""
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
        "anchor": "bigquery:entries",
        "digest": statement_digest(ledger_account, statement, [(s["currency"], s["digest"]) for s in sections]),
        "sections": sections,
    }


# ----------------------------------------------------------------------------- verification


def _moment(value) -> datetime:
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


def verify(statement: dict, rows: Iterable[dict]) -> list[dict]:
    """Problems of a statement file against the anchored rows of its account (BigQuery `entries`, any
    superset: other accounts' rows are ignored). Empty: the statement is complete and unaltered."""
    problems: list[dict] = []
    proof = statement.get("proof") or {}
    account = proof.get("ledger_account")
    if proof.get("version") != VERSION or not account:
        return [{"check": "proof_missing", "detail": "no proof of a known version"}]
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
    if statement_digest(account, statement, recomputed) != proof.get("digest"):
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
    start, end, clock = _moment(statement["start"]), _moment(statement["end"]), statement["clock"]
    at = "posted_at" if clock == "recorded" else "effective_at"
    listed = {s["currency"] for s in statement.get("currencies", [])}
    expected_currencies = {
        r["currency"] for r in anchored.values() if _moment(r[at]) < end
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
            moment = _moment(r[at])
            if moment < start:
                _fold(opening, r)
            if moment < end:
                _fold(closing, r)
            if start <= moment < end:
                inside.append(r)
        order = (
            (lambda r: (_moment(r["posted_at"]), r["transaction_id"], int(r["entry_id"].rpartition(":")[2])))
            if clock == "recorded"
            else (
                lambda r: (
                    _moment(r["effective_at"]), _moment(r["posted_at"]), r["transaction_id"],
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
            before = [int(r["account_version"]) for r in mine if _moment(r["posted_at"]) < start]
            by_end = [int(r["account_version"]) for r in mine if _moment(r["posted_at"]) < end]
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
        _moment(row["effective_at"]),
        _moment(row["posted_at"]),
    )


def _entry_key(e: dict) -> tuple:
    return (
        e["transaction"],
        e["direction"],
        e["phase"],
        int(e["amount"]),
        int(e["account_version"]),
        _moment(e["effective_at"]),
        _moment(e["recorded_at"]),
    )
