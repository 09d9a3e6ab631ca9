"""The v1 API's service layer: every read is scoped to the caller's tenant, every write is a ledger
Operation executed once (shared.ledger.transactions.execute) with constraints enforced. No HTTP here: the routes
(shared.api.routes) turn requests into these calls and ClientErrors into error responses.

Tenant scoping: an account is a customer wallet the tenant owns (shared.api.tenants); a transaction is
visible when one of its entries is on such a wallet, and only those entries are shown; a hold is one
the API created between two of the tenant's wallets. Anything else is a 404 with the same message as
a resource that does not exist (never 403: that would tell another tenant's ids exist)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from shared.api import models
from shared.api.idempotency import Attempt
from shared.api.tenants import Tenancy, customer_of
from shared.domain.ledger import engine
from shared.domain.ledger.accounts import AccountBalance, account_type
from shared.domain.ledger.errors import Rejected
from shared.domain.ledger.ids import EPOCH, digest, transaction_id
from shared.domain.ledger.model import Leg, Operation
from shared.errors import ClientError
from shared.ledger import balances as ledger_balances
from shared.ledger import store, transactions
from shared.ledger.store import HoldState, StoredEntry, StoredTransaction
from shared.recovery.dead_letters import Filter
from shared.recovery.service import Publish, Schedule

log = logging.getLogger("ledgerline.api")
PARTNER = "api"  # the `partner` of transactions the API originates
TRANSFER_RULE, HOLD_RULE, CAPTURE_RULE, VOID_RULE = "api_transfer.v1", "api_hold.v1", "api_capture.v1", "api_void.v1"
MAX_LIMIT, DEFAULT_LIMIT = 100, 10

# (status, created at or before | None) -> dead letters of that status, newest first.
DeadLettersBy = Callable[[str, datetime | None], Iterable[tuple[str, dict]]]


@dataclass
class Backend:
    store: object  # shared.ledger.store.LedgerStore with insert()
    dead_letters: DeadLettersBy
    publish: Publish | None = None
    schedule: Schedule | None = None
    after_commit: Callable[[str], None] = lambda transaction_id: None  # stream the outbox to BigQuery
    clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC)
    # the ledger's chain heads at settled instants, once read (shared.api.statements: they never change)
    chain_heads: dict = field(default_factory=dict)
    # The payments services, built on first use (shared.bootstrap: payouts, payments, payout_limits), so
    # a missing payments setting fails the payments routes only, never balance reads.
    payouts: Callable[[], Any] = field(default=lambda: _unavailable("payouts"))  # shared.payments.service.Payouts
    payments: Callable[[], Any] = field(default=lambda: _unavailable("payments"))  # shared.payments.payins.Payments
    payout_limits: Callable[[], Any] = field(default=lambda: _unavailable("payout limits"))  # PayoutLimitsBook
    # Hand a new (or retried) payout / payment / refund to the payments function: (task kind, record id);
    # kinds "payout-step", "payment-step", "refund-step" (shared.recovery.policies.PAYMENTS_TASK_KINDS).
    start: Callable[[str, str], None] = field(default=lambda kind, record_id: _unavailable("the payments hand-off"))
    # the tenant's webhook endpoints, events, attempts and replays (shared.webhooks.endpoints.WebhookEndpoints)
    webhooks: Callable[[], Any] = field(default=lambda: _unavailable("webhooks"))
    # the operator's services: break desk, maker-checker requests, audit log (shared.bootstrap.operations)
    operations: Callable[[], Any] = field(default=lambda: _unavailable("operations"))
    # where statement exports are written and signed for download (shared.adapters.statement_files)
    statement_files: Callable[[], Any] = field(default=lambda: _unavailable("statement files"))
    tenancy: Tenancy = field(init=False)

    def __post_init__(self):
        self.tenancy = Tenancy(self.store)


def _unavailable(what: str):
    raise RuntimeError(f"{what} is not wired into this Backend (shared.bootstrap.api_backend)")


# ----------------------------------------------------------------------------- helpers


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parse_time(value: str, param: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ClientError(400, "parameter_invalid", f"{param} must be an RFC 3339 timestamp with a zone", param)
    if not EPOCH <= moment <= datetime(9999, 1, 1, tzinfo=UTC):
        raise ClientError(400, "parameter_invalid", f"{param} is out of range", param)
    return moment.astimezone(UTC)


def _currency_balance(b: AccountBalance) -> models.CurrencyBalance:
    return models.CurrencyBalance(
        currency=b.currency, posted=b.posted, pending_in=b.pending_in, pending_out=b.pending_out, available=b.available
    )


def _entry(t: StoredTransaction, e: StoredEntry) -> models.Entry:
    after = e.balance_after() if e.shard == 0 else None
    return models.Entry(
        id=f"{t.id}:{e.index}",
        transaction=t.id,
        account=customer_of(e.account) or e.account,
        currency=e.currency,
        direction=e.direction,
        phase=e.phase,
        amount=e.amount,
        effective_at=_iso(t.effective_at),
        recorded_at=_iso(t.recorded_at),
        account_version=e.account_version,
        posted_after=after.posted if after else None,
        available_after=after.available if after else None,
    )


def _not_found(what: str, ident: str, param: str = "id") -> ClientError:
    return ClientError(404, f"{what}_not_found", f"no {what} {ident!r}", param)


def _generation(attempt: Attempt | None) -> str:
    """What names a write's ledger operation: the idempotency record's generation, else a fresh id."""
    return attempt.generation if attempt else f"noidem:{uuid.uuid4().hex}"


def _rejected(result) -> ClientError:
    messages = {
        "insufficient_funds": "the source account's available balance is too low",
        "hold_already_resolved": "the hold is no longer open",
        "hold_expired": "the hold has expired",
        "amount_exceeds_hold": "the amount exceeds what the hold still holds",
        "currency_mismatch": "the currency does not match the hold's",
    }
    code = result.reason or "rejected"
    return ClientError(422, code, messages.get(code, f"the ledger refused the operation ({code})"), None)


def _execute(backend: Backend, op: Operation, guard=None, within=None):
    try:
        result = transactions.execute(backend.store, op, backend.clock, guard=guard, within=within)
    except store.LedgerConflict:
        raise ClientError(
            409, "idempotency_key_reuse", "this operation exists with a different body", None, "idempotency_error"
        ) from None
    if result.status == "rejected":
        raise _rejected(result)
    if result.status == "posted":
        backend.after_commit(result.transaction_id)
    log.info(
        f"api operation {result.status}",
        extra={"transaction_id": result.transaction_id, "kind": op.kind, "status": result.status},
    )
    return result


# ----------------------------------------------------------------------------- accounts, balances, entries


def get_account(backend: Backend, tenant: str, customer: str) -> models.Account:
    account = backend.tenancy.require_customer(tenant, customer)
    link = backend.store.get("TenantCustomer", customer) or {}
    current = ledger_balances.balances(backend.store, account)
    return models.Account(
        id=customer,
        ledger_account=account,
        type=account_type(account),
        currencies=sorted(current),
        added_at=_iso(link.get("added_at")),
    )


def get_balance(
    backend: Backend, tenant: str, customer: str, as_of: str | None = None, clock: str = "recorded"
) -> models.Balance:
    if clock not in ("recorded", "effective"):
        raise ClientError(400, "parameter_invalid", "clock is recorded or effective", "clock")
    at = parse_time(as_of, "as_of") if as_of is not None else None  # parameters first, then tenancy
    account = backend.tenancy.require_customer(tenant, customer)
    if at is None:
        current = ledger_balances.balances(backend.store, account)
    else:
        current = ledger_balances.balance_as_of(backend.store, account, at, clock=clock)
    return models.Balance(
        account=customer,
        as_of=_iso(at),
        clock=clock,
        balances=[_currency_balance(b) for _, b in sorted(current.items())],
    )


def newest_first_page(
    rows: Iterable[tuple[str, dict]],
    decode: Callable[[str, dict], Any],
    at: Callable[[Any], datetime],
    cursor: tuple[datetime, str] | None,
    view: Callable[[Any], Any],
    limit: int,
    scan: int = 5000,
) -> tuple[list, bool]:
    """One page of a cross-tenant listing read newest first ((at desc, name asc): the operators'
    payouts and pay-ins): each row decoded, those up to the cursor (at, name) skipped, `view` making the
    item or None (filtered out in code); at most `scan` rows read. (page, has_more): more when a row
    beyond the page matched, or when the scan stopped at `scan` rows with a page to continue from."""
    page: list = []
    for n, (name, row) in enumerate(rows):
        if n >= scan:
            return page[:limit], bool(page)
        stored = decode(name, row)
        if stored is None:
            continue
        when = at(stored)
        if cursor and (when > cursor[0] or (when == cursor[0] and name <= cursor[1])):
            continue
        item = view(stored)
        if item is None:
            continue
        page.append(item)
        if len(page) > limit:
            break
    return page[:limit], len(page) > limit


def check_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ClientError(400, "parameter_invalid", f"limit is an integer from 1 to {MAX_LIMIT}", "limit")
    return int(raw)


def list_entries(
    backend: Backend,
    tenant: str,
    customer: str,
    *,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> models.EntryList:
    """Entries of the account in ledger order: (recorded_at, transaction id, index) ascending. The
    cursor is an entry id; `from`/`to` bound recorded_at (inclusive)."""
    bounds = (parse_time(start, "from") if start else EPOCH, parse_time(end, "to") if end else None)
    account = backend.tenancy.require_customer(tenant, customer)
    page, more = entries_page(backend, account, bounds, starting_after, limit)
    return models.EntryList(data=[_entry(t, e) for t, e in page], has_more=more)


def entries_page(
    backend: Backend, account: str, bounds: tuple[datetime, datetime | None], starting_after: str | None, limit: int
) -> tuple[list[tuple[StoredTransaction, StoredEntry]], bool]:
    """One page of a ledger account's entries in ledger order, after the cursor (an entry id,
    "<transaction>:<index>"), recorded within `bounds` (inclusive; None: no end): (page, has_more). The
    customer API's and the operator API's listing."""
    lower, upper = bounds
    after: tuple | None = None
    if starting_after is not None:
        txn, _, index = starting_after.rpartition(":")
        cursor = backend.store.transaction(txn) if txn and index.isdigit() else None
        if cursor is None or account not in cursor.accounts:
            raise ClientError(400, "invalid_cursor", "starting_after is not an entry of this account", "starting_after")
        after = (cursor.recorded_at, txn, int(index))
        lower = max(lower, cursor.recorded_at)
    page: list[tuple[StoredTransaction, StoredEntry]] = []
    for t, e in _ordered_entries(backend.store.transactions_of_account(account, lower), account):
        if upper is not None and t.recorded_at > upper:
            break
        if after is not None and (t.recorded_at, t.id, e.index) <= after:
            continue
        page.append((t, e))
        if len(page) > limit:
            break
    return page[:limit], len(page) > limit


def _ordered_entries(
    transactions: Iterable[StoredTransaction], account: str
) -> Iterator[tuple[StoredTransaction, StoredEntry]]:
    """Ties on recorded_at are ordered by transaction id here, whatever order the store returns them in."""
    for _, group in groupby(transactions, key=lambda t: t.recorded_at):
        for t in sorted(group, key=lambda t: t.id):
            for e in sorted(t.entries_on(account), key=lambda e: e.index):
                yield t, e


def get_transaction(backend: Backend, tenant: str, transaction: str) -> models.Transaction:
    t = backend.store.transaction(transaction) if len(transaction) <= 200 else None
    if t is None:
        raise _not_found("transaction", transaction)
    mine = [e for e in t.entries if backend.tenancy.owns_account(tenant, e.account)]
    if not mine:
        raise _not_found("transaction", transaction)
    reversal = backend.store.get("Reversal", transaction)
    return models.Transaction(
        id=transaction,
        kind=t.kind,
        rule=t.rule,
        effective_at=_iso(t.effective_at),
        recorded_at=_iso(t.recorded_at),
        entries=[_entry(t, e) for e in mine],
        reverses=t.target if t.kind == "reverse" else None,
        reversed_by=reversal["reversal_id"] if reversal else None,
        hold=t.target if t.kind in ("capture", "void", "expire") else None,
    )


# ----------------------------------------------------------------------------- transfers


def _wallets(backend: Backend, tenant: str, source: str, destination: str) -> tuple[str, str]:
    if source == destination:
        raise ClientError(400, "parameter_invalid", "from_account and to_account must differ", "to_account")
    return (
        backend.tenancy.require_customer(tenant, source, "from_account"),
        backend.tenancy.require_customer(tenant, destination, "to_account"),
    )


def create_transfer(
    backend: Backend, tenant: str, request: models.TransferRequest, attempt: Attempt | None
) -> models.Transfer:
    source, destination = _wallets(backend, tenant, request.from_account, request.to_account)
    generation = _generation(attempt)
    body = json.dumps(request.model_dump(mode="json"), sort_keys=True)
    op = Operation(
        transaction_id(PARTNER, generation, TRANSFER_RULE),
        "post",
        TRANSFER_RULE,
        f"api:{tenant}:{digest(generation)[:32]}",
        PARTNER,
        digest(tenant, body),
        backend.clock(),
        legs=(
            Leg(source, "debit", request.amount, request.currency),
            Leg(destination, "credit", request.amount, request.currency),
        ),
        enforce_constraints=True,
    )
    index = {
        "tenant": tenant,
        "customers": sorted({request.from_account, request.to_account}),
        "from_account": request.from_account,
        "to_account": request.to_account,
        "amount": request.amount,
        "currency": request.currency,
        "description": request.description,
    }
    result = _execute(backend, op, within=_listed(TRANSFER_INDEX, index))
    return _transfer(result.transaction_id, {**index, "created": result.record["recorded_at"]})


# Transfers and holds made through the API are listed per tenant (GET /v1/transfers, /v1/holds) from an
# index record written in the posting's own Datastore transaction (so a posting is listed exactly when
# it exists), keyed by the transaction id; composite queries with their indexes in topology/.
TRANSFER_INDEX, HOLD_INDEX = "ApiTransfer", "ApiHold"


def _listed(kind: str, index: dict):
    """`within` of the posting: its index record, stamped with the transaction's own recorded_at (a
    replay rewrites the same record)."""

    def within(tx, result, now) -> None:
        if result.status in ("posted", "replayed") and result.record.get("recorded_at") is not None:
            tx.put(kind, result.transaction_id, {**index, "created": result.record["recorded_at"]})

    return within


def _transfer(transaction: str, record: dict) -> models.Transfer:
    return models.Transfer(
        id=transaction,
        transaction=transaction,
        from_account=record["from_account"],
        to_account=record["to_account"],
        amount=record["amount"],
        currency=record["currency"],
        description=record.get("description"),
        status="posted",
        created=_iso(record["created"]),
    )


def get_transfer(backend: Backend, tenant: str, transfer: str) -> models.Transfer:
    record = backend.store.get(TRANSFER_INDEX, transfer) if len(transfer) <= 200 else None
    if record is None or record.get("tenant") != tenant:
        raise _not_found("transfer", transfer)
    return _transfer(transfer, record)


# A filtered page reads at most this many rows (it then ends early, with next_starting_after).
MAX_SCANNED = 1000


def page_newest_first(
    rows, field: str, cursor_at, cursor_id, limit: int, keep, budget: int = MAX_SCANNED
) -> tuple[list, bool, str | None]:
    """(items, has_more, next_starting_after) of rows newest first (`field` desc, ties by id asc) after
    the cursor, mapped and filtered by `keep` (None: skipped), reading at most `budget` rows."""
    page, scanned, last = [], 0, None
    for name, record in rows:
        if cursor_id is not None and record[field] == cursor_at and name <= cursor_id:
            continue  # ties with the cursor are in id order: those up to it were on an earlier page
        if len(page) == limit or scanned == budget:  # one more row exists: the page ends here
            return page, True, last
        scanned, last = scanned + 1, name
        item = keep(name, record)
        if item:
            page.append(item)
    return page, False, None


def _cursor(backend: Backend, kind: str, tenant: str, starting_after: str | None, what: str):
    if starting_after is None:
        return None, None
    record = backend.store.get(kind, starting_after) if len(starting_after) <= 200 else None
    if record is None or record.get("tenant") != tenant:
        raise ClientError(400, "invalid_cursor", f"starting_after is not a {what} of yours", "starting_after")
    return record["created"], starting_after


def list_transfers(
    backend: Backend, tenant: str, *, customer: str | None, limit: int, starting_after: str | None
) -> models.TransferList:
    """Newest first; `customer`: those from or to that customer (of your tenant)."""
    if customer is not None:
        backend.tenancy.require_customer(tenant, customer, "customer")
    at, after = _cursor(backend, TRANSFER_INDEX, tenant, starting_after, "transfer")
    rows = backend.store.api_index(TRANSFER_INDEX, tenant, customer, at)
    page, more, _ = page_newest_first(rows, "created", at, after, limit, lambda name, record: _transfer(name, record))
    return models.TransferList(data=page, has_more=more)


def list_holds(
    backend: Backend, tenant: str, *, customer: str | None, status: str | None, limit: int, starting_after: str | None
) -> models.HoldList:
    """Newest first, each hold as GET /v1/holds/{id} shows it (its status computed from the ledger now,
    so an expired hold is `expired` without anything having to rewrite an index); `status` keeps one."""
    if customer is not None:
        backend.tenancy.require_customer(tenant, customer, "customer")
    now = backend.clock()
    at, after = _cursor(backend, HOLD_INDEX, tenant, starting_after, "hold")

    def keep(name: str, record: dict):
        found = backend.store.hold(name)
        view = _hold(*found, now) if found else None
        return view if view is not None and (status is None or view.status == status) else None

    rows = backend.store.api_index(HOLD_INDEX, tenant, customer, at)
    page, more, last = page_newest_first(rows, "created", at, after, limit, keep)
    return models.HoldList(data=page, has_more=more, next_starting_after=last)


# ----------------------------------------------------------------------------- holds (two-phase)


def _hold_record(backend: Backend, tenant: str, hold: str) -> StoredTransaction:
    record = backend.store.transaction(hold) if len(hold) <= 200 else None
    if record is None or record.kind != "hold" or record.rule != HOLD_RULE:
        raise _not_found("hold", hold)
    if not all(backend.tenancy.owns_account(tenant, a) for a in record.accounts):
        raise _not_found("hold", hold)
    return record


def _hold(record: StoredTransaction, state: HoldState, now: datetime) -> models.Hold:
    debit = next(e for e in record.entries if e.direction == "debit")
    credit = next(e for e in record.entries if e.direction == "credit")
    amount = debit.amount
    status = state.closed or ("expired" if now >= record.expires_at else "open")
    return models.Hold(
        id=record.id,
        from_account=customer_of(debit.account),
        to_account=customer_of(credit.account),
        amount=amount,
        currency=debit.currency,
        captured=state.captured,
        released=state.released,
        remaining=amount - state.released if status == "open" else 0,
        status=status,
        expires_at=_iso(record.expires_at),
        created=_iso(record.recorded_at),
        last_transaction=state.last_transaction_id,
    )


def get_hold(backend: Backend, tenant: str, hold: str) -> models.Hold:
    record = _hold_record(backend, tenant, hold)
    return _hold(record, backend.store.hold_state(hold), backend.clock())


def create_hold(backend: Backend, tenant: str, request: models.HoldRequest, attempt: Attempt | None) -> models.Hold:
    source, destination = _wallets(backend, tenant, request.from_account, request.to_account)
    generation = _generation(attempt)
    now = backend.clock()
    body = json.dumps(request.model_dump(mode="json"), sort_keys=True)
    op = Operation(
        transaction_id(PARTNER, generation, HOLD_RULE),
        "hold",
        HOLD_RULE,
        f"api:{tenant}:{digest(generation)[:32]}",
        PARTNER,
        digest(tenant, body),
        now,
        legs=(
            Leg(source, "debit", request.amount, request.currency, "pending"),
            Leg(destination, "credit", request.amount, request.currency, "pending"),
        ),
        expires_at=now + timedelta(seconds=request.expires_in),
        enforce_constraints=True,
    )
    index = {"tenant": tenant, "customers": sorted({request.from_account, request.to_account})}
    result = _execute(backend, op, within=_listed(HOLD_INDEX, index))
    return _hold(*backend.store.hold(result.transaction_id), now)


def _open_hold_guard(hold: str, record: StoredTransaction, op_id: str, amount: int | None):
    """Inside the capture/void transaction: the hold is open, not expired, and holds enough."""

    def guard(tx, now: datetime) -> None:
        if engine.committed(tx, op_id) is not None:
            return  # a replay of this very operation: the ledger answers it
        state = engine.hold_state(tx, hold)
        if state["closed"] is not None:
            raise Rejected("hold_already_resolved", f"hold {hold} is {state['closed']}")
        if now >= record.expires_at:
            raise Rejected("hold_expired", f"hold {hold} expired")
        held = max(e.amount for e in record.entries)
        if amount is not None and amount > held - state["released"]:
            raise Rejected("amount_exceeds_hold", f"{amount} > {held - state['released']}")

    return guard


def capture_hold(
    backend: Backend, tenant: str, hold: str, request: models.CaptureRequest, attempt: Attempt | None
) -> models.Hold:
    record = _hold_record(backend, tenant, hold)
    generation = _generation(attempt)
    op_id = transaction_id(PARTNER, f"{generation}:{hold}", CAPTURE_RULE)
    if backend.store.transaction(op_id) is not None:
        # This key's capture committed already (a retry after a failure, or a takeover): answer from it.
        # Recomputing "everything left" now would find nothing left and refuse a capture that happened.
        return _hold(record, backend.store.hold_state(hold), backend.clock())
    state = backend.store.hold_state(hold)
    held = max(e.amount for e in record.entries)
    amount = request.amount if request.amount is not None else held - state.released
    if amount <= 0:
        raise ClientError(422, "hold_already_resolved", "the hold is no longer open", None)
    op = Operation(
        op_id,
        "capture",
        CAPTURE_RULE,
        f"api:{tenant}:{digest(generation)[:32]}",
        PARTNER,
        digest(tenant, hold, str(amount)),
        backend.clock(),
        target=hold,
        amount=amount,
        currency=record.entries[0].currency,
        enforce_constraints=True,
    )
    _execute(backend, op, guard=_open_hold_guard(hold, record, op.op_id, amount))
    return _hold(record, backend.store.hold_state(hold), backend.clock())


def void_hold(backend: Backend, tenant: str, hold: str, attempt: Attempt | None) -> models.Hold:
    """A hold is voided at most once: the void's id derives from the hold, so voiding twice replays."""
    record = _hold_record(backend, tenant, hold)
    op = Operation(
        transaction_id(PARTNER, f"void:{hold}", VOID_RULE),
        "void",
        VOID_RULE,
        f"api:{tenant}:void:{hold}",
        PARTNER,
        digest(tenant, "void", hold),
        backend.clock(),
        target=hold,
    )
    _execute(backend, op, guard=_open_hold_guard(hold, record, op.op_id, None))
    return _hold(record, backend.store.hold_state(hold), backend.clock())


