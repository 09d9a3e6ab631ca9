"""Builders of test data for tests and benchmarks: canonical events (the one CanonicalEvent factory
the tests share), partner webhook payloads (Stripe events beyond the demo's payment, Adyen
notifications, Standard Webhooks messages, Column transfers) and the customer API's service over the
memory store.

The Stripe payment and the signed sender the demo uses stay in shared.demo; the planted
reconciliation dataset is tests/planted.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from shared import bootstrap
from shared.adapters import bigquery_sink
from shared.adapters.memory_store import MemoryStore
from shared.api.service import Backend
from shared.config import settings
from shared.domain.events import CanonicalEvent
from shared.ledger import outbox
from shared.ledger.parking import PARK_TTL
from shared.ledger.posting import post_once
from shared.ledger.store import utcnow
from shared.partners import adyen
from shared.recovery.policies import Task

# ----------------------------------------------------------------------------- canonical events

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def canonical_event(
    kind: str = "payment.captured",
    partner_event_id: str = "evt_1",
    *,
    partner: str = "stripe",
    partner_event_type: str | None = None,
    at: datetime = T0,
    received_at: datetime | None = None,
    amount: int = 1000,
    currency: str = "USD",
    reference: str = "pi_1",
    **fields,
) -> CanonicalEvent:
    """A CanonicalEvent with what a test does not care about filled in: the event id is
    `<partner>:<partner_event_id>`, the partner's event type defaults to the kind, the receipt time to
    `at` (when it occurred); `fields` are the rest (customer, fee, payment_reference, bank, ...)."""
    return CanonicalEvent(
        event_id=f"{partner}:{partner_event_id}",
        partner=partner,
        partner_event_id=partner_event_id,
        partner_event_type=partner_event_type or kind,
        kind=kind,
        occurred_at=at,
        received_at=received_at or at,
        amount=amount,
        currency=currency,
        reference=reference,
        **fields,
    )


def stripe_payment(n: int, amount: int) -> CanonicalEvent:
    """Stripe payment `n` of cus_1 (pi_<n>, its charge ch_<n>) on 2026-11-20 at 09:<n>: the ledger
    side of a charge row txn_<n> in the reconciliation tests' Stripe balance reports."""
    return canonical_event(
        "payment.captured",
        f"evt_{n}",
        partner_event_type="payment_intent.succeeded",
        at=datetime(2026, 11, 20, 9, n, tzinfo=UTC),
        customer="cus_1",
        amount=amount,
        reference=f"pi_{n}",
        payment_reference=f"ch_{n}",
    )


# ----------------------------------------------------------------------------- partner payloads


def _event(event_id: str, event_type: str, obj: dict, created: int | None = None, previous: dict | None = None) -> dict:
    data = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created if created is not None else int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": data,
    }


def charge_refunded(
    event_id: str,
    charge_id: str,
    intent_id: str,
    amount: int,
    refunded_total: int,
    refunded_before: int,
    currency: str,
    customer: str | None,
) -> dict:
    """Stripe's charge.refunded: cumulative amount_refunded, the previous value in previous_attributes."""
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded_total,
        "captured": True,
        "currency": currency.lower(),
        "customer": customer,
        "payment_intent": intent_id,
        "refunded": refunded_total == amount,
        "status": "succeeded",
    }
    return _event(event_id, "charge.refunded", charge, previous={"amount_refunded": refunded_before})


def dispute_balance_transaction(txn_id: str, amount: int, fee: int, currency: str, created: int, source: str) -> dict:
    """A balance transaction as a Dispute lists it: amount < 0 withdraws (category `dispute`), > 0
    reinstates (`dispute_reversal`); fee is the dispute fee (negative when it is refunded)."""
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 7 * 86400,
        "created": created,
        "currency": currency.lower(),
        "description": f"Chargeback {'withdrawal' if amount < 0 else 'reversal'}",
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {"amount": fee, "currency": currency.lower(), "description": "Dispute fee", "type": "stripe_fee"}
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
        "source": source,
        "status": "pending",
        "type": "adjustment",
    }


