"""Customers, self-service (docs/api.md "Customers"): a tenant names or gets an id for each of its
customers and keeps its own key-value metadata on them. A customer belongs to one tenant for good (the
TenantCustomer record is inserted once, never moved: shared.api.tenants), and customer ids are one
namespace across tenants (the wallet account is `customer:<id>:wallet`), so an id another tenant holds
is refused like one this tenant holds — without saying whose it is. Wallets per currency appear on
first use, as before.

Listing is newest first over a composite Datastore query (tenant = T ORDER BY added_at DESC, index in
topology/datastore_indexes.json), read as it pages; a `metadata=key:value` filter is applied to that
stream (the tenant's own customers, never another's), reading at most MAX_SCANNED rows per page."""

from __future__ import annotations

import secrets
from datetime import datetime

from shared.api import models, service
from shared.api.idempotency import Attempt
from shared.api.tenants import CUSTOMER_ID
from shared.domain.ledger.ids import digest
from shared.errors import ClientError

MAX_METADATA_KEYS = 20
# A filtered page reads at most this many rows: a rare value never makes one request read a whole
# tenant (the page then ends early with has_more and next_starting_after, the last row read).
MAX_SCANNED = service.MAX_SCANNED


def _view(name: str, record: dict) -> models.Customer:
    return models.Customer(
        id=name, created=service._iso(record.get("added_at")), metadata=dict(record.get("metadata") or {})
    )


def _taken(customer: str) -> ClientError:
    return ClientError(409, "customer_exists", f"the customer id {customer!r} is taken; choose another", "id")


def create_customer(backend, tenant: str, request: models.CustomerRequest, attempt: Attempt | None) -> models.Customer:
    """Insert the customer for `tenant`. Under an Idempotency-Key the generated id derives from the key's
    generation, and a re-execution of the same attempt (a takeover) finds its own record again."""
    made_by = digest("customer", attempt.generation) if attempt else None
    if request.id is not None:
        customer = request.id
    elif made_by is not None:
        customer = f"cus_{made_by[:24]}"
    else:
        customer = f"cus_{secrets.token_hex(12)}"
    metadata = {k: v for k, v in (request.metadata or {}).items() if v != ""}  # "" means no such key, as in PATCH
    record = {"tenant": tenant, "added_at": backend.clock(), "metadata": metadata}
    if made_by is not None:
        record["made_by"] = made_by
    if not backend.store.insert("TenantCustomer", customer, record):
        existing = backend.store.get("TenantCustomer", customer) or {}
        if made_by is None or existing.get("made_by") != made_by or existing.get("tenant") != tenant:
            raise _taken(customer)
        record = existing
    return _view(customer, record)


def _owned(backend, tenant: str, customer: str) -> dict:
    record = backend.store.get("TenantCustomer", customer) if CUSTOMER_ID.match(customer) else None
    if record is None or record.get("tenant") != tenant:
        raise ClientError(404, "customer_not_found", f"no customer {customer!r}", "id")
    return record


def get_customer(backend, tenant: str, customer: str) -> models.Customer:
    return _view(customer, _owned(backend, tenant, customer))


def update_customer(backend, tenant: str, customer: str, request: models.CustomerUpdate) -> models.Customer:
    """Merge `metadata` into the customer's: a key with the value "" is removed (as Stripe does)."""
    _owned(backend, tenant, customer)  # 404 before any write

    def work(tx):
        record = tx.get("TenantCustomer", customer)
        merged = {**(record.get("metadata") or {}), **(request.metadata or {})}
        merged = {k: v for k, v in merged.items() if v != ""}
        if len(merged) > MAX_METADATA_KEYS:
            raise ClientError(
                400, "metadata_too_large", f"a customer holds at most {MAX_METADATA_KEYS} metadata keys", "metadata"
            )
        updated = {**record, "metadata": merged}
        tx.put("TenantCustomer", customer, updated)
        return updated

    return _view(customer, backend.store.transact(work))


def parse_metadata_filter(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    key, sep, wanted = value.partition(":")
    if not sep or not 1 <= len(key) <= 40 or len(wanted) > 500:
        raise ClientError(400, "parameter_invalid", "metadata is key:value (key up to 40 characters)", "metadata")
    return key, wanted


def list_customers(
    backend, tenant: str, *, limit: int, starting_after: str | None, metadata: str | None
) -> models.CustomerList:
    """Newest first: (added_at desc, id asc); the cursor is a customer id of this tenant."""
    wanted = parse_metadata_filter(metadata)
    before: datetime | None = None
    after: str | None = None
    if starting_after is not None:
        cursor = backend.store.get("TenantCustomer", starting_after) if CUSTOMER_ID.match(starting_after) else None
        if cursor is None or cursor.get("tenant") != tenant:
            raise ClientError(400, "invalid_cursor", "starting_after is not a customer of yours", "starting_after")
        before, after = cursor["added_at"], starting_after

    def keep(name: str, record: dict) -> models.Customer | None:
        matches = wanted is None or (record.get("metadata") or {}).get(wanted[0]) == wanted[1]
        return _view(name, record) if matches else None

    rows = backend.store.customers_of(tenant, before)
    page, more, last = service.page_newest_first(rows, "added_at", before, after, limit, keep, MAX_SCANNED)
    return models.CustomerList(data=page, has_more=more, next_starting_after=last)