# ----------------------------------------------------------------------------- operators


def _dead_letter(name: str, r: dict) -> models.DeadLetter:
    return models.DeadLetter(
        id=name,
        source=r["source"],
        kind=r["kind"],
        key=r["key"],
        partner=r.get("partner"),
        reason_code=r["reason_code"],
        reason=r.get("reason"),
        attempts=int(r.get("attempts") or 0),
        status=r["status"],
        replays=int(r.get("replays") or 0),
        first_error=r.get("first_error"),
        last_error=r.get("last_error"),
        created_at=_iso(r["created_at"]),
        last_attempt_at=_iso(r.get("last_attempt_at")),
        replayed_at=_iso(r.get("replayed_at")),
    )


def list_dead_letters(
    backend: Backend,
    *,
    status: str = "open",
    source: str | None = None,
    kind: str | None = None,
    reason_code: str | None = None,
    partner: str | None = None,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
) -> models.DeadLetterList:
    """Newest first: (created_at desc, id asc); the cursor is a dead-letter id."""
    if status not in ("open", "replayed"):
        raise ClientError(400, "parameter_invalid", "status is open or replayed", "status")
    selection = Filter(status=status, source=source, kind=kind, reason_code=reason_code, partner=partner)
    before, after = None, None
    if starting_after is not None:
        cursor = backend.store.get("DeadLetter", starting_after) if len(starting_after) <= 1500 else None
        if cursor is None:
            raise ClientError(400, "invalid_cursor", "starting_after is not a dead letter", "starting_after")
        before, after = cursor["created_at"], starting_after
    page: list[models.DeadLetter] = []
    stream = backend.dead_letters(status, before)
    for created, group in groupby(stream, key=lambda item: item[1]["created_at"]):
        for name, record in sorted(group, key=lambda item: item[0]):
            if after is not None and created == before and name <= after:
                continue
            if after is not None and created > before:
                continue
            if selection.matches(record):
                page.append(_dead_letter(name, record))
        if len(page) > limit:
            break
    return models.DeadLetterList(data=page[:limit], has_more=len(page) > limit)


