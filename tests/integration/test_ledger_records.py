"""The ledger store's typed reads on the real Datastore emulator: the checks the unit tests run over
the memory store (tests/ledger_records.py), so both adapters answer alike."""

import uuid

import pytest

from shared.adapters import datastore_store
from tests import ledger_records


@pytest.mark.parametrize("check", ledger_records.CHECKS, ids=lambda c: c.__name__)
def test_typed_reads_over_datastore(db, check):
    check(datastore_store.DatastoreLedger(db), uuid.uuid4().hex[:10])
