"""Statements of a customer's account (GET /v1/accounts/{id}/statements/{period}): the response models
and the service. The arithmetic is shared.domain.statements (pure); here: parameters, tenancy, the
store reads and the renderings. Opening and closing balances come from
shared.ledger.balances.balance_as_of, the very computation GET …/balance?as_of= answers with, so a
statement's closing balance is the balance as of its `closing_as_of` by construction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from shared.api.models import Timestamp
from shared.api.service import Backend, parse_time
from shared.domain import statement_proof
from shared.domain import statements as domain
from shared.domain.ledger.accounts import AccountBalance
from shared.domain.ledger.chain import chains_of
from shared.domain.ledger.model import LEDGER
from shared.domain.money import UnknownCurrency, exponent, normalise_currency
from shared.errors import ClientError
from shared.ledger import balances as ledger_balances

log = logging.getLogger("ledgerline.api")
FORMATS = ("json", "csv", "pdf")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


# ----------------------------------------------------------------------------- response models


class StatementBalance(BaseModel):
    posted: int = Field(description="posted balance on the account's normal side (minor units)")
    pending_in: int = Field(description="held for this account, not yet captured")
    pending_out: int = Field(description="held from this account, may still be captured")
    available: int = Field(description="posted - pending_out")


class StatementEntry(BaseModel):
    id: str = Field(description="the entry id (<transaction>:<index>), as in GET …/entries")
    transaction: str
    kind: str = Field(description="post | hold | capture | void | expire | reverse")
    direction: Literal["debit", "credit"]
    phase: Literal["posted", "pending", "release"]
    amount: int = Field(description="minor units, always positive: `direction` and `phase` say what it does")
    effective_at: Timestamp
    recorded_at: Timestamp
    account_version: int = Field(description="the account's version after this entry (contiguous per currency)")
    balance_after: StatementBalance = Field(description="the running balance after this entry, on this clock")


class StatementTotals(BaseModel):
    total_in: int = Field(description="posted credits to the account (money in), minor units")
    total_out: int = Field(description="posted debits (money out), minor units")
    count_in: int
    count_out: int
    pending_in_added: int = Field(description="holds placed for the account")
    pending_in_released: int = Field(description="holds for the account released (captured or voided)")
    pending_out_added: int = Field(description="holds placed on the account's money")
    pending_out_released: int = Field(description="holds on the account's money released")


class StatementCurrency(BaseModel):
    currency: str
    exponent: int = Field(description="ISO-4217 minor-unit exponent: amount / 10**exponent is the major amount")
    opening: StatementBalance = Field(description="as of opening_as_of (start - 1 µs)")
    closing: StatementBalance = Field(description="as of closing_as_of (end - 1 µs)")
    totals: StatementTotals
    entry_count: int
    entries: list[StatementEntry] = Field(description="every entry of the period in order (on the clock's time)")


class ProofSection(BaseModel):
    currency: str
    opening_version: int | None = Field(description="recorded clock: the account's version in this currency at opening")
    closing_version: int | None = Field(description="recorded clock: the version at closing (entries: opening+1…)")
    digest: str


class ChainHead(BaseModel):
    chain_id: str = Field(description="one of the ledger's hash chains (<ledger>#<0..31>)")
    seq: int = Field(description="the position of its last transaction recorded before `end` (0: none yet)")
    hash: str = Field(description="that transaction's hash (64 zeros at genesis), as in BigQuery `transactions`")
    transaction: str | None = Field(description="that transaction's id")


class ProofChain(BaseModel):
    before: Timestamp = Field(description="the instant the heads are taken at: the statement's end")
    heads: list[ChainHead] = Field(description="every chain of the ledger, in shard order")


class StatementProof(BaseModel):
    version: Literal["ledgerline.statement.v2"]
    ledger_account: str = Field(description="the ledger account whose BigQuery `entries` rows anchor the statement")
    anchor: Literal["bigquery:entries+transactions"]
    digest: str = Field(
        description="SHA-256 over the statement's entries, balances and chain heads "
        '(docs/api.md "Provable statements")'
    )
    sections: list[ProofSection]
    chain: ProofChain | None = Field(
        description="the ledger's hash-chain heads at `end` (recorded clock, once the period has settled for "
        f"{int(statement_proof.SETTLE.total_seconds())} s); null: anchored to the entries only"
    )


class Statement(BaseModel):
    object: Literal["statement"] = "statement"
    account: str
    period: str = Field(description="YYYY-MM or custom")
    start: Timestamp = Field(description="inclusive")
    end: Timestamp = Field(description="exclusive")
    clock: Literal["recorded", "effective"]
    opening_as_of: Timestamp = Field(description="start - 1 µs: GET …/balance?as_of= this gives `opening`")
    closing_as_of: Timestamp = Field(description="end - 1 µs: GET …/balance?as_of= this gives `closing`")
    generated_at: Timestamp
    complete: bool = Field(description="the period had ended when the statement was generated")
    entry_count: int
    currency: str | None = Field(description="the currency asked for (null: every currency of the account)")
    currencies: list[StatementCurrency]
    proof: StatementProof | None = Field(
        default=None,
        description="its digest and what verifies it: `ledgerline verify-statement` "
        '(docs/api.md "Provable statements")',
    )


# ----------------------------------------------------------------------------- renderings


@dataclass(frozen=True)
class Rendered:
    """A non-JSON answer of a GET route (shared.api.routes sends it as is)."""

    body: bytes
    media_type: str
    filename: str


def _figures(b: AccountBalance) -> StatementBalance:
    return StatementBalance(posted=b.posted, pending_in=b.pending_in, pending_out=b.pending_out, available=b.available)


def to_model(s: domain.Statement) -> Statement:
    model = _model(s)
    versions = {c.currency: (c.opening_version, c.closing_version) for c in s.currencies}
    model.proof = StatementProof(
        **statement_proof.prove(model.model_dump(mode="json"), s.account, versions, chain=s.chain)
    )
    return model


def _model(s: domain.Statement) -> Statement:
    iso = domain.iso
    return Statement(
        account=s.customer,
        period=s.period.name,
        start=iso(s.period.start),
        end=iso(s.period.end),
        clock=s.clock,
        opening_as_of=iso(s.period.opening_as_of),
        closing_as_of=iso(s.period.closing_as_of),
        generated_at=iso(s.generated_at),
        complete=s.complete,
        entry_count=s.entry_count,
        currency=s.currency,
        currencies=[
            StatementCurrency(
                currency=c.currency,
                exponent=exponent(c.currency),
                opening=_figures(c.opening),
                closing=_figures(c.closing),
                totals=StatementTotals(**vars(c.movement)),
                entry_count=len(c.lines),
                entries=[
                    StatementEntry(
                        id=line.id,
                        transaction=line.transaction,
                        kind=line.kind,
                        direction=line.direction,
                        phase=line.phase,
                        amount=line.amount,
                        effective_at=iso(line.effective_at),
                        recorded_at=iso(line.recorded_at),
                        account_version=line.account_version,
                        balance_after=_figures(after),
                    )
                    for line, after in c.lines
                ],
            )
            for c in s.currencies
        ],
    )


# ----------------------------------------------------------------------------- the service


def _lines(backend: Backend, account: str) -> list[domain.Line]:
    return [
        domain.Line(
            id=f"{t.id}:{e.index}",
            transaction=t.id,
            kind=t.kind,
            currency=e.currency,
            direction=e.direction,
            phase=e.phase,
            amount=e.amount,
            effective_at=t.effective_at,
            recorded_at=t.recorded_at,
            account_version=e.account_version,
        )
        for t in backend.store.transactions_of_account(account)
        for e in t.entries_on(account)
    ]


def build_statement(
    backend: Backend,
    tenant: str,
    customer: str,
    period: str,
    *,
    start: str | None = None,
    end: str | None = None,
    clock: str = "recorded",
    currency: str | None = None,
    export: bool = False,
    anchor: bool = True,
) -> domain.Statement:
    """The statement, parameters checked first (400), then tenancy (404: another tenant's account is
    indistinguishable from none)."""
    if clock not in domain.CLOCKS:
        raise ClientError(400, "parameter_invalid", "clock is recorded or effective", "clock")
    lower = parse_time(start, "from") if start is not None else None
    upper = parse_time(end, "to") if end is not None else None
    chosen = domain.parse_period(period, lower, upper, max_days=domain.EXPORT_MAX_DAYS if export else domain.MAX_DAYS)
    if currency is not None:
        try:
            currency = normalise_currency(currency)
        except UnknownCurrency:
            raise ClientError(400, "parameter_invalid", "currency is an ISO-4217 code", "currency") from None
    account = backend.tenancy.require_customer(tenant, customer)
    opening = ledger_balances.balance_as_of(backend.store, account, chosen.opening_as_of, clock=clock)
    closing = ledger_balances.balance_as_of(backend.store, account, chosen.closing_as_of, clock=clock)
    now = backend.clock()
    statement = domain.build(
        account, customer, chosen, clock, _lines(backend, account), opening, closing, now,
        currency=currency, max_entries=domain.EXPORT_MAX_ENTRIES if export else None,
    )  # fmt: skip
    statement.chain = _chain(backend, chosen, clock, now) if anchor else None
    log.info(
        "statement built",
        extra={"tenant": tenant, "period": chosen.name, "clock": clock, "entries": statement.entry_count},
    )
    return statement


HEADS_KEPT = 64  # settled instants whose heads an instance keeps (Backend.chain_heads)


def _chain(backend: Backend, chosen: domain.Period, clock: str, now) -> dict | None:
    """The chain heads at the period's end, for a settled period on the recorded clock (the effective
    clock can still change after the fact: such a statement is anchored to the entries only). The 32
    reads are made once per instance and instant: every customer's statement of a month shares them."""
    if clock != "recorded" or chosen.end > now - statement_proof.SETTLE:
        return None
    kept = backend.chain_heads
    heads = kept.get(chosen.end)
    if heads is None:
        heads = [statement_proof.head_of(c, backend.store.chain_head_at(c, chosen.end)) for c in chains_of(LEDGER)]
        if len(kept) >= HEADS_KEPT:
            kept.pop(next(iter(kept)))  # the oldest kept instant
        kept[chosen.end] = heads
    return {"before": domain.iso(chosen.end), "heads": [dict(h) for h in heads]}


