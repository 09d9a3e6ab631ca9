"""Statement exports: a statement too long to answer inline (up to ten years, 200,000 entries), made by a
Cloud Tasks task and written to the reports bucket; the customer polls the export and downloads the
file through a signed URL that expires.

    POST /v1/accounts/{id}/statements/exports   {period, from?, to?, clock?, currency?, format}
         (Idempotency-Key required) -> 202 StatementExport `pending`; a `statement-export` task is queued
    GET  /v1/statement-exports/{id}              -> the export; once `done`, `url` (15 minutes) and the
         file's size and sha256

The record (Datastore kind StatementExport, key = the export id) is inserted once per Idempotency-Key;
the task (run by the retries function: shared.bootstrap.statement_export_handler) is idempotent: a done export is not
made again, and the object is written create-only. Parameters are checked when the export is asked
for (400s then, never a failed job for a client mistake); what can still fail in the job is the size
(`statement_too_large`: the export is `failed` with that code)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field, StrictStr

from shared.adapters.statement_files import object_name
from shared.api import statements
from shared.api.idempotency import Attempt
from shared.api.models import Timestamp, _Request
from shared.api.service import Backend, _iso, parse_time
from shared.domain import statements as domain
from shared.domain.ledger.ids import digest
from shared.domain.money import UnknownCurrency, normalise_currency
from shared.errors import ClientError, PermanentError

log = logging.getLogger("ledgerline.api")
KIND = "StatementExport"
TASK_KIND = "statement-export"
EXPORT_FORMATS = ("csv", "pdf", "json")


class StatementExportRequest(_Request):
    """A statement written to a file by a job (Idempotency-Key required)."""

    period: StrictStr = Field(
        description="YYYY-MM (a calendar month, UTC) or custom (with from and to)",
        json_schema_extra={"minLength": 1, "maxLength": 7},
    )
    from_: StrictStr | None = Field(
        default=None,
        alias="from",
        description="period custom: the start (inclusive, RFC 3339)",
        json_schema_extra={"maxLength": 64},
    )
    to: StrictStr | None = Field(
        default=None,
        description="period custom: the end (exclusive, RFC 3339); at most 3660 days after from",
        json_schema_extra={"maxLength": 64},
    )
    clock: Literal["recorded", "effective"] = "recorded"
    currency: StrictStr | None = Field(default=None, json_schema_extra={"minLength": 3, "maxLength": 3})
    format: Literal["csv", "pdf", "json"] = "csv"


class StatementExport(BaseModel):
    object: Literal["statement_export"] = "statement_export"
    id: str
    account: str
    period: str
    start: Timestamp
    end: Timestamp
    clock: Literal["recorded", "effective"]
    currency: str | None
    format: Literal["csv", "pdf", "json"]
    status: Literal["pending", "done", "failed"]
    created: Timestamp
    completed_at: Timestamp | None = None
    entry_count: int | None = None
    bytes: int | None = Field(default=None, description="the file's size")
    sha256: str | None = Field(default=None, description="the file's SHA-256 (hex)")
    url: str | None = Field(default=None, description="done: a signed download URL, valid until url_expires_at")
    url_expires_at: Timestamp | None = None
    failure_code: str | None = Field(default=None, description="failed: why, e.g. statement_too_large")


def _export(backend: Backend, export_id: str, r: dict) -> StatementExport:
    url = expires = None
    if r["status"] == "done":
        url, moment = backend.statement_files().url(r["object"])
        expires = _iso(moment)
    return StatementExport(
        id=export_id,
        account=r["customer"],
        period=r["period"],
        start=_iso(r["start"]),
        end=_iso(r["end"]),
        clock=r["clock"],
        currency=r.get("currency"),
        format=r["format"],
        status=r["status"],
        created=_iso(r["created_at"]),
        completed_at=_iso(r.get("completed_at")),
        entry_count=r.get("entry_count"),
        bytes=r.get("bytes"),
        sha256=r.get("sha256"),
        url=url,
        url_expires_at=expires,
        failure_code=r.get("failure_code"),
    )


def create_export(
    backend: Backend, tenant: str, customer: str, request: StatementExportRequest, attempt: Attempt | None
) -> StatementExport:
    lower = parse_time(request.from_, "from") if request.from_ is not None else None
    upper = parse_time(request.to, "to") if request.to is not None else None
    period = domain.parse_period(request.period, lower, upper, max_days=domain.EXPORT_MAX_DAYS)
    currency = None
    if request.currency is not None:
        try:
            currency = normalise_currency(request.currency)
        except UnknownCurrency:
            raise ClientError(400, "parameter_invalid", "currency is an ISO-4217 code", "currency") from None
    backend.tenancy.require_customer(tenant, customer)
    generation = attempt.generation if attempt else digest(tenant, customer, str(backend.clock()))
    export_id = f"stx_{digest(tenant, generation)[:24]}"
    record = {
        "tenant": tenant,
        "customer": customer,
        "period": period.name,
        "start": period.start,
        "end": period.end,
        "clock": request.clock,
        "currency": currency,
        "format": request.format,
        "status": "pending",
        "created_at": backend.clock(),
    }
    backend.store.insert(KIND, export_id, record)  # a retry after a failed enqueue finds it: enqueue again
    from shared.recovery.policies import Task

    backend.schedule(Task(TASK_KIND, export_id), None)
    log.info("statement export queued", extra={"tenant": tenant, "export": export_id, "format": request.format})
    return _export(backend, export_id, backend.store.get(KIND, export_id))


def get_export(backend: Backend, tenant: str, export_id: str) -> StatementExport:
    r = backend.store.get(KIND, export_id) if len(export_id) <= 100 else None
    if r is None or r.get("tenant") != tenant:
        raise ClientError(404, "statement_export_not_found", f"no statement export {export_id!r}", "id")
    return _export(backend, export_id, r)


def run_export(backend: Backend, export_id: str) -> str:
    """The task: build the statement, write the file, mark the export done (or failed: too large)."""
    r = backend.store.get(KIND, export_id)
    if r is None:
        raise PermanentError(f"no statement export {export_id}")
    if r["status"] != "pending":
        return f"statement export {export_id} already {r['status']}"
    period_args = {"start": None, "end": None}
    if r["period"] == "custom":
        period_args = {"start": _iso(r["start"]), "end": _iso(r["end"])}
    try:
        s = statements.build_statement(
            backend, r["tenant"], r["customer"], r["period"], clock=r["clock"], currency=r.get("currency"),
            export=True, anchor=statements.anchored_format(r["format"]), **period_args,
        )  # fmt: skip
    except ClientError as exc:  # too large (or the customer vanished): nothing a retry can change
        done = {**r, "status": "failed", "failure_code": exc.code, "completed_at": backend.clock()}
        backend.store.record(KIND, export_id, done)
        log.warning("statement export failed", extra={"export": export_id, "code": exc.code})
        return f"statement export {export_id} failed: {exc.code}"
    rendered = statements.render(s, r["format"])
    name = object_name(r["tenant"], export_id, r["format"])
    backend.statement_files().write(name, rendered.body, rendered.media_type)
    done = {
        **r,
        "status": "done",
        "object": name,
        "bytes": len(rendered.body),
        "sha256": hashlib.sha256(rendered.body).hexdigest(),
        "entry_count": s.entry_count,
        "completed_at": backend.clock(),
    }
    backend.store.record(KIND, export_id, done)
    log.info("statement export written", extra={"export": export_id, "bytes": len(rendered.body)})
    return f"statement export {export_id}: {s.entry_count} entries, {len(rendered.body)} bytes"


def exporter(store, statement_files: Callable, clock: Callable) -> Callable[[str], str]:
    """The retries handler's body: key (an export id) -> what was done."""

    def run(export_id: str) -> str:
        backend = Backend(store, lambda status, before: iter(()), clock=clock, statement_files=statement_files)
        return run_export(backend, export_id)

    return run
