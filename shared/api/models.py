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
