"""Dated API versions (Stripe's model): a contract change that could break an integration ships as a
new version; an integration gets it only when it asks for it.

A request's version is its `Ledgerline-Version` header, else the version its API key was pinned to when
it was created (the newest then), else — a key made before versions existed — the first one. Every
answer names the version it was served under (the same header). Versions are ISO dates, so they order
as strings. The history is docs/api.md "Versions"; a route states from which version a rule holds
(shared.api.routes Route.idempotency_required_from), and tests/unit/test_api_versions.py checks that
every version a route names is here, in order, and in docs/api.md."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import ClientError

HEADER = "Ledgerline-Version"


@dataclass(frozen=True)
class ApiVersion:
    name: str  # YYYY-MM-DD
    changes: tuple[str, ...]  # what a client sees change when it moves up to this version


VERSIONS: tuple[ApiVersion, ...] = (
    ApiVersion("2026-11-01", ("The v1 contract as first released.",)),
    ApiVersion(
        "2026-12-02",
        (
            "POST /v1/transfers, /v1/holds, /v1/holds/{id}/capture and /v1/holds/{id}/void require an "
            "Idempotency-Key: 400 idempotency_key_missing without one (a retried request can no longer "
            "move money twice).",
        ),
    ),
)
FIRST = VERSIONS[0].name
LATEST = VERSIONS[-1].name
NAMES = tuple(v.name for v in VERSIONS)
_SHAPE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def check(name: str) -> str:
    """`name` if it is a version, else ValueError (for a key being pinned)."""
    if name not in NAMES:
        raise ValueError(f"API versions are {', '.join(NAMES)}")
    return name


def resolve(requested: str | None, pinned: str | None) -> str:
    """The version a request is served under: the header's, else the key's pin, else the first."""
    if requested is None:
        return pinned if pinned in NAMES else FIRST
    value = requested.strip()
    if value not in NAMES:
        shape = "" if _SHAPE.match(value) else " (a date, YYYY-MM-DD)"
        raise ClientError(400, "api_version_invalid", f"{HEADER} is one of {', '.join(NAMES)}{shape}", HEADER)
    return value


def holds_from(version: str, since: str | None) -> bool:
    """Whether a rule introduced in version `since` applies to a request served under `version`."""
    return since is not None and version >= since
