"""The card processor as the payments service needs it: a typed port (`CardProcessor`) whose every call
returns a `ProcessorCall`: what the call returned (the domain's `PartnerCall`), what it means
(`Outcome`, by the domain's `classify`), and the processor's object when there is one.

Pay-ins and refunds are keyed by our ids (shared.domain.payments.ids): the processor gets our partner
idempotency key, and our ids in its metadata (`ledgerline_payment`, `ledgerline_customer`,
`ledgerline_refund`), so its webhooks link back to our records and `find_*` can look an object up by our
id when the outcome of a create is unknown (docs/payments.md "The unknown-outcome rule": never create
again before a lookup confirms there is nothing).

Amounts cross this port in ISO-4217 minor units (int); the adapter converts to and from the processor's
own units, exactly, or refuses (`invalid`, body code `invalid_amount`) without calling it.
shared.adapters.stripe_payments implements the port with Stripe's official SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.payments.outcomes import Outcome, PartnerCall, classify

# Metadata keys our ids travel under (set on create, read back by find_* and by the webhook consumer).
PAYMENT_KEY, CUSTOMER_KEY, REFUND_KEY = "ledgerline_payment", "ledgerline_customer", "ledgerline_refund"


@dataclass(frozen=True)
class ProcessorCall:
    """One call to the processor: `call` (status or failure, body code: the decline code of a decline,
    Retry-After of a 429), `outcome` = classify(call), and, when the processor answered with its object
    (an accepted create, a found object, a decline that created a failed PaymentIntent), its reference
    (`pi_…`, `re_…`), its status in the processor's words (`succeeded`, `requires_payment_method`,
    `processing`, `pending`, `failed`, …), its amount (ISO minor units) and currency. `message` is the
    processor's error message, safe to log (the SDK's messages carry no card data). `others`: further
    objects a lookup found carrying the same id of ours (never expected: one id, one create; non-empty
    means the processor executed twice, an incident for an operator)."""

    call: PartnerCall
    reference: str | None = None
    status: str | None = None
    amount: int | None = None
    currency: str | None = None
    message: str | None = None
    others: tuple[str, ...] = ()

    @property
    def outcome(self) -> Outcome:
        return classify(self.call)

    @property
    def decline_code(self) -> str | None:
        return self.call.body_code if self.outcome.kind == "declined" else None


class CardProcessor(Protocol):
    """What the payments service calls. Every method returns (never raises for what the processor or
    the network did: that is in the ProcessorCall); a programming error of ours (a non-int amount)
    still raises."""

    name: str  # the processor's partner name ("stripe"): the clearing account, the webhook partner

    def create_payment(
        self, idempotency_key: str, payment_id: str, customer: str, amount: int, currency: str, payment_method: str
    ) -> ProcessorCall:
        """Charge `payment_method` for `amount` minor units of `currency`, confirmed at once (call "create")."""
        ...

    def find_payment(self, payment_id: str, since: datetime, reference: str | None = None) -> ProcessorCall:
        """The processor's payment for our `payment_id` (call "status"): by `reference` when the create's
        answer gave one, else by our id in its metadata among the payments created from `since` (the
        request's time, a little before). A 404 (outcome not_found) is a confirmed "none"."""
        ...

    def create_refund(
        self, idempotency_key: str, refund_id: str, payment_reference: str, amount: int, currency: str
    ) -> ProcessorCall:
        """Refund `amount` minor units of `currency` (the payment's) of the processor's payment
        `payment_reference` (call "create")."""
        ...

    def find_refund(self, refund_id: str, payment_reference: str) -> ProcessorCall:
        """The processor's refund for our `refund_id` among the refunds of `payment_reference` (call "status")."""
        ...
