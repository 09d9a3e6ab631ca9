"""Request and response bodies of the v1 API (pydantic). Requests are strict (amounts are JSON integers
of ISO-4217 minor units, never strings or floats; unknown fields are refused); responses are built
through these models, and docs/openapi.yaml is generated from them (shared.api.openapi)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from shared.domain.money import EXPONENTS, MAX_AMOUNT, UnknownCurrency, normalise_currency
from shared.domain.webhooks.catalogue import DEFAULT_TYPES, TYPES, VERSIONS
from shared.domain.webhooks.endpoints import MAX_DESCRIPTION, MAX_OVERLAP
from shared.domain.webhooks.urls import MAX_URL_LENGTH

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


Reason = Annotated[
    StrictStr, Field(min_length=1, max_length=500, description="why: kept in the operator audit log (required)")
]


class ReplayRequest(_Request):
    reason: Reason
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


# ----------------------------------------------------------------------------- webhooks (docs/webhooks.md)
# The domain (shared.domain.webhooks) judges URLs, event types, descriptions, overlaps and windows and
# names its own codes (url_scheme, unknown_event_type, invalid_overlap…): the bounds below are shown in
# the contract, not enforced by pydantic, so a client gets the domain's code and field.

EVENT_TYPES = [t.name for t in TYPES]
EventTypeName = Annotated[
    StrictStr,
    Field(max_length=100, description="an event type of the catalogue", json_schema_extra={"enum": EVENT_TYPES}),
]
EventTypes = Annotated[
    list[EventTypeName],
    Field(
        max_length=len(EVENT_TYPES) * 2,
        description="the event types to send; empty: every type that is not opt-in "
        f"({len(DEFAULT_TYPES)} of {len(EVENT_TYPES)}; balance.updated is sent only when named)",
    ),
]
WebhookUrl = Annotated[
    StrictStr,
    Field(
        description="https://… (locally also http:// to a loopback host); no credentials, no private or "
        'metadata hosts (docs/webhooks.md "Endpoint URLs")',
        json_schema_extra={"maxLength": MAX_URL_LENGTH},
    ),
]
Description = Annotated[StrictStr, Field(json_schema_extra={"maxLength": MAX_DESCRIPTION})]
DateTime = Annotated[StrictStr, Field(max_length=64, json_schema_extra={"format": "date-time"})]


class WebhookEndpointRequest(_Request):
    """A webhook endpoint (Idempotency-Key required). Its signing secret is never in a response but
    GET /v1/webhook-endpoints/{id}/secret."""

    url: WebhookUrl
    enabled_events: EventTypes = []
    description: Description | None = None
    enabled: StrictBool = True
    metadata: Metadata | None = None


class WebhookEndpointUpdate(_Request):
    """The fields to change; absent or null: unchanged. `metadata` replaces the whole map ({} clears it);
    `enabled_events: []` means every type that is not opt-in; `enabled: true` on a disabled endpoint
    clears `disabled_reason` and `failing_since`."""

    url: WebhookUrl | None = None
    enabled_events: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None
    metadata: Metadata | None = None


class RotateSecretRequest(_Request):
    overlap_seconds: StrictInt = Field(
        default=86400,
        description="how long the previous secret keeps signing (both signatures are sent meanwhile)",
        json_schema_extra={"minimum": 0, "maximum": int(MAX_OVERLAP.total_seconds())},
    )


class VerifyEndpointRequest(_Request):
    token: str = Field(
        description="the token ledgerline published to the topic (a webhook_endpoint.verification message)",
        json_schema_extra={"minLength": 1, "maxLength": 200},
    )


class WebhookReplayRequest(_Request):
    """Send the endpoint the events of a window again (Idempotency-Key required)."""

    since: DateTime = Field(description="events created at or after (within the last 30 days)")
    until: DateTime | None = Field(default=None, description="events created at or before (default: now)")
    types: EventTypes = Field(default=[], description="these types only; empty: what the endpoint subscribes to")
    dry_run: StrictBool = Field(default=False, description="count the events, send nothing")


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


GrantableScope = Literal["read", "write", "admin"]


class ApiKeyRequest(_Request):
    """A new key of your tenant: scopes at most those of the key making it (admin scope required)."""

    scopes: Annotated[list[GrantableScope], Field(min_length=1, max_length=3)]
    label: Annotated[StrictStr, Field(max_length=100)] | None = None
    expires_at: Annotated[StrictStr, Field(max_length=40, description="RFC 3339; at most 2 years ahead")] | None = None
    api_version: (
        Annotated[StrictStr, Field(max_length=10, description="default: the newest (docs/api.md#versions)")] | None
    ) = None


class RotateKeyRequest(_Request):
    overlap_seconds: StrictInt = Field(
        default=86400,
        description="how long the old key keeps working, 5 minutes to 7 days: a rotation whose answer is lost "
        "can be done again with the old key meanwhile (to stop a key at once, revoke it)",
        json_schema_extra={"minimum": 300, "maximum": 7 * 86400},
    )

    @field_validator("overlap_seconds")
    @classmethod
    def _bounded(cls, value: int) -> int:
        if not 300 <= value <= 7 * 86400:
            raise ValueError("overlap_seconds is from 300 to 604800")
        return value


class ApiKey(BaseModel):
    object: Literal["api_key"] = "api_key"
    id: str
    label: str
    scopes: list[str]
    api_version: str
    status: Literal["active", "expired", "revoked"]
    created: Timestamp | None
    expires_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKey):
    secret: str = Field(description="the full key: shown in this answer only, never again (store it now)")


class ApiKeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ApiKey]
    has_more: bool


class CustomerRequest(_Request):
    """A new customer of your tenant. Without `id` one is made up (`cus_…`; derived from the
    Idempotency-Key when one is sent, so a retry gets the same customer)."""

    id: Annotated[
        StrictStr | None,
        Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$", description="your id for it; ids are unique across tenants"),
    ] = None
    metadata: Metadata | None = None


class CustomerUpdate(_Request):
    """Metadata to merge into the customer's: a key set to "" is removed."""

    metadata: Metadata


