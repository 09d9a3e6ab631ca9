"""An in-memory LedgerStore with the same transaction semantics as the Datastore adapter (all or
nothing; reads see the transaction's own writes). For model-based tests with many examples and for
reasoning about the engine without emulators; never used in production."""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from shared.adapters import ledger_rows
from shared.ledger.store import AccountShard, StoredTransaction

T = TypeVar("T")


class _Tx:
    def __init__(self, committed: dict[str, dict[str, dict]]):
        self._committed = committed
        self.staged: dict[str, dict[str, dict]] = defaultdict(dict)

    def prefetch(self, pairs: list[tuple[str, str]]) -> None:
        """Nothing to batch in memory."""

    def get(self, kind: str, name: str) -> dict | None:
        if name in self.staged[kind]:
            return copy.deepcopy(self.staged[kind][name])  # None when deleted in this transaction
        value = self._committed.get(kind, {}).get(name)
        return copy.deepcopy(value)

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        return {n: v for n in names if (v := self.get(kind, n)) is not None}

    def put(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        self.staged[kind][name] = copy.deepcopy(data)

    def delete(self, kind: str, name: str) -> None:
        self.staged[kind][name] = None


class MemoryStore(ledger_rows.LedgerReads):
    def __init__(self):
        self.data: dict[str, dict[str, dict]] = defaultdict(dict)
        self.on_events: Callable[[], None] | None = None  # after a commit that emitted customer events
        self._lock = threading.RLock()

    def transact(self, work: Callable[[_Tx], T]) -> T:
        with self._lock:  # one transaction at a time: serialisable, as Datastore's are
            tx = _Tx(self.data)
            result = work(tx)  # an exception discards every staged write
            for kind, rows in tx.staged.items():
                for name, row in rows.items():
                    if row is None:
                        self.data[kind].pop(name, None)
                    else:
                        self.data[kind][name] = row
        if self.on_events is not None and getattr(tx, "emitted", False):  # shared.webhooks.outbox.emit
            self.on_events()
        return result

    def get(self, kind: str, name: str) -> dict | None:
        return copy.deepcopy(self.data.get(kind, {}).get(name))

    def get_multi(self, kind: str, names: list[str]) -> dict[str, dict]:
        return {n: copy.deepcopy(v) for n in names if (v := self.data.get(kind, {}).get(n)) is not None}

    def record(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> None:
        self.data[kind][name] = copy.deepcopy(data)

    def insert(self, kind: str, name: str, data: dict, unindexed: tuple[str, ...] = ()) -> bool:
        if name in self.data.get(kind, {}):
            return False
        self.data[kind][name] = copy.deepcopy(data)
        return True

    def delete(self, kind: str, name: str) -> None:
        self.data.get(kind, {}).pop(name, None)

    def delete_multi(self, kind: str, names: list[str]) -> None:
        for name in names:
            self.delete(kind, name)

    def query(self, kind: str, prop: str, value) -> dict[str, dict]:
        def matches(found) -> bool:  # Datastore semantics: equality on a list matches any element
            return value in found if isinstance(found, list) else found == value

        return {n: copy.deepcopy(d) for n, d in self.data.get(kind, {}).items() if matches(d.get(prop))}

    def snapshot(self, kinds: tuple[str, ...]) -> dict[str, dict[str, dict]]:
        return {kind: copy.deepcopy(dict(self.data.get(kind, {}))) for kind in kinds}

    # The operator overview (shared.api.operator_overview), as the Datastore adapter reads.

    def system_account_shards(self) -> list[AccountShard]:
        """Every shard of every account that is not a customer wallet (key outside "customer:…")."""
        rows = self.data.get(ledger_rows.ACCOUNT, {})
        found = {n: copy.deepcopy(d) for n, d in rows.items() if not "customer:" <= n < "customer;"}
        return ledger_rows.account_shards(found)

    def rows_since(self, kind: str, prop: str, since: datetime, limit: int) -> list[tuple[str, dict]]:
        """Up to `limit` rows of `kind` whose `prop` is at or after `since`, oldest first."""
        rows = [(n, d) for n, d in self.data.get(kind, {}).items() if d.get(prop) is not None and d[prop] >= since]
        rows.sort(key=lambda r: (r[1][prop], r[0]))
        return [(n, copy.deepcopy(d)) for n, d in rows[:limit]]

    # Typed reads: shared.adapters.ledger_rows.LedgerReads, over get/query as the Datastore adapter reads.

    def transactions_of_account(self, account: str, since: datetime | None = None) -> list[StoredTransaction]:
        found = self._transactions_where("accounts", account)
        if since is None:
            return found
        return sorted((t for t in found if t.recorded_at >= since), key=lambda t: t.recorded_at)

    def chain_head_at(self, chain_id: str, before: datetime) -> StoredTransaction | None:
        found = [t for t in self._transactions_where("chain_id", chain_id) if t.recorded_at < before]
        return max(found, key=lambda t: t.recorded_at, default=None)

    # The customer API's ordered read of dead letters, as the Datastore adapter's composite query answers it.

    def dead_letters(self, status: str, before):
        rows = self.query("DeadLetter", "status", status).items()
        rows = sorted(rows, key=lambda item: (item[1]["created_at"], item[0]), reverse=True)
        return [(n, r) for n, r in rows if before is None or r["created_at"] <= before]

    # The API's index of its transfers / holds, as the Datastore adapter's composite queries answer it.

    def api_index(self, kind: str, tenant: str, customer: str | None, before):
        rows = [
            (n, r)
            for n, r in self.query(kind, "tenant", tenant).items()
            if (customer is None or customer in r["customers"]) and (before is None or r["created"] <= before)
        ]
        rows.sort(key=lambda item: item[0])
        rows.sort(key=lambda item: item[1]["created"], reverse=True)
        return rows

    # A tenant's customers newest first, as the Datastore adapter's composite query answers them.

    def customers_of(self, tenant: str, before):
        rows = [
            (n, r)
            for n, r in self.query("TenantCustomer", "tenant", tenant).items()
            if before is None or r["added_at"] <= before
        ]
        rows.sort(key=lambda item: item[0])  # ties on added_at in id order (Datastore: by key)
        rows.sort(key=lambda item: item[1]["added_at"], reverse=True)
        return rows

    # A customer's payouts newest first, as the Datastore adapter's composite queries answer them.

    def payouts_of(self, customer: str, status: str | None, before):
        rows = [
            (n, r)
            for n, r in self.query("Payout", "customer", customer).items()
            if (status is None or r["status"] == status) and (before is None or r["requested_at"] <= before)
        ]
        # ties on requested_at in id order, as the service's cursor expects (Datastore: by key)
        rows.sort(key=lambda item: item[0])
        rows.sort(key=lambda item: item[1]["requested_at"], reverse=True)
        return rows

    def all_payouts(self, status: str | None, before):
        return self._all_of("Payout", status, before)

    def all_payments(self, status: str | None, before):
        return self._all_of("Payment", status, before)

    def _all_of(self, kind: str, status: str | None, before):
        rows = [
            (n, r)
            for n, r in self.data.get(kind, {}).items()
            if (status is None or r["status"] == status) and (before is None or r["requested_at"] <= before)
        ]
        return _newest_first(rows, "requested_at")

    # Webhooks out, as the Datastore adapter's composite queries answer them (ties in key order).

    def customer_events(self, tenant: str, event_type: str | None, before):
        rows = [
            (n, r)
            for n, r in self.query("CustomerEvent", "tenant", tenant).items()
            if (event_type is None or r["type"] == event_type) and (before is None or r["created_at"] <= before)
        ]
        return _newest_first(rows, "created_at")

    def customer_events_since(self, tenant: str, since):
        rows = [(n, r) for n, r in self.query("CustomerEvent", "tenant", tenant).items() if r["created_at"] >= since]
        return sorted(rows, key=lambda item: (item[1]["created_at"], item[0]))

    def webhook_attempts(self, endpoint: str, before):
        rows = [
            (n, r)
            for n, r in self.query("WebhookAttempt", "endpoint", endpoint).items()
            if before is None or r["at"] <= before
        ]
        return _newest_first(rows, "at")

    def pending_events(self, limit: int) -> list[tuple[str, dict]]:
        rows = self.query("CustomerEvent", "fanout_pending", True).items()
        return sorted(rows, key=lambda item: (item[1]["created_at"], item[0]))[:limit]

    def stale_deliveries(self, cutoff, limit: int = 1000):
        rows = [
            (n, r)
            for n, r in self.query("WebhookDelivery", "status", "pending").items()
            if r.get("next_attempt_at") is not None and r["next_attempt_at"] <= cutoff
        ]
        return sorted(rows, key=lambda item: (item[1]["next_attempt_at"], item[0]))[:limit]


def _newest_first(rows: list[tuple[str, dict]], prop: str) -> list[tuple[str, dict]]:
    """Descending by `prop`, ties by key ascending: the order of a Datastore query sorted descending by
    one property (its index ends with the key, ascending)."""
    by_key = sorted(rows, key=lambda item: item[0])
    return sorted(by_key, key=lambda item: item[1][prop], reverse=True)  # stable: ties keep key order
