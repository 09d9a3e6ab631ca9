"""Which partners move money, and how the payments function reaches them: the routing table (topology
`payments.routes`, checked by shared.domain.payments.routing.routing_table against the partners
registry) and one transfer API client per bank partner that a route names."""

from __future__ import annotations

from shared.config import Settings
from shared.domain.payments.routing import Route, routing_table
from shared.topology import topology


def routes() -> dict[tuple[str, str], tuple[str, ...]]:
    """{(rail, currency): partners in order}, from topology.json; every partner must be a registered
    partner that declares a transfer API (shared.partners: TRANSFER_API)."""
    from shared.partners import PARTNERS

    declared = topology().get("payments", {}).get("routes", [])
    table = routing_table(Route(r["rail"], r["currency"], tuple(r["partners"])) for r in declared)
    for (rail, currency), partners in table.items():
        for name in partners:
            partner = PARTNERS.get(name)
            if partner is None or getattr(partner, "TRANSFER_API", None) is None:
                raise ValueError(f"route ({rail}, {currency}) names {name!r}: not a partner with a transfer API")
    return table


def bank_apis(cfg: Settings, table: dict[tuple[str, str], tuple[str, ...]]) -> dict:
    """One client per partner of the routing table (shared.adapters.column_api)."""
    from shared.adapters.column_api import ColumnApi
    from shared.partners import PARTNERS

    names = sorted({name for partners in table.values() for name in partners})
    return {name: ColumnApi.from_settings(cfg, PARTNERS[name]) for name in names}