def dispute(
    event_id: str,
    event_type: str,
    dispute_id: str,
    charge_id: str,
    intent_id: str,
    amount: int,
    currency: str,
    status: str = "needs_response",
    balance_transactions: list[dict] | None = None,
    created: int | None = None,
    fee: int = 0,
) -> dict:
    """A charge.dispute.* event. `balance_transactions` None: what Stripe lists for the status (none
    for an inquiry, warning_*; the withdrawal of `amount` (+ `fee`) otherwise, and its reinstatement
    when won), dated `created` (the dispute's creation: pass the same value to every webhook of one
    dispute, so its balance transactions are the same in all of them)."""
    created = created if created is not None else int(time.time())
    if balance_transactions is None:
        balance_transactions = []
        if not status.startswith("warning_"):
            suffix = dispute_id[3:]
            txn = dispute_balance_transaction
            balance_transactions.append(txn(f"txn_w{suffix}", -amount, fee, currency, created, dispute_id))
            if status == "won":
                balance_transactions.append(txn(f"txn_r{suffix}", amount, -fee, currency, created + 1, dispute_id))
    obj = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": balance_transactions,
        "charge": charge_id,
        "created": created,
        "currency": currency.lower(),
        "payment_intent": intent_id,
        "reason": "fraudulent",
        "status": status,
    }
    return _event(event_id, event_type, obj)


def payout(event_id: str, event_type: str, payout_id: str, amount: int, currency: str, destination: str) -> dict:
    obj = {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "currency": currency.lower(),
        "destination": destination,
        "method": "standard",
        "status": "paid" if event_type == "payout.paid" else "failed",
    }
    return _event(event_id, event_type, obj)


def adyen_item(
    event_code: str,
    psp: str,
    amount: int,
    currency: str,
    hex_key: str,
    *,
    original: str | None = None,
    success: str = "true",
    shopper: str | None = None,
    event_date: str = "2026-11-28T10:00:00+01:00",
    value: int | None = None,
) -> dict:
    """One signed NotificationRequestItem in Adyen's standard notification shape. `amount` is in
    ISO-4217 minor units and is written in Adyen's units (CLP 1000 pesos: amount 1000, value 100000);
    `value` sends that raw amount.value instead (e.g. one ISO cannot represent)."""
    item = {
        "additionalData": {},
        "amount": {"currency": currency, "value": adyen.to_adyen_value(amount, currency) if value is None else value},
        "eventCode": event_code,
        "eventDate": event_date,
        "merchantAccountCode": "LedgerlineECOM",
        "merchantReference": f"order-{psp}",
        "paymentMethod": "visa",
        "pspReference": psp,
        "reason": "",
        "success": success,
    }
    if original:
        item["originalReference"] = original
    if shopper:
        item["additionalData"]["shopperReference"] = shopper
    item["additionalData"]["hmacSignature"] = adyen.sign(item, hex_key)
    return {"NotificationRequestItem": item}


def adyen_notification(*items: dict, live: str = "false") -> dict:
    return {"live": live, "notificationItems": list(items)}


def generic_message(kind: str, timestamp: str, **data) -> dict:
    """A Standard Webhooks partner message in ledgerline's canonical vocabulary."""
    return {"type": kind, "timestamp": timestamp, "data": data}


def generic_headers(msg_id: str, body: bytes, secret: str, timestamp: int | None = None) -> dict:
    ts = timestamp if timestamp is not None else int(time.time())
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def column_event(
    event_id: str,
    event_type: str,
    transfer_id: str,
    amount: int,
    account_number: str,
    currency: str = "USD",
    created_at: str = "2026-11-28T09:00:00Z",
) -> dict:
    """A Column-style ACH transfer event."""
    return {
        "id": event_id,
        "type": event_type,
        "created_at": created_at,
        "data": {
            "id": transfer_id,
            "amount": amount,
            "currency_code": currency,
            "account_number_id": account_number,
            "bank_account_id": "bacc_ledgerline",
            "trace_number": "021000021234567",
            "status": "completed",
        },
    }


# ----------------------------------------------------------------------------- customer API


PAYMENTS_TEST_FINGERPRINT_KEY = b"test-payments-fingerprint-key"
PAYMENTS_TEST_DEFAULT_LIMITS = {"USD": (500_000, 1_000_000)}


