"""The customer events a committed state change produces (pure). Each builder compares a record
before and after one change (or reads one committed ledger transaction) and returns Drafts: the
service layer (shared.webhooks.outbox.emit) writes them IN THE SAME store transaction as the change,
so an event exists if and only if its change committed (the outbox pattern), and numbers them per
ordering key.

Who receives an event: the tenant that owns the customer (`tenant_of`, read inside the transaction);
a customer no tenant owns produces nothing. Amounts are integer minor units; account numbers are the
masked ones; account holders' names and secrets are never in an event."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.ledger.accounts import TOTALS, AccountBalance
from shared.domain.payments.payins import Payment, Refund
from shared.domain.payments.payouts import Payout
from shared.domain.webhooks.catalogue import API_VERSION, BY_NAME

TenantOf = Callable[[str], str | None]  # customer id -> owning tenant, or None


@dataclass(frozen=True)
class Draft:
    """An event before it is numbered: who gets it, its type, what orders it, its data."""

    tenant: str
    type: str
    key: str
    data: dict

    def __post_init__(self):
        if self.type not in BY_NAME:
            raise ValueError(f"{self.type!r} is not in the event catalogue")


def envelope(event_id: str, draft: Draft, sequence: int, at: datetime) -> dict:
    """The body as sent (catalogue.envelope_schema)."""
    return {
        "id": event_id,
        "type": draft.type,
        "api_version": API_VERSION,
        "timestamp": at.isoformat(),
        "ordering": {"key": draft.key, "sequence": sequence},
        "data": draft.data,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _customer_of(account: str) -> str | None:
    parts = account.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "customer" and parts[2] == "wallet" else None


# ----------------------------------------------------------------------------- payouts and pay-ins

PAYOUT_EVENTS = {"submitted", "paid", "failed", "returned", "canceled"}  # besides pending, at creation


def payout_data(p: Payout, description: str | None, metadata: Iterable[tuple[str, str]]) -> dict:
    d = p.destination
    return {
        "object": "payout",
        "id": p.payout_id,
        "customer": p.customer,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status,
        "rail": d.rail,
        "destination": {
            "rail": d.rail,
            "routing_number": d.routing_number,
            "account_number": d.masked_account_number,
        },
        "partner_reference": p.partner_reference,
        "failure_reason": p.failure_reason,
        "return_code": p.return_code,
        "description": description,
        "metadata": dict(metadata),
        "created": p.requested_at.isoformat(),
    }


def payout_events(
    before: Payout | None,
    after: Payout,
    tenant_of: TenantOf,
    description: str | None = None,
    metadata: Iterable[tuple[str, str]] = (),
) -> list[Draft]:
    """payout.pending when it is created; payout.<status> when its status becomes one of PAYOUT_EVENTS
    (submitting is internal: it says a step is calling the bank)."""
    tenant = tenant_of(after.customer)
    if tenant is None:
        return []
    if before is None:
        kind = "pending"
    elif before.status != after.status and after.status in PAYOUT_EVENTS:
        kind = after.status
    else:
        return []
    return [Draft(tenant, f"payout.{kind}", after.payout_id, payout_data(after, description, metadata))]


def payment_data(p: Payment, amount_refunded: int) -> dict:
    return {
        "object": "payment",
        "id": p.payment_id,
        "customer": p.customer,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status,
        "processor_reference": p.processor_reference,
        "failure_reason": p.failure_reason,
        "amount_refunded": amount_refunded,
        "created": p.requested_at.isoformat(),
    }


def payment_events(before: Payment, after: Payment, tenant_of: TenantOf, amount_refunded: int = 0) -> list[Draft]:
    """payment.succeeded / payment.failed when a pay-in reaches that status."""
    tenant = tenant_of(after.customer)
    if tenant is None or before.status == after.status or after.status not in ("succeeded", "failed"):
        return []
    return [Draft(tenant, f"payment.{after.status}", after.payment_id, payment_data(after, amount_refunded))]


def refund_events(before: Refund, after: Refund, tenant_of: TenantOf) -> list[Draft]:
    """payment.refunded when a refund succeeds (ordered with its payment's events)."""
    p = after.payment
    tenant = tenant_of(p.customer)
    if tenant is None or before.status == after.status or after.status != "succeeded":
        return []
    data = {
        "object": "refund",
        "id": after.refund_id,
        "payment": p.payment_id,
        "customer": p.customer,
        "amount": after.amount,
        "currency": p.currency,
        "status": after.status,
        "processor_reference": after.processor_reference,
        "created": after.requested_at.isoformat(),
    }
    return [Draft(tenant, "payment.refunded", p.payment_id, data)]


# ----------------------------------------------------------------------------- ledger transactions

HOLD_STATUS = {"hold": "held", "capture": "captured", "void": "voided", "expire": "expired"}
HOLD_EVENT = {"hold": "created", "capture": "captured", "void": "voided", "expire": "expired"}


def _entries(record: dict) -> list[dict]:
    return json.loads(record["entries"]) if isinstance(record.get("entries"), str) else list(record["entries"])


def ledger_events(record: dict, target: dict | None, tenant_of: TenantOf) -> list[Draft]:
    """The events of one posted journal transaction (`record`, as the engine wrote it; `target`: the
    hold a capture/void/expire resolves). Per tenant owning a wallet it touches:
      - post / reverse: transfer.posted, with that tenant's wallet entries only;
      - hold / capture / void / expire: hold.<status>, ordered by the hold id;
      - every touched wallet and currency: balance.updated (opt-in), its totals after the transaction."""
    entries = _entries(record)
    by_tenant: dict[str, list[dict]] = {}
    for e in entries:
        customer = _customer_of(e["account"])
        tenant = tenant_of(customer) if customer is not None else None
        if tenant is not None:
            by_tenant.setdefault(tenant, []).append({**e, "customer": customer})
    drafts: list[Draft] = []
    kind = record["kind"]
    for tenant, mine in sorted(by_tenant.items()):
        if kind in ("post", "reverse"):
            posted = [e for e in mine if e["phase"] == "posted"]
            if posted:
                drafts.append(Draft(tenant, "transfer.posted", record["transaction_id"], _transaction(record, posted)))
        elif kind in HOLD_STATUS:
            hold = _hold(record, target, mine)
            if hold is not None and tenant_of(hold["customer"]) == tenant:  # the held wallet's tenant only
                drafts.append(Draft(tenant, f"hold.{HOLD_EVENT[kind]}", hold["id"], hold))
        drafts += _balances(record, tenant, mine)
    return drafts


def _transaction(record: dict, posted: list[dict]) -> dict:
    return {
        "object": "transaction",
        "id": record["transaction_id"],
        "rule": record["rule"],
        "reverses": record.get("target") if record["kind"] == "reverse" else None,
        "effective_at": _iso(record["effective_at"]),
        "posted_at": _iso(record["recorded_at"]),
        "entries": [
            {
                "customer": e["customer"],
                "account": e["account"],
                "direction": e["direction"],
                "amount": e["amount"],
                "currency": e["currency"],
            }
            for e in posted
        ],
    }


def _hold(record: dict, target: dict | None, mine: list[dict]) -> dict | None:
    """A hold as its events show it: the held wallet and amount are the pending debit of the hold
    transaction on a customer wallet (an API hold between two wallets also has a pending credit)."""
    hold_record = record if record["kind"] == "hold" else target
    if hold_record is None:
        return None
    held = [
        e
        for e in _entries(hold_record)
        if e["phase"] == "pending" and e["direction"] == "debit" and _customer_of(e["account"])
    ]
    if not held:
        return None
    wallet = held[0]
    captured = sum(e["amount"] for e in mine if e["phase"] == "posted" and e["account"] == wallet["account"])
    return {
        "object": "hold",
        "id": hold_record["transaction_id"],
        "customer": _customer_of(wallet["account"]),
        "account": wallet["account"],
        "amount": wallet["amount"],
        "currency": wallet["currency"],
        "status": HOLD_STATUS[record["kind"]],
        "captured": captured if record["kind"] == "capture" else 0,
        "rule": hold_record["rule"],
        "expires_at": _iso(hold_record.get("expires_at")),
        "transaction_id": record["transaction_id"],
    }


def _balances(record: dict, tenant: str, mine: list[dict]) -> list[Draft]:
    last: dict[tuple[str, str], dict] = {}
    for e in mine:
        last[(e["account"], e["currency"])] = e  # entries are in index order: the last one is the newest
    drafts = []
    for (account, currency), e in sorted(last.items()):
        b = AccountBalance(account, currency, **dict(zip(TOTALS, e["resulting"], strict=True)))
        data = {
            "object": "balance",
            "customer": e["customer"],
            "account": account,
            "currency": currency,
            "posted": b.posted,
            "pending": b.pending_out,
            "available": b.available,
            "transaction_id": record["transaction_id"],
            "account_version": e["account_version"],
        }
        drafts.append(Draft(tenant, "balance.updated", f"{account}|{currency}", data))
    return drafts


# ----------------------------------------------------------------------------- disputes


def dispute_events(before: dict | None, after: dict, tenant_of: TenantOf) -> list[Draft]:
    """dispute.opened when a Dispute record first has a status that is not final, dispute.closed when it
    becomes final (a dispute first seen final gets only dispute.closed). `before`/`after`: the
    shared.ledger.disputes records."""
    customer = after.get("customer")
    tenant = tenant_of(customer) if customer else None
    if tenant is None or after.get("status") is None:
        return []
    was_final = bool(before and before.get("final"))
    had_status = bool(before and before.get("status"))
    if after.get("final") and not was_final:
        kind = "closed"
    elif not after.get("final") and not had_status:
        kind = "opened"
    else:
        return []
    data = {
        "object": "dispute",
        "id": after["dispute_id"],
        "partner": after["partner"],
        "customer": customer,
        "payment_reference": after.get("payment_reference"),
        "amount": after.get("amount"),
        "currency": after.get("currency"),
        "status": after["status"],
        "withdrawn": after.get("withdrawn", 0),
        "reinstated": after.get("reinstated", 0),
    }
    return [Draft(tenant, f"dispute.{kind}", f"{after['partner']}:{after['dispute_id']}", data)]


def endpoint_disabled(tenant: str, endpoint_id: str, url: str, reason: str, failing_since: datetime | None) -> Draft:
    data = {
        "object": "webhook_endpoint",
        "id": endpoint_id,
        "url": url,
        "disabled_reason": reason,
        "failing_since": _iso(failing_since),
    }
    return Draft(tenant, "webhook_endpoint.disabled", endpoint_id, data)
