"""Where statement exports are written and how a customer downloads one: the reports bucket (the one
shared.adapters.gcs_reports reads settlement reports from), under

    statements/<tenant>/<export id>.<csv|pdf|json>

written once (create-only: a retried task finds its object and takes it as written) and handed out as
a V4 signed URL that expires (15 minutes by default), so the API never streams the file itself.

Signing: in the cloud the api function's service account signs through IAM signBlob (its access token
and e-mail; the account needs roles/iam.serviceAccountTokenCreator on itself and objectViewer on the
bucket, see docs/api.md "Statement exports"); locally the storage emulator (fake-gcs-server) checks no
signature, so an ephemeral RSA key made in the process signs, and the URL points at the emulator.
MemoryStatementFiles is the unit tests' bucket."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

URL_TTL = timedelta(minutes=15)
LOCAL_SIGNER = "statements-local-signer@ledgerline-local.iam.gserviceaccount.com"


def object_name(tenant: str, export_id: str, fmt: str) -> str:
    return f"statements/{tenant}/{export_id}.{fmt}"


class MemoryStatementFiles:
    def __init__(self, clock=lambda: datetime.now(UTC)):
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.clock = clock

    def write(self, name: str, data: bytes, content_type: str) -> bool:
        """True if written, False if it existed (create-only)."""
        if name in self.objects:
            return False
        self.objects[name] = (data, content_type)
        return True

    def url(self, name: str, ttl: timedelta = URL_TTL) -> tuple[str, datetime]:
        expires = self.clock() + ttl
        token = hashlib.sha256(f"{name}|{expires.isoformat()}".encode()).hexdigest()[:32]
        return f"memory://statements/{quote(name)}?expires={int(expires.timestamp())}&sig={token}", expires


class GcsStatementFiles:
    def __init__(self, bucket: str, project: str, emulator: str | None = None):
        from google.cloud import storage

        self.emulator = emulator
        if emulator:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator}
            )
        else:
            client = storage.Client(project=project)
        self.bucket = client.bucket(bucket)
        self._local_signer = None

    def write(self, name: str, data: bytes, content_type: str) -> bool:
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket.blob(name)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        except PreconditionFailed:
            return False  # a retried task: the object is there, written by the first run
        return True

    def url(self, name: str, ttl: timedelta = URL_TTL) -> tuple[str, datetime]:
        blob = self.bucket.blob(name)
        expires = datetime.now(UTC) + ttl
        if self.emulator:
            url = blob.generate_signed_url(
                version="v4",
                expiration=ttl,
                method="GET",
                credentials=self._signer(),
                api_access_endpoint=self.emulator,
            )
            return url, expires
        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(Request())  # a metadata-server token: signBlob signs with it
        url = blob.generate_signed_url(
            version="v4",
            expiration=ttl,
            method="GET",
            service_account_email=credentials.service_account_email,
            access_token=credentials.token,
        )
        return url, expires

    def _signer(self):
        """Local only: a throwaway key (the emulator verifies no signature)."""
        if self._local_signer is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from google.oauth2 import service_account

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            self._local_signer = service_account.Credentials.from_service_account_info(
                {
                    "type": "service_account",
                    "client_email": LOCAL_SIGNER,
                    "private_key": pem,
                    "private_key_id": "local",
                    "token_uri": "https://oauth2.googleapis.com/token",
                    "project_id": "ledgerline-local",
                }
            )
        return self._local_signer


def statement_files(cfg) -> GcsStatementFiles:
    """The reports bucket (LEDGERLINE_REPORTS_BUCKET; locally `<project>-reports` on the emulator)."""
    if not cfg.reports_bucket or cfg.reports_bucket.startswith("file://"):
        from shared.config import ConfigError

        raise ConfigError("statement exports need LEDGERLINE_REPORTS_BUCKET to name a bucket")
    return GcsStatementFiles(cfg.reports_bucket, cfg.project, cfg.storage_emulator_host)
