"""Where settlement reports and bank statements are read from, and run reports written to: a GCS
bucket, the same layout locally (the storage emulator, fake-gcs-server) and in the cloud:

    reports/<partner>/<YYYY-MM-DD>/report.<ext>     the partner's settlement / balance report
    reports/<partner>/<YYYY-MM-DD>/bank.<ext>       the bank statement (camt.053 .xml or BAI2), optional
    reports/<partner>/<YYYY-MM-DD>/<run id>.md      the run's human-readable report (written)

LEDGERLINE_REPORTS_BUCKET names the bucket (Terraform sets it; locally it defaults to
`<project>-reports` on the emulator, which `emulators.bootstrap` creates). An explicit
`file:///some/dir` instead reads and writes a local directory of the same layout without the
`reports/` prefix, for working on report files by hand; nothing defaults to it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.config import Settings

# What a run needs from its inputs: the object's name (for messages and the run record) and its bytes.
Input = tuple[str, bytes]
KINDS = ("report", "bank")


class ReportMissing(FileNotFoundError):
    pass


def _object_name(kind: str, source: str) -> str:
    """report.<ext> / bank.<ext>: the extension tells the parsers the format (csv, xml, bai2...)."""
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}, got {kind!r}")
    suffix = Path(source).suffix.lower()
    if not suffix or len(suffix) > 6:
        raise ValueError(f"{source}: the file needs an extension (.csv, .xml, .bai2, ...) that names its format")
    return f"{kind}{suffix}"


class LocalReports:
    """The explicit `file://` option: a directory <root>/<partner>/<day>/..."""

    def __init__(self, root: Path):
        self.root = root

    def _day(self, partner: str, day: date) -> Path:
        return self.root / partner / day.isoformat()

    def inputs(self, partner: str, day: date) -> tuple[Input, Input | None]:
        folder = self._day(partner, day)
        reports = sorted(folder.glob("report.*"))
        if not reports:
            raise ReportMissing(f"no report.* in {folder}")
        banks = sorted(folder.glob("bank.*"))
        bank = (str(banks[0]), banks[0].read_bytes()) if banks else None
        return (str(reports[0]), reports[0].read_bytes()), bank

    def put(self, partner: str, day: date, kind: str, source: str, data: bytes) -> str:
        path = self._day(partner, day) / _object_name(kind, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    def write(self, partner: str, day: date, name: str, text: str) -> str:
        path = self._day(partner, day) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)


class GcsReports:
    """The bucket, through the official client. Locally `emulator` is the storage emulator's URL and
    the client is anonymous (the emulator checks no credentials)."""

    def __init__(self, bucket: str, project: str, emulator: str | None = None):
        from google.cloud import storage

        if emulator:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator}
            )
        else:
            client = storage.Client(project=project)
        self.bucket = client.bucket(bucket)

    def _prefix(self, partner: str, day: date) -> str:
        return f"reports/{partner}/{day.isoformat()}/"

    def _uri(self, name: str) -> str:
        return f"gs://{self.bucket.name}/{name}"

    def inputs(self, partner: str, day: date) -> tuple[Input, Input | None]:
        prefix = self._prefix(partner, day)
        # Only the day's own objects: a delimiter keeps anything under a deeper "folder" out.
        blobs = sorted(self.bucket.list_blobs(prefix=prefix, delimiter="/"), key=lambda b: b.name)
        reports = [b for b in blobs if b.name[len(prefix) :].startswith("report.")]
        banks = [b for b in blobs if b.name[len(prefix) :].startswith("bank.")]
        if not reports:
            raise ReportMissing(f"no report.* under {self._uri(prefix)}")
        bank = (self._uri(banks[0].name), banks[0].download_as_bytes()) if banks else None
        return (self._uri(reports[0].name), reports[0].download_as_bytes()), bank

    def put(self, partner: str, day: date, kind: str, source: str, data: bytes) -> str:
        """Upload a partner's file as the day's report / bank statement. The bucket is versioned: a
        corrected file replaces the live object and the earlier one stays recoverable."""
        blob = self.bucket.blob(self._prefix(partner, day) + _object_name(kind, source))
        blob.upload_from_string(data)
        return self._uri(blob.name)

    def write(self, partner: str, day: date, name: str, text: str) -> str:
        """Write a run's report once. A replayed run has the same name and the same content, and the
        function's role (objectCreator) cannot overwrite: create only if absent (ifGenerationMatch=0),
        atomically, and take an existing object as written."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket.blob(self._prefix(partner, day) + name)
        try:
            blob.upload_from_string(text, content_type="text/markdown", if_generation_match=0)
        except PreconditionFailed:
            pass
        return self._uri(blob.name)


def reports(cfg: Settings) -> LocalReports | GcsReports:
    location = cfg.reports_bucket
    if not location:
        from shared.config import ConfigError

        raise ConfigError("LEDGERLINE_REPORTS_BUCKET is not set (Terraform sets it on every function)")
    if location.startswith("file://"):
        return LocalReports(Path(location.removeprefix("file://")))
    return GcsReports(location, cfg.project, cfg.storage_emulator_host)
