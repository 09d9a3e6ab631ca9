"""Partner plugins: each module exposes NAME, verify(headers, body, secrets, now) and
parse(body, received_at) -> Parsed. Add a partner by adding a module and registering it here."""

from __future__ import annotations

from types import ModuleType

from shared.errors import ClientError
from shared.partners import stripe

PARTNERS: dict[str, ModuleType] = {stripe.NAME: stripe}


def plugin(name: str) -> ModuleType:
    try:
        return PARTNERS[name]
    except KeyError:
        raise ClientError(404, "unknown_partner", f"no webhook endpoint for partner {name!r}", "partner") from None
