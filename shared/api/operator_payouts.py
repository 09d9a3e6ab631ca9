"""Payouts for operators (docs/api.md "Operator payouts"): every tenant's payouts, newest first, with the
`attention` rule; one payout with its timeline as one ordered list; an operator's cancel with a reason,
recorded in the operator audit log. Cross-tenant reads: `operator` scope only (shared.api.routes).

Attention: a payout in an open state (shared.payments.janitor.OPEN_PAYOUTS) whose last change is older
than the janitor's STALE_AFTER (stuck), or with an attempt whose status at the partner is `unknown`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.api import models
from shared.api.operations import actor
from shared.api.operator_accounts import arrivals
from shared.api.payments import client_error, payout_view
from shared.api.service import Backend, _iso, _not_found, newest_first_page
from shared.domain.payments.effects import RULES
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.ids import operation_id, partner_idempotency_key
from shared.errors import ClientError
from shared.operations import audit
from shared.payments import janitor
from shared.payments.janitor import OPEN_PAYOUTS
from shared.payments.store import StoredPayout

MAX_SCAN = 5000  # rows one page reads at most while filtering in memory (partner, tenant, attention)


class OperatorPayout(models.Payout):
    tenant: str | None
    attention: bool = Field(description="stuck (open longer than the janitor's threshold) or unknown at a partner")


class OperatorPayoutList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OperatorPayout]
    has_more: bool


class PayoutTimelineItem(BaseModel):
    """One thing that happened to a payout. `target`: the state entered, the ledger transaction booked, or
    (a webhook) the inbox key of the partner's event (GET /v1/operator/raw-events/{key})."""

    kind: Literal["state_change", "attempt", "status_query", "webhook", "ledger"]
    at: models.Timestamp
    partner: str | None
    detail: str | None
    event: str | None = None
    source: str | None = None
    target: str | None = None
    attempt: int | None = None


class OperatorPayoutDetail(OperatorPayout):
    items: list[PayoutTimelineItem] = Field(description="everything the payout's record holds, oldest first")


class OperatorCancelRequest(models._Request):
    reason: str = Field(min_length=1, max_length=1000, description="why (kept in the audit log)")


def attention(stored: StoredPayout, now: datetime) -> bool:
    p = stored.payout
    return p.status in OPEN_PAYOUTS and (any(a.state == "unknown" for a in p.attempts) or janitor.quiet(p, now))


def _view(backend: Backend, stored: StoredPayout, now: datetime) -> OperatorPayout:
    base = payout_view(stored).model_dump()
    return OperatorPayout(
        **base, tenant=backend.tenancy.owner(stored.payout.customer), attention=attention(stored, now)
    )


def _kind(event: str) -> str:
    if event in ("submit",):
        return "attempt"
    if event in ("unknown", "not_executed"):
        return "status_query"
    return "state_change"


def items(stored: StoredPayout) -> list[PayoutTimelineItem]:
    p = stored.payout
    partners = {a.number: a.partner for a in p.attempts}
    out = [
        PayoutTimelineItem(
            kind=_kind(t.event),
            at=_iso(t.at),
            partner=partners.get(t.attempt) if t.attempt else None,
            detail=t.detail,
            event=t.event,
            source=t.source,
            target=t.target,
            attempt=t.attempt,
        )
        for t in p.timeline
    ]
    for a in p.attempts:
        out.append(
            PayoutTimelineItem(
                kind="attempt",
                at=_iso(a.started_at),
                partner=a.partner,
                attempt=a.number,
                detail=f"attempt {a.number} at {a.partner}: {a.state}" + (f" ({a.last_error})" if a.last_error else ""),
            )
        )
    out.sort(key=_instant)  # stable: a timeline entry before the attempt of the same instant
    return out


def _instant(item: PayoutTimelineItem) -> datetime:
    """When an item happened, as a time: its ISO text has no fraction when the microseconds are 0 (a
    whole second would sort after a later fraction of it, "…:00Z" > "…:00.5Z", if sorted as text)."""
    return datetime.fromisoformat(item.at)


