"""The port the payments service calls a bank through (`BankTransfers`), and what each call returned
(`TransferCall`). One adapter per API style plays it (shared.adapters.column_api `ColumnApi`, one
instance per bank); tests may play it with a fake. What a call means is never decided here:
`TransferCall.call` is the `PartnerCall` that shared.domain.payments.outcomes `classify` reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shared.domain.payments.destinations import Destination
from shared.domain.payments.outcomes import Outcome, PartnerCall, classify


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