class Customer(BaseModel):
    object: Literal["customer"] = "customer"
    id: str
    created: Timestamp | None
    metadata: dict[str, str]


class CustomerList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Customer]
    has_more: bool
    next_starting_after: str | None = Field(
        default=None,
        description="with has_more: pass this as starting_after to go on (a filter reads a bounded number of "
        "rows per page, so the page may hold fewer than limit, even none, and this is the last row read)",
    )


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


class TransferList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Transfer]
    has_more: bool


class HoldList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Hold]
    has_more: bool
    next_starting_after: str | None = Field(
        default=None,
        description="with has_more: pass this as starting_after to go on (a filter reads a bounded number of "
        "rows per page, so the page may hold fewer than limit, even none, and this is the last row read)",
    )


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
    request: OperatorRequest | None = Field(
        None, description="the operator request that replays it (null on a dry run); pending when it needs approval"
    )


class BulkReplayRequest(_Request):
    """Replay the open dead letters a filter selects, each as its own operator request. A dry run first
    lists what matches and a digest of it (`selection`); the replay sends that digest back and is refused
    if the selection changed since (409 selection_changed): an operator replays what they looked at."""

    reason: Reason
    dry_run: StrictBool = False
    source: Literal["task", "pubsub", "parked"] | None = None
    kind: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    reason_code: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    partner: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    since: DateTime | None = Field(None, description="created at or after")
    limit: Annotated[StrictInt, Field(ge=1, le=100, description="at most this many, newest first")] = 100
    selection: Annotated[StrictStr, Field(pattern="^[0-9a-f]{64}$")] | None = Field(
        None, description="required to replay: the dry run's `selection` (a digest of the dead letters it listed)"
    )


class BulkReplayItem(BaseModel):
    dead_letter: str
    action: Literal["publish", "enqueue"]
    request: str | None = Field(None, description="the operator request that replays it (null on a dry run)")
    status: str | None = Field(
        None, description="the request's status (executed, pending: waits for a second operator) or refused: <code>"
    )


class BulkReplay(BaseModel):
    object: Literal["dead_letter_bulk_replay"] = "dead_letter_bulk_replay"
    dry_run: bool
    matched: int = Field(description="open dead letters the filter selects, at most `limit` of them here")
    has_more: bool = Field(description="more match than `limit`: replay these, then dry-run again")
    selection: str = Field(description="a digest of the listed dead letters: send it back to replay them")
    data: list[BulkReplayItem]


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
    request: OperatorRequest | None = Field(
        None, description="a change: its operator request (pending: a raise waiting for a second operator)"
    )


# ----------------------------------------------------------------------------- webhooks


