"""intake: partner webhooks -> verified, stored, deduplicated, published. POST /webhooks/<partner>."""

import logging
from datetime import UTC, datetime

import functions_framework
from google.api_core import exceptions as gexc

from shared import bootstrap as wiring
from shared import logs
from shared.adapters import datastore_store
from shared.config import settings
from shared.errors import ClientError, NotConfigured
from shared.http import error_response, json_response, server_error
from shared.intake.service import Unavailable

log = logging.getLogger("ledgerline.intake")
# Failures of ours that a later retry can outlive (anything else, e.g. a permission or an invalid
# request of ours, stays a 500: a bug to fix, not an outage to wait out).
TRANSIENT = (*datastore_store.RETRYABLE, gexc.ResourceExhausted, gexc.RetryError)


@functions_framework.http
def intake(request):
    cfg = settings()
    logs.configure(cfg.project)
    trace = logs.trace_from_headers(request.headers)
    logs.set_trace(trace)
    parts = request.path.strip("/").split("/")
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    if len(parts) != 2 or parts[0] != "webhooks":
        return rejected(None, ClientError(404, "not_found", "POST webhooks to /webhooks/<partner>", "path"))
    if request.method != "POST":
        return rejected(parts[1], ClientError(405, "method_not_allowed", "webhooks are POSTed", "method"))
    if request.mimetype != "application/json":
        return rejected(
            parts[1],
            ClientError(415, "unsupported_media_type", "send Content-Type: application/json", "Content-Type"),
        )
    too_large = ClientError(413, "payload_too_large", f"body exceeds {cfg.max_body_bytes} bytes")
    if (request.content_length or 0) > cfg.max_body_bytes:
        return rejected(parts[1], too_large)
    # Read at most limit + 1 bytes, so a chunked body (no Content-Length) is bounded too. (The
    # framework drains the rest after we answer; Cloud Run caps requests at 32 MiB.)
    body = request.stream.read(cfg.max_body_bytes + 1)
    if len(body) > cfg.max_body_bytes:
        return rejected(parts[1], too_large)
    try:
        receipt = wiring.intake_service(cfg).receive(
            parts[1], request.headers, body, now=datetime.now(tz=UTC), trace=trace
        )
    except ClientError as exc:
        return rejected(parts[1], exc)
    except NotConfigured as exc:
        log.error(str(exc))
        return server_error("not_configured", "this endpoint is not configured", 503)
    except Unavailable as exc:
        return server_error("temporarily_unavailable", str(exc), 503)
    except TRANSIENT as exc:  # our storage is down or overloaded: the partner retries later
        log.exception("webhook not stored: Datastore unavailable", extra={"partner": parts[1]})
        return server_error("temporarily_unavailable", f"storage unavailable ({type(exc).__name__}); retry", 503)
    if isinstance(receipt.body, str):
        return receipt.body, receipt.status, {"Content-Type": "text/plain"}
    return json_response(receipt.status, receipt.body)


def rejected(partner: str | None, exc: ClientError):
    """Every refused webhook is logged with its code (the request's trace ties the line to it)."""
    log.warning("webhook rejected", extra={"partner": partner, "code": exc.code, "status": exc.status})
    return error_response(exc)
