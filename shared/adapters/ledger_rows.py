"""The ledger's row layout, read as the store port's records (shared.ledger.store): one codec for both
adapters (Datastore and memory store the same rows). Kinds and properties (existing records read as-is;
the engine, shared.domain.ledger.engine.apply, writes them):

JournalTransaction  key = transaction id   transaction_id, ledger, kind, rule, event_id, partner, body_hash,
                    effective_at, recorded_at, target, entry_count, accounts (list, indexed), entries (JSON
                    text: index, account, currency, shard, direction, amount, phase, account_version,
                    resulting), expires_at, chain_id, seq, prev_hash, hash, content_hash
Account             key = "<account>|<currency>|<shard>"   account, currency, shard, type, the four totals,
                    version, no_overdraft, credit_limit, metadata (JSON text), created_at, updated_at
HoldState           key = the hold's transaction id   captured, released, closed, last_transaction_id, updated_at
Outbox              key = the commit's first transaction id   transactions (list, indexed), recorded_at,
                    quarantined, error (shared.ledger.transactions.with_outbox writes it)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from shared.ledger.store import AccountShard, HoldState, OutboxRecord, StoredEntry, StoredTransaction, aware

TRANSACTION, ACCOUNT, HOLD_STATE, OUTBOX = "JournalTransaction", "Account", "HoldState", "Outbox"


def _aware_if_set(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def transaction(name: str, row: dict) -> StoredTransaction:
    """The record of a JournalTransaction row."""
    return StoredTransaction(
        id=name,
        kind=row["kind"],
        rule=row["rule"],
        event_id=row.get("event_id"),
        partner=row.get("partner"),
        effective_at=aware(row["effective_at"]),
        recorded_at=aware(row["recorded_at"]),
        accounts=tuple(row.get("accounts") or ()),
        entries=tuple(_entry(e) for e in json.loads(row["entries"])),
        body_hash=row.get("body_hash", ""),
        ledger=row.get("ledger"),
        target=row.get("target"),
        expires_at=_aware_if_set(row.get("expires_at")),
        chain_id=row.get("chain_id"),
        seq=row.get("seq"),
        prev_hash=row.get("prev_hash"),
        hash=row.get("hash"),
        content_hash=row.get("content_hash"),
    )


def _entry(e: dict) -> StoredEntry:
    return StoredEntry(
        index=e["index"],
        account=e["account"],
        currency=e["currency"],
        shard=e["shard"],
        direction=e["direction"],
        phase=e["phase"],
        amount=e["amount"],
        account_version=e["account_version"],
        resulting=tuple(e["resulting"]),
    )


def account_shard(name: str, row: dict) -> AccountShard:
    """The record of an Account row (totals a row lacks are 0)."""
    return AccountShard(
        key=name,
        account=row["account"],
        currency=row["currency"],
        shard=row.get("shard", 0),
        type=row.get("type", ""),
        debits_posted=row.get("debits_posted", 0),
        credits_posted=row.get("credits_posted", 0),
        debits_pending=row.get("debits_pending", 0),
        credits_pending=row.get("credits_pending", 0),
        version=row.get("version", 0),
        no_overdraft=row.get("no_overdraft"),
        credit_limit=row.get("credit_limit"),
        metadata=row.get("metadata") or "{}",
        created_at=_aware_if_set(row.get("created_at")),
        updated_at=_aware_if_set(row.get("updated_at")),
    )


def hold_state(name: str, row: dict | None) -> HoldState:
    """The record of a HoldState row; no row: the hold is open and untouched."""
    if row is None:
        return HoldState(name)
    return HoldState(
        hold=name,
        captured=row.get("captured", 0),
        released=row.get("released", 0),
        closed=row.get("closed"),
        last_transaction_id=row.get("last_transaction_id"),
        updated_at=_aware_if_set(row.get("updated_at")),
    )


def transactions(found: dict[str, dict]) -> list[StoredTransaction]:
    """The records of JournalTransaction rows by name, in name order."""
    return [transaction(name, row) for name, row in sorted(found.items())]


def account_shards(found: dict[str, dict]) -> list[AccountShard]:
    """The records of Account rows by name, in name order."""
    return [account_shard(name, row) for name, row in sorted(found.items())]


def outbox(name: str, row: dict) -> OutboxRecord:
    """The record of an Outbox row."""
    return OutboxRecord(
        id=name,
        transactions=tuple(row["transactions"]),
        recorded_at=_aware_if_set(row.get("recorded_at")),
        quarantined=bool(row.get("quarantined")),
        error=row.get("error"),
        entries_streamed=bool(row.get("entries_streamed")),
    )


def outboxes(found: dict[str, dict]) -> list[OutboxRecord]:
    """The records of Outbox rows by name, in name order."""
    return [outbox(name, row) for name, row in sorted(found.items())]


def outbox_row(record: OutboxRecord) -> dict:
    """The Outbox row of a record (as written in the commit, plus the quarantine mark when set)."""
    row = {"transactions": list(record.transactions), "recorded_at": record.recorded_at}
    if record.quarantined:
        row.update(quarantined=True, error=record.error)
    if record.entries_streamed:
        row["entries_streamed"] = True
    return row


class LedgerReads:
    """The store port's typed reads (shared.ledger.store.LedgerStore) over a store's generic get / query /
    snapshot / record / delete_multi, decoded here: what both adapters answer alike. An adapter overrides
    a read it can serve better (Datastore: an ordered account read through its composite query, a hold
    and its state in one lookup)."""

    def transaction(self, transaction_id: str) -> StoredTransaction | None:
        row = self.get(TRANSACTION, transaction_id)
        return transaction(transaction_id, row) if row is not None else None

    def transactions(self, transaction_ids: Iterable[str]) -> dict[str, StoredTransaction]:
        found = self.get_multi(TRANSACTION, list(dict.fromkeys(transaction_ids)))
        return {t.id: t for t in transactions(found)}

    def transactions_of_event(self, event_id: str) -> list[StoredTransaction]:
        return self._transactions_where("event_id", event_id)

    def transactions_of_kind(self, kind: str) -> list[StoredTransaction]:
        return self._transactions_where("kind", kind)

    def account_shards(self, account: str | None = None) -> list[AccountShard]:
        found = self.query(ACCOUNT, "account", account) if account is not None else self.snapshot((ACCOUNT,))[ACCOUNT]
        return account_shards(found)

    def hold_state(self, hold: str) -> HoldState:
        return hold_state(hold, self.get(HOLD_STATE, hold))

    def hold(self, hold: str) -> tuple[StoredTransaction, HoldState] | None:
        found = self.transaction(hold)
        return (found, self.hold_state(hold)) if found is not None else None

    def _transactions_where(self, prop: str, value) -> list[StoredTransaction]:
        return transactions(self.query(TRANSACTION, prop, value))

    def outbox_record(self, outbox_id: str) -> OutboxRecord | None:
        row = self.get(OUTBOX, outbox_id)
        return outbox(outbox_id, row) if row is not None else None

    def outbox_records(self) -> list[OutboxRecord]:
        return outboxes(self.snapshot((OUTBOX,))[OUTBOX])

    def outboxes_of(self, transaction_id: str) -> list[OutboxRecord]:
        return outboxes(self.query(OUTBOX, "transactions", transaction_id))

    def quarantine_outbox(self, record: OutboxRecord, error: str) -> None:
        quarantined = replace(record, quarantined=True, error=error)
        self.record(OUTBOX, record.id, outbox_row(quarantined))

    def mark_entries_streamed(self, records: list[OutboxRecord]) -> None:
        for record in records:
            self.record(OUTBOX, record.id, outbox_row(replace(record, entries_streamed=True)))

    def delete_outbox(self, outbox_ids: list[str]) -> None:
        self.delete_multi(OUTBOX, outbox_ids)
