"""Datastore (Firestore in Datastore mode) adapter: the client, transactions, and the ledger's
accounts, transactions and entries. (The intake inbox is shared.adapters.datastore_inbox.)

Kinds (the ledger's are described in docs/ledger.md):
  Account, JournalTransaction (entries inside), ChainHead, HoldState, Reversal, Outbox, Rejection, Conflict,
  PaymentIndex, Parked + Waiting (key = the awaited record: the parked events) (docs/retries.md)
  DeadLetter, DeliveryFailure (docs/retries.md); Fault (local fault injection, shared/recovery/faults.py)

Every read-modify-write runs in ONE Datastore transaction, retried on contention aborts with bounded,
jittered exponential backoff (the client library does not retry transactions itself).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import datastore
from google.cloud.datastore import helpers
from google.cloud.datastore_v1.types.datastore import CommitRequest

from shared.adapters import datastore_indexes, ledger_rows
from shared.adapters.datastore_indexes import CompositeQuery
from shared.config import Settings
from shared.ledger.store import AccountShard, HoldState, StoredTransaction

T = TypeVar("T")
_clients: dict[str, datastore.Client] = {}
log = logging.getLogger("ledgerline.datastore")
# Process-wide count of transaction attempts retried after contention (observability + tests).
contention_retries = 0

_NO_RETRY = Retry(predicate=lambda exc: False)
RETRYABLE = (gexc.Aborted, gexc.Conflict, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError)


def client(cfg: Settings) -> datastore.Client:
    if cfg.project not in _clients:
        _clients[cfg.project] = datastore.Client(project=cfg.project)
    return _clients[cfg.project]


def in_transaction(
    db: datastore.Client,
    work: Callable[[datastore.Transaction], T],
    *,
    attempts: int = 10,
    backoff_base: float = 0.02,
    backoff_cap: float = 1.0,
    sleep=time.sleep,
    begin_later: bool = False,
) -> T:
    """Run work(txn) in a Datastore transaction; on contention retry with full-jitter backoff.
    begin_later: the first lookup begins the transaction (read options new_transaction: one round trip
    fewer than begin + lookup). Only for work whose reads go through `_DatastoreTx`, which handles
    what the client does not (a deferred key would make it ask for a second new transaction)."""
    for attempt in range(1, attempts + 1):
        try:
            with db.transaction(begin_later=begin_later) as txn:
                result = work(txn)
            return result
        except RETRYABLE as exc:
            if attempt == attempts:
                log.error("transaction gave up after retries", extra={"attempts": attempts, "error": str(exc)})
                raise
            global contention_retries
            contention_retries += 1
            log.warning("transaction retried", extra={"attempt": attempt, "error": type(exc).__name__})
            sleep(random.uniform(0, min(backoff_cap, backoff_base * 2**attempt)))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


def now() -> datetime:
    return datetime.now(tz=UTC)


def insert(db: datastore.Client, entity: datastore.Entity) -> bool:
    """One commit of an `insert` mutation: creates the entity, or fails if it exists (False), with no
    transaction round trips (begin + lookup + commit). The client library only exposes upserts, so this
    goes through its configured API layer (same transport, emulator or cloud)."""
    request = {
        "project_id": db.project,
        "mode": CommitRequest.Mode.NON_TRANSACTIONAL,
        "mutations": [{"insert": helpers.entity_to_protobuf(entity)._pb}],
    }
    if db.database:
        request["database_id"] = db.database
    try:
        db._datastore_api.commit(request=request)
    except gexc.AlreadyExists:
        return False
    return True


# ----------------------------------------------------------------------------- ledger store


# Properties the ledger queries by; every other property is excluded from Datastore's built-in indexes
# (index writes dominate commit cost: a posting writes ~9 entities).
INDEXED: dict[str, frozenset[str]] = {
    "Account": frozenset({"account"}),
    "JournalTransaction": frozenset({"event_id", "kind", "expires_at", "recorded_at", "accounts", "chain_id"}),
    "Outbox": frozenset({"transactions"}),
    "Rejection": frozenset({"event_id", "transaction_id"}),
    "Conflict": frozenset({"transaction_id"}),
    "Parked": frozenset({"deadline", "partner"}),
    "Waiting": frozenset(),
    "Dispute": frozenset({"status", "customer", "payment_reference"}),  # shared.ledger.disputes (operators' view)
    "ReconRun": frozenset({"partner", "as_of", "status", "recorded_at"}),
    "ReconBalance": frozenset({"partner"}),
    "FeeBooking": frozenset({"partner", "break_id", "ledger_transaction"}),
    "ReconBreak": frozenset({"partner_status", "partner", "status", "reason_code", "severity", "opened_run"}),
    "DeadLetter": frozenset({"status", "source", "kind", "reason_code", "created_at", "partner"}),
    # Customer API (docs/api.md): tenants, the customers they own, API keys (hash only), idempotency.
    "Tenant": frozenset({"created_at"}),
    "TenantCustomer": frozenset({"tenant", "added_at"}),  # GET /v1/customers: CUSTOMERS_OF_TENANT*
    # GET /v1/transfers, /v1/holds: the API's index of its own postings (API_INDEX*), keyed by transaction id
    "ApiTransfer": frozenset({"tenant", "customers", "created"}),
    "ApiHold": frozenset({"tenant", "customers", "created"}),
    "ApiKey": frozenset({"tenant", "revoked_at"}),
    "IdempotencyRecord": frozenset({"tenant", "expires_at"}),
    # Payments (docs/payments.md, shared.adapters.payout_rows / payment_rows): the janitor finds open
    # payouts by status; the API lists a customer's (PAYOUTS_OF_CUSTOMER*); the rest is read by key.
    "Payout": frozenset({"status", "customer", "requested_at"}),
    "PayoutExposure": frozenset(),
    "PayoutLimits": frozenset({"customer"}),
    "Payment": frozenset({"customer", "status", "requested_at"}),  # + operators' listing (PAYMENTS_BY_STATUS*)
    "Refund": frozenset({"payment_id", "status"}),
    # Webhooks out (docs/webhooks.md, shared.webhooks): the fan-out finds pending events, the API lists
    # a tenant's events / an endpoint's attempts (composite queries below), the sweep stale deliveries.
    "CustomerEvent": frozenset({"tenant", "type", "created_at", "fanout_pending"}),
    "EventLane": frozenset(),
    "DeliveryLane": frozenset(),
    "WebhookEndpoint": frozenset({"tenant"}),
    "WebhookDelivery": frozenset({"endpoint", "status", "next_attempt_at", "event"}),
    "WebhookAttempt": frozenset({"endpoint", "at", "delivery"}),
    "WebhookReplay": frozenset({"status", "tenant"}),  # the sweep resumes running replays that stalled
    "FanoutLease": frozenset(),
    # Operations (docs/operations.md, shared.operations): the break desk filters breaks' work, the
    # approvals inbox lists requests by status, runs read a partner's manual matches, the audit log is
    # read by seq (key) or filtered by who / what / which target.
    "BreakWork": frozenset({"state", "assignee"}),
    "OperatorRequest": frozenset({"status"}),
    "ManualMatch": frozenset({"partner"}),
    "BreakCorrection": frozenset({"partner"}),
    "AuditEntry": frozenset({"actor", "action", "target"}),
    "AuditHead": frozenset(),
    "AuditStream": frozenset(),
}


def _unindexed(kind: str, data: dict, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    if kind not in INDEXED:
        return tuple(data)
    return tuple(sorted(set(data) - INDEXED[kind] | set(extra)))


class _DatastoreTx:
    """shared.domain.ledger.engine.Tx over one Datastore transaction. Reads are batched (prefetch: one lookup for
    many keys, across kinds) and cached; writes are staged, so later reads in the same transaction see
    them, and flushed as one commit (Datastore itself does not show a transaction its own writes)."""

    def __init__(self, db: datastore.Client):
        self.db = db
        self.cache: dict[tuple[str, str], dict | None] = {}
        self.staged: dict[tuple[str, str], tuple[dict | None, tuple[str, ...]]] = {}  # None: delete

    def prefetch(self, pairs: list[tuple[str, str]]) -> None:
        missing = [p for p in dict.fromkeys(pairs) if p not in self.cache and p not in self.staged]
        for start in range(0, len(missing), 1000):  # lookup limit per call
            chunk = missing[start : start + 1000]
            found = {(e.key.kind, e.key.name): dict(e) for e in self._lookup([self.db.key(*p) for p in chunk])}
            for p in chunk:
                self.cache[p] = found.get(p)

    def _lookup(self, keys: list) -> list:
        """Lookup in the current transaction. When it has not begun yet (begin_later), this lookup begins
        it: no automatic retry then (a retried request would begin another server transaction that
        nobody rolls back; in_transaction retries the whole attempt instead), and keys the server
        defers are looked up again here, with the transaction's id (the client would repeat
        new_transaction and fail with "Transaction already begun")."""
        txn = self.db.current_transaction
        first = txn is not None and txn.id is None
        found: list = []
        while keys:
            deferred: list = []
            found += self.db.get_multi(keys, deferred=deferred, **({"retry": _NO_RETRY} if first else {}))
            keys, first = deferred, False
        return found

    def get(self, kind: str, name: str) -> dict | None:
        pair = (kind, name)
        # Shallow copies: the engine replaces values, it never mutates a nested list or dict in place.
        if pair in self.staged:
            staged = self.staged[pair][0]
            return dict(staged) if staged is not None else None
        if pair not in self.cache:
            self.prefetch([pair])
        value = self.cache[pair]
        return dict(value) if value is not None else None

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        self.prefetch([(kind, n) for n in names])
        return {n: v for n in names if (v := self.get(kind, n)) is not None}

    def put(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        self.staged[(kind, name)] = (dict(data), unindexed)

    def delete(self, kind: str, name: str) -> None:
        self.staged[(kind, name)] = (None, ())

    def flush(self) -> None:
        entities, deleted = [], []
        for (kind, name), (data, unindexed) in self.staged.items():
            if data is None:
                deleted.append(self.db.key(kind, name))
                continue
            entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
            entity.update(data)
            entities.append(entity)
        if entities:
            self.db.put_multi(entities)
        if deleted:
            self.db.delete_multi(deleted)


# Entries of an account in ledger order: transactions whose `accounts` list holds it, by recorded_at.
TRANSACTIONS_OF_ACCOUNT = CompositeQuery(
    ledger_rows.TRANSACTION, equals=("accounts",), inequality="recorded_at", order=("recorded_at",)
)
# A chain's head at an instant: its newest transaction recorded before it.
CHAIN_HEAD_BEFORE = CompositeQuery(
    ledger_rows.TRANSACTION, equals=("chain_id",), inequality="recorded_at", order=("-recorded_at",)
)
# Dead letters of a status, newest first; with a cursor, at or before the cursor's created_at.
DEAD_LETTERS_BY_STATUS = CompositeQuery("DeadLetter", equals=("status",), order=("-created_at",))
DEAD_LETTERS_BY_STATUS_BEFORE = CompositeQuery(
    "DeadLetter", equals=("status",), inequality="created_at", order=("-created_at",)
)

# A tenant's customers newest first; with a cursor, added at or before the cursor's added_at (GET /v1/customers).
CUSTOMERS_OF_TENANT = CompositeQuery("TenantCustomer", equals=("tenant",), order=("-added_at",))
CUSTOMERS_OF_TENANT_BEFORE = CompositeQuery(
    "TenantCustomer", equals=("tenant",), inequality="added_at", order=("-added_at",)
)

# A tenant's API transfers / holds newest first, of one customer (from or to) or all; with a cursor,
# created at or before the cursor's (GET /v1/transfers, GET /v1/holds).
TRANSFERS_OF_TENANT = CompositeQuery("ApiTransfer", equals=("tenant",), order=("-created",))
TRANSFERS_OF_TENANT_BEFORE = CompositeQuery(
    "ApiTransfer", equals=("tenant",), inequality="created", order=("-created",)
)
TRANSFERS_OF_CUSTOMER = CompositeQuery("ApiTransfer", equals=("tenant", "customers"), order=("-created",))
TRANSFERS_OF_CUSTOMER_BEFORE = CompositeQuery(
    "ApiTransfer", equals=("tenant", "customers"), inequality="created", order=("-created",)
)
HOLDS_OF_TENANT = CompositeQuery("ApiHold", equals=("tenant",), order=("-created",))
HOLDS_OF_TENANT_BEFORE = CompositeQuery("ApiHold", equals=("tenant",), inequality="created", order=("-created",))
HOLDS_OF_CUSTOMER = CompositeQuery("ApiHold", equals=("tenant", "customers"), order=("-created",))
HOLDS_OF_CUSTOMER_BEFORE = CompositeQuery(
    "ApiHold", equals=("tenant", "customers"), inequality="created", order=("-created",)
)
# (kind, by customer, with a cursor) -> the query
API_INDEX = {
    ("ApiTransfer", False, False): TRANSFERS_OF_TENANT,
    ("ApiTransfer", False, True): TRANSFERS_OF_TENANT_BEFORE,
    ("ApiTransfer", True, False): TRANSFERS_OF_CUSTOMER,
    ("ApiTransfer", True, True): TRANSFERS_OF_CUSTOMER_BEFORE,
    ("ApiHold", False, False): HOLDS_OF_TENANT,
    ("ApiHold", False, True): HOLDS_OF_TENANT_BEFORE,
    ("ApiHold", True, False): HOLDS_OF_CUSTOMER,
    ("ApiHold", True, True): HOLDS_OF_CUSTOMER_BEFORE,
}

# A customer's payouts, newest first, of one status or of any; with a cursor, requested at or before
# the cursor's requested_at (GET /v1/payouts).
PAYOUTS_OF_CUSTOMER = CompositeQuery("Payout", equals=("customer",), order=("-requested_at",))
PAYOUTS_OF_CUSTOMER_BEFORE = CompositeQuery(
    "Payout", equals=("customer",), inequality="requested_at", order=("-requested_at",)
)
PAYOUTS_OF_CUSTOMER_BY_STATUS = CompositeQuery("Payout", equals=("customer", "status"), order=("-requested_at",))
PAYOUTS_OF_CUSTOMER_BY_STATUS_BEFORE = CompositeQuery(
    "Payout", equals=("customer", "status"), inequality="requested_at", order=("-requested_at",)
)
# Every tenant's payouts of one status, newest first (GET /v1/operator/payouts?status=); of any status the
# built-in single-property index on requested_at serves it (no composite index).
PAYOUTS_BY_STATUS = CompositeQuery("Payout", equals=("status",), order=("-requested_at",))
PAYOUTS_BY_STATUS_BEFORE = CompositeQuery(
    "Payout", equals=("status",), inequality="requested_at", order=("-requested_at",)
)

# Every tenant's pay-ins of one status, newest first (GET /v1/operator/payments?status=), as for payouts.
PAYMENTS_BY_STATUS = CompositeQuery("Payment", equals=("status",), order=("-requested_at",))
PAYMENTS_BY_STATUS_BEFORE = CompositeQuery(
    "Payment", equals=("status",), inequality="requested_at", order=("-requested_at",)
)

# Webhooks out (shared.webhooks): a tenant's events newest first, of a type or all, at or before a cursor
# (GET /v1/events); oldest first from an instant (a replay's window); an endpoint's attempts newest first
# (GET /v1/webhook-endpoints/{id}/attempts); pending deliveries due before a cutoff (the sweep).
EVENTS_OF_TENANT = CompositeQuery("CustomerEvent", equals=("tenant",), order=("-created_at",))
EVENTS_OF_TENANT_BEFORE = CompositeQuery(
    "CustomerEvent", equals=("tenant",), inequality="created_at", order=("-created_at",)
)
EVENTS_OF_TENANT_BY_TYPE = CompositeQuery("CustomerEvent", equals=("tenant", "type"), order=("-created_at",))
EVENTS_OF_TENANT_BY_TYPE_BEFORE = CompositeQuery(
    "CustomerEvent", equals=("tenant", "type"), inequality="created_at", order=("-created_at",)
)
EVENTS_OF_TENANT_SINCE = CompositeQuery(
    "CustomerEvent", equals=("tenant",), inequality="created_at", order=("created_at",)
)
ATTEMPTS_OF_ENDPOINT = CompositeQuery("WebhookAttempt", equals=("endpoint",), order=("-at",))
ATTEMPTS_OF_ENDPOINT_BEFORE = CompositeQuery("WebhookAttempt", equals=("endpoint",), inequality="at", order=("-at",))
PENDING_EVENTS = CompositeQuery("CustomerEvent", equals=("fanout_pending",), order=("created_at",))
DUE_DELIVERIES = CompositeQuery(
    "WebhookDelivery", equals=("status",), inequality="next_attempt_at", order=("next_attempt_at",)
)


class DatastoreLedger(ledger_rows.LedgerReads):
    """The ledger's LedgerStore on Datastore: every transact() is one Datastore transaction, retried
    on contention with bounded jittered backoff (in_transaction)."""

    def __init__(self, db: datastore.Client):
        self.db = db
        # after a commit that emitted customer events (shared.webhooks.outbox): ask for a fan-out;
        # set by shared.bootstrap. Its failure never undoes the commit (the minute sweep catches up).
        self.on_events: Callable[[], None] | None = None

    def transact(self, work: Callable[[_DatastoreTx], T]) -> T:
        emitted = False

        def attempt(_txn):
            nonlocal emitted
            tx = _DatastoreTx(self.db)
            result = work(tx)
            emitted = getattr(tx, "emitted", False)  # set by shared.webhooks.outbox.emit
            tx.flush()
            return result

        result = in_transaction(self.db, attempt, begin_later=True)
        if emitted and self.on_events is not None:
            self.on_events()
        return result

    def get(self, kind: str, name: str) -> dict | None:
        entity = self.db.get(self.db.key(kind, name))
        return dict(entity) if entity is not None else None

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        """One lookup round trip (no query) for many keys of one kind."""
        found = {}
        for start in range(0, len(names), 1000):
            keys = [self.db.key(kind, n) for n in names[start : start + 1000]]
            found.update({e.key.name: dict(e) for e in self.db.get_multi(keys)})
        return found

    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
        entity.update(data)
        self.db.put(entity)

    def insert(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> bool:
        """Create the record unless it exists (False then): one commit, no transaction round trips."""
        entity = datastore.Entity(self.db.key(kind, name), exclude_from_indexes=_unindexed(kind, data, unindexed))
        entity.update(data)
        return insert(self.db, entity)

    def delete(self, kind: str, name: str) -> None:
        self.db.delete(self.db.key(kind, name))

    def delete_multi(self, kind: str, names: list[str]) -> None:
        for start in range(0, len(names), 500):  # mutations per commit
            self.db.delete_multi([self.db.key(kind, n) for n in names[start : start + 500]])

    def query(self, kind: str, prop: str, value) -> dict[str, dict]:
        query = self.db.query(kind=kind)
        query.add_filter(filter=datastore.query.PropertyFilter(prop, "=", value))
        return {e.key.name: dict(e) for e in query.fetch()}

    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]:
        return {kind: {e.key.name: dict(e) for e in self.db.query(kind=kind).fetch()} for kind in kinds}

    # The operator overview (shared.api.operator_overview): bounded reads with no composite index.

    def system_account_shards(self) -> list[AccountShard]:
        """Every shard of every account that is not a customer wallet: Account keys are
        "<account>|<currency>|<shard>" and every wallet's starts with "customer:", so two key-range
        queries on the built-in key index (before "customer:", from "customer;") skip the wallets."""
        wallets_from, wallets_to = (
            self.db.key(ledger_rows.ACCOUNT, "customer:"),
            self.db.key(ledger_rows.ACCOUNT, "customer;"),
        )
        found: dict[str, dict] = {}
        for op, key in (("<", wallets_from), (">=", wallets_to)):
            found.update(
                {e.key.name: dict(e) for e in datastore_indexes.key_range(self.db, ledger_rows.ACCOUNT, op, key)}
            )
        return ledger_rows.account_shards(found)

    def rows_since(self, kind: str, prop: str, since: datetime, limit: int) -> list[tuple[str, dict]]:
        """Up to `limit` rows of `kind` whose indexed `prop` is at or after `since`, oldest first (one
        inequality on one property: the built-in index)."""
        found = datastore_indexes.single_property_since(self.db, kind, prop, since, limit)
        return [(e.key.name, dict(e)) for e in found]

    # Typed reads: shared.adapters.ledger_rows.LedgerReads, with these two served better by Datastore.

    def transactions_of_account(self, account: str, since: datetime | None = None) -> Iterator[StoredTransaction]:
        """Without `since`: an equality query on the indexed `accounts` list; with it, the composite
        query TRANSACTIONS_OF_ACCOUNT (index in topology/datastore_indexes.json), read as it pages."""
        if since is None:
            return iter(self._transactions_where("accounts", account))
        found = datastore_indexes.fetch(self.db, TRANSACTIONS_OF_ACCOUNT, {"accounts": account}, (">=", since))
        return (ledger_rows.transaction(e.key.name, e) for e in found)

    def chain_head_at(self, chain_id: str, before: datetime) -> StoredTransaction | None:
        """The composite query CHAIN_HEAD_BEFORE, one row."""
        found = datastore_indexes.fetch(self.db, CHAIN_HEAD_BEFORE, {"chain_id": chain_id}, ("<", before), limit=1)
        return next((ledger_rows.transaction(e.key.name, e) for e in found), None)

    def hold(self, hold: str) -> tuple[StoredTransaction, HoldState] | None:
        """One lookup of both records."""
        keys = [self.db.key(ledger_rows.TRANSACTION, hold), self.db.key(ledger_rows.HOLD_STATE, hold)]
        found = {e.key.kind: e for e in self.db.get_multi(keys)}
        if ledger_rows.TRANSACTION not in found:
            return None
        transaction = ledger_rows.transaction(hold, found[ledger_rows.TRANSACTION])
        return transaction, ledger_rows.hold_state(hold, found.get(ledger_rows.HOLD_STATE))

    # The customer API's ordered read of dead letters (shared.api.service.DeadLettersBy), a composite
    # query with its index in topology/datastore_indexes.json.

    def dead_letters(self, status: str, before: datetime | None):
        """Dead letters of a status, newest first; with `before`, created at or before it."""
        if before is None:
            found = datastore_indexes.fetch(self.db, DEAD_LETTERS_BY_STATUS, {"status": status})
        else:
            found = datastore_indexes.fetch(self.db, DEAD_LETTERS_BY_STATUS_BEFORE, {"status": status}, ("<=", before))
        return ((e.key.name, dict(e)) for e in found)

    def api_index(self, kind: str, tenant: str, customer: str | None, before: datetime | None):
        """The API's index rows of `kind` (ApiTransfer, ApiHold) of a tenant, newest first, of one
        customer when given, created at or before `before` when given. Read as it pages."""
        equals = {"tenant": tenant} if customer is None else {"tenant": tenant, "customers": customer}
        query = API_INDEX[(kind, customer is not None, before is not None)]
        found = datastore_indexes.fetch(self.db, query, equals, ("<=", before) if before is not None else None)
        return ((e.key.name, dict(e)) for e in found)

    def customers_of(self, tenant: str, before: datetime | None):
        """A tenant's TenantCustomer rows newest first (added_at desc); with `before`, added at or
        before it. Read as it pages."""
        if before is None:
            found = datastore_indexes.fetch(self.db, CUSTOMERS_OF_TENANT, {"tenant": tenant})
        else:
            found = datastore_indexes.fetch(self.db, CUSTOMERS_OF_TENANT_BEFORE, {"tenant": tenant}, ("<=", before))
        return ((e.key.name, dict(e)) for e in found)

    def payouts_of(self, customer: str, status: str | None, before: datetime | None):
        """A customer's Payout rows newest first (requested_at desc), of `status` when given; with
        `before`, requested at or before it. Read as it pages."""
        equals = {"customer": customer} if status is None else {"customer": customer, "status": status}
        if before is None:
            query = PAYOUTS_OF_CUSTOMER if status is None else PAYOUTS_OF_CUSTOMER_BY_STATUS
            found = datastore_indexes.fetch(self.db, query, equals)
        else:
            query = PAYOUTS_OF_CUSTOMER_BEFORE if status is None else PAYOUTS_OF_CUSTOMER_BY_STATUS_BEFORE
            found = datastore_indexes.fetch(self.db, query, equals, ("<=", before))
        return ((e.key.name, dict(e)) for e in found)

    def all_payouts(self, status: str | None, before: datetime | None):
        """Every tenant's Payout rows newest first (requested_at desc), of `status` when given; with
        `before`, requested at or before it (operators). Read as it pages."""
        return self._newest_first("Payout", (PAYOUTS_BY_STATUS, PAYOUTS_BY_STATUS_BEFORE), status, before)

    def all_payments(self, status: str | None, before: datetime | None):
        """Every tenant's Payment rows (pay-ins) newest first, as all_payouts (operators)."""
        return self._newest_first("Payment", (PAYMENTS_BY_STATUS, PAYMENTS_BY_STATUS_BEFORE), status, before)

    def _newest_first(self, kind: str, by_status: tuple, status: str | None, before: datetime | None):
        if status is not None:
            query = by_status[0] if before is None else by_status[1]
            bound = None if before is None else ("<=", before)
            found = datastore_indexes.fetch(self.db, query, {"status": status}, bound)
        else:  # one property: its built-in index
            found = datastore_indexes.single_property_newest_first(self.db, kind, "requested_at", before)
        return ((e.key.name, dict(e)) for e in found)

    # Webhooks out (shared.webhooks), composite queries with their indexes in topology/.

    def customer_events(self, tenant: str, event_type: str | None, before: datetime | None):
        """A tenant's CustomerEvent rows newest first, of `event_type` when given, created at or before
        `before` when given. Read as it pages."""
        equals = {"tenant": tenant} if event_type is None else {"tenant": tenant, "type": event_type}
        if before is None:
            query = EVENTS_OF_TENANT if event_type is None else EVENTS_OF_TENANT_BY_TYPE
            found = datastore_indexes.fetch(self.db, query, equals)
        else:
            query = EVENTS_OF_TENANT_BEFORE if event_type is None else EVENTS_OF_TENANT_BY_TYPE_BEFORE
            found = datastore_indexes.fetch(self.db, query, equals, ("<=", before))
        return ((e.key.name, dict(e)) for e in found)

    def customer_events_since(self, tenant: str, since: datetime):
        """A tenant's CustomerEvent rows oldest first, created at or after `since`."""
        found = datastore_indexes.fetch(self.db, EVENTS_OF_TENANT_SINCE, {"tenant": tenant}, (">=", since))
        return ((e.key.name, dict(e)) for e in found)

    def webhook_attempts(self, endpoint: str, before: datetime | None):
        """An endpoint's WebhookAttempt rows newest first, at or before `before` when given."""
        if before is None:
            found = datastore_indexes.fetch(self.db, ATTEMPTS_OF_ENDPOINT, {"endpoint": endpoint})
        else:
            found = datastore_indexes.fetch(
                self.db, ATTEMPTS_OF_ENDPOINT_BEFORE, {"endpoint": endpoint}, ("<=", before)
            )
        return ((e.key.name, dict(e)) for e in found)

    def pending_events(self, limit: int) -> list[tuple[str, dict]]:
        """Up to `limit` CustomerEvent rows still to fan out, oldest first."""
        found = datastore_indexes.fetch(self.db, PENDING_EVENTS, {"fanout_pending": True}, limit=limit)
        return [(e.key.name, dict(e)) for e in found]

    def stale_deliveries(self, cutoff: datetime, limit: int = 1000):
        """Pending WebhookDelivery rows due at or before `cutoff`, the longest overdue first."""
        found = datastore_indexes.fetch(self.db, DUE_DELIVERIES, {"status": "pending"}, ("<=", cutoff), limit=limit)
        return ((e.key.name, dict(e)) for e in found)


def count(db: datastore.Client, kind: str) -> int:
    query = db.query(kind=kind)
    query.keys_only()  # mutates the query (returns None in google-cloud-datastore 2.x)
    return sum(1 for _ in query.fetch())
