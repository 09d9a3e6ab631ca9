"""The ledger store's typed reads on the real Datastore emulator: the checks the unit tests run over
the memory store (tests/ledger_records.py), so both adapters answer alike. Each check gets a Datastore
namespace of its own: it starts from empty books (its chain sequence starts at 1) and leaves nothing
behind that the stack's own checks (`verify`) would then see as unstreamed entries."""

import uuid

import pytest
from google.cloud import datastore

from shared.adapters import datastore_store
from tests import ledger_records


@pytest.mark.parametrize("check", ledger_records.CHECKS, ids=lambda c: c.__name__)
def test_typed_reads_over_datastore(cfg, check):
    tag = uuid.uuid4().hex[:10]
    db = datastore.Client(project=cfg.project, namespace=f"records-{tag}")
    check(datastore_store.DatastoreLedger(db), tag)
