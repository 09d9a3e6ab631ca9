"""The partner contract (`Partner`), what a plugin returns after verifying and parsing a webhook (`Parsed`),
and the pieces plugins share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from shared.config import PartnerSecret, Settings
from shared.domain.events import CanonicalEvent
from shared.errors import ClientError, Receipt, pydantic_param


@dataclass(frozen=True)
class TransferApi:
    """A partner that moves money for us declares its API (TRANSFER_API): the secret API key (the payments
    function's only: topology) and the variable of its base URL (Terraform in the cloud; locally derived
    from the bank sandbox's port, shared.config `partner_api_url`)."""

    key: PartnerSecret
    url_env: str


@dataclass(frozen=True)
class Parsed:
    partner_event_id: str
    partner_event_type: str
    canonical: CanonicalEvent | None  # None: accepted and stored, but nothing to post
    reason: str | None  # why canonical is None
    # The record of ours a stored-only event is about (a payout attempt's `<payout id>-<n>` the bank echoes):
    # what a payout's timeline finds its webhooks by. An event with a canonical one names it there.
    about: str | None = None

    @property
    def our_reference(self) -> str | None:
        return self.canonical.our_reference if self.canonical is not None else self.about

    @property
    def verdict(self) -> str:
        return "accepted" if self.canonical is not None else "ignored"


@runtime_checkable
class Partner(Protocol):
    """A partner plugin: one module of shared.partners, listed once in shared.partners.PARTNERS (which checks
    at import that it has every member below). Intake calls verify -> parse -> acknowledge; the ledger posts
    its canonical events; reconciliation reads its settlement report (REPORT_FORMAT) and, for a bank partner,
    its ACH postings on `bank:<BANK>:operating`. Pure: no I/O."""

    NAME: str  # the webhook path /webhooks/<NAME>, the partner of its events and of its ledger accounts
    KEPT_HEADERS: tuple[str, ...]  # headers stored with the raw body (signatures; never credentials)
    SECRETS: tuple[PartnerSecret, ...]  # what it needs from settings (shared.config: `<NAME>_…` variables)
    REPORT_FORMAT: str | None  # its settlement report's format (shared.reconciliation.formats); None: none
    BANK: str | None  # the bank whose ACH transfers it posts (reconciled against statements); None: none
    TRANSFER_API: TransferApi | None  # how payouts reach it (shared.payments.partners); None: it pays out nothing

    def verify(self, headers: Mapping[str, str], body: bytes, cfg: Settings, now: int) -> None:
        """Authenticate the request: raise a 401 ClientError, or NotConfigured when a secret is missing."""

    def parse(self, body: bytes, received_at: datetime, cfg: Settings, headers: Mapping[str, str]) -> list[Parsed]:
        """The verified body as one Parsed per event the request carries (a 400 ClientError if malformed)."""

    def acknowledge(self, results: list[dict]) -> Receipt:
        """What the partner expects back, from intake's outcome of each event."""

    def legacy_versions(self, event: CanonicalEvent) -> list[CanonicalEvent | None]:
        """The canonical events an earlier version of the parser produced for the same event (intake: a
        redelivery, not a conflict); None: it was stored, not posted."""


def no_legacy_versions(event: CanonicalEvent) -> list[CanonicalEvent | None]:
    """The legacy_versions of a partner whose parser never changed what it posts."""
    return []


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
