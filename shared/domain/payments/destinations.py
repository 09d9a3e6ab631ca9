"""Where a payout goes: a bank destination whose account number is sensitive. It is never shown, logged
or serialised in full: `repr`, `str` and `model_dump` carry `mask(account_number)` (••••6789); the one
way to read it is `reveal_account_number()`, for the partner adapter that sends it (docs/payments.md
"Destinations": stored encrypted with a Cloud KMS key, later step)."""

from __future__ import annotations

import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_serializer, field_validator

from shared.domain.payments.errors import PaymentError

Rail = Literal["ach"]
RAILS: tuple[str, ...] = ("ach",)
MASK = "••••"
ABA_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def mask(account_number: str) -> str:
    """What is shown of an account number: its last four digits (••••6789); shorter ones show nothing."""
    digits = "".join(c for c in str(account_number) if c.isdigit())
    return f"{MASK}{digits[-4:]}" if len(digits) > 4 else MASK


def aba_valid(routing_number: str) -> bool:
    """An ABA routing number: nine digits whose weighted sum (3, 7, 1, …) is a multiple of 10."""
    if len(routing_number) != 9 or not routing_number.isascii() or not routing_number.isdigit():
        return False
    return sum(w * int(d) for w, d in zip(ABA_WEIGHTS, routing_number, strict=True)) % 10 == 0


class Destination(BaseModel):
    """A bank account a payout pays to. rail "ach": a US ABA routing number (checksum validated) and an
    account number of 5 to 17 digits, which no representation of the model contains."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    rail: Rail
    routing_number: str
    account_number: SecretStr = Field(repr=False)
    account_holder: str = Field(min_length=1, max_length=140)

    @field_validator("routing_number")
    @classmethod
    def _aba(cls, value: str) -> str:
        if not aba_valid(value):
            raise ValueError("routing_number is not a valid ABA routing number (9 digits, checksum)")
        return value

    @field_validator("account_number")
    @classmethod
    def _account(cls, value: SecretStr) -> SecretStr:
        digits = value.get_secret_value()
        if not (5 <= len(digits) <= 17 and digits.isascii() and digits.isdigit()):
            raise ValueError("account_number is 5 to 17 digits")
        return value

    @field_validator("account_holder")
    @classmethod
    def _holder(cls, value: str) -> str:
        if not value.strip() or any(not c.isprintable() for c in value):
            raise ValueError("account_holder is printable text")
        return value.strip()

    @field_serializer("account_number")
    def _masked(self, value: SecretStr) -> str:
        return mask(value.get_secret_value())

    @property
    def masked_account_number(self) -> str:
        return mask(self.account_number.get_secret_value())

    def reveal_account_number(self) -> str:
        """The full account number: for the partner adapter's request body only (never logged)."""
        return self.account_number.get_secret_value()

    def fingerprint(self, key: bytes) -> str:
        """A keyed hash of (routing, account) for dedupe and search without the number (HMAC-SHA256;
        the key is a secret of the payments service, not the KMS key that encrypts the number)."""
        message = f"{self.rail}\x1f{self.routing_number}\x1f{self.reveal_account_number()}".encode()
        return hmac.new(key, message, "sha256").hexdigest()

    def __str__(self) -> str:
        return f"{self.rail} {self.routing_number} {self.masked_account_number} ({self.account_holder})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Destination):
            return NotImplemented
        return (self.rail, self.routing_number, self.account_holder, self.reveal_account_number()) == (
            other.rail,
            other.routing_number,
            other.account_holder,
            other.reveal_account_number(),
        )

    def __hash__(self) -> int:
        return hash((self.rail, self.routing_number, self.account_holder, self.reveal_account_number()))


def parse_destination(data: object) -> Destination:
    """A destination from a request body, or PaymentError("invalid_destination") naming the fields at
    fault (never their values: the error is safe to log and to return)."""
    try:
        return Destination.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "destination" for e in exc.errors()})
        raise PaymentError("invalid_destination", f"invalid {', '.join(fields)}") from None
