"""The partners that move money: the routing table (`routes`, topology `payments.routes`), a client per
bank partner (`bank_apis`), the port the payments service calls a bank through (`BankTransfers`) and
what each call returned (`TransferCall`). One adapter per API style plays it
(shared.adapters.column_api `ColumnApi`, one instance per bank); tests may play it with a fake. What
a call means is never decided here: `TransferCall.call` is the `PartnerCall` that
shared.domain.payments.outcomes `classify` reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shared.config import Settings
from shared.domain.payments.destinations import Destination
from shared.domain.payments.outcomes import Outcome, PartnerCall, classify
from shared.domain.payments.routing import Route, routing_table
from shared.topology import topology


@dataclass(frozen=True)
class TransferCall:
    """One call to a bank: what came back (`call`: HTTP status or failure, normalised body code — the
    error code, or for a transfer found its status —, Retry-After), and when the bank showed a transfer,
    its reference (`acht_…`), status (lower-case, e.g. `submitted`, `settled`, `returned`, `rejected`)
    and ACH return code (R01…)."""

    call: PartnerCall
    reference: str | None = None
    status: str | None = None
    return_code: str | None = None

    @property
    def outcome(self) -> Outcome:
        return classify(self.call)


@runtime_checkable
class BankTransfers(Protocol):
    """A bank's ACH transfer API, as the payments service needs it. Every method returns a TransferCall
    and raises nothing for what the bank or the network did (a timeout, a reset, a 5xx are answers
    too); the account number never appears in a log, an error or a TransferCall."""

    name: str  # the partner name in routes and attempts ("column", "lakeside")

    def create_transfer(
        self, idempotency_key: str, amount: int, currency: str, destination: Destination, description: str
    ) -> TransferCall:
        """Send an outgoing ACH credit of `amount` minor units; the key makes a retry the same transfer."""

    def find_transfer(self, idempotency_key: str) -> TransferCall:
        """The status query for an attempt: the transfer created with this key (404: none, confirmed)."""

    def get_transfer(self, reference: str) -> TransferCall:
        """A transfer by the bank's reference (its status: settled, returned, …)."""


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


# A bank call's read timeout: past it the outcome is unknown and the status query decides (never a resend).
BANK_TIMEOUT_S = 5.0


def bank_apis(cfg: Settings, table: dict[tuple[str, str], tuple[str, ...]]) -> dict:
    """One client per partner of the routing table (shared.adapters.column_api), from its TRANSFER_API:
    the API key (a secret) and the base URL (settings)."""
    from shared.adapters.column_api import ColumnApi
    from shared.errors import NotConfigured
    from shared.partners import PARTNERS

    clients = {}
    for name in sorted({name for partners in table.values() for name in partners}):
        api = PARTNERS[name].TRANSFER_API
        keys, url = cfg.secret(api.key), cfg.api_urls.get(api.url_env)
        if not keys or not url:
            raise NotConfigured(f"{name}: {api.key.env} and {api.url_env} must be set to pay out through it")
        clients[name] = ColumnApi(name, url, keys[0], timeout_s=BANK_TIMEOUT_S)
    return clients
