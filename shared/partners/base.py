"""What every partner plugin returns after verifying and parsing a webhook."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from shared.domain.events import CanonicalEvent
from shared.errors import ClientError, Receipt, pydantic_param


@dataclass(frozen=True)
class Parsed:
    partner_event_id: str
    partner_event_type: str
    canonical: CanonicalEvent | None  # None: accepted and stored, but nothing to post
    reason: str | None  # why canonical is None

    @property
    def verdict(self) -> str:
        return "accepted" if self.canonical is not None else "ignored"


def load_json(body: bytes):
    """Parse a verified body; anything that is not JSON is the partner's mistake (400), never a 500."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClientError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ClientError(400, "malformed_json", "body nests too deeply") from None


def invalid(exc: ValidationError, prefix: str = "") -> ClientError:
    """The first validation error as a 400 naming its field path (prefix + pydantic's location)."""
    first = exc.errors()[0]
    code = "malformed_json" if first["type"] == "json_invalid" else "invalid_event"
    path = ".".join(p for p in (prefix, pydantic_param(first["loc"]) or "") if p)
    return ClientError(400, code, first["msg"], path or None)


def acknowledge_one(results: list[dict]) -> Receipt:
    """The JSON receipt of a partner that sends one event per request."""
    (result,) = results
    return Receipt(result["http"], {k: v for k, v in result.items() if k != "http"})