def get_statement(
    backend: Backend,
    tenant: str,
    customer: str,
    period: str,
    *,
    start: str | None = None,
    end: str | None = None,
    clock: str | None = None,
    currency: str | None = None,
    format: str | None = None,
) -> Statement | Rendered:
    fmt = format or "json"
    if fmt not in FORMATS:
        raise ClientError(400, "parameter_invalid", f"format is one of {', '.join(FORMATS)}", "format")
    s = build_statement(
        backend, tenant, customer, period, start=start, end=end, clock=clock or "recorded", currency=currency,
        anchor=anchored_format(fmt),
    )  # fmt: skip
    return to_model(s) if fmt == "json" else render(s, fmt)


def anchored_format(fmt: str) -> bool:
    """The renderings that carry the proof (its digest covers the chain heads): the CSV carries none, so
    it is built without reading the 32 heads."""
    return fmt != "csv"


def render(s: domain.Statement, fmt: str) -> Rendered:
    """A statement in a non-JSON format, or as a JSON file (an export)."""
    name = f"statement-{s.customer}-{s.period.name if s.period.name != 'custom' else _span(s)}-{s.clock}.{fmt}"
    if fmt == "json":
        return Rendered(to_model(s).model_dump_json().encode(), "application/json", name)
    if fmt == "csv":
        return Rendered(domain.render_csv(s).encode(), MEDIA_TYPES["csv"], name)
    from shared.api import statement_pdf  # the PDF library is loaded only when a PDF is asked for

    return Rendered(statement_pdf.render(s, to_model(s).proof.digest), MEDIA_TYPES["pdf"], name)


def _span(s: domain.Statement) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{s.period.start.strftime(fmt)}-{s.period.end.strftime(fmt)}"
