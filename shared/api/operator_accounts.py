"""Accounts and transactions for operators (issue 22, console pages /accounts and /transactions/:id):
any ledger account read cross-tenant, its entries with running balances, a transaction with all its
entries, its links and its raw partner event, and an exact-match search. `operator` scope only; every
read is a key lookup or an indexed query (never a scan).

An account is named by a customer id (its wallet `customer:<id>:wallet`) or a ledger account name
(shared.domain.ledger.accounts.ACCOUNT_RULES). A name matching no rule, a wallet of no tenant's
customer, or a system account with no entries yet is 404 account_not_found.

Running balances: a wallet is one entity, so each entry carries the balance after it; a system account
is split into shards and an entry's balance is its shard's, so operators get none (None) there."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from shared.api import models
from shared.api.service import (
    DEFAULT_LIMIT,
    HOLD_INDEX,
    Backend,
    _currency_balance,
    _hold,
    _iso,
    _not_found,
    entries_page,
    parse_time,
)
from shared.api.tenants import customer_of, wallet
from shared.domain.ledger.accounts import AccountRule, account_rule
from shared.domain.ledger.errors import UnknownAccount
from shared.domain.ledger.ids import EPOCH
from shared.domain.payments.destinations import mask
from shared.domain.payments.effects import PARTNER as EFFECTS_PARTNER
from shared.domain.payments.ids import PAYMENT_PREFIX, PAYOUT_PREFIX, REFUND_PREFIX
from shared.errors import ClientError
from shared.ledger import balances as ledger_balances
from shared.ledger.store import StoredEntry, StoredTransaction

RAW_BODY_LIMIT = 64 << 10  # bytes of a raw partner body shown; longer ones are cut and flagged
MAX_OPEN_HOLDS = 100
# Header names (lower case) that carry, or sign with, a secret: never shown.
_SECRET_WORDS = ("signature", "secret", "authorization", "token", "api-key", "apikey", "cookie", "hmac")


# ----------------------------------------------------------------------------- models


class OperatorEntry(BaseModel):
    object: Literal["entry"] = "entry"
    id: str
    transaction: str
    account: str = Field(description="the ledger account name (customer:<id>:wallet for a wallet)")
    currency: str
    direction: Literal["debit", "credit"]
    phase: Literal["posted", "pending", "release"]
    amount: int
    effective_at: str
    recorded_at: str
    shard: int
    account_version: int
    posted_after: int | None = Field(description="the wallet's posted balance after this entry; None: sharded")
    available_after: int | None = Field(description="the wallet's available balance after it; None: sharded")


class OperatorAccount(BaseModel):
    object: Literal["operator_account"] = "operator_account"
    id: str = Field(description="the ledger account name")
    customer: str | None = Field(description="a wallet's customer id")
    tenant: str | None = Field(description="the tenant owning a wallet's customer")
    type: Literal["asset", "liability", "equity", "income", "expense"]
    meaning: str
    sharded: bool = Field(description="a hot system account split into shards (running balances are per shard)")
    as_of: str | None
    clock: Literal["recorded", "effective"]
    balances: list[models.CurrencyBalance]
    open_holds: list[models.Hold] = Field(description="a wallet's open holds made through the API, newest first")


class OperatorEntryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OperatorEntry]
    has_more: bool
    next_starting_after: str | None = Field(description="the cursor of the next page (an entry id)")


class RawEvent(BaseModel):
    object: Literal["raw_event"] = "raw_event"
    key: str
    partner: str
    partner_event_id: str
    type: str
    verdict: str
    received_at: str
    deliveries: int
    headers: dict[str, str] = Field(description="as received, without signature or secret headers")
    body: str | None = Field(description="the raw body as text (UTF-8, invalid bytes replaced); None: redacted")
    body_bytes: int
    truncated: bool = Field(description="the body is longer than 64 KiB: only its start is shown")
    redacted_at: str | None


class TransactionLink(BaseModel):
    kind: Literal["reverses", "reversed_by", "hold", "break", "fee_booking", "payout", "payment", "refund"]
    id: str


class OperatorTransaction(BaseModel):
    object: Literal["operator_transaction"] = "operator_transaction"
    id: str
    kind: Literal["post", "hold", "capture", "void", "expire", "reverse"]
    rule: str
    partner: str | None
    event_id: str | None = Field(description="<partner>:<partner event id> of the event it posts")
    ledger: str | None
    effective_at: str
    recorded_at: str
    expires_at: str | None
    entries: list[OperatorEntry] = Field(description="every entry, on every account")
    reverses: str | None
    reversed_by: str | None
    hold: str | None
    links: list[TransactionLink]
    raw_event: RawEvent | None


class SearchHit(BaseModel):
    kind: Literal["transaction", "customer", "account", "partner_event"]
    id: str
    label: str
    link: str = Field(description="the operator API path that reads it")


class SearchResults(BaseModel):
    object: Literal["list"] = "list"
    query: str
    data: list[SearchHit]


# ----------------------------------------------------------------------------- accounts


def _resolve(backend: Backend, name: str) -> tuple[str, AccountRule, str | None, str | None]:
    """(ledger account, its rule, customer, tenant) of a customer id or a ledger account name."""
    account = name if ":" in name or name == "suspense" else wallet(name)
    try:
        rule = account_rule(account) if len(account) <= 200 else None
    except UnknownAccount:
        rule = None
    if rule is None:
        raise _not_found("account", name, "account")
    customer = customer_of(account)
    if customer is not None:
        link = backend.store.get("TenantCustomer", customer)
        if link is None:
            raise _not_found("account", name, "account")
        return account, rule, customer, link.get("tenant")
    if not backend.store.account_shards(account):
        raise _not_found("account", name, "account")
    return account, rule, None, None


def get_account(backend: Backend, name: str, as_of: str | None = None, clock: str = "recorded") -> OperatorAccount:
    if clock not in ("recorded", "effective"):
        raise ClientError(400, "parameter_invalid", "clock is recorded or effective", "clock")
    at = parse_time(as_of, "as_of") if as_of is not None else None
    account, rule, customer, tenant = _resolve(backend, name)
    if at is None:
        current = ledger_balances.balances(backend.store, account)
    else:
        current = ledger_balances.balance_as_of(backend.store, account, at, clock=clock)
    holds: list[models.Hold] = []
    if customer is not None and tenant is not None:
        now = backend.clock()
        for hold_id, _ in backend.store.api_index(HOLD_INDEX, tenant, customer, None):
            found = backend.store.hold(hold_id)
            view = _hold(*found, now) if found else None
            if view is not None and view.status == "open":
                holds.append(view)
            if len(holds) == MAX_OPEN_HOLDS:
                break
    return OperatorAccount(
        id=account,
        customer=customer,
        tenant=tenant,
        type=rule.type,
        meaning=rule.meaning,
        sharded=rule.sharded,
        as_of=_iso(at),
        clock=clock,
        balances=[_currency_balance(b) for _, b in sorted(current.items())],
        open_holds=holds,
    )


def _entry(t: StoredTransaction, e: StoredEntry, sharded: bool) -> OperatorEntry:
    after = None if sharded else e.balance_after()
    return OperatorEntry(
        id=f"{t.id}:{e.index}",
        transaction=t.id,
        account=e.account,
        currency=e.currency,
        direction=e.direction,
        phase=e.phase,
        amount=e.amount,
        effective_at=_iso(t.effective_at),
        recorded_at=_iso(t.recorded_at),
        shard=e.shard,
        account_version=e.account_version,
        posted_after=after.posted if after else None,
        available_after=after.available if after else None,
    )


def list_entries(
    backend: Backend,
    name: str,
    *,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> OperatorEntryList:
    """Ledger order (recorded_at, transaction id, index) ascending, as GET /v1/accounts/{id}/entries."""
    bounds = (parse_time(start, "from") if start else EPOCH, parse_time(end, "to") if end else None)
    account, rule, _, _ = _resolve(backend, name)
    page, more = entries_page(backend, account, bounds, starting_after, limit)
    data = [_entry(t, e, rule.sharded) for t, e in page]
    return OperatorEntryList(data=data, has_more=more, next_starting_after=data[-1].id if more else None)


# ----------------------------------------------------------------------------- transactions


def visible_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers an operator may see: none that carries or signs with a secret."""
    return {k: v for k, v in headers.items() if not any(word in k.lower() for word in _SECRET_WORDS)}


