"""Where settlement reports and bank statements are read from, and reports written to: a local
directory (dev, tests) or a GCS bucket (cloud), same layout:

    <root>/<partner>/<YYYY-MM-DD>/report.<ext>     the partner's settlement / balance report
    <root>/<partner>/<YYYY-MM-DD>/bank.<ext>       the bank statement (camt.053 .xml or BAI2), optional
    <root>/<partner>/<YYYY-MM-DD>/<run id>.md      the run's human-readable report (written)

Locally <root> is LEDGERLINE_REPORTS_DIR (default <run dir>/reports); in the cloud the bucket
LEDGERLINE_REPORTS_BUCKET with prefix reports/.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.config import Settings


class ReportMissing(FileNotFoundError):
    pass


class LocalReports:
    def __init__(self, root: Path):
        self.root = root

    def _day(self, partner: str, day: date) -> Path:
        return self.root / partner / day.isoformat()

    def inputs(self, partner: str, day: date) -> tuple[tuple[str, bytes], tuple[str, bytes] | None]:
        folder = self._day(partner, day)
        reports = sorted(folder.glob("report.*"))
        if not reports:
            raise ReportMissing(f"no report.* in {folder}")
        banks = sorted(folder.glob("bank.*"))
        bank = (str(banks[0]), banks[0].read_bytes()) if banks else None
        return (str(reports[0]), reports[0].read_bytes()), bank

    def write(self, partner: str, day: date, name: str, text: str) -> str:
        path = self._day(partner, day) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)


class GcsReports:
    def __init__(self, bucket: str):
        from google.cloud import storage

        self.bucket = storage.Client().bucket(bucket)

    def _prefix(self, partner: str, day: date) -> str:
        return f"reports/{partner}/{day.isoformat()}/"

    def inputs(self, partner: str, day: date) -> tuple[tuple[str, bytes], tuple[str, bytes] | None]:
        blobs = sorted(self.bucket.list_blobs(prefix=self._prefix(partner, day)), key=lambda b: b.name)
        reports = [b for b in blobs if b.name.rsplit("/", 1)[-1].startswith("report.")]
        banks = [b for b in blobs if b.name.rsplit("/", 1)[-1].startswith("bank.")]
        if not reports:
            raise ReportMissing(f"no report.* under gs://{self.bucket.name}/{self._prefix(partner, day)}")
        uri = f"gs://{self.bucket.name}/"
        bank = (uri + banks[0].name, banks[0].download_as_bytes()) if banks else None
        return (uri + reports[0].name, reports[0].download_as_bytes()), bank

    def write(self, partner: str, day: date, name: str, text: str) -> str:
        blob = self.bucket.blob(self._prefix(partner, day) + name)
        if not blob.exists():  # a replayed run has the same name and content; objectCreator cannot overwrite
            blob.upload_from_string(text, content_type="text/markdown")
        return f"gs://{self.bucket.name}/{blob.name}"


def reports(cfg: Settings) -> LocalReports | GcsReports:
    if cfg.reports_bucket:
        return GcsReports(cfg.reports_bucket)
    return LocalReports(cfg.reports_dir)
