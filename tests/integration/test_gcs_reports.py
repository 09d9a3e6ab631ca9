"""The reports adapter against the storage emulator (fake-gcs-server), through google-cloud-storage:
the same client, bucket layout and preconditions as in the cloud."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import date

import pytest

from shared.adapters import gcs_reports
from shared.config import REPO_ROOT


@pytest.fixture
def reports(cfg):
    found = gcs_reports.reports(cfg)
    assert isinstance(found, gcs_reports.GcsReports), "locally the reports live in the emulator's bucket"
    created = found.bucket.client.get_bucket(found.bucket.name)  # by emulators.bootstrap, as Terraform does
    assert created.versioning_enabled
    return found


def _partner_day() -> tuple[str, date]:
    # a day of its own per test: other tests write reports into the same bucket
    return "adyen", date(1990, 1, 1 + uuid.uuid4().int % 28)


def test_inputs_are_the_days_report_and_bank_statement_only(reports):
    partner, day = _partner_day()
    with pytest.raises(gcs_reports.ReportMissing, match="no report"):
        reports.inputs(partner, day)
    where = reports.put(partner, day, "report", "settlement_detail_report_batch_7.csv", b"a,b\n1,2\n")
    assert where == f"gs://{reports.bucket.name}/reports/{partner}/{day.isoformat()}/report.csv"
    (report, bank) = reports.inputs(partner, day)
    assert report == (where, b"a,b\n1,2\n") and bank is None
    reports.put(partner, day, "bank", "statement.BAI2", b"01,bank\n")
    # objects under a deeper prefix or of another day are not this day's inputs
    reports.bucket.blob(f"reports/{partner}/{day.isoformat()}/old/report.csv").upload_from_string(b"stale")
    reports.bucket.blob(f"reports/{partner}/{day.isoformat()}x/report.csv").upload_from_string(b"other")
    report, bank = reports.inputs(partner, day)
    assert report[1] == b"a,b\n1,2\n"
    assert bank == (f"gs://{reports.bucket.name}/reports/{partner}/{day.isoformat()}/bank.bai2", b"01,bank\n")


def test_a_corrected_report_replaces_the_live_one(reports):
    partner, day = _partner_day()
    reports.put(partner, day, "report", "r.csv", b"first\n")
    reports.put(partner, day, "report", "r.csv", b"corrected\n")
    assert reports.inputs(partner, day)[0][1] == b"corrected\n"


def test_a_run_report_is_written_once(reports):
    partner, day = _partner_day()
    where = reports.write(partner, day, "run_1.md", "# first\n")
    blob = reports.bucket.get_blob(where.split("/", 3)[3])
    assert reports.write(partner, day, "run_1.md", "# replayed\n") == where
    again = reports.bucket.get_blob(blob.name)
    assert again.generation == blob.generation and again.download_as_bytes() == b"# first\n"
    assert again.content_type == "text/markdown"


def test_put_refuses_a_file_without_a_format(reports):
    partner, day = _partner_day()
    with pytest.raises(ValueError, match="extension"):
        reports.put(partner, day, "report", "report", b"x")
    with pytest.raises(ValueError, match="kind"):
        reports.put(partner, day, "summary", "r.csv", b"x")


def test_cli_recon_put_uploads_the_days_input(reports, tmp_path):
    partner, day = _partner_day()
    path = tmp_path / "statement.xml"
    path.write_bytes(b"<Document/>")
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "recon", "put", "--partner", partner, "--date", day.isoformat(),
         str(path), "--bank"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"reports/{partner}/{day.isoformat()}/bank.xml")
    assert reports.bucket.blob(f"reports/{partner}/{day.isoformat()}/bank.xml").download_as_bytes() == b"<Document/>"