# An account number in a partner's raw body is shown masked, like everywhere else (its last four digits);
# the rest of the body is left byte for byte. Ids of accounts (Column's account_number_id) are not numbers.
_ACCOUNT_NUMBER = re.compile(r'("(?:account_number|accountNumber|bank_account_number|iban|IBAN)"\s*:\s*")([^"\\]*)(")')


def mask_account_numbers(text: str) -> str:
    return _ACCOUNT_NUMBER.sub(lambda m: m.group(1) + mask(m.group(2)) + m.group(3), text)


def raw_event(backend: Backend, key: str) -> RawEvent | None:
    inbox = getattr(backend.operations(), "inbox", None)
    found = inbox.get(key) if inbox is not None and len(key.encode()) <= 1500 else None  # Datastore: 1500 bytes
    if found is None:
        return None
    body = found.body if found.redacted_at is None else None
    size = len(body) if body is not None else 0
    return RawEvent(
        key=found.key,
        partner=found.partner,
        partner_event_id=found.partner_event_id,
        type=found.partner_event_type,
        verdict=found.verdict,
        received_at=_iso(found.received_at),
        deliveries=found.deliveries,
        headers=visible_headers(found.headers or {}),
        body=mask_account_numbers(body[:RAW_BODY_LIMIT].decode("utf-8", errors="replace"))
        if body is not None
        else None,
        body_bytes=size,
        truncated=size > RAW_BODY_LIMIT,
        redacted_at=_iso(found.redacted_at),
    )


