"""The OpenAPI 3.1 document of the v1 API, generated from the ROUTES table and the pydantic models, so
the contract and the implementation cannot drift: `python -m shared.api.openapi` writes
docs/openapi.yaml, and tests/unit/test_api_contract.py fails when the committed file differs."""

from __future__ import annotations

import re
import sys

from pydantic.json_schema import models_json_schema

from shared.api import models, versions
from shared.api.routes import MAX_BODY_BYTES, ROUTES
from shared.config import REPO_ROOT

PATH = REPO_ROOT / "docs" / "openapi.yaml"
REF = "#/components/schemas/{model}"
ERRORS = {
    400: "Bad request: malformed JSON, invalid or unknown parameter (`param` names it), `invalid_destination`, "
    "`idempotency_key_missing` (every POST that moves money or changes a webhook endpoint requires an "
    "Idempotency-Key; transfers and holds from API version 2026-12-02), `api_version_invalid` "
    "(`Ledgerline-Version` names no version); "
    "webhooks: `url_invalid`, `url_scheme`, `url_credentials`, `url_host_refused`, `pubsub_invalid`, "
    "`destination_unsupported` (param `url`), `unknown_event_type` (param `enabled_events.<i>` / `types.<i>`), "
    "`invalid_description`, `invalid_overlap`, `invalid_window`",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The API key lacks the scope this operation needs",
    404: "No such resource for your tenant (another tenant's resources are indistinguishable from none)",
    409: "Idempotency: key reused with another request (`idempotency_key_reuse`) or still in flight "
    "(`idempotency_in_flight`, retry after Retry-After seconds); a payout whose state does not allow it "
    "(`illegal_transition`, `already_final`); webhooks: `too_many_endpoints` (20), `endpoint_disabled` "
    "(replay), `conflict` (the endpoint changed meanwhile: read it again)",
    413: f"Body over {MAX_BODY_BYTES} bytes",
    415: "A body that is not application/json",
    422: "The ledger refused the operation: insufficient_funds, hold_already_resolved, hold_expired, "
    "amount_exceeds_hold, currency_mismatch; payments: limit_exceeded (with limit, limit_value, remaining), "
    "no_route, refund_exceeds_payment, payment_not_succeeded",
    429: "Rate limited (per API key, per instance); retry after Retry-After seconds",
}


VERSION_PARAMETER = {
    "name": versions.HEADER,
    "in": "header",
    "required": False,
    "description": "the API version to serve this request under (default: the one the API key was pinned to "
    "when it was created; keys made before versions existed: the first). History: docs/api.md#versions",
    "schema": {"type": "string", "enum": list(versions.NAMES)},
}


def openapi_path(path: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


def _error_response(status: int) -> dict:
    response = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    if status in (409, 429):
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait (retryable errors)", "schema": {"type": "string"}}
        }
    return response


def document() -> dict:
    requests = [r.request for r in ROUTES if r.request]
    responses = [r.response for r in ROUTES] + [models.Error, models.Health]
    _, defs = models_json_schema(
        [(m, "validation") for m in requests] + [(m, "serialization") for m in responses], ref_template=REF
    )
    paths: dict[str, dict] = {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness (no API key)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"$ref": REF.format(model="Health")}}},
                    }
                },
            }
        }
    }
    for route in ROUTES:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in route.path_params.items()
        ]
        parameters += [
            {"name": p.name, "in": "query", "required": p.required, "description": p.description, "schema": p.schema}
            for p in route.query
        ]
        operation: dict = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "description": f"Scope: `{route.scope}`.",
            "tags": [route.path.split("/")[2]],
            "security": [{"apiKey": []}],
        }
        statuses = {400, 401, 403, 429, *route.errors}
        if route.method == "POST":
            # the document describes the newest version; a rule introduced later than the first says since when
            since = route.idempotency_required_from
            required = route.idempotency_required or versions.holds_from(versions.LATEST, since)
            rule = "; required (400 idempotency_key_missing without it)" if required else ""
            if since and not route.idempotency_required:
                rule += f" from API version {since}; optional under earlier versions"

            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": required,
                    "description": (
                        "same key + same request replays the first response for 24 h" + rule
                        if route.replayable
                        else "ignored: the answer holds a secret, which is never stored for a replay"
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
                }
            )
            statuses |= {409}
        parameters.append(VERSION_PARAMETER)
        if route.request is not None:
            body_required = bool(route.request.model_json_schema().get("required"))
            operation["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=route.request.__name__)}}},
            }
            statuses |= {413, 415}
        if parameters:
            operation["parameters"] = parameters
        ok = {
            "description": {201: "Created", 202: "Accepted"}.get(route.status, "OK"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model=route.response.__name__)}}},
        }
        ok["headers"] = {
            versions.HEADER: {
                "description": "the API version this answer was served under",
                "schema": {"type": "string", "enum": list(versions.NAMES)},
            },
            **{
                name: {"description": f"always {value}", "schema": {"type": "string", "enum": [value]}}
                for name, value in route.headers.items()
            },
        }
        for media in route.media_types:  # renderings besides JSON (a statement's CSV and PDF)
            kind = media.split(";")[0].strip()
            ok["content"][kind] = {"schema": {"type": "string", "contentMediaType": kind}}
        if route.media_types:
            ok["headers"]["Content-Disposition"] = {
                "description": "renderings other than JSON: attachment; filename=…",
                "schema": {"type": "string"},
            }
        if route.links:
            ok["links"] = {
                name: {"operationId": target, "parameters": {"id": expression}}
                for name, (target, expression) in route.links.items()
            }
        operation["responses"] = {str(route.status): ok, **{str(s): _error_response(s) for s in sorted(statuses)}}
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ledgerline API",
            "version": versions.LATEST,
            "description": "Balances, entries, transactions, transfers and holds of a tenant's accounts; dead letters "
            "and reconciliation for operators; webhook endpoints, the events they are sent (catalogue and per-type "
            "schemas: docs/webhooks.md), attempts and replays. Amounts are integers of ISO-4217 minor units. "
            'Errors are {"error": {"type", "code", "message", "param"}}. See docs/api.md.',
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer ll_test_…"}
            },
            "schemas": defs.get("$defs", {}),
        },
    }


def render() -> str:
    import yaml

    header = "# Generated by `python -m shared.api.openapi` from shared/api (routes + models). Do not edit.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
