"""The payout records' row layout (shared.payments.store's codec), one for both stores like
shared.adapters.ledger_rows. Kinds and properties:

Payout          key = payout id   payout_id, customer, amount (int minor units), currency, status,
                requested_at, version, rail, routing_number, account_holder, account_number_masked
                (••••6789), account_fingerprint (HMAC), account_number_ciphertext (sealed:
                shared.payments.vault), attempts (JSON text: number, partner, idempotency_key, state, started_at,
                updated_at, partner_reference, last_error), timeline (JSON text: at, event, source,
                target, attempt, detail), failure_reason, return_code, request_digest (sha256 hex of
                the request: shared.payments.service.payout_digest), description, metadata (JSON text)
PayoutExposure  key = "<customer>|<currency>"   customer, currency, holds (JSON text: {payout id:
                amount}), outflows (JSON text: [[payout id, amount, requested_at]])
PayoutLimits    key = "<customer>|<currency>"   customer, currency, max_single, daily_outflow (int minor
                units), version, updated_at, updated_by, history (JSON text: [{at, actor, old: [max_single,
                daily_outflow] | null, new: [...]}], newest last, at most HISTORY_KEPT)

The account number is never in a row in clear: only its mask, its fingerprint and its sealed form.
Datetimes in JSON text are ISO 8601 with their UTC offset."""

from __future__ import annotations

import json
from datetime import datetime

from shared.domain.payments.limits import Outflow, PayoutLimits
from shared.domain.payments.machine import TimelineEntry
from shared.domain.payments.payouts import Attempt, Payout
from shared.ledger.store import aware
from shared.payments.store import (
    LimitChange,
    PayoutExposure,
    Reader,
    Row,
    StoredDestination,
    StoredLimits,
    StoredPayout,
)

PAYOUT, EXPOSURE, LIMITS = "Payout", "PayoutExposure", "PayoutLimits"
HISTORY_KEPT = 100  # changes of a customer's limits kept on its record


def _at(value: str) -> datetime:
    return aware(datetime.fromisoformat(value))


def _attempt(a: dict) -> Attempt:
    return Attempt(
        number=a["number"],
        partner=a["partner"],
        idempotency_key=a["idempotency_key"],
        state=a["state"],
        started_at=_at(a["started_at"]),
        updated_at=_at(a["updated_at"]),
        partner_reference=a.get("partner_reference"),
        last_error=a.get("last_error"),
    )


def _attempt_json(a: Attempt) -> dict:
    return {
        "number": a.number,
        "partner": a.partner,
        "idempotency_key": a.idempotency_key,
        "state": a.state,
        "started_at": a.started_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
        "partner_reference": a.partner_reference,
        "last_error": a.last_error,
    }


def timeline_entry(t: dict) -> TimelineEntry:
    return TimelineEntry(_at(t["at"]), t["event"], t.get("source"), t["target"], t.get("attempt"), t.get("detail"))


def timeline_json(t: TimelineEntry) -> dict:
    return {
        "at": t.at.isoformat(),
        "event": t.event,
        "source": t.source,
        "target": t.target,
        "attempt": t.attempt,
        "detail": t.detail,
    }


def payout(name: str, row: dict) -> StoredPayout:
    """The record of a Payout row."""
    destination = StoredDestination(
        rail=row["rail"],
        routing_number=row["routing_number"],
        account_holder=row["account_holder"],
        masked_account_number=row["account_number_masked"],
        fingerprint=row["account_fingerprint"],
        account_number_ciphertext=row.get("account_number_ciphertext"),
    )
    record = Payout(
        payout_id=name,
        customer=row["customer"],
        amount=row["amount"],
        currency=row["currency"],
        destination=destination,  # type: ignore[arg-type]  # stored: masked (shared.payments.store)
        status=row["status"],
        requested_at=aware(row["requested_at"]),
        attempts=tuple(_attempt(a) for a in json.loads(row.get("attempts") or "[]")),
        timeline=tuple(timeline_entry(t) for t in json.loads(row.get("timeline") or "[]")),
        failure_reason=row.get("failure_reason"),
        return_code=row.get("return_code"),
    )
    metadata = tuple(sorted(json.loads(row.get("metadata") or "{}").items()))
    return StoredPayout(record, row["version"], row.get("request_digest"), row.get("description"), metadata)


