"""The partner registry: every partner plugin (shared.partners.base.Partner), each declared once here.
Intake (`plugin`), reconciliation (report formats, ACH banks) and the CLI read it. A partner is one module
plus its secrets' settings rows (shared.config) and its docs; add it to the tuple below."""

from __future__ import annotations

from shared.config import CLOUD_SOURCES
from shared.errors import ClientError
from shared.partners import adyen, column, generic, lakeside, stripe
from shared.partners.base import Partner

_MEMBERS = sorted({*Partner.__annotations__, "verify", "parse", "acknowledge", "legacy_versions"})


def _checked(partner) -> Partner:
    """The plugin, once it has every member of Partner and its secrets follow the settings convention."""
    if not isinstance(partner, Partner):
        missing = [m for m in _MEMBERS if not hasattr(partner, m)]
        raise TypeError(f"partner plugin {partner.__name__} lacks {', '.join(missing)} (shared.partners.base.Partner)")
    for secret in partner.SECRETS:
        if not secret.env.startswith(f"{partner.NAME.upper()}_") or CLOUD_SOURCES.get(secret.env) != "secret":
            raise TypeError(
                f"partner {partner.NAME}: secret {secret.env} must be named {partner.NAME.upper()}_… and be a "
                '"secret" in shared.config CLOUD_SOURCES (and a row of its table)'
            )
    return partner


PARTNERS: dict[str, Partner] = {p.NAME: p for p in map(_checked, (stripe, adyen, generic, column, lakeside))}
# The partners whose settlement report reconciliation reads (in registry order).
REPORTING: tuple[str, ...] = tuple(name for name, p in PARTNERS.items() if p.REPORT_FORMAT)


def plugin(name: str) -> Partner:
    try:
        return PARTNERS[name]
    except KeyError:
        raise ClientError(404, "unknown_partner", f"no webhook endpoint for partner {name!r}", "partner") from None
