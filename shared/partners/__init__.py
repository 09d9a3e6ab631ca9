"""Partner plugins: each module exposes NAME, KEPT_HEADERS, verify(headers, body, cfg, now) (raises a 401
ClientError or NotConfigured), parse(body, received_at, cfg, headers) -> list[Parsed] (one per event the
request carries) and acknowledge(results) -> Receipt (what the partner expects back); optionally
legacy_versions(canonical) -> the canonical events an earlier version of the parser produced for the same
event (intake: a redelivery, not a conflict). Add a partner by adding a module and registering it here."""

from __future__ import annotations

from types import ModuleType

from shared.errors import ClientError
from shared.partners import adyen, column, generic, stripe

PARTNERS: dict[str, ModuleType] = {p.NAME: p for p in (stripe, adyen, generic, column)}


def plugin(name: str) -> ModuleType:
    try:
        return PARTNERS[name]
    except KeyError:
        raise ClientError(404, "unknown_partner", f"no webhook endpoint for partner {name!r}", "partner") from None
