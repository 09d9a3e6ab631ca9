"""The model-based ledger test (tests/unit/test_ledger_model.py) against the Datastore emulator, with
bounded examples. Each example gets its own Datastore namespace: a fresh, isolated ledger."""

import uuid

from google.cloud import datastore
from hypothesis import HealthCheck, settings

from shared.adapters.datastore_store import DatastoreLedger
from shared.config import settings as ledgerline_settings
from tests.unit.test_ledger_model import LedgerModel


class DatastoreLedgerModel(LedgerModel):
    def make_store(self):
        cfg = ledgerline_settings()
        return DatastoreLedger(datastore.Client(project=cfg.project, namespace=f"model-{uuid.uuid4().hex[:12]}"))


TestDatastoreLedgerModel = DatastoreLedgerModel.TestCase
TestDatastoreLedgerModel.settings = settings(
    max_examples=8, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
