"""The canonical event: what intake publishes and the ledger consumes, whatever the partner.

Partner plugins (shared.partners.*) turn a verified partner payload into a CanonicalEvent. The model
is versioned (`schema_version`) and strict: unknown fields are rejected so a producer/consumer drift
fails loudly instead of being silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.money import MAX_AMOUNT, normalise_currency

EventKind = Literal["payment.captured"]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class CanonicalEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: Identifier = Field(description="<partner>:<partner event id>; unique forever")
    partner: Literal["stripe"]
    partner_event_id: Identifier
    partner_event_type: str
    kind: EventKind
    occurred_at: datetime
    received_at: datetime
    customer: Identifier | None = Field(description="partner customer id; None posts to suspense")
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="minor units of `currency` (ISO-4217 exponent)")
    currency: str
    reference: Identifier = Field(description="the partner's object id, e.g. the PaymentIntent id")
    livemode: bool = False

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return normalise_currency(value)

    @field_validator("amount", mode="before")
    @classmethod
    def _integer_only(cls, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amount must be an integer number of minor units")
        return value

    def to_message(self) -> bytes:
        return self.model_dump_json().encode()

    def attributes(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "partner": self.partner,
            "kind": self.kind,
            "schema_version": str(self.schema_version),
        }
