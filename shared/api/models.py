"""Request and response bodies of the v1 API (pydantic). Requests are strict (amounts are JSON integers
of ISO-4217 minor units, never strings or floats; unknown fields are refused); responses are built
through these models, and docs/openapi.yaml is generated from them (shared.api.openapi)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from shared.domain.money import EXPONENTS, MAX_AMOUNT, UnknownCurrency, normalise_currency

CustomerId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$", description="a customer id of your tenant")]
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="integer minor units (ISO-4217 exponent)")]
Currency = Annotated[
    StrictStr,
    Field(
        min_length=3,
        max_length=3,
        description="ISO-4217 code, e.g. USD (lower case is accepted too; responses are upper case)",
        json_schema_extra={"enum": sorted(EXPONENTS)},
    ),
]
Timestamp = Annotated[str, Field(description="RFC 3339 timestamp (UTC)")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return normalise_currency(value)
        except UnknownCurrency:
            raise ValueError("not an ISO-4217 currency code") from None


class TransferRequest(_Request):
    """Move money between two customers of your tenant, now (no overdraft)."""

    from_account: CustomerId
    to_account: CustomerId
    amount: Amount
    currency: Currency
    description: Annotated[StrictStr, Field(max_length=500)] | None = None


class HoldRequest(_Request):
    """Reserve money of one customer for another (two-phase): pending until captured or voided."""

    from_account: CustomerId
    to_account: CustomerId
    amount: Amount
    currency: Currency
    expires_in: Annotated[StrictInt, Field(ge=60, le=30 * 86400, description="seconds until the hold expires")] = (
        7 * 86400
    )


class CaptureRequest(_Request):
    amount: Amount | None = Field(default=None, description="default: everything the hold still holds")


class VoidRequest(_Request):
    pass


class ReplayRequest(_Request):
    dry_run: StrictBool = False


# ----------------------------------------------------------------------------- payments (docs/payments.md)

Text = Annotated[StrictStr, Field(min_length=1, max_length=140)]
Metadata = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=40)], Annotated[StrictStr, Field(max_length=500)]],
    Field(max_length=20, description="your key-value pairs (at most 20; keys up to 40, values up to 500 characters)"),
]


class DestinationRequest(BaseModel):
    """A bank account (rail ach). Checked by shared.domain.payments.destinations.parse_destination:
    an ABA routing number (9 digits, checksum), an account number of 5 to 17 digits, a printable
    holder; a failure is 400 invalid_destination naming the field (never its value)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    rail: Literal["ach"]
    routing_number: Annotated[StrictStr, Field(min_length=1, max_length=32, description="ABA routing number")]
    account_number: Annotated[
        StrictStr, Field(min_length=1, max_length=32, description="5 to 17 digits; never shown again in full")
    ]
    account_holder: Text


class PayoutRequest(_Request):
    """Pay money out of a customer's wallet to a bank account (Idempotency-Key required)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    from_account: CustomerId
    amount: Amount
    currency: Currency
    destination: DestinationRequest
    description: Annotated[StrictStr, Field(max_length=500)] | None = None
    metadata: Metadata | None = None


class CancelRequest(_Request):
    pass


class PaymentRequest(_Request):
    """A pay-in through the card processor (Idempotency-Key required)."""

    customer: CustomerId
    amount: Amount
    currency: Currency
    payment_method: Annotated[
        StrictStr,
        Field(pattern=r"^[A-Za-z0-9_]{1,100}$", description="the processor's payment-method id, e.g. pm_card_visa"),
    ]


class RefundRequest(_Request):
    amount: Amount | None = Field(default=None, description="default: everything still refundable")


class PayoutLimitsRequest(_Request):
    max_single: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT, description="largest single payout (minor units)")]
    daily_outflow: Annotated[
        StrictInt, Field(ge=0, le=MAX_AMOUNT, description="rolling 24 h outflow, open holds included (minor units)")
    ]


# ----------------------------------------------------------------------------- responses


class ErrorDetail(BaseModel):
    type: Literal[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "rate_limit_error",
        "idempotency_error",
        "api_error",
    ]
    code: str
    message: str
    param: str | None
    limit: Literal["max_single", "daily_outflow"] | None = Field(
        default=None, description="limit_exceeded: the limit the payout would break"
    )
    limit_value: int | None = Field(default=None, description="limit_exceeded: that limit's value (minor units)")
    remaining: int | None = Field(default=None, description="limit_exceeded: what is left under it (minor units)")


class Error(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class CurrencyBalance(BaseModel):
    currency: str
    posted: int = Field(description="posted balance on the account's normal side (minor units)")
    pending_in: int = Field(description="held for this account, not yet captured")
    pending_out: int = Field(description="held from this account, may still be captured")
    available: int = Field(description="posted - pending_out")


class Account(BaseModel):
    object: Literal["account"] = "account"
    id: str
    ledger_account: str
    type: str
    currencies: list[str]
    added_at: Timestamp | None


class Balance(BaseModel):
    object: Literal["balance"] = "balance"
    account: str
    as_of: Timestamp | None
    clock: Literal["recorded", "effective"]
    balances: list[CurrencyBalance]


class Entry(BaseModel):
    object: Literal["entry"] = "entry"
    id: str
    transaction: str
    account: str
    currency: str
    direction: Literal["debit", "credit"]
    phase: Literal["posted", "pending", "release"]
    amount: int
    effective_at: Timestamp
    recorded_at: Timestamp
    account_version: int
    posted_after: int | None = Field(description="the account's posted balance after this entry")
    available_after: int | None


class EntryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Entry]
    has_more: bool


class Transaction(BaseModel):
    object: Literal["transaction"] = "transaction"
    id: str
    kind: Literal["post", "hold", "capture", "void", "expire", "reverse"]
    rule: str
    effective_at: Timestamp
    recorded_at: Timestamp
    entries: list[Entry] = Field(description="the entries on your tenant's accounts")
    reverses: str | None
    reversed_by: str | None
    hold: str | None = Field(description="capture, void, expire: the hold")


class Transfer(BaseModel):
    object: Literal["transfer"] = "transfer"
    id: str
    transaction: str
    from_account: str
    to_account: str
    amount: int
    currency: str
    description: str | None
    status: Literal["posted"]
    created: Timestamp


class Hold(BaseModel):
    object: Literal["hold"] = "hold"
    id: str
    from_account: str
    to_account: str
    amount: int
    currency: str
    captured: int
    released: int
    remaining: int
    status: Literal["open", "captured", "voided", "expired"]
    expires_at: Timestamp
    created: Timestamp
    last_transaction: str | None


class DeadLetter(BaseModel):
    object: Literal["dead_letter"] = "dead_letter"
    id: str
    source: str
    kind: str
    key: str
    partner: str | None
    reason_code: str
    reason: str | None
    attempts: int
    status: str
    replays: int
    first_error: str | None
    last_error: str | None
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    replayed_at: Timestamp | None


class DeadLetterList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DeadLetter]
    has_more: bool


class Replay(BaseModel):
    object: Literal["dead_letter_replay"] = "dead_letter_replay"
    dead_letter: str
    action: Literal["publish", "enqueue"]
    dry_run: bool
    detail: dict[str, Any]


class ReconRun(BaseModel):
    """Read-only view of the reconciliation wiring's ReconRun records; fields it does not write are null."""

    model_config = ConfigDict(extra="allow")
    object: Literal["reconciliation_run"] = "reconciliation_run"
    id: str
    run_id: str | None
    partner: str | None
    as_of: str | None
    status: str | None


class ReconRunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReconRun]
    has_more: bool


class ReconBreak(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: Literal["reconciliation_break"] = "reconciliation_break"
    id: str
    break_id: str | None
    run_id: str | None
    partner: str | None
    reason_code: str | None
    severity: str | None
    amount: int | None
    currency: str | None
    status: str | None
    opened_run: str | None
    closed_run: str | None


class ReconBreakList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReconBreak]
    has_more: bool


class TimelineEntry(BaseModel):
    at: Timestamp
    event: str
    source: str | None = Field(description="the state before (null: created)")
    target: str = Field(description="the state after")
    attempt: int | None
    detail: str | None = Field(description="a partner reference, decline code, R-code…")


class PayoutAttempt(BaseModel):
    number: int
    partner: str
    partner_reference: str | None
    state: Literal["in_flight", "unknown", "accepted", "declined", "not_executed"]
    started_at: Timestamp
    updated_at: Timestamp
    last_error: str | None


class PayoutDestination(BaseModel):
    rail: Literal["ach"]
    routing_number: str
    account_holder: str
    account_number: str = Field(description="masked: ••••6789")


class Payout(BaseModel):
    object: Literal["payout"] = "payout"
    id: str
    status: Literal["pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"]
    amount: int
    currency: str
    from_account: str
    destination: PayoutDestination
    description: str | None
    metadata: dict[str, str]
    partner_reference: str | None
    failure_reason: str | None
    return_code: str | None
    attempts: list[PayoutAttempt]
    timeline: list[TimelineEntry]
    created: Timestamp


class PayoutList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Payout]
    has_more: bool


class Refund(BaseModel):
    object: Literal["refund"] = "refund"
    id: str
    payment: str
    amount: int
    currency: str
    status: Literal["processing", "succeeded", "failed"]
    processor_reference: str | None
    failure_reason: str | None
    timeline: list[TimelineEntry]
    created: Timestamp


class Payment(BaseModel):
    object: Literal["payment"] = "payment"
    id: str
    status: Literal["processing", "succeeded", "failed"]
    customer: str
    amount: int
    currency: str
    payment_method: str
    processor: str
    processor_reference: str | None
    failure_reason: str | None
    amount_refunded: int = Field(description="succeeded refunds (minor units)")
    refunds: list[Refund]
    timeline: list[TimelineEntry]
    created: Timestamp


class PayoutLimitChange(BaseModel):
    at: Timestamp
    actor: str
    old: dict[str, int] | None = Field(description="max_single, daily_outflow before (null: the defaults applied)")
    new: dict[str, int]


class PayoutLimits(BaseModel):
    object: Literal["payout_limits"] = "payout_limits"
    customer: str
    currency: str
    max_single: int
    daily_outflow: int
    source: Literal["customer", "default", "none"] = Field(
        description="customer: its own; default: the currency's default; none: no limits (every payout refused)"
    )
    updated_at: Timestamp | None
    updated_by: str | None
    history: list[PayoutLimitChange]