class WebhookEndpoint(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    enabled_events: list[str] = Field(description="empty: every type that is not opt-in")
    description: str | None
    enabled: bool
    disabled_reason: Literal["gone", "failing", "unverified"] | None = Field(
        description="gone: it answered 410; failing: no success for 5 days; unverified: a Pub/Sub topic waiting "
        "for its verification token (POST …/verify); null: enabled, or disabled by you"
    )
    verified: bool = Field(description="false: a Pub/Sub destination whose verification token was not sent back yet")
    failing_since: Timestamp | None = Field(description="the first failed attempt since its last success")
    metadata: dict[str, str]
    created: Timestamp
    secret_rotated_at: Timestamp | None = Field(description="when the current secret was made (null: never rotated)")


class WebhookEndpointList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookEndpoint] = Field(description="oldest first; a tenant has at most 20 endpoints")
    has_more: bool


class WebhookEndpointDeleted(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: Literal[True] = True


class PreviousSecret(BaseModel):
    secret: str
    expires_at: Timestamp = Field(description="it stops signing then")


class WebhookEndpointSecret(BaseModel):
    object: Literal["webhook_endpoint_secret"] = "webhook_endpoint_secret"
    secret: str = Field(description="the current signing secret (whsec_…, Standard Webhooks)")
    previous: list[PreviousSecret] = Field(description="rotated-out secrets still signing, newest first")


class EventOrdering(BaseModel):
    key: str = Field(description="events of one key are numbered 1, 2, 3… in commit order")
    sequence: int


class Event(BaseModel):
    """An event exactly as it was sent (its webhook body)."""

    id: str
    type: str = Field(json_schema_extra={"enum": EVENT_TYPES})
    api_version: str = Field(json_schema_extra={"enum": list(VERSIONS)})
    timestamp: Timestamp
    ordering: EventOrdering
    data: dict[str, Any] = Field(description="the type's object; its schema per type: docs/webhooks.md")


class EventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Event] = Field(description="newest first")
    has_more: bool


class WebhookAttempt(BaseModel):
    object: Literal["webhook_attempt"] = "webhook_attempt"
    id: str
    delivery: str
    event: str
    number: int = Field(description="the delivery's attempt number, from 1")
    at: Timestamp
    status_code: int | None = Field(description="the endpoint's HTTP status (null: no answer)")
    error: str | None = Field(description="why there was no answer (timeout, refused address…)")
    elapsed_ms: int
    response: str = Field(description="the first 256 bytes of the answer")


class WebhookAttemptList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookAttempt] = Field(description="newest first")
    has_more: bool


class WebhookReplay(BaseModel):
    object: Literal["webhook_replay"] = "webhook_replay"
    id: str = Field(description="dry_run: not stored (GET /v1/webhook-replays/{id} answers 404)")
    endpoint: str
    since: Timestamp
    until: Timestamp
    types: list[str] = Field(description="empty: what the endpoint subscribes to")
    status: Literal["running", "done", "dry_run"]
    matched: int = Field(description="events matched so far (dry_run: in all, up to 100000)")
    capped: bool = Field(description="dry_run: the count stopped at 100000")


# ----------------------------------------------------------------------------- operations (docs/operations.md)

BreakIdText = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
BreakState = Literal["open", "acknowledged", "resolved", "accepted", "written_off"]


class AcknowledgeRequest(_Request):
    reason: Reason | None = None


class NoteRequest(_Request):
    text: Reason
    reference: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = Field(
        None, description="an attachment by reference: a ticket, a gs:// path, a partner case id"
    )


class AcceptRequest(_Request):
    reason: Reason
    until: Timestamp = Field(description="when the acceptance lapses (the break then reopens): RFC 3339, future")


class WriteOffRequest(_Request):
    reason: Reason


class AdjustingLeg(_Request):
    account: Annotated[StrictStr, Field(min_length=1, max_length=200, description="e.g. fees:stripe, suspense")]
    direction: Literal["debit", "credit"]
    amount: Amount
    currency: Currency


class AdjustRequest(_Request):
    reason: Reason
    legs: list[AdjustingLeg] = Field(min_length=2, max_length=20, description="balanced per currency")
    resolve: StrictBool = Field(True, description="the entry resolves the break once posted")


