"""Typed errors that cross the domain/entry-point boundary. Entry points map them to responses of the
form {"error": {"type", "code", "message", "param"}}; they never become a 500."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClientError(Exception):
    """The caller's mistake: nothing was changed."""

    status: int
    code: str
    message: str
    param: str | None = None
    type: str = "invalid_request_error"

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}" + (f" ({self.param})" if self.param else "")

    def body(self) -> dict:
        return {"error": {"type": self.type, "code": self.code, "message": self.message, "param": self.param}}


class PermanentError(Exception):
    """Retrying cannot help (malformed message, broken invariant); route to dead letters."""


def pydantic_param(loc: tuple) -> str:
    """('data', 'object', 'amount_received') -> 'data.object.amount_received'."""
    return ".".join(str(part) for part in loc) or None


class NotConfigured(RuntimeError):
    """Server-side misconfiguration (no secret for a partner): 503, never the partner's fault."""


@dataclass(frozen=True)
class Receipt:
    """What intake answers a partner: JSON (a dict) or the partner's expected text (e.g. "[accepted]")."""

    status: int
    body: dict | str
