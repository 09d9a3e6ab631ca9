"""The canonical event: what intake publishes and the ledger consumes, whatever the partner.

Partner plugins (shared.partners.*) turn a verified partner payload into a CanonicalEvent. The model
is versioned (`schema_version`) and strict: unknown fields are rejected so a producer/consumer drift
fails loudly instead of being silently ignored. Which optional fields a kind needs is checked here
(`REQUIRED_FIELDS`), so a posting rule never meets a half-filled event.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.domain.kinds import BY_NAME, KINDS, OPTIONAL_FIELDS, EventKind, KindError
from shared.domain.money import MAX_AMOUNT, normalise_currency

# From the event-kind registry (shared.domain.kinds), where each kind is declared once.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {k.name: k.requires for k in KINDS}
# A dispute's fee is charged on top of the disputed amount (Stripe: amount -1000, fee 1500, net -2500),
# not taken out of it as a payment's processing fee is.
FEE_ON_TOP: tuple[str, ...] = tuple(k.name for k in KINDS if k.fee_on_top)
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]


class CanonicalEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: Identifier = Field(description="<partner>:<partner event id>; unique forever")
    partner: Short
    partner_event_id: Identifier
    partner_event_type: str = Field(max_length=100)
    kind: EventKind
    occurred_at: AwareDatetime = Field(description="effective time: when it happened at the partner")
    received_at: AwareDatetime
    customer: Short | None = Field(default=None, description="partner customer id; None posts to suspense")
    amount: int = Field(ge=0, le=MAX_AMOUNT, description="minor units of `currency` (ISO-4217 exponent)")
    fee: int = Field(
        default=0,
        ge=0,
        le=MAX_AMOUNT,
        description="partner fee in minor units: within amount, except for dispute funds (FEE_ON_TOP)",
    )
    currency: str
    reference: Identifier = Field(description="the partner's object id the event is about (payment, payout…)")
    payment_reference: Identifier | None = Field(
        default=None,
        description="the payment a follow-up event is about (refund, dispute); for a capture, "
        "another id of the same payment (e.g. Stripe's charge id)",
    )
    bank: Short | None = Field(default=None, description="our bank, for payouts and ACH")
    expires_at: AwareDatetime | None = Field(default=None, description="authorization holds: deterministic expiry")
    dispute_status: Short | None = Field(
        default=None, description="dispute.status: the partner's dispute status (Stripe: warning_needs_response…)"
    )
    unbooked_fee: int | None = Field(
        default=None,
        ge=0,
        le=MAX_AMOUNT,
        description="dispute funds settled in another currency: the dispute fee the ledger did not book, in "
        "minor units of unbooked_fee_currency (recorded on the Dispute record for reconciliation's fee booking)",
    )
    unbooked_fee_currency: str | None = None
    our_reference: Identifier | None = Field(
        default=None,
        description="ledgerline's own id the partner echoes (a payout attempt's idempotency key, a pay-in's or "
        "a refund's id): on the events the payments function acts on (kinds with consumer payments)",
    )
    outcome_code: Short | None = Field(
        default=None, description="the partner's code for an outcome of ours: an ACH return's R-code, a decline code"
    )
    livemode: bool = False

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return normalise_currency(value)

    @field_validator("unbooked_fee_currency")
    @classmethod
    def _iso_unbooked(cls, value: str | None) -> str | None:
        return normalise_currency(value) if value is not None else None

    @field_validator("amount", "fee", "unbooked_fee", mode="before")
    @classmethod
    def _integer_only(cls, value):
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amounts must be integer numbers of minor units")
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self):
        kind = BY_NAME[self.kind]
        missing = [f for f in kind.requires if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.kind} needs {', '.join(missing)}")
        if self.fee > self.amount and not kind.fee_on_top:
            raise ValueError("fee cannot exceed amount")
        if (self.dispute_status is not None) != ("dispute_status" in kind.requires):
            raise ValueError("dispute_status is set on dispute.status events, and only there")
        if (self.unbooked_fee is None) != (self.unbooked_fee_currency is None):
            raise ValueError("unbooked_fee and unbooked_fee_currency go together")
        if self.unbooked_fee is not None and not kind.fee_on_top:
            raise ValueError("unbooked_fee is set on dispute funds events only")
        if self.amount == 0 and not kind.zero_amount:
            raise ValueError(f"{self.kind} needs a positive amount")
        return self

    def to_message(self) -> bytes:
        return self.model_dump_json().encode()


# The fields a kind may require (the registry checks its kinds against these) are the event's optional ones.
if not set(OPTIONAL_FIELDS) <= {name for name, f in CanonicalEvent.model_fields.items() if f.default is None}:
    raise KindError(f"shared.domain.kinds.OPTIONAL_FIELDS {OPTIONAL_FIELDS} are not all optional CanonicalEvent fields")
