"""Secrets never appear in logs: the dev secrets of emulators/dev.env (and forms derived from them that
could leak instead: the Basic auth token, the Standard Webhooks key without its prefix and decoded),
looked for in every log file of the running stack. Reports name the file, line and secret, never the
secret itself. Used by tests/integration (a session-finish check and the security sweep) and tested in
tests/unit/test_log_secrets.py with planted secrets."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from shared.config import PLATFORM_SECRETS, REPO_ROOT, Settings, read_env_file
from shared.partners import PARTNERS

DEV_ENV = REPO_ROOT / "emulators" / "dev.env"
SECRET_VARIABLES = (
    *(s.env for partner in PARTNERS.values() for s in partner.SECRETS),
    *PLATFORM_SECRETS,
    "PAYMENTS_LOCAL_KEK",  # the local stand-in of the KMS key: as secret as what it stands for
)
# Shorter values would match by accident (and no real secret is this short); dev.env's are 20+ chars.
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    secret: str  # the secret's NAME (e.g. "STRIPE_WEBHOOK_SECRET[0]"), never its value

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: contains {self.secret}"


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def secrets_from(values: dict[str, str]) -> dict[str, str]:
    """{name: secret} for the partner secrets in `values` (dev.env's KEY=value pairs), each rotation
    entry separately, plus the forms a careless log line would show instead of the raw value."""
    found: dict[str, str] = {}
    for variable in SECRET_VARIABLES:
        for i, value in enumerate(v.strip() for v in values.get(variable, "").split(",") if v.strip()):
            name = f"{variable}[{i}]"
            if variable == "ADYEN_BASIC_AUTH":
                user, _, password = value.partition(":")
                found[f"{name} password"] = password
                found[f"{name} Basic token"] = base64.b64encode(f"{user}:{password}".encode()).decode()
                continue
            found[name] = value
            if variable == "ADYEN_HMAC_KEYS":
                found[f"{name} lower-case"] = value.lower()  # e.g. a log of key_bytes.hex()
            if variable == "GENERIC_WEBHOOK_SECRETS" and value.startswith("whsec_"):
                encoded = value.removeprefix("whsec_")
                found[f"{name} base64 key"] = encoded
                try:
                    decoded = _printable(base64.b64decode(encoded, validate=True))
                except (binascii.Error, ValueError):
                    decoded = None
                if decoded:
                    found[f"{name} decoded key"] = decoded
    return {name: secret for name, secret in found.items() if len(secret) >= MIN_SECRET_LENGTH}


def dev_secrets(env_file: Path = DEV_ENV) -> dict[str, str]:
    return secrets_from(read_env_file(env_file))


# API keys the integration tests created in this session (the secret is printed once by the CLI and
# stored only as a hash, so the tests that make them register them here).
API_KEYS: dict[str, str] = {}


def remember_api_key(api_key: str, label: str) -> None:
    API_KEYS[f"API key {label} #{len(API_KEYS)}"] = api_key
    secret = api_key.split("_", 3)[-1]  # ll_<mode>_<key id>_<secret>
    API_KEYS[f"API key {label} #{len(API_KEYS) - 1} secret part"] = secret


def known_secrets(env_file: Path = DEV_ENV, environ=os.environ) -> dict[str, str]:
    """dev.env's secrets, the values the stack really uses if the environment overrides them, and
    the API keys created so far."""
    found = dev_secrets(env_file)
    seen = set(found.values())
    for name, secret in secrets_from(environ).items():
        if secret not in seen:
            found[f"{name} (environment)"] = secret
    return {**found, **{n: s for n, s in API_KEYS.items() if len(s) >= MIN_SECRET_LENGTH}}


def log_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []


def scan(paths: list[Path], secrets: dict[str, str]) -> list[Finding]:
    """Every (file, line, secret name) where a secret occurs, byte for byte. Files are read line by
    line in binary (logs may hold anything a client sent)."""
    needles = {name: secret.encode() for name, secret in secrets.items()}
    findings = []
    for path in paths:
        try:
            with path.open("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    findings.extend(Finding(path, number, name) for name, needle in needles.items() if needle in line)
        except OSError:
            continue  # a log rotated or removed while scanning holds nothing to find
    return findings


def stack_run_dir(cfg: Settings) -> Path | None:
    """The run directory of the stack the tests talk to: `make test` on a fresh stack runs it under
    <run dir>/test (and exports that as the run dir); a stack started by hand keeps <run dir>."""
    candidates = [d for d in (cfg.run_dir, cfg.run_dir / "test") if (d / "logs").is_dir()]
    running = [d for d in candidates if (d / "pids" / "intake.json").exists()]
    if not (running or candidates):
        return None
    return max(running or candidates, key=lambda d: (d / "logs").stat().st_mtime)
