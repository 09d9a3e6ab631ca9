"""One-off migration for the API listings (`ledgerline api-index backfill`, docs/api.md): what existed
before them is listed too.

* TenantCustomer records written before `added_at` was indexed are re-written as they are, so
  Datastore indexes them and GET /v1/customers (a composite query on tenant + added_at) finds them.
* Pay-ins (Payment) written before `requested_at` was indexed are re-written as they are, each in a
  transaction of its own (a pay-in the payments function changes meanwhile is read again, never
  overwritten), so GET /v1/operator/payments (status + requested_at, newest first) finds them.
* Transfers and holds made through the API before their index records existed get one (ApiTransfer /
  ApiHold, shared.api.service), rebuilt from the journal: the tenant's customers' wallets, their
  transactions of the API's transfer and hold rules, the debit leg's customer as `from`, the credit
  leg's as `to`. A transfer's description was never stored in the journal: it is listed without one.

* Inbox events stored before `our_reference` was kept get it (what a payout's timeline finds its bank
  webhooks by): from the canonical event of an accepted one; an event stored but not posted is parsed
  again from its raw body by its partner (a redacted or unparsable one is left without: counted).

Idempotent: an index record that exists is left alone (insert), a customer re-written unchanged. Reads
per customer (never a scan of the journal); logs progress every 500 customers."""

from __future__ import annotations

import logging

from shared.api.service import HOLD_INDEX, HOLD_RULE, PARTNER, TRANSFER_INDEX, TRANSFER_RULE
from shared.api.tenants import customer_of, wallet
from shared.partners import plugin

log = logging.getLogger("ledgerline.api")
RULES = {TRANSFER_RULE: TRANSFER_INDEX, HOLD_RULE: HOLD_INDEX}


def index_record(tenant: str, t) -> tuple[str, dict] | None:
    """(kind, record) of the index a journal transaction of the API would have written, or None."""
    kind = RULES.get(t.rule)
    if kind is None or t.partner != PARTNER:
        return None
    debit = next((e for e in t.entries if e.direction == "debit" and e.phase != "release"), None)
    credit = next((e for e in t.entries if e.direction == "credit" and e.phase != "release"), None)
    source = customer_of(debit.account) if debit else None
    destination = customer_of(credit.account) if credit else None
    if source is None or destination is None:
        return None
    record = {"tenant": tenant, "customers": sorted({source, destination}), "created": t.recorded_at}
    if kind == TRANSFER_INDEX:
        record |= {
            "from_account": source,
            "to_account": destination,
            "amount": debit.amount,
            "currency": debit.currency,
            "description": None,
        }
    return kind, record


def backfill(store) -> dict[str, int]:
    """Re-index every customer, add the missing transfer and hold index records; returns counts."""
    counts = {"customers": 0, "transfers": 0, "holds": 0, "payments": 0}
    customers = store.snapshot(("TenantCustomer",)).get("TenantCustomer", {})
    for n, (customer, record) in enumerate(sorted(customers.items()), start=1):
        store.record("TenantCustomer", customer, record)  # indexed now as INDEXED says
        counts["customers"] += 1
        for t in store.transactions_of_account(wallet(customer)):
            found = index_record(record["tenant"], t)
            if found and store.insert(found[0], t.id, found[1]):
                counts["transfers" if found[0] == TRANSFER_INDEX else "holds"] += 1
        if n % 500 == 0:
            log.info("api index backfill", extra={"customers": n, "of": len(customers), **counts})
    payments = sorted(store.snapshot(("Payment",)).get("Payment", {}))
    for n, name in enumerate(payments, start=1):

        def rewrite(tx, name=name) -> None:
            row = tx.get("Payment", name)
            if row is not None:
                tx.put("Payment", name, row)  # indexed now as INDEXED says; unchanged otherwise

        store.transact(rewrite)
        counts["payments"] += 1
        if n % 500 == 0:
            log.info("api index backfill", extra={"payments": n, "of": len(payments), **counts})
    log.info("api index backfill done", extra=counts)
    return counts


class Unreadable(Exception):
    """An inbox event whose raw body is gone (redacted) or no longer parses."""


PAGE = 200  # inbox events looked at per query (full entities: a page's raw bodies are in memory at once)


class _Parses:
    """The partner's parse of a raw body, once per body: an Adyen batch's items share theirs."""

    def __init__(self, cfg, size: int = 64):
        self.cfg, self.size, self.done = cfg, size, {}

    def __call__(self, event) -> list:
        found = self.done.get((event.partner, event.body))
        if found is None:
            try:
                found = plugin(event.partner).parse(
                    event.body, received_at=event.received_at, cfg=self.cfg, headers=event.headers
                )
            except Exception as exc:  # one old body an earlier parser took must not stop the migration of the rest
                found = Unreadable(type(exc).__name__)
            if len(self.done) >= self.size:
                self.done.pop(next(iter(self.done)))
            self.done[(event.partner, event.body)] = found
        if isinstance(found, Unreadable):
            raise found
        return found


def reference_of(event, cfg, parse=None) -> str | None:
    """What record of ours an inbox event is about, as intake would record it today; Unreadable when a
    stored-only event's body cannot be read again."""
    if event.accepted:
        canonical = event.event()
        return canonical.our_reference if canonical is not None else None
    if not event.body or event.redacted_at is not None:
        raise Unreadable("redacted")
    parsed = (parse or _Parses(cfg))(event)
    return next((p.our_reference for p in parsed if p.partner_event_id == event.partner_event_id), None)


def backfill_inbox(inbox, cfg) -> dict[str, int]:
    """our_reference on every inbox event stored without it, a page at a time; returns counts (logs
    progress every page). One found about nothing of ours is marked so (None) and not parsed again by a
    later run; one that cannot be read is left as it is (counted again: a fixed parser may read it)."""
    counts = {"inbox_events": 0, "inbox_referenced": 0, "inbox_unreadable": 0}
    parse, after, looked = _Parses(cfg), None, 0
    while True:
        keys, after = inbox.unreferenced(after, PAGE)
        for key in keys:
            event = inbox.get(key)
            if event is None:  # removed meanwhile
                continue
            counts["inbox_events"] += 1
            try:
                reference = reference_of(event, cfg, parse)
            except Unreadable as why:
                log.warning("inbox event left without a reference", extra={"inbox_key": key, "why": str(why)})
                counts["inbox_unreadable"] += 1
                continue
            if inbox.set_reference(key, reference) and reference is not None:
                counts["inbox_referenced"] += 1
        looked += PAGE
        if after is None:
            return counts
        log.info("api index backfill", extra={"inbox_looked_at": looked, **counts})