def list_payouts(backend: Backend, query: dict, limit: int) -> OperatorPayoutList:
    status, partner, customer, tenant = (query.get(k) for k in ("status", "partner", "customer", "tenant"))
    wants_attention = query.get("attention") in ("true", True)
    if query.get("attention") not in (None, "true", "false", True, False):
        raise ClientError(400, "invalid_parameter", "attention is true or false", "attention")
    payouts = backend.payouts()
    starting_after = query.get("starting_after")
    cursor = payouts.get(starting_after) if starting_after and len(starting_after) <= 100 else None
    if starting_after is not None and cursor is None:
        raise ClientError(400, "invalid_cursor", "starting_after is not a payout", "starting_after")
    at = cursor.payout.requested_at if cursor else None
    now = backend.clock()

    def kept(stored: StoredPayout) -> OperatorPayout | None:
        p = stored.payout
        if (customer and p.customer != customer) or (partner and all(a.partner != partner for a in p.attempts)):
            return None
        view = _view(backend, stored, now)
        if (tenant and view.tenant != tenant) or (wants_attention and not view.attention):
            return None
        return view

    page, more = newest_first_page(
        backend.store.all_payouts(status, at), payouts.decode, lambda s: s.payout.requested_at,
        (at, cursor.payout.payout_id) if cursor else None, kept, limit, MAX_SCAN,
    )  # fmt: skip
    return OperatorPayoutList(data=page, has_more=more)


def _get(backend: Backend, payout_id: str) -> StoredPayout:
    stored = backend.payouts().get(payout_id)
    if stored is None:
        raise _not_found("payout", payout_id)
    return stored


PAYOUT_EFFECTS = ("hold", "capture", "void", "reverse")  # what a payout books (shared.domain.payments.effects)


def ledger_items(backend: Backend, payout_id: str) -> list[PayoutTimelineItem]:
    """The ledger transactions the payout booked: their ids derive from (payout, effect, rule)
    (shared.domain.payments.ids.operation_id), so they are read by key, no scan."""
    names = {operation_id(payout_id, e, RULES[e].rule): e for e in PAYOUT_EFFECTS}
    found = backend.store.get_multi("JournalTransaction", list(names))
    return [
        PayoutTimelineItem(
            kind="ledger", at=_iso(record["recorded_at"]), partner=None, detail=f"{names[name]} booked",
            event=names[name], target=name,
        )
        for name, record in found.items()
    ]  # fmt: skip


def webhook_items(backend: Backend, stored: StoredPayout) -> list[PayoutTimelineItem]:
    """The partners' webhooks about the payout's attempts, as intake stored them (each attempt's idempotency
    key is what the bank echoes: InboxRecord.our_reference), applied or not: a webhook that arrived after
    the status query had already moved the payout is on the timeline too."""
    p = stored.payout
    keys = {partner_idempotency_key(p.payout_id, a.number): a.number for a in p.attempts}
    return [
        PayoutTimelineItem(
            kind="webhook", at=a.received_at, partner=a.partner, attempt=keys[a.record], event=a.type,
            target=a.key, detail=a.detail,
        )
        for a in arrivals(backend, list(keys))
    ]  # fmt: skip


def get_payout(backend: Backend, payout_id: str) -> OperatorPayoutDetail:
    stored = _get(backend, payout_id)
    view = _view(backend, stored, backend.clock())
    timeline = sorted(
        [*items(stored), *ledger_items(backend, payout_id), *webhook_items(backend, stored)], key=_instant
    )
    return OperatorPayoutDetail(**view.model_dump(), items=timeline)


def cancel_payout(backend: Backend, principal, payout_id: str, body: OperatorCancelRequest) -> OperatorPayoutDetail:
    who = actor(principal)
    _get(backend, payout_id)  # a 404 for an unknown payout

    def entry(tx, before, after) -> None:  # in the cancel's own transaction: both commit, or neither
        audit.append(
            tx,
            backend.clock(),
            actor=who,
            action="payout_cancel",
            reason=body.reason,
            target=payout_id,
            before={"status": before.payout.status},
            after={"status": after.payout.status},
        )

    try:
        backend.payouts().cancel(payout_id, also=entry)
    except PaymentError as exc:
        raise client_error(exc) from None
    return get_payout(backend, payout_id)
