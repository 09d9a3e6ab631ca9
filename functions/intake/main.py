"""intake: partner webhooks -> verified, stored, deduplicated, published. POST /webhooks/<partner>.

The request is checked here (path, method, media type, size); everything else is the intake service
(shared.intake.service.receive) over the ports of the composition root (shared.bootstrap). Errors
become responses in one place (shared.http.handle_errors)."""

import logging

import flask
import functions_framework
from google.api_core import exceptions as gexc

from shared import bootstrap, logs
from shared.adapters import datastore_store
from shared.config import settings
from shared.errors import ClientError
from shared.http import handle_errors, json_response, server_error
from shared.intake.service import Unavailable

log = logging.getLogger("ledgerline.intake")
# Failures of ours that a later retry can outlive (anything else, e.g. a permission or an invalid
# request of ours, stays a 500: a bug to fix, not an outage to wait out).
TRANSIENT = (*datastore_store.RETRYABLE, gexc.ResourceExhausted, gexc.RetryError)


def _partner() -> dict:
    parts = flask.request.path.strip("/").split("/")
    return {"partner": parts[1] if len(parts) == 2 and parts[0] == "webhooks" else None}


handle_errors(
    functions_framework.errorhandler,
    log,
    refused="webhook rejected",  # every refused webhook is logged with its code (the trace ties it to the request)
    context=_partner,
    transient=TRANSIENT,  # our storage is down or overloaded: the partner retries later
    unavailable="webhook not stored: Datastore unavailable",
)


@functions_framework.errorhandler(Unavailable)
def _unavailable(exc: Unavailable):
    return server_error("temporarily_unavailable", str(exc), 503)


@functions_framework.http
def intake(request):
    cfg = settings()
    trace = logs.begin(cfg.project, request.headers)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    partner = _webhook_partner(request, cfg.max_body_bytes)
    # Read at most limit + 1 bytes, so a chunked body (no Content-Length) is bounded too. (The
    # framework drains the rest after we answer; Cloud Run caps requests at 32 MiB.)
    body = request.stream.read(cfg.max_body_bytes + 1)
    if len(body) > cfg.max_body_bytes:
        raise _too_large(cfg.max_body_bytes)
    root = bootstrap.root(cfg)
    receipt = bootstrap.intake(root).receive(partner, request.headers, body, now=root.clock(), trace=trace)
    if isinstance(receipt.body, str):
        return receipt.body, receipt.status, {"Content-Type": "text/plain"}
    return json_response(receipt.status, receipt.body)


def _webhook_partner(request, max_body_bytes: int) -> str:
    """The partner of a well-formed webhook request, or the ClientError that refuses it."""
    parts = request.path.strip("/").split("/")
    if len(parts) != 2 or parts[0] != "webhooks":
        raise ClientError(404, "not_found", "POST webhooks to /webhooks/<partner>", "path")
    if request.method != "POST":
        raise ClientError(405, "method_not_allowed", "webhooks are POSTed", "method")
    if request.mimetype != "application/json":
        raise ClientError(415, "unsupported_media_type", "send Content-Type: application/json", "Content-Type")
    if (request.content_length or 0) > max_body_bytes:
        raise _too_large(max_body_bytes)
    return parts[1]


def _too_large(max_body_bytes: int) -> ClientError:
    return ClientError(413, "payload_too_large", f"body exceeds {max_body_bytes} bytes")