def payout_row(stored: StoredPayout) -> Row:
    """The Payout row of a record."""
    p, d = stored.payout, stored.destination
    if not isinstance(d, StoredDestination):
        raise TypeError("a payout is stored with a StoredDestination (never the account number in clear)")
    data = {
        "payout_id": p.payout_id,
        "customer": p.customer,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status,
        "requested_at": p.requested_at,
        "version": stored.version,
        "rail": d.rail,
        "routing_number": d.routing_number,
        "account_holder": d.account_holder,
        "account_number_masked": d.masked_account_number,
        "account_fingerprint": d.fingerprint,
        "account_number_ciphertext": d.account_number_ciphertext,
        "attempts": json.dumps([_attempt_json(a) for a in p.attempts]),
        "timeline": json.dumps([timeline_json(t) for t in p.timeline]),
        "failure_reason": p.failure_reason,
        "return_code": p.return_code,
        "request_digest": stored.request_digest,
        "description": stored.description,
        "metadata": json.dumps(dict(stored.metadata), sort_keys=True),
    }
    return PAYOUT, p.payout_id, data


def exposure_key(customer: str, currency: str) -> str:
    return f"{customer}|{currency}"


def exposure(name: str, row: dict | None, customer: str, currency: str) -> PayoutExposure:
    """The record of a PayoutExposure row; no row: nothing held, nothing paid out."""
    if row is None:
        return PayoutExposure(customer, currency)
    holds = tuple(sorted(json.loads(row.get("holds") or "{}").items()))
    outflows = tuple(
        (payout_id, Outflow(amount, _at(at))) for payout_id, amount, at in json.loads(row.get("outflows") or "[]")
    )
    return PayoutExposure(row["customer"], row["currency"], holds, outflows)


def exposure_row(record: PayoutExposure) -> Row:
    """The PayoutExposure row of a record."""
    data = {
        "customer": record.customer,
        "currency": record.currency,
        "holds": json.dumps(dict(record.holds), sort_keys=True),
        "outflows": json.dumps([[pid, o.amount, o.at.isoformat()] for pid, o in record.outflows]),
    }
    return EXPOSURE, exposure_key(record.customer, record.currency), data


def _change_json(c: LimitChange) -> dict:
    return {"at": c.at.isoformat(), "actor": c.actor, "old": list(c.old) if c.old else None, "new": list(c.new)}


def _change(c: dict) -> LimitChange:
    return LimitChange(_at(c["at"]), c["actor"], tuple(c["old"]) if c.get("old") else None, tuple(c["new"]))  # type: ignore[arg-type]


def limits(row: dict) -> StoredLimits:
    """The record of a PayoutLimits row."""
    return StoredLimits(
        PayoutLimits(row["customer"], row["currency"], row["max_single"], row["daily_outflow"]),
        row["version"],
        aware(row["updated_at"]),
        row["updated_by"],
        tuple(_change(c) for c in json.loads(row.get("history") or "[]")),
    )


def limits_row(stored: StoredLimits) -> Row:
    """The PayoutLimits row of a record (its history cut to the newest HISTORY_KEPT changes)."""
    lim = stored.limits
    data = {
        "customer": lim.customer,
        "currency": lim.currency,
        "max_single": lim.max_single,
        "daily_outflow": lim.daily_outflow,
        "version": stored.version,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
        "history": json.dumps([_change_json(c) for c in stored.history[-HISTORY_KEPT:]]),
    }
    return LIMITS, exposure_key(lim.customer, lim.currency), data


class PayoutRows:
    """shared.payments.store.PayoutRecords over this layout."""

    def payout(self, reader: Reader, payout_id: str) -> StoredPayout | None:
        row = reader.get(PAYOUT, payout_id)
        return payout(payout_id, row) if row is not None else None

    def payout_row(self, stored: StoredPayout) -> Row:
        return payout_row(stored)

    def payout_ids_in(self, store, status: str) -> list[str]:
        return sorted(store.query(PAYOUT, "status", status))

    def exposure(self, reader: Reader, customer: str, currency: str) -> PayoutExposure:
        key = exposure_key(customer, currency)
        return exposure(key, reader.get(EXPOSURE, key), customer, currency)

    def exposure_row(self, exposure: PayoutExposure) -> Row:
        return exposure_row(exposure)

    def limits(self, reader: Reader, customer: str, currency: str) -> StoredLimits | None:
        row = reader.get(LIMITS, exposure_key(customer, currency))
        return limits(row) if row is not None else None

    def limits_row(self, stored: StoredLimits) -> Row:
        return limits_row(stored)
