"""Structured JSON logs that Cloud Logging understands: one JSON object per line on stdout with
`severity`, `message`, `logging.googleapis.com/trace` and any extra fields (passed as `extra=`)."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_trace: ContextVar[str | None] = ContextVar("trace", default=None)
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


def trace_from_headers(headers) -> str | None:
    """Trace id from `traceparent` (W3C) or `X-Cloud-Trace-Context` (TRACE/SPAN;o=1). Anything that
    is not 32 hex digits is ignored: the value is client-controlled and travels into storage."""
    parent = headers.get("traceparent") or ""
    legacy = headers.get("X-Cloud-Trace-Context") or ""
    for candidate in (parent.split("-")[1] if parent.count("-") >= 3 else "", legacy.split("/")[0]):
        if _TRACE_ID.fullmatch(candidate.lower()):
            return candidate.lower()
    return None


def set_trace(trace: str | None) -> None:
    _trace.set(trace)