def _plain(value):
    """A stored value as JSON (the reconciliation records are written by another component)."""
    if isinstance(value, datetime) or hasattr(value, "isoformat"):
        return _iso(value)
    if isinstance(value, bytes):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _recon_page(records: dict, filters: dict, order: tuple[str, ...], limit: int, starting_after: str | None):
    rows = [(n, r) for n, r in records.items() if all(r.get(k) == v for k, v in filters.items() if v is not None)]

    def key(item):
        name, record = item
        return (*(str(_plain(record.get(f)) or "") for f in order), name)

    rows.sort(key=key, reverse=True)  # newest first
    names = [n for n, _ in rows]
    if starting_after is not None:
        if starting_after not in names:
            raise ClientError(400, "invalid_cursor", "starting_after is not in this listing", "starting_after")
        rows = rows[names.index(starting_after) + 1 :]
    return rows[:limit], len(rows) > limit


def list_recon_runs(
    backend: Backend, *, partner: str | None = None, status: str | None = None, limit: int, starting_after=None
) -> models.ReconRunList:
    records = backend.store.snapshot(("ReconRun",))["ReconRun"]
    rows, more = _recon_page(
        records, {"partner": partner, "status": status}, ("as_of", "started_at", "run_date"), limit, starting_after
    )
    data = []
    for name, r in rows:
        # The Markdown report stays out of listings (it can be large); JSON-encoded parts are objects here.
        fields = {k: _plain(v) for k, v in r.items() if k not in ("object", "id", "report")}
        for k in ("summary", "drift", "inputs"):
            if isinstance(fields.get(k), str):
                try:
                    fields[k] = json.loads(fields[k])
                except ValueError:
                    fields[k] = None
        fields.setdefault("run_id", name)
        for k in ("partner", "as_of", "status"):
            fields.setdefault(k, None)
        data.append(models.ReconRun(id=name, **fields))
    return models.ReconRunList(data=data, has_more=more)


def list_recon_breaks(
    backend: Backend,
    *,
    status: str | None = None,
    run_id: str | None = None,
    partner: str | None = None,
    severity: str | None = None,
    limit: int,
    starting_after=None,
) -> models.ReconBreakList:
    records = backend.store.snapshot(("ReconBreak",))["ReconBreak"]
    filters = {"status": status, "run_id": run_id, "partner": partner, "severity": severity}
    rows, more = _recon_page(records, filters, ("opened_at", "recorded_at", "opened_run"), limit, starting_after)
    data = []
    for name, r in rows:
        fields = {k: _plain(v) for k, v in r.items() if k not in ("object", "id")}
        fields.setdefault("break_id", name)
        if not isinstance(fields.get("amount"), int) or isinstance(fields.get("amount"), bool):
            fields["amount"] = None
        for k in ("run_id", "partner", "reason_code", "severity", "currency", "status", "opened_run", "closed_run"):
            value = fields.get(k)
            fields[k] = value if isinstance(value, str) else None
        data.append(models.ReconBreak(id=name, **fields))
    return models.ReconBreakList(data=data, has_more=more)
