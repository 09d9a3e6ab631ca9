"""HTTP layer of the v1 API: werkzeug routing (what Flask routes with) over functions-framework's Flask
request. One ROUTES table drives dispatch, scopes, parameter checks and the OpenAPI document
(shared.api.openapi), so a route cannot exist without being documented.

Order of checks: route (404 / 405) -> API key (401) -> rate limit (429) -> scope (403) -> query
parameters and body (400 / 413 / 415) -> Idempotency-Key (POST) -> the service (404 / 409 / 422).
Errors are {"error": {"type", "code", "message", "param"}}; nothing a client sends becomes a 5xx."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from shared.api import (
    apikeys,
    customers,
    idempotency,
    keys,
    models,
    operations,
    operator_accounts,
    operator_overview,
    operator_payments,
    operator_payouts,
    payments,
    service,
    statement_exports,
    statements,
    versions,
    webhooks,
)
from shared.api import iap as iap_auth
from shared.api.ratelimit import RateLimiter, retry_after_header
from shared.errors import ClientError

log = logging.getLogger("ledgerline.api")
MAX_BODY_BYTES = 64 << 10
ID_PATTERN = r"^[A-Za-z0-9_\-]{1,100}$"
TXN_PATTERN = r"^[A-Za-z0-9_\-:]{1,200}$"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug syntax: /v1/accounts/<id>
    operation_id: str
    summary: str
    scope: str
    response: type[BaseModel]
    call: Callable[..., BaseModel]
    request: type[BaseModel] | None = None
    query: tuple[Param, ...] = ()
    path_params: dict[str, dict] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # OpenAPI links: name -> (operation, id expr)
    status: int = 200  # the success status (201: a record was created)
    idempotency_required: bool = False  # POST without Idempotency-Key: 400 idempotency_key_missing
    # ... required only from this API version on (shared.api.versions): older integrations keep the old rule
    idempotency_required_from: str | None = None
    # False: the answer holds a secret, which an idempotency record must never store; the key is ignored
    replayable: bool = True
    start: str | None = None  # after success (and on a replay): Backend.start(start, response id)
    # the validated body as the idempotency record hashes it (e.g. an account number replaced by its HMAC)
    idempotency_view: Callable[[service.Backend, dict], dict] | None = None
    # body checks beyond the model's, run before the Idempotency-Key (a 400 leaves the key unused)
    check: Callable[[service.Backend, BaseModel], None] | None = None
    # headers of the success response (e.g. Cache-Control: no-store on a secret); documented in OpenAPI
    headers: dict[str, str] = field(default_factory=dict)
    # media types a GET may answer besides JSON (the call returns a statements.Rendered for them); OpenAPI
    # lists each under the success response
    media_types: tuple[str, ...] = ()


CUSTOMER_LINKS = {
    "getCustomer": ("getCustomer", "$response.body#/id"),
    "updateCustomer": ("updateCustomer", "$response.body#/id"),
    "getAccount": ("getAccount", "$response.body#/id"),
}
# API version 2026-12-02: an Idempotency-Key on every POST that moves money (shared.api.versions)
MOVES_MONEY = "2026-12-02"
HOLD_LINKS = {
    "getHold": ("getHold", "$response.body#/id"),
    "captureHold": ("captureHold", "$response.body#/id"),
    "voidHold": ("voidHold", "$response.body#/id"),
}

LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "page size")
AFTER_TXN = Param("starting_after", {"type": "string", "pattern": TXN_PATTERN}, "cursor: the last id seen")
CUSTOMER_FILTER = Param("customer", {"type": "string", "pattern": ID_PATTERN}, "only those from or to this customer")
AFTER = Param("starting_after", {"type": "string", "minLength": 1, "maxLength": 1500}, "cursor: the last id seen")


RAW_EVENT_KEY = {"type": "string", "minLength": 3, "maxLength": 300, "description": "<partner>:<partner event id>"}


def _q(ctx, name):
    return ctx.query.get(name)


BODY_ID = "$response.body#/id"
PAYOUT_ID = {"id": {"type": "string", "pattern": ID_PATTERN}}
PAYOUT_STATES = ["pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"]
RESOURCE_ID = {"id": {"type": "string", "pattern": ID_PATTERN}}
ENDPOINT_LINKS = {
    "getWebhookEndpoint": ("getWebhookEndpoint", BODY_ID),
    "updateWebhookEndpoint": ("updateWebhookEndpoint", BODY_ID),
    "getWebhookEndpointSecret": ("getWebhookEndpointSecret", BODY_ID),
    "rotateWebhookEndpointSecret": ("rotateWebhookEndpointSecret", BODY_ID),
    "listWebhookAttempts": ("listWebhookAttempts", BODY_ID),
    "replayWebhookEvents": ("replayWebhookEvents", BODY_ID),
    "deleteWebhookEndpoint": ("deleteWebhookEndpoint", BODY_ID),
}
EVENT_TYPE = Param("type", {"type": "string", "enum": models.EVENT_TYPES}, "events of this type only")
NO_STORE = {"Cache-Control": "no-store"}
BREAK_PATH = {"id": {"type": "string", "pattern": ID_PATTERN}}
ACCOUNT_PATH = {"account": {"type": "string", "pattern": TXN_PATTERN}}
REQUEST_LINKS = {
    "getOperatorRequest": ("getOperatorRequest", BODY_ID),
    "approveOperatorRequest": ("approveOperatorRequest", BODY_ID),
    "rejectOperatorRequest": ("rejectOperatorRequest", BODY_ID),
}
BREAK_STATES = ["open", "acknowledged", "resolved", "accepted", "written_off"]
OVERVIEW_DAYS = Param("days", {"type": "integer", "minimum": 1, "maximum": 90, "default": 14}, "UTC days, ending today")
LIMITS_PATH = {
    "customer": {"type": "string", "pattern": ID_PATTERN},
    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
}


ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/v1/api-keys", "createApiKey", "A new API key of your tenant (the secret is shown once)", "admin",
        models.ApiKeyCreated, lambda c: apikeys.create_key(c.backend, c.principal, c.body),
        request=models.ApiKeyRequest, errors=(403,), status=201, replayable=False, headers=NO_STORE,
    ),
    Route(
        "GET", "/v1/api-keys", "listApiKeys", "Your tenant's API keys, newest first (never a secret)", "admin",
        models.ApiKeyList, lambda c: apikeys.list_keys(c.backend, c.principal),
    ),
    Route(
        "POST", "/v1/api-keys/<id>/revoke", "revokeApiKey", "Revoke a key at once", "admin",
        models.ApiKey, lambda c: apikeys.revoke_key(c.backend, c.principal, c.args["id"]),
        request=models.VoidRequest, path_params={"id": {"type": "string", "pattern": "^[0-9a-f]{16}$"}},
        errors=(404,),
    ),
    Route(
        "POST", "/v1/api-keys/<id>/rotate", "rotateApiKey",
        "A new key with the same scopes; the old one works for the overlap, then stops", "admin",
        models.ApiKeyCreated, lambda c: apikeys.rotate_key(c.backend, c.principal, c.args["id"], c.body),
        request=models.RotateKeyRequest, path_params={"id": {"type": "string", "pattern": "^[0-9a-f]{16}$"}},
        errors=(403, 404), status=201, replayable=False, headers=NO_STORE,
    ),
    Route(
        "POST", "/v1/customers", "createCustomer", "A new customer of your tenant (your id or one made up)", "write",
        models.Customer, lambda c: customers.create_customer(c.backend, c.tenant, c.body, c.attempt),
        request=models.CustomerRequest, errors=(409,), status=201, links=CUSTOMER_LINKS,
    ),
    Route(
        "GET", "/v1/customers", "listCustomers", "Your customers, newest first (cursor pagination)", "read",
        models.CustomerList,
        lambda c: customers.list_customers(
            c.backend, c.tenant, limit=service.check_limit(_q(c, "limit")), starting_after=_q(c, "starting_after"),
            metadata=_q(c, "metadata"),
        ),
        query=(
            LIMIT, Param("starting_after", {"type": "string", "pattern": ID_PATTERN}, "cursor: the last id seen"),
            Param("metadata", {"type": "string", "minLength": 2, "maxLength": 541, "pattern": "^[^:]{1,40}:.{0,500}$"},
                  "key:value — only customers whose metadata has that value"),
        ),
    ),
    Route(
        "GET", "/v1/customers/<id>", "getCustomer", "A customer of your tenant", "read",
        models.Customer, lambda c: customers.get_customer(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    Route(
        "PATCH", "/v1/customers/<id>", "updateCustomer", "Merge metadata into a customer's (\"\" removes a key)",
        "write", models.Customer,
        lambda c: customers.update_customer(c.backend, c.tenant, c.args["id"], c.body),
        request=models.CustomerUpdate, path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/accounts/<id>", "getAccount", "An account (a customer wallet of your tenant)", "read",
        models.Account, lambda c: service.get_account(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/accounts/<id>/balance", "getBalance", "Balances per currency, now or as of an instant", "read",
        models.Balance,
        lambda c: service.get_balance(
            c.backend, c.tenant, c.args["id"], _q(c, "as_of"), _q(c, "clock") or "recorded"
        ),
        query=(
            Param("as_of", {"type": "string", "format": "date-time"}, "balances as they stood at this instant"),
            Param("clock", {"type": "string", "enum": ["recorded", "effective"], "default": "recorded"},
                  "recorded: what the ledger knew then; effective: by the money's effective time"),
        ),
        path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/accounts/<id>/entries", "listEntries", "Entries in ledger order (cursor pagination)", "read",
        models.EntryList,
        lambda c: service.list_entries(
            c.backend, c.tenant, c.args["id"], limit=service.check_limit(_q(c, "limit")),
            starting_after=_q(c, "starting_after"), start=_q(c, "from"), end=_q(c, "to"),
        ),
        query=(
            LIMIT, AFTER,
            Param("from", {"type": "string", "format": "date-time"}, "recorded at or after (inclusive)"),
            Param("to", {"type": "string", "format": "date-time"}, "recorded at or before (inclusive)"),
        ),
        path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    # ---- statements (shared/api/statements.py, docs/api.md "Statements")
    Route(
        "GET", "/v1/accounts/<id>/statements/<period>", "getStatement",
        "A statement: per currency the opening balance, every entry with the running balance, totals in and "
        "out, the closing balance; JSON, CSV or PDF", "read",
        statements.Statement,
        lambda c: statements.get_statement(
            c.backend, c.tenant, c.args["id"], c.args["period"], start=_q(c, "from"), end=_q(c, "to"),
            clock=_q(c, "clock"), currency=_q(c, "currency"), format=_q(c, "format"),
        ),
        query=(
            Param("from", {"type": "string", "format": "date-time"}, "period custom: the start (inclusive)"),
            Param("to", {"type": "string", "format": "date-time"},
                  "period custom: the end (exclusive); at most 366 days after from"),
            Param("clock", {"type": "string", "enum": ["recorded", "effective"], "default": "recorded"},
                  "which time places an entry in the period (and the balances), as for the balance"),
            Param("currency", {"type": "string", "minLength": 3, "maxLength": 3}, "this currency only"),
            Param("format", {"type": "string", "enum": list(statements.FORMATS), "default": "json"},
                  "json, csv (RFC 4180) or pdf"),
        ),
        path_params={
            "id": {"type": "string", "pattern": ID_PATTERN},
            "period": {"type": "string", "minLength": 1, "maxLength": 7,
                       "description": "YYYY-MM (a calendar month, UTC) or custom (with from and to)"},
        },
        errors=(404,), media_types=tuple(statements.MEDIA_TYPES.values()),
    ),
    Route(
        "POST", "/v1/accounts/<id>/statements/exports", "createStatementExport",
        "Export a statement of up to ten years to a file (a job: poll the export, then download it)", "read",
        statement_exports.StatementExport,
        lambda c: statement_exports.create_export(c.backend, c.tenant, c.args["id"], c.body, c.attempt),
        request=statement_exports.StatementExportRequest, path_params={"id": {"type": "string", "pattern": ID_PATTERN}},
        errors=(404,), status=202, idempotency_required=True,
        links={"getStatementExport": ("getStatementExport", BODY_ID)},
    ),
    Route(
        "GET", "/v1/statement-exports/<id>", "getStatementExport",
        "A statement export: its status and, once done, a signed download URL (15 minutes)", "read",
        statement_exports.StatementExport,
        lambda c: statement_exports.get_export(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": ID_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/transactions/<id>", "getTransaction", "A transaction with its entries on your accounts", "read",
        models.Transaction, lambda c: service.get_transaction(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": TXN_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/transfers", "listTransfers", "Transfers made through the API, newest first", "read",
        models.TransferList,
        lambda c: service.list_transfers(
            c.backend, c.tenant, customer=_q(c, "customer"), limit=service.check_limit(_q(c, "limit")),
            starting_after=_q(c, "starting_after"),
        ),
        query=(LIMIT, AFTER_TXN, CUSTOMER_FILTER), errors=(404,),
    ),
    Route(
        "GET", "/v1/transfers/<id>", "getTransfer", "A transfer made through the API", "read",
        models.Transfer, lambda c: service.get_transfer(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": TXN_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/holds", "listHolds", "Holds made through the API, newest first, of a status or all", "read",
        models.HoldList,
        lambda c: service.list_holds(
            c.backend, c.tenant, customer=_q(c, "customer"), status=_q(c, "status"),
            limit=service.check_limit(_q(c, "limit")), starting_after=_q(c, "starting_after"),
        ),
        query=(
            LIMIT, AFTER_TXN, CUSTOMER_FILTER,
            Param("status", {"type": "string", "enum": ["open", "captured", "voided", "expired"]},
                  "holds of this status now (an open hold past its expiry is expired)"),
        ),
        errors=(404,),
    ),
    Route(
        "POST", "/v1/transfers", "createTransfer", "Move money between two accounts of your tenant", "write",
        models.Transfer, lambda c: service.create_transfer(c.backend, c.tenant, c.body, c.attempt),
        request=models.TransferRequest, errors=(404, 409, 422),
        links={"getTransaction": ("getTransaction", "$response.body#/transaction")},
        idempotency_required_from=MOVES_MONEY,
    ),
    Route(
        "POST", "/v1/holds", "createHold", "Reserve money (two-phase: capture or void later)", "write",
        models.Hold, lambda c: service.create_hold(c.backend, c.tenant, c.body, c.attempt),
        request=models.HoldRequest, errors=(404, 409, 422), links=HOLD_LINKS, idempotency_required_from=MOVES_MONEY,
    ),
    Route(
        "GET", "/v1/holds/<id>", "getHold", "A hold and what is left of it", "read",
        models.Hold, lambda c: service.get_hold(c.backend, c.tenant, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": TXN_PATTERN}}, errors=(404,),
    ),
    Route(
        "POST", "/v1/holds/<id>/capture", "captureHold", "Capture all or part of a hold", "write",
        models.Hold, lambda c: service.capture_hold(c.backend, c.tenant, c.args["id"], c.body, c.attempt),
        request=models.CaptureRequest, path_params={"id": {"type": "string", "pattern": TXN_PATTERN}},
        errors=(404, 409, 422), idempotency_required_from=MOVES_MONEY,
    ),
    Route(
        "POST", "/v1/holds/<id>/void", "voidHold", "Release a hold", "write",
        models.Hold, lambda c: service.void_hold(c.backend, c.tenant, c.args["id"], c.attempt),
        request=models.VoidRequest, path_params={"id": {"type": "string", "pattern": TXN_PATTERN}},
        errors=(404, 409, 422), idempotency_required_from=MOVES_MONEY,
    ),
    Route(
        "GET", "/v1/dead-letters", "listDeadLetters", "Dead letters, newest first (operators)", "operator",
        models.DeadLetterList,
        lambda c: service.list_dead_letters(
            c.backend, status=_q(c, "status") or "open", source=_q(c, "source"), kind=_q(c, "kind"),
            reason_code=_q(c, "reason_code"), partner=_q(c, "partner"),
            limit=service.check_limit(_q(c, "limit")), starting_after=_q(c, "starting_after"),
        ),
        query=(
            LIMIT, AFTER,
            Param("status", {"type": "string", "enum": ["open", "replayed"], "default": "open"}, "status"),
            Param("source", {"type": "string", "enum": ["task", "pubsub", "parked"]}, "where it came from"),
            Param("kind", {"type": "string", "maxLength": 100}, "task kind, or canonical-event"),
            Param("reason_code", {"type": "string", "maxLength": 100}, "e.g. exhausted, max_delivery_attempts"),
            Param("partner", {"type": "string", "maxLength": 100}, "partner"),
        ),
    ),
    Route(
        "POST", "/v1/dead-letters/<id>/replay", "replayDeadLetter",
        "Replay a dead letter through the normal idempotent path, as an operator request (a reason; a second "
        "operator's approval above the threshold)", "operator",
        models.Replay, lambda c: operations.replay_dead_letter(c.backend, c.principal, c.args["id"], c.body),
        request=models.ReplayRequest, path_params={"id": {"type": "string", "minLength": 1, "maxLength": 1500}},
        errors=(403, 404, 409, 422),
    ),
    Route(
        "POST", "/v1/operator/dead-letters/replay", "replayDeadLetters",
        "Replay the open dead letters a filter selects, each as an operator request: dry-run first, then send its "
        "selection back (operators)", "operator",
        models.BulkReplay, lambda c: operations.replay_dead_letters(c.backend, c.principal, c.body),
        request=models.BulkReplayRequest, errors=(403, 409, 422), idempotency_required=True,
    ),
    Route(
        "GET", "/v1/reconciliation/runs", "listReconciliationRuns", "Reconciliation runs, newest first (operators)",
        "operator", models.ReconRunList,
        lambda c: service.list_recon_runs(
            c.backend, partner=_q(c, "partner"), status=_q(c, "status"),
            limit=service.check_limit(_q(c, "limit")), starting_after=_q(c, "starting_after"),
        ),
        query=(
            LIMIT, AFTER,
            Param("partner", {"type": "string", "maxLength": 100}, "partner"),
            Param("status", {"type": "string", "maxLength": 100}, "run status"),
        ),
    ),
    Route(
        "GET", "/v1/reconciliation/breaks", "listReconciliationBreaks", "Reconciliation breaks (operators)",
        "operator", models.ReconBreakList,
        lambda c: service.list_recon_breaks(
            c.backend, status=_q(c, "status"), run_id=_q(c, "run_id"), partner=_q(c, "partner"),
            severity=_q(c, "severity"), limit=service.check_limit(_q(c, "limit")),
            starting_after=_q(c, "starting_after"),
        ),
        query=(
            LIMIT, AFTER,
            Param("status", {"type": "string", "enum": ["open", "closed"]}, "break status"),
            Param("run_id", {"type": "string", "maxLength": 200}, "the run that wrote the break"),
            Param("partner", {"type": "string", "maxLength": 100}, "partner"),
            Param("severity", {"type": "string", "enum": ["low", "medium", "high", "critical"]}, "severity"),
        ),
    ),
    Route(
        "GET", "/v1/operator/balances", "getOperatorBalances",
        "The books per currency: system accounts and customer liabilities in total (operators)", "operator",
        operator_overview.OperatorBalances, lambda c: operator_overview.balances(c.backend),
    ),
    Route(
        "GET", "/v1/operator/volume", "getOperatorVolume",
        "Partner-event postings per UTC day, partner and currency: count and gross (operators)", "operator",
        operator_overview.OperatorVolume, lambda c: operator_overview.volume(c.backend, _q(c, "days")),
        query=(OVERVIEW_DAYS,),
    ),
    Route(
        "GET", "/v1/operator/health", "getOperatorHealth",
        "Break ageing per severity, webhook delivery success, open and stuck payouts (operators)", "operator",
        operator_overview.OperatorHealth, lambda c: operator_overview.health(c.backend, _q(c, "days")),
        query=(OVERVIEW_DAYS,),
    ),
    Route(
        "POST", "/v1/payouts", "createPayout", "Pay out of a customer's wallet to a bank account (ACH)", "write",
        models.Payout, lambda c: payments.create_payout(c.backend, c.tenant, c.body, c.attempt),
        request=models.PayoutRequest, errors=(404, 409, 422), status=201, idempotency_required=True,
        start="payout-step", idempotency_view=payments.idempotency_view,
        check=lambda backend, body: payments.check_payout(body),
        links={"getPayout": ("getPayout", BODY_ID), "cancelPayout": ("cancelPayout", BODY_ID)},
    ),
    Route(
        "GET", "/v1/payouts", "listPayouts", "A customer's payouts, newest first (cursor pagination)", "read",
        models.PayoutList,
        lambda c: payments.list_payouts(
            c.backend, c.tenant, _q(c, "customer"), _q(c, "status"), service.check_limit(_q(c, "limit")),
            _q(c, "starting_after"),
        ),
        query=(
            Param("customer", {"type": "string", "pattern": ID_PATTERN}, "the customer (a wallet of your tenant)",
                  required=True),
            Param("status", {"type": "string", "enum": PAYOUT_STATES}, "payouts in this state only"),
            LIMIT, AFTER,
        ),
        errors=(404,),
    ),
    Route(
        "GET", "/v1/payouts/<id>", "getPayout", "A payout with its attempts and timeline", "read",
        models.Payout, lambda c: payments.get_payout(c.backend, c.tenant, c.args["id"]),
        path_params=PAYOUT_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/payouts/<id>/cancel", "cancelPayout", "Cancel a payout before submission (releases its hold)",
        "write", models.Payout, lambda c: payments.cancel_payout(c.backend, c.tenant, c.args["id"]),
        request=models.CancelRequest, path_params=PAYOUT_ID, errors=(404, 409, 422),
    ),
    Route(
        "GET", "/v1/operator/payouts", "listOperatorPayouts",
        "Every tenant's payouts, newest first; attention=true: stuck or unknown at a partner (operators)",
        "operator", operator_payouts.OperatorPayoutList,
        lambda c: operator_payouts.list_payouts(c.backend, c.query, service.check_limit(_q(c, "limit"))),
        query=(
            LIMIT, AFTER,
            Param("status", {"type": "string", "enum": PAYOUT_STATES}, "payouts in this state only"),
            Param("partner", {"type": "string", "maxLength": 100}, "attempted at this partner"),
            Param("customer", {"type": "string", "pattern": ID_PATTERN}, "of this customer"),
            Param("tenant", {"type": "string", "pattern": ID_PATTERN}, "of this tenant"),
            Param("attention", {"type": "string", "enum": ["true", "false"]}, "stuck or unknown only"),
        ),
    ),
    Route(
        "GET", "/v1/operator/payouts/<id>", "getOperatorPayout",
        "A payout with its timeline: state changes, attempts per partner, status queries (operators)", "operator",
        operator_payouts.OperatorPayoutDetail, lambda c: operator_payouts.get_payout(c.backend, c.args["id"]),
        path_params=PAYOUT_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/operator/payouts/<id>/cancel", "cancelOperatorPayout",
        "Cancel a payout before submission, with a reason kept in the audit log (operators)", "operator",
        operator_payouts.OperatorPayoutDetail,
        lambda c: operator_payouts.cancel_payout(c.backend, c.principal, c.args["id"], c.body),
        request=operator_payouts.OperatorCancelRequest, path_params=PAYOUT_ID, errors=(403, 404, 409),
        idempotency_required=True,
    ),
    Route(
        "GET", "/v1/operator/payments", "listOperatorPayments", "Every tenant's pay-ins, newest first (operators)",
        "operator", operator_payments.OperatorPaymentList,
        lambda c: operator_payments.list_payments(c.backend, c.query, service.check_limit(_q(c, "limit"))),
        query=(
            LIMIT, AFTER,
            Param("status", {"type": "string", "enum": ["processing", "succeeded", "failed"]}, "in this state only"),
            Param("customer", {"type": "string", "pattern": ID_PATTERN}, "of this customer"),
            Param("tenant", {"type": "string", "pattern": ID_PATTERN}, "of this tenant"),
            Param("processor", {"type": "string", "maxLength": 100}, "through this card processor"),
        ),
    ),
    Route(
        "GET", "/v1/operator/payments/<id>", "getOperatorPayment",
        "A pay-in with its refunds, timeline and the ledger transactions it booked (operators)", "operator",
        operator_payments.OperatorPaymentDetail, lambda c: operator_payments.get_payment(c.backend, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/payments", "createPayment", "Pay in through the card processor", "write",
        models.Payment, lambda c: payments.create_payment(c.backend, c.tenant, c.body, c.attempt),
        request=models.PaymentRequest, errors=(404, 409, 422), status=201, idempotency_required=True,
        start="payment-step",
        links={"getPayment": ("getPayment", BODY_ID), "refundPayment": ("refundPayment", BODY_ID)},
    ),
    Route(
        "GET", "/v1/payments/<id>", "getPayment", "A pay-in with its refunds and timeline", "read",
        models.Payment, lambda c: payments.get_payment(c.backend, c.tenant, c.args["id"]),
        path_params=PAYOUT_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/payments/<id>/refunds", "refundPayment", "Refund all or part of a succeeded pay-in", "write",
        models.Refund, lambda c: payments.create_refund(c.backend, c.tenant, c.args["id"], c.body, c.attempt),
        request=models.RefundRequest, path_params=PAYOUT_ID, errors=(404, 409, 422), status=201,
        idempotency_required=True, start="refund-step",
    ),
    Route(
        "POST", "/v1/webhook-endpoints", "createWebhookEndpoint",
        "Add a webhook endpoint (its secret: GET …/secret, never in this response)", "write",
        models.WebhookEndpoint, lambda c: webhooks.create_endpoint(c.backend, c.tenant, c.body, c.attempt),
        request=models.WebhookEndpointRequest, errors=(409,), status=201, idempotency_required=True,
        check=webhooks.check_endpoint, links=ENDPOINT_LINKS,
    ),
    Route(
        "GET", "/v1/webhook-endpoints", "listWebhookEndpoints", "Your webhook endpoints, oldest first", "read",
        models.WebhookEndpointList, lambda c: webhooks.list_endpoints(c.backend, c.tenant),
    ),
    Route(
        "GET", "/v1/webhook-endpoints/<id>", "getWebhookEndpoint", "A webhook endpoint", "read",
        models.WebhookEndpoint, lambda c: webhooks.get_endpoint(c.backend, c.tenant, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "PATCH", "/v1/webhook-endpoints/<id>", "updateWebhookEndpoint",
        "Change a webhook endpoint's URL, event types, description, metadata, or enable / disable it", "write",
        models.WebhookEndpoint,
        lambda c: webhooks.update_endpoint(c.backend, c.tenant, c.args["id"], c.body),
        request=models.WebhookEndpointUpdate, path_params=RESOURCE_ID, errors=(404, 409),
        check=webhooks.check_endpoint,
    ),
    Route(
        "DELETE", "/v1/webhook-endpoints/<id>", "deleteWebhookEndpoint",
        "Delete a webhook endpoint for good (its pending deliveries are skipped)", "write",
        models.WebhookEndpointDeleted, lambda c: webhooks.delete_endpoint(c.backend, c.tenant, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/webhook-endpoints/<id>/rotate-secret", "rotateWebhookEndpointSecret",
        "Make a new signing secret; the previous one keeps signing for overlap_seconds", "write",
        models.WebhookEndpoint,
        lambda c: webhooks.rotate_secret(c.backend, c.tenant, c.args["id"], c.body),
        request=models.RotateSecretRequest, path_params=RESOURCE_ID, errors=(404,), idempotency_required=True,
        check=webhooks.check_rotate,
    ),
    Route(
        "POST", "/v1/webhook-endpoints/<id>/verify", "verifyWebhookEndpoint",
        "Send back the token published to a Pub/Sub destination: proves the topic is yours, enables it",
        "write", models.WebhookEndpoint,
        lambda c: webhooks.verify_endpoint(c.backend, c.tenant, c.args["id"], c.body),
        request=models.VerifyEndpointRequest, path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "GET", "/v1/webhook-endpoints/<id>/secret", "getWebhookEndpointSecret",
        "The endpoint's signing secrets (write scope; Cache-Control: no-store)", "write",
        models.WebhookEndpointSecret, lambda c: webhooks.get_secret(c.backend, c.tenant, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,), headers=NO_STORE,
    ),
    Route(
        "GET", "/v1/webhook-endpoints/<id>/attempts", "listWebhookAttempts",
        "The endpoint's delivery attempts, newest first (cursor pagination)", "read",
        models.WebhookAttemptList,
        lambda c: webhooks.list_attempts(
            c.backend, c.tenant, c.args["id"], service.check_limit(_q(c, "limit")), _q(c, "starting_after")
        ),
        query=(LIMIT, AFTER), path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/webhook-endpoints/<id>/replay", "replayWebhookEvents",
        "Send the endpoint a window of events again (a replay job), or count them (dry_run)", "write",
        models.WebhookReplay,
        lambda c: webhooks.replay(c.backend, c.tenant, c.args["id"], c.body, c.attempt),
        request=models.WebhookReplayRequest, path_params=RESOURCE_ID, errors=(404, 409), status=201,
        idempotency_required=True, check=webhooks.check_replay,
        links={"getWebhookReplay": ("getWebhookReplay", BODY_ID)},
    ),
    Route(
        "GET", "/v1/webhook-replays/<id>", "getWebhookReplay", "A replay job and how far it got", "read",
        models.WebhookReplay, lambda c: webhooks.get_replay(c.backend, c.tenant, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "GET", "/v1/events", "listEvents", "The events sent to you, newest first (cursor pagination)", "read",
        models.EventList,
        lambda c: webhooks.list_events(
            c.backend, c.tenant, _q(c, "type"), service.check_limit(_q(c, "limit")), _q(c, "starting_after")
        ),
        query=(EVENT_TYPE, LIMIT, AFTER),
    ),
    Route(
        "GET", "/v1/events/<id>", "getEvent", "An event exactly as it was sent", "read",
        models.Event, lambda c: webhooks.get_event(c.backend, c.tenant, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "GET", "/v1/operator/me", "getOperatorIdentity",
        "Who this operator key is: the person it names (a request's maker or checker) and its scopes (operators)",
        "operator", models.OperatorIdentity, lambda c: operations.identity(c.principal),
    ),
    Route(
        "GET", "/v1/operator/accounts/<account>", "getOperatorAccount",
        "Any ledger account, cross-tenant: a customer id or a ledger account name; balances (as_of), open holds "
        "(operators)", "operator", operator_accounts.OperatorAccount,
        lambda c: operator_accounts.get_account(
            c.backend, c.args["account"], _q(c, "as_of"), _q(c, "clock") or "recorded"
        ),
        query=(
            Param("as_of", {"type": "string", "format": "date-time"}, "the balance at this instant"),
            Param("clock", {"type": "string", "enum": ["recorded", "effective"], "default": "recorded"}, "which time"),
        ),
        path_params=ACCOUNT_PATH, errors=(404,),
    ),
    Route(
        "GET", "/v1/operator/accounts/<account>/entries", "listOperatorAccountEntries",
        "An account's entries in ledger order with running balances (wallets; per shard: none) (operators)",
        "operator", operator_accounts.OperatorEntryList,
        lambda c: operator_accounts.list_entries(
            c.backend, c.args["account"], limit=service.check_limit(_q(c, "limit")),
            starting_after=_q(c, "starting_after"), start=_q(c, "from"), end=_q(c, "to"),
        ),
        query=(
            LIMIT, AFTER_TXN,
            Param("from", {"type": "string", "format": "date-time"}, "recorded at or after"),
            Param("to", {"type": "string", "format": "date-time"}, "recorded at or before"),
        ),
        path_params=ACCOUNT_PATH, errors=(404,),
    ),
    Route(
        "GET", "/v1/operator/transactions/<id>", "getOperatorTransaction",
        "A transaction with all its entries, its links and its raw partner event (operators)", "operator",
        operator_accounts.OperatorTransaction,
        lambda c: operator_accounts.get_transaction(c.backend, c.args["id"]),
        path_params={"id": {"type": "string", "pattern": TXN_PATTERN}}, errors=(404,),
    ),
    Route(
        "GET", "/v1/operator/raw-events/<key>", "getOperatorRawEvent",
        "A partner's event exactly as intake stored it: raw body (account numbers masked), kept headers, "
        "deliveries (operators)", "operator", operator_accounts.RawEvent,
        lambda c: operator_accounts.get_raw_event(c.backend, c.args["key"]),
        path_params={"key": RAW_EVENT_KEY},
        errors=(404,),
    ),
    Route(
        "GET", "/v1/operator/search", "searchOperator",
        "What an id is: a transaction, a customer, a ledger account or a partner event; exact match (operators)",
        "operator", operator_accounts.SearchResults, lambda c: operator_accounts.search(c.backend, _q(c, "q")),
        query=(Param("q", {"type": "string", "minLength": 1, "maxLength": 200}, "an id or a name", required=True),),
    ),
    Route(
        "GET", "/v1/operator/breaks", "listBreaks",
        "Breaks with their work, oldest first: the day's queue (operators)", "operator", models.BreakWorkList,
        lambda c: operations.list_breaks(c.backend, c.query, service.check_limit(_q(c, "limit"))),
        query=(
            LIMIT, AFTER,
            Param("state", {"type": "string", "enum": BREAK_STATES}, "work state"),
            Param("severity", {"type": "string", "enum": ["low", "medium", "high", "critical"]}, "severity"),
            Param("partner", {"type": "string", "maxLength": 100}, "partner"),
            Param("currency", {"type": "string", "pattern": "^[A-Za-z]{3}$"}, "currency"),
            Param("assignee", {"type": "string", "maxLength": 200}, "the operator who took it"),
            Param("reason_code", {"type": "string", "maxLength": 100}, "e.g. amount_mismatch"),
            Param("min_age_days", {"type": "integer", "minimum": 0, "maximum": 3650}, "opened at least this long ago"),
        ),
    ),
    Route(
        "GET", "/v1/operator/breaks/<id>", "getBreak", "A break with its work: state, history, notes (operators)",
        "operator", models.BreakWork, lambda c: operations.get_break(c.backend, c.args["id"]),
        path_params=BREAK_PATH, errors=(404,),
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/acknowledge", "acknowledgeBreak", "Take a break: assigned to you (operators)",
        "operator", models.BreakWork,
        lambda c: operations.acknowledge(c.backend, c.principal, c.args["id"], c.body),
        request=models.AcknowledgeRequest, path_params=BREAK_PATH, errors=(403, 404, 409),
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/notes", "noteBreak",
        "Add a note or an attachment by reference to a break, in any state (operators)", "operator",
        models.BreakWork, lambda c: operations.note(c.backend, c.principal, c.args["id"], c.body),
        request=models.NoteRequest, path_params=BREAK_PATH, errors=(403, 404, 409, 422),
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/accept", "acceptBreak",
        "Accept a known difference until a date; another reason or amount reopens it (operators)", "operator",
        models.BreakWork, lambda c: operations.accept(c.backend, c.principal, c.args["id"], c.body),
        request=models.AcceptRequest, path_params=BREAK_PATH, errors=(403, 404, 409, 422),
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/write-off", "writeOffBreak",
        "Ask to write the break's difference off: a request a second operator approves (operators)", "operator",
        models.OperatorRequest, lambda c: operations.write_off(c.backend, c.principal, c.args["id"], c.body),
        request=models.WriteOffRequest, path_params=BREAK_PATH, errors=(403, 404, 409, 422), status=201,
        idempotency_required=True, links=REQUEST_LINKS,
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/adjustments", "adjustBreak",
        "Ask for an adjusting entry with your own legs (approved above the threshold) (operators)", "operator",
        models.OperatorRequest, lambda c: operations.adjust(c.backend, c.principal, c.args["id"], c.body),
        request=models.AdjustRequest, path_params=BREAK_PATH, errors=(403, 404, 409, 422), status=201,
        idempotency_required=True, links=REQUEST_LINKS,
    ),
    Route(
        "POST", "/v1/operator/breaks/<id>/manual-match", "matchBreak",
        "Pair the break's row with a counterpart the cascade did not pair; kept for later runs (operators)",
        "operator", models.ManualMatch,
        lambda c: operations.manual_match(c.backend, c.principal, c.args["id"], c.body),
        request=models.ManualMatchRequest, path_params=BREAK_PATH, errors=(403, 404, 409, 422), status=201,
        links={"undoManualMatch": ("undoManualMatch", BODY_ID)},
    ),
    Route(
        "POST", "/v1/operator/manual-matches/<id>/undo", "undoManualMatch",
        "Undo a manual match: kept as history, the break opens again (operators)", "operator", models.ManualMatch,
        lambda c: operations.unmatch(c.backend, c.principal, c.args["id"], c.body),
        request=models.UnmatchRequest, path_params=RESOURCE_ID, errors=(403, 404, 409),
    ),
    Route(
        "POST", "/v1/operator/breaks/bulk", "bulkBreaks",
        "One action on up to 100 breaks, each on its own; dry_run says what each would do (operators)", "operator",
        models.BulkResult, lambda c: operations.bulk(c.backend, c.principal, c.body),
        request=models.BulkBreaksRequest, errors=(403, 422),
    ),
    Route(
        "GET", "/v1/operator/requests", "listOperatorRequests",
        "Maker-checker requests, newest first: the approvals inbox (operators)", "operator",
        models.OperatorRequestList,
        lambda c: operations.list_requests(
            c.backend, _q(c, "status"), service.check_limit(_q(c, "limit")), _q(c, "starting_after")
        ),
        query=(
            LIMIT,
            Param("starting_after", {"type": "string", "pattern": ID_PATTERN}, "cursor: the last request id seen"),
            Param("status", {"type": "string", "enum": ["pending", "approved", "rejected", "expired", "executed",
                                                         "failed"]}, "requests in this state only"),
        ),
    ),
    Route(
        "GET", "/v1/operator/requests/<id>", "getOperatorRequest", "A maker-checker request (operators)", "operator",
        models.OperatorRequest, lambda c: operations.get_request(c.backend, c.args["id"]),
        path_params=RESOURCE_ID, errors=(404,),
    ),
    Route(
        "POST", "/v1/operator/requests/<id>/approve", "approveOperatorRequest",
        "Approve another operator's request: it executes at once (operators; never your own)", "operator",
        models.OperatorRequest, lambda c: operations.approve(c.backend, c.principal, c.args["id"], c.body),
        request=models.ApproveRequest, path_params=RESOURCE_ID, errors=(403, 404, 409, 422),
    ),
    Route(
        "POST", "/v1/operator/requests/<id>/reject", "rejectOperatorRequest",
        "Reject a request: nothing moves (operators)", "operator",
        models.OperatorRequest, lambda c: operations.reject(c.backend, c.principal, c.args["id"], c.body),
        request=models.RejectRequest, path_params=RESOURCE_ID, errors=(403, 404, 409),
    ),
    Route(
        "POST", "/v1/operator/transactions/<id>/reverse", "reverseTransaction",
        "Ask to reverse a posted transaction (append-only correction, at most once; approved above the "
        "threshold) (operators)", "operator",
        models.OperatorRequest, lambda c: operations.reverse(c.backend, c.principal, c.args["id"], c.body),
        request=models.ReverseRequest, path_params={"id": {"type": "string", "pattern": TXN_PATTERN}},
        errors=(403, 404, 409, 422), status=201, idempotency_required=True, links=REQUEST_LINKS,
    ),
    Route(
        "POST", "/v1/operator/transfers", "createManualTransfer",
        "Ask to move money between wallets / suspense (e.g. a payment in suspense to its customer): approved "
        "by a second operator at or above the threshold (operators)", "operator",
        models.OperatorRequest, lambda c: operations.manual_transfer(c.backend, c.principal, c.body),
        request=models.ManualTransferRequest, errors=(403, 409, 422), status=201, idempotency_required=True,
        links=REQUEST_LINKS,
    ),
    Route(
        "POST", "/v1/operator/customers/<id>/erasure", "eraseCustomer",
        "Ask to erase a customer's personal data, keeping the books: a request a second operator approves "
        "(operators)", "operator",
        models.OperatorRequest, lambda c: operations.erase_customer(c.backend, c.principal, c.args["id"], c.body),
        request=models.ErasureRequest, path_params=RESOURCE_ID, errors=(403, 404, 409, 422), status=201,
        idempotency_required=True, links=REQUEST_LINKS,
    ),
    Route(
        "GET", "/v1/audit-log", "listAuditLog", "The operator audit log, newest first (operators)", "operator",
        models.AuditEntryList,
        lambda c: operations.audit_log(c.backend, c.query, service.check_limit(_q(c, "limit"))),
        query=(
            LIMIT,
            Param("starting_after", {"type": "string", "pattern": "^[0-9]{1,12}$"}, "cursor: the last seq seen"),
            Param("actor", {"type": "string", "maxLength": 200}, "who"),
            Param("action", {"type": "string", "maxLength": 100}, "e.g. write_off, request:reverse, acknowledge"),
            Param("target", {"type": "string", "maxLength": 1500}, "a break, transaction, dead letter…"),
            Param("from", {"type": "string", "format": "date-time"}, "at or after (inclusive)"),
            Param("to", {"type": "string", "format": "date-time"}, "at or before (inclusive)"),
        ),
    ),
    Route(
        "GET", "/v1/operator/payout-limits/<customer>/<currency>", "getPayoutLimits",
        "A customer's payout limits in a currency, with their history (operators)", "operator",
        models.PayoutLimits,
        lambda c: payments.get_payout_limits(c.backend, c.args["customer"], c.args["currency"]),
        path_params=LIMITS_PATH, errors=(404,),
    ),
    Route(
        "PUT", "/v1/operator/payout-limits/<customer>/<currency>", "setPayoutLimits",
        "Set a customer's payout limits in a currency (operators; an operator request: a raise at or above the "
        "threshold waits for a second operator)", "operator",
        models.PayoutLimits,
        lambda c: payments.set_payout_limits(c.backend, c.principal, c.args["customer"], c.args["currency"], c.body),
        request=models.PayoutLimitsRequest, path_params=LIMITS_PATH, errors=(403, 404, 409),
    ),
)  # fmt: skip

_BY_ENDPOINT = {f"{r.method} {r.path}": r for r in ROUTES}
URL_MAP = Map(
    [Rule(r.path, endpoint=f"{r.method} {r.path}", methods=[r.method]) for r in ROUTES]
    + [Rule("/healthz", endpoint="healthz", methods=["GET"])],
    merge_slashes=False,
    strict_slashes=True,
)


@dataclass
class Context:
    backend: service.Backend
    principal: keys.Principal
    args: dict[str, str]
    query: dict[str, str]
    body: BaseModel | None = None
    attempt: idempotency.Attempt | None = None

    @property
    def tenant(self) -> str:
        return self.principal.tenant


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    def flask(self) -> tuple[str | bytes, int, dict[str, str]]:
        if isinstance(self.body, bytes):  # a rendering (CSV, PDF): its Content-Type is in the headers
            return self.body, self.status, self.headers
        return json.dumps(self.body, sort_keys=True), self.status, {"Content-Type": "application/json", **self.headers}


def _error(exc: ClientError, headers: dict[str, str] | None = None) -> Reply:
    if exc.code == "idempotency_in_flight":
        headers = {**(headers or {}), "Retry-After": "1"}
    return Reply(exc.status, exc.body(), headers or {})


def _pydantic_error(exc: ValidationError) -> ClientError:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    codes = {"missing": "parameter_missing", "extra_forbidden": "parameter_unknown"}
    code = codes.get(first["type"], "parameter_invalid")
    return ClientError(400, code, f"{param}: {first['msg']}" if param else first["msg"], param)


_RESERVED = re.compile(r"^__.*__$")  # Datastore reserves these key names (it answers INVALID_ARGUMENT)


def _check_ids(route: Route, args: dict, query) -> None:
    """Ids become Datastore key names: one that cannot exist is a 404 (a cursor: a 400), never a 500."""
    for name, schema in route.path_params.items():
        value = args.get(name, "")
        if _RESERVED.match(value) or ("pattern" in schema and not re.fullmatch(schema["pattern"], value)):
            raise ClientError(404, "resource_not_found", f"no such resource {value[:100]!r}", name)
    cursor = query.get("starting_after")
    if cursor is not None and (_RESERVED.match(cursor) or len(cursor.encode()) > 1500):
        raise ClientError(400, "invalid_cursor", "starting_after is not in this listing", "starting_after")


def _query(route: Route, args) -> dict[str, str]:
    allowed = {p.name for p in route.query}
    out = {}
    for name in args:
        if name not in allowed:
            raise ClientError(400, "parameter_unknown", f"unknown query parameter {name!r}", name)
        values = args.getlist(name)
        if len(values) != 1:
            raise ClientError(400, "parameter_invalid", f"{name} is given more than once", name)
        out[name] = values[0]
    for p in route.query:
        value = out.get(p.name)
        if value is not None and "enum" in p.schema and value not in p.schema["enum"]:
            raise ClientError(400, "parameter_invalid", f"{p.name} is one of {', '.join(p.schema['enum'])}", p.name)
        if value is not None and len(value) > p.schema.get("maxLength", 1500):
            raise ClientError(400, "parameter_invalid", f"{p.name} is too long", p.name)
        if value is not None and not value and p.name != "limit":
            raise ClientError(400, "parameter_invalid", f"{p.name} is empty", p.name)
        if value and "pattern" in p.schema and not re.fullmatch(p.schema["pattern"].strip("^$"), value):
            raise ClientError(400, "parameter_invalid", f"{p.name} does not match {p.schema['pattern']}", p.name)
        if value and p.schema.get("type") == "integer" and p.name != "limit":
            low, high = p.schema.get("minimum", 0), p.schema.get("maximum", 10**9)
            if not (re.fullmatch(r"[0-9]{1,10}", value) and low <= int(value) <= high):
                raise ClientError(400, "parameter_invalid", f"{p.name} is an integer from {low} to {high}", p.name)
    return out


def _body(route: Route, request) -> tuple[BaseModel | None, dict]:
    if route.request is None:  # an operation without a body (DELETE): whatever is sent is ignored
        return None, {}
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ClientError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ClientError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    if raw.strip():
        if request.mimetype != "application/json":
            raise ClientError(415, "unsupported_media_type", "send Content-Type: application/json", "Content-Type")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ClientError(400, "malformed_json", "the body is not valid JSON", "body") from None
    else:
        data = {}
    if not isinstance(data, dict):
        raise ClientError(400, "parameter_invalid", "the body must be a JSON object", "body")
    try:
        model = route.request.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None
    return model, model.model_dump(mode="json")


def _start(backend: service.Backend, kind: str, record_id: str | None, meta: dict) -> None:
    """Hand the record to the payments function (a Cloud Tasks task named after kind and id: a second
    enqueue, e.g. for a retried request, is a no-op). The record is committed whatever happens here:
    a failed hand-off is logged (error) and the request still answers the record; the client's retry
    with the same key hands it off again, and the payments janitor sweeps records that never started."""
    if not record_id:
        return
    try:
        backend.start(kind, record_id)
    except Exception as exc:  # the write committed: a retry or the janitor hands it off
        log.error(
            "payments hand-off failed",
            extra={**meta, "task_kind": kind, "record_id": record_id, "error": f"{type(exc).__name__}: {exc}"},
        )


class Api:
    """One per process: the backend (Datastore in the function, memory in unit tests) and the rate limiter."""

    def __init__(
        self,
        backend_factory: Callable[[], service.Backend],
        *,
        livemode: bool,
        limiter: RateLimiter,
        iap: iap_auth.Verifier | None = None,
    ):
        self._factory = backend_factory
        self._backend: service.Backend | None = None
        self.livemode = livemode
        self.limiter = limiter
        self.iap = iap  # the console's operators signed in by IAP (cloud); None: API keys only

    @property
    def backend(self) -> service.Backend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def handle(self, request) -> Reply:
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        started = time.perf_counter()
        meta: dict[str, Any] = {"request_id": request_id, "method": request.method}
        try:
            reply = self._dispatch(request, meta)
        except ClientError as exc:
            reply = _error(exc)
        except Exception:
            log.exception("api request failed", extra=meta)
            reply = Reply(
                500,
                {
                    "error": {
                        "type": "api_error",
                        "code": "internal_error",
                        "message": "unexpected error; retry with the same Idempotency-Key",
                        "param": None,
                    }
                },
                {},
            )
        reply.headers.setdefault("Request-Id", request_id)
        if meta.get("api_version"):
            reply.headers.setdefault(versions.HEADER, meta["api_version"])
        if meta.get("route") != "healthz":
            log.info(
                "api request",
                extra={
                    **meta,
                    "status": reply.status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "code": reply.body.get("error", {}).get("code") if isinstance(reply.body, dict) else None,
                },
            )
        return reply

    def _dispatch(self, request, meta: dict) -> Reply:
        adapter = URL_MAP.bind("api", url_scheme="http")
        try:
            endpoint, args = adapter.match(request.path, request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            return _error(
                ClientError(405, "method_not_allowed", f"{request.method} is not allowed here", "method"),
                {"Allow": allowed},
            )
        except (NotFound, RequestRedirect):
            raise ClientError(404, "route_not_found", f"no route {request.path}", "path") from None
        meta["route"] = endpoint
        if endpoint == "healthz":
            return Reply(200, {"status": "ok"}, {})
        route = _BY_ENDPOINT[endpoint]
        backend = self.backend
        principal = self.iap.authenticate(request.method, request.headers) if self.iap else None
        if principal is None:
            principal = keys.authenticate(
                backend.store, request.headers.get("Authorization"), livemode=self.livemode, now=backend.clock()
            )
        meta.update(tenant=principal.tenant, key_id=principal.key_id)
        version = versions.resolve(request.headers.get(versions.HEADER), principal.api_version)
        meta["api_version"] = version
        wait = self.limiter.acquire(principal.key_id)
        if wait > 0:
            raise_headers = {"Retry-After": retry_after_header(wait)}
            return _error(
                ClientError(429, "rate_limited", "too many requests for this API key", None, "rate_limit_error"),
                raise_headers,
            )
        keys.require_scope(principal, route.scope)
        _check_ids(route, args, request.args)
        ctx = Context(backend, principal, dict(args), _query(route, request.args))
        if route.method == "GET":
            result = route.call(ctx)
            if isinstance(result, statements.Rendered):
                disposition = f'attachment; filename="{result.filename}"'
                headers = {**route.headers, "Content-Type": result.media_type, "Content-Disposition": disposition}
                return Reply(200, result.body, headers)
            return Reply(200, result.model_dump(mode="json"), dict(route.headers))
        ctx.body, validated = _body(route, request)
        if route.check is not None:
            route.check(backend, ctx.body)
        key = request.headers.get("Idempotency-Key")
        required = route.idempotency_required or versions.holds_from(version, route.idempotency_required_from)
        if key is None and required:
            raise ClientError(
                400,
                "idempotency_key_missing",
                f"{route.method} {route.path} needs an Idempotency-Key header",
                "Idempotency-Key",
            )
        if key is None or not route.replayable:
            return Reply(route.status, route.call(ctx).model_dump(mode="json"), dict(route.headers))

        def execute(attempt: idempotency.Attempt) -> idempotency.Response:
            ctx.attempt = attempt
            try:
                return idempotency.Response(route.status, route.call(ctx).model_dump(mode="json"))
            except ClientError as exc:
                if exc.status >= 500:
                    raise
                return idempotency.Response(exc.status, exc.body())

        checked = idempotency.check_key(key)
        hashed = route.idempotency_view(backend, validated) if route.idempotency_view else validated
        response = idempotency.run(
            backend.store,
            principal.tenant,
            checked,
            idempotency.fingerprint(route.method, request.path, hashed),
            backend.clock(),
            execute,
        )
        if route.start is not None and response.status == route.status:
            _start(backend, route.start, response.body.get("id"), meta)
        headers = {**(route.headers if response.status == route.status else {}), **dict(response.headers)}
        return Reply(response.status, response.body, headers)
