"""The reports bucket the emulator bootstrap makes: versioned as in the cloud on the memory backend of
test stacks, unversioned on the dev stack's filesystem backend, which refuses versioning (fake-gcs-server
1.54: "fs storage type does not support versioning yet" — `make up` failed on it)."""

import dataclasses

import pytest

from emulators import bootstrap
from shared.adapters import gcs_reports
from shared.config import settings


class Bucket:
    def __init__(self):
        self.versioning_enabled, self.created = None, False

    def exists(self):
        return False

    def create(self):
        self.created = True


class Reports:
    def __init__(self):
        self.bucket = Bucket()


@pytest.mark.parametrize(("on_disk", "versioned"), [(False, True), (True, False)])
def test_the_bucket_is_versioned_where_the_emulator_backend_can(monkeypatch, on_disk, versioned):
    made = Reports()
    monkeypatch.setattr(gcs_reports, "GcsReports", Reports)
    monkeypatch.setattr(gcs_reports, "reports", lambda cfg: made)
    bootstrap.bootstrap_storage(dataclasses.replace(settings(), datastore_on_disk=on_disk))
    assert made.bucket.created and made.bucket.versioning_enabled is versioned
