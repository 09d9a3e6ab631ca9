"""Tenants and the customers they own. A tenant is a platform customer (a merchant, or ledgerline's own
internal tools); it owns customers, whose ledger accounts (`customer:<id>:wallet`) are what its API keys
can see and move. A customer belongs to exactly one tenant, for good: the mapping is inserted once and
never moved, so an answer may be cached (Tenancy caches owners it has seen).

Kinds: Tenant (key = tenant id), TenantCustomer (key = customer id, `tenant` indexed)."""

from __future__ import annotations

import re
from datetime import datetime

from shared.errors import ClientError

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")  # the id rule of shared/domain/ledger/accounts.py
INTERNAL_TENANT = "internal"  # owns the operator keys (dead letters, reconciliation): internal tools


class TenantError(ValueError):
    """A registry change that is refused (unknown tenant, customer owned by another tenant…)."""


def wallet(customer: str) -> str:
    return f"customer:{customer}:wallet"


def customer_of(account: str) -> str | None:
    """customer:<id>:wallet -> <id>; None for every other account (system accounts belong to no tenant)."""
    parts = account.split(":")
    if len(parts) == 3 and parts[0] == "customer" and parts[2] == "wallet":
        return parts[1]
    return None


def create_tenant(store, tenant: str, name: str, now: datetime) -> bool:
    """True if created, False if it existed already (idempotent)."""
    if not TENANT_ID.match(tenant):
        raise TenantError(f"tenant id must match {TENANT_ID.pattern}")
    return store.insert("Tenant", tenant, {"name": name or tenant, "created_at": now})


def add_customer(store, tenant: str, customer: str, now: datetime) -> bool:
    """Give a customer to a tenant. True if added, False if the tenant had it already; refused if the
    customer belongs to another tenant (never moved: cached answers and past API responses rely on it)."""
    if store.get("Tenant", tenant) is None:
        raise TenantError(f"no tenant {tenant!r} (create it first)")
    if not CUSTOMER_ID.match(customer):
        raise TenantError(f"customer id must match {CUSTOMER_ID.pattern}")
    if store.insert("TenantCustomer", customer, {"tenant": tenant, "added_at": now}):
        return True
    owner = (store.get("TenantCustomer", customer) or {}).get("tenant")
    if owner != tenant:
        raise TenantError(f"customer {customer!r} belongs to another tenant")
    return False


def customers(store, tenant: str) -> list[str]:
    return sorted(store.query("TenantCustomer", "tenant", tenant))


class Tenancy:
    """Who owns what, for one process. Owners are cached once seen (the mapping never changes);
    unknown customers are asked again every time (they may be added at any moment)."""

    def __init__(self, store, max_cached: int = 100_000):
        self.store = store
        self._owners: dict[str, str] = {}
        self._max = max_cached

    def owner(self, customer: str) -> str | None:
        if customer in self._owners:
            return self._owners[customer]
        if not CUSTOMER_ID.match(customer):
            return None
        record = self.store.get("TenantCustomer", customer)
        if record is None:
            return None
        if len(self._owners) >= self._max:
            self._owners.clear()
        self._owners[customer] = record["tenant"]
        return record["tenant"]

    def owns_account(self, tenant: str, account: str) -> bool:
        customer = customer_of(account)
        return customer is not None and self.owner(customer) == tenant

    def require_customer(self, tenant: str, customer: str, param: str = "id") -> str:
        """The customer's wallet, or 404: another tenant's customer is indistinguishable from none."""
        if self.owner(customer) != tenant:
            raise ClientError(404, "account_not_found", f"no account {customer!r}", param)
        return wallet(customer)