class WebhookArrival(BaseModel):
    """A partner's webhook about one record of ours, as intake stored it (its raw event:
    GET /v1/operator/raw-events/{key})."""

    record: str = Field(description="the record of ours it is about: a payout attempt's key, a pay-in, a refund")
    key: str = Field(description="<partner>:<partner event id>")
    partner: str
    type: str
    received_at: models.Timestamp
    deliveries: int
    verdict: str = Field(description="accepted (published to what applies it) or ignored (stored only)")
    detail: str | None = Field(description="redeliveries, why it was stored only, conflicting redeliveries")


def arrivals(backend: Backend, references: list[str]) -> list[WebhookArrival]:
    """The inbox events about each reference (InboxRecord.our_reference), first received first."""
    inbox = getattr(backend.operations(), "inbox", None)
    if inbox is None:
        return []
    out = []
    for reference in references:
        for e in inbox.about(reference):
            notes = [f"{e.deliveries} deliveries"] if e.deliveries > 1 else []
            notes += [e.reason] if e.reason else []
            notes += [f"{e.conflicts} conflicting redelivery(ies) kept aside"] if e.conflicts else []
            out.append(
                WebhookArrival(
                    record=reference, key=e.key, partner=e.partner, type=e.partner_event_type,
                    received_at=_iso(e.received_at), deliveries=e.deliveries, verdict=e.verdict,
                    detail="; ".join(notes) or None,
                )
            )  # fmt: skip
    return sorted(out, key=lambda a: (a.received_at, a.key))


def get_raw_event(backend: Backend, key: str) -> RawEvent:
    found = raw_event(backend, key)
    if found is None:
        raise _not_found("raw_event", key, "key")
    return found


