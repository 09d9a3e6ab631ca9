"""Structured JSON logs that Cloud Logging understands: one JSON object per line on stdout with
`severity`, `message`, `logging.googleapis.com/trace` and any extra fields (passed as `extra=`).

Trace context (W3C Trace Context, https://www.w3.org/TR/trace-context/) follows a webhook through
every hop: each function starts a request with `begin` (the trace of the incoming `traceparent` /
`X-Cloud-Trace-Context` header, or of a Pub/Sub push's `trace` attribute; a new trace when there is
none), outgoing Cloud Tasks carry `traceparent()` as a header (shared.adapters.tasks_queue) and
outgoing Pub/Sub messages a `trace` attribute (shared.adapters.pubsub_bus). Every log line of the
request then carries the same `logging.googleapis.com/trace`, so Cloud Logging groups them."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_trace: ContextVar[str | None] = ContextVar("trace", default=None)
_sampled: ContextVar[bool] = ContextVar("sampled", default=True)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, project: str):
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "logger": record.name,
        }
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace}"
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(project: str, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(project))
    root.handlers = [handler]
    root.setLevel(level)


_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def trace_from_headers(headers) -> str | None:
    """Trace id from `traceparent` (W3C) or `X-Cloud-Trace-Context` (TRACE/SPAN;o=1). Anything that
    is not 32 hex digits is ignored: the value is client-controlled and travels into storage."""
    parsed = _parse_traceparent(headers.get("traceparent") or "")
    if parsed:
        return parsed[0]
    legacy = (headers.get("X-Cloud-Trace-Context") or "").split("/")[0].lower()
    return legacy if _valid(legacy) else None


def _parse_traceparent(value: str) -> tuple[str, bool] | None:
    """(trace id, sampled) of a W3C traceparent; None for anything malformed, version ff or an all-zero
    id (the spec says to ignore such a header). Later versions may append fields: the first four count."""
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "ff" or not _valid(match.group(2)) or set(match.group(3)) == {"0"}:
        return None
    return match.group(2), bool(int(match.group(4), 16) & 1)


def _valid(trace: str | None) -> bool:
    return bool(trace) and _TRACE_ID.fullmatch(trace) is not None and set(trace) != {"0"}


def set_trace(trace: str | None) -> None:
    _trace.set(trace if _valid(trace) else None)


def current_trace() -> str | None:
    return _trace.get()


def begin(project: str, headers=None, attributes: dict | None = None) -> str:
    """Start handling one request: configure logging and adopt its trace, else start a new one. A
    Pub/Sub push's `trace` attribute (`attributes`) comes first: it names the trace of the message's
    publisher, while the push request's own headers carry a trace the push service started. Then the
    headers (traceparent, X-Cloud-Trace-Context). Always sets it: a worker thread that serves many
    requests must not log one request under another's trace."""
    configure(project)
    headers = headers if headers is not None else {}
    attribute = (attributes or {}).get("trace")
    parsed = _parse_traceparent(headers.get("traceparent") or "")
    legacy = trace_from_headers(headers)
    if _valid(attribute):
        trace, sampled = attribute, True
    elif parsed:
        trace, sampled = parsed
    elif legacy:
        trace, sampled = legacy, ";o=1" in (headers.get("X-Cloud-Trace-Context") or "")
    else:
        trace, sampled = secrets.token_hex(16), True
    _trace.set(trace)
    _sampled.set(sampled)
    return trace


def push_attributes(body) -> dict:
    """The attributes of a Pub/Sub push delivered to an HTTP endpoint (`{"message": {"attributes"}}`)."""
    message = body.get("message") if isinstance(body, dict) else None
    attributes = message.get("attributes") if isinstance(message, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def traceparent() -> str | None:
    """The `traceparent` header of an outgoing call in the current trace (a new span id per call: we
    do not record spans, the id only has to be unique); None outside a trace."""
    trace = _trace.get()
    if not trace:
        return None
    return f"00-{trace}-{secrets.token_hex(8)}-{'01' if _sampled.get() else '00'}"
