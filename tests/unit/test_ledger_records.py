"""The ledger store's typed reads over the memory store (the same checks run over Datastore in
tests/integration/test_ledger_records.py), and the row codec both adapters read through."""

from datetime import UTC, datetime

import pytest

from shared.adapters import ledger_rows
from shared.adapters.memory_store import MemoryStore
from tests import ledger_records


@pytest.mark.parametrize("check", ledger_records.CHECKS, ids=lambda c: c.__name__)
def test_typed_reads_over_the_memory_store(check):
    check(MemoryStore(), "mem")


def test_naive_stored_datetimes_read_as_utc():
    naive = datetime(2026, 1, 2, 3, 4, 5)
    row = {
        "kind": "hold",
        "rule": "r.v1",
        "effective_at": naive,
        "recorded_at": naive,
        "expires_at": naive,
        "accounts": ["suspense"],
        "entries": "[]",
    }
    t = ledger_rows.transaction("txn_1", row)
    assert t.effective_at == t.recorded_at == t.expires_at == naive.replace(tzinfo=UTC)
    assert (t.event_id, t.target, t.body_hash, t.accounts, t.entries) == (None, None, "", ("suspense",), ())
    assert ledger_rows.hold_state("h", {"updated_at": naive, "closed": "voided"}).updated_at.tzinfo is UTC
    shard = ledger_rows.account_shard("suspense|USD|3", {"account": "suspense", "currency": "USD", "shard": 3})
    assert (shard.debits_posted, shard.version, shard.no_overdraft, shard.created_at) == (0, 0, None, None)


def test_the_memory_store_returns_records_that_do_not_share_its_rows():
    store = MemoryStore()
    ledger_records.check_a_posting_reads_back_as_the_engine_wrote_it(store, "own")
    (name,) = [n for n in store.data["JournalTransaction"] if n.startswith("txn_own_")]
    before = store.transaction(name)
    store.data["JournalTransaction"][name]["accounts"].append("suspense")
    assert before.accounts != store.transaction(name).accounts