def get_transaction(backend: Backend, transaction: str) -> OperatorTransaction:
    t = backend.store.transaction(transaction) if len(transaction) <= 200 else None
    if t is None:
        raise _not_found("transaction", transaction)
    sharded = {}
    for e in t.entries:
        if e.account not in sharded:
            try:
                sharded[e.account] = account_rule(e.account).sharded
            except UnknownAccount:
                sharded[e.account] = True
    reversal = backend.store.get("Reversal", transaction)
    reverses = t.target if t.kind == "reverse" else None
    reversed_by = reversal["reversal_id"] if reversal else None
    hold = t.target if t.kind in ("capture", "void", "expire") else None
    links = [TransactionLink(kind="reverses", id=reverses)] if reverses else []
    links += [TransactionLink(kind="reversed_by", id=reversed_by)] if reversed_by else []
    links += [TransactionLink(kind="hold", id=hold)] if hold else []
    # What ledgerline itself originates names its record in the event id (shared.domain.payments.effects:
    # "ledgerline:<payout / payment / refund id>:<effect>"): the payout's hold, capture, release…
    origin, _, rest = (t.event_id or "").partition(":")
    record = rest.partition(":")[0]
    for prefix, kind in ((PAYOUT_PREFIX, "payout"), (PAYMENT_PREFIX, "payment"), (REFUND_PREFIX, "refund")):
        if origin == EFFECTS_PARTNER and record.startswith(prefix):
            links.append(TransactionLink(kind=kind, id=record))
    # A fee booking corrects a break (indexed by its ledger transaction): the transaction's break.
    for name, booking in sorted(backend.store.query("FeeBooking", "ledger_transaction", transaction).items()):
        links.append(TransactionLink(kind="fee_booking", id=name))
        if booking.get("break_id"):
            links.append(TransactionLink(kind="break", id=str(booking["break_id"])))
    return OperatorTransaction(
        id=t.id,
        kind=t.kind,
        rule=t.rule,
        partner=t.partner,
        event_id=t.event_id,
        ledger=t.ledger,
        effective_at=_iso(t.effective_at),
        recorded_at=_iso(t.recorded_at),
        expires_at=_iso(t.expires_at),
        entries=[_entry(t, e, sharded[e.account]) for e in sorted(t.entries, key=lambda e: e.index)],
        reverses=reverses,
        reversed_by=reversed_by,
        hold=hold,
        links=links,
        raw_event=raw_event(backend, t.event_id) if t.event_id else None,
    )


# ----------------------------------------------------------------------------- search


def search(backend: Backend, q: str | None) -> SearchResults:
    """What q is, by exact lookups only: a transaction id, a customer id, a ledger account name, or a
    partner event (`<partner>:<partner event id>`: the transactions that posted it)."""
    q = (q or "").strip()
    if not q or len(q) > 200:
        raise ClientError(400, "parameter_invalid", "q is 1 to 200 characters", "q")
    hits: list[SearchHit] = []
    t = backend.store.transaction(q)
    if t is not None:
        hits.append(
            SearchHit(kind="transaction", id=q, label=f"{t.kind} {t.rule}", link=f"/v1/operator/transactions/{q}")
        )
    for name in (q, customer_of(q)):
        if name and ":" not in name and backend.store.get("TenantCustomer", name) is not None:
            tenant = backend.store.get("TenantCustomer", name).get("tenant")
            hits.append(
                SearchHit(kind="customer", id=name, label=f"customer of {tenant}", link=f"/v1/operator/accounts/{name}")
            )
            break
    else:
        try:
            rule = account_rule(q)
        except UnknownAccount:
            rule = None
        if rule is not None and customer_of(q) is None and backend.store.account_shards(q):
            hits.append(SearchHit(kind="account", id=q, label=rule.meaning, link=f"/v1/operator/accounts/{q}"))
    if ":" in q:
        for posted in sorted(backend.store.transactions_of_event(q), key=lambda t: t.id):
            hits.append(
                SearchHit(
                    kind="partner_event",
                    id=posted.id,
                    label=f"{q}: {posted.kind} {posted.rule}",
                    link=f"/v1/operator/transactions/{posted.id}",
                )
            )
    return SearchResults(query=q, data=hits)