def memory_backend(store, *, default_limits=None, webhooks_schedule=None, inbox=None, **kwargs) -> Backend:
    """The API service over shared.adapters.memory_store.MemoryStore (whose ordered reads answer as the
    Datastore adapter's composite queries do), with the payments services over the same store (a test
    key-encryption key, PAYMENTS_TEST_DEFAULT_LIMITS unless `default_limits`) and the webhook endpoints
    over it too (secrets sealed as themselves, local URL rules, replay tasks recorded by
    `webhooks_schedule`, a `Queue` unless given: `backend.webhooks().schedule.tasks`); kwargs are
    Backend's (publish, schedule, after_commit, clock, start)."""
    from shared.adapters.memory_inbox import MemoryInbox
    from shared.adapters.payment_rows import PaymentRows
    from shared.adapters.payout_rows import PayoutRows
    from shared.operations import assemble
    from shared.operations.requests import parse_thresholds
    from shared.payments.limits import PayoutLimitsBook
    from shared.payments.payins import Payments
    from shared.payments.service import Payouts
    from shared.payments.vault import LocalKeyWrapper
    from shared.webhooks.endpoints import WebhookEndpoints

    clock = kwargs.get("clock") or utcnow
    limits = PAYMENTS_TEST_DEFAULT_LIMITS if default_limits is None else default_limits
    payouts = Payouts(
        store, PayoutRows(), PAYMENTS_TEST_FINGERPRINT_KEY, LocalKeyWrapper(bytes(32)), clock, default_limits=limits
    )
    payments = Payments(store, PaymentRows(), clock)
    book = PayoutLimitsBook(store, PayoutRows(), limits, clock)

    def identity(value: str, endpoint_id: str) -> str:  # a secret sealed as itself
        return value

    endpoints = WebhookEndpoints(store, identity, identity, clock, True, webhooks_schedule or Queue())
    kwargs.setdefault("start", lambda kind, record_id: None)
    ops = assemble(
        store,
        clock=clock,
        thresholds=parse_thresholds(None),
        publish=kwargs.get("publish"),
        schedule=kwargs.get("schedule"),
        after_commit=kwargs.get("after_commit"),
        inbox=inbox if inbox is not None else MemoryInbox(),
        payout_limits=lambda: book,
    )
    return Backend(
        store,
        store.dead_letters,
        payouts=lambda: payouts,
        payments=lambda: payments,
        payout_limits=lambda: book,
        webhooks=lambda: endpoints,
        operations=lambda: ops,
        **kwargs,
    )


# ----------------------------------------------------------------------------- memory ports


class ManualClock:
    """A clock the test moves by hand (`clock.now += timedelta(...)`)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Bus:
    """A publisher that records what it was given (or fails while `down`)."""

    def __init__(self, down: bool = False):
        self.messages: list[tuple[bytes, dict[str, str]]] = []
        self.down = down

    def __call__(self, data: bytes, attributes: dict[str, str]) -> str:
        if self.down:
            raise ConnectionError("simulated Pub/Sub outage")
        self.messages.append((data, attributes))
        return f"m{len(self.messages)}"


class Queue:
    """A scheduler that records the retries tasks asked for (or fails while `down`)."""

    def __init__(self):
        self.tasks: list[tuple[Task, datetime]] = []
        self.down = False

    def __call__(self, task: Task, at: datetime) -> bool:
        if self.down:
            raise ConnectionError("simulated Cloud Tasks outage")
        self.tasks.append((task, at))
        return True


# ----------------------------------------------------------- the ledger without its after-commit ports


def post_event(
    cfg,
    event: CanonicalEvent,
    *,
    store,
    stream=bigquery_sink.stream,
    clock=utcnow,
    park_ttl=PARK_TTL,
    defer_stream=None,
):
    """Post one canonical event exactly once (shared.ledger.posting.post_once), then stream it: with
    defer_stream, by asking for a sweep (shared.ledger.outbox.ask_for_sweep, as the ledger service does);
    without, inline (a posted transaction from the outbox record its commit wrote, a replayed one from
    whatever outbox still holds it), a failure propagating. What the functions run is
    shared.ledger.service.LedgerService.post, which also schedules parked events' deadlines and
    re-drives what a posting released."""
    result = post_once(event, store=store, clock=clock, park_ttl=park_ttl)
    if defer_stream is not None:
        outbox.ask_for_sweep(result, defer_stream)
    elif result is not None and result.status == "posted":
        outbox.stream_outbox(cfg, store, result.transaction_id, stream)
    elif result is not None and result.status == "replayed":
        outbox.stream_transaction(cfg, store, result.transaction_id, stream)
    return result


class MemoryRoot(bootstrap.Root):
    """The composition root with memory adapters for in-process function tests (monkeypatch
    `shared.bootstrap.root` to return it): the ledger store in memory, the canonical topic and the
    retries queue recorded (`published`: (data, attributes); `scheduled`: (kind, key, at)), BigQuery
    streaming recorded (`streamed`: the row ids of each insert call, through the ledger service's and the
    handlers' entry sink), no fault injection, a fixed clock."""

    def __init__(self, at: datetime):
        super().__init__(settings(), clock=lambda: at)
        self.store = MemoryStore()
        self.published: list[tuple[bytes, dict]] = []
        self.scheduled: list[tuple[str, str, datetime]] = []
        self.streamed: list[list[str]] = []
        self.publish = lambda data, attributes: self.published.append((data, attributes))
        self.schedule = lambda task, at: self.scheduled.append((task.kind, task.key, at)) or True
        self.check_fault = lambda downstream: None