class ManualMatchRequest(_Request):
    counterpart: Annotated[StrictStr, Field(min_length=1, max_length=200)] = Field(
        description="for a partner's or bank's row: the ledger transaction id; for a ledger row: the partner's "
        "or bank's reference"
    )
    reason: Reason


class UnmatchRequest(_Request):
    reason: Reason


class BulkBreaksRequest(_Request):
    action: Literal["acknowledge", "note", "accept", "write_off"]
    break_ids: list[BreakIdText] = Field(min_length=1, max_length=100)
    reason: Reason
    until: Timestamp | None = Field(None, description="accept: when the acceptance lapses")
    dry_run: StrictBool = False


class ApproveRequest(_Request):
    reason: Reason | None = None


class RejectRequest(_Request):
    reason: Reason


class ReverseRequest(_Request):
    reason: Reason


class ErasureRequest(_Request):
    reason: Reason


LiabilityAccount = Annotated[
    StrictStr, Field(min_length=1, max_length=200, description="customer:<id>:wallet or suspense")
]


class ManualTransferRequest(_Request):
    from_account: LiabilityAccount
    to_account: LiabilityAccount
    amount: Amount
    currency: Currency
    reason: Reason


class BreakStep(BaseModel):
    at: Timestamp
    actor: str
    action: str
    state: BreakState
    reason: str | None
    reference: str | None = Field(description="a transaction, a manual match, a run, an attachment")


class BreakWork(BaseModel):
    object: Literal["break"] = "break"
    id: str
    state: BreakState
    assignee: str | None
    partner: str | None
    leg: str | None
    reason_code: str | None
    severity: str | None
    side: str | None
    reference: str | None
    amount: int | None
    difference: int | None
    currency: str | None
    opened_on: str | None
    age_days: int | None
    run_status: str | None = Field(description="open: the latest run still finds it; closed: it no longer does")
    accepted_until: Timestamp | None
    history: list[BreakStep]
    notes: list[BreakStep]


class BreakWorkList(BaseModel):
    object: Literal["list"] = "list"
    data: list[BreakWork]
    has_more: bool


class BulkOutcome(BaseModel):
    break_id: str
    outcome: Literal["would_succeed", "done", "requested", "executed", "error"]
    state: str | None = None
    request_id: str | None = None
    code: str | None = None


class BulkResult(BaseModel):
    object: Literal["bulk_result"] = "bulk_result"
    dry_run: bool
    data: list[BulkOutcome]


class OperatorRequest(BaseModel):
    object: Literal["operator_request"] = "operator_request"
    id: str
    kind: str
    status: Literal["pending", "approved", "rejected", "expired", "executed", "failed"]
    maker: str
    checker: str | None
    reason: str
    decision_reason: str | None
    target: str
    amounts: dict[str, int] | None = Field(description="what it moves, per currency (minor units)")
    created_at: Timestamp
    expires_at: Timestamp
    decided_at: Timestamp | None
    transactions: list[str] = Field(description="the ledger transactions it posted")


class OperatorRequestList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OperatorRequest]
    has_more: bool


class MatchHistory(BaseModel):
    at: Timestamp
    by: str
    did: Literal["matched", "undone"]


class ManualMatch(BaseModel):
    object: Literal["manual_match"] = "manual_match"
    id: str
    status: Literal["active", "undone"]
    break_id: str
    partner: str | None
    leg: str
    left: str
    right: str
    reason: str
    history: list[MatchHistory]


class AuditEntry(BaseModel):
    object: Literal["audit_entry"] = "audit_entry"
    seq: int
    at: Timestamp
    actor: str
    action: str
    reason: str
    target: str
    request_id: str | None
    approved_by: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    transactions: list[str]
    prev_hash: str
    hash: str


class OperatorIdentity(BaseModel):
    object: Literal["operator_identity"] = "operator_identity"
    key_id: str = Field(description="the API key's id (never its secret); signed in by IAP: `iap:<IAP's id>`")
    operator: str | None = Field(
        description="the person the key names (signed in by IAP: their Google account's email), as the audit "
        "log and maker-checker know them (request.maker, request.checker); null: a key naming nobody, which "
        "can read but not act"
    )
    scopes: list[str]
    authentication: Literal["api_key", "iap"] = Field(
        "api_key",
        description="how the caller signed in: an operator API key, or (cloud) their Google identity through "
        "Identity-Aware Proxy, in which case key_id is `iap:` + IAP's id of the person",
    )


class AuditEntryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEntry]
    has_more: bool
