"""The demo scenario `make demo` sends (`python -m shared.cli demo`): signed Stripe webhooks for
several customers and currencies, a duplicate, a forged signature and an ignored event type.

An operator-only module: no function imports it and `make build` leaves it out of the bundles. Tests
and benchmarks reuse its Stripe payment builder and signed sender; every other partner payload
builder is test code (tests/factories.py). Payloads follow Stripe's documented Event / PaymentIntent
shapes (only fields ledgerline reads are guaranteed accurate; the rest are representative)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import requests

from shared.domain.money import decimal_text, exponent
from shared.partners import stripe


def payment_intent_succeeded(
    event_id: str,
    intent_id: str,
    amount: int,
    currency: str,
    customer: str | None,
    created: int | None = None,
    event_type: str = "payment_intent.succeeded",
) -> dict:
    created = created if created is not None else int(time.time())
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": amount if event_type == "payment_intent.succeeded" else 0,
                "capture_method": "automatic",
                "currency": currency.lower(),
                "customer": customer,
                "latest_charge": "ch_" + intent_id[3:],
                "livemode": False,
                "metadata": {},
                "payment_method_types": ["card"],
                "status": "succeeded" if event_type == "payment_intent.succeeded" else "requires_payment_method",
                "created": created - 2,
            }
        },
    }


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Delivery:
    label: str
    body: bytes
    secret: str
    expect_status: int
    expect: str  # expected "status" field of the response, or the error code


def send(
    intake_url: str, delivery: Delivery, session: requests.Session | None = None, timestamp: int | None = None
) -> requests.Response:
    ts = timestamp if timestamp is not None else int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe.sign(delivery.body, delivery.secret, ts),
    }
    return (session or requests).post(f"{intake_url}/webhooks/stripe", data=delivery.body, headers=headers, timeout=30)


DEMO_PAYMENTS = [
    ("alice pays $20.00", "evt_demo_alice_1", "pi_demo_alice_1", 2000, "usd", "cus_demo_alice"),
    ("alice pays $5.50", "evt_demo_alice_2", "pi_demo_alice_2", 550, "usd", "cus_demo_alice"),
    ("bob pays ¥5000 (zero-decimal)", "evt_demo_bob_1", "pi_demo_bob_1", 5000, "jpy", "cus_demo_bob"),
    ("carol pays €12.34", "evt_demo_carol_1", "pi_demo_carol_1", 1234, "eur", "cus_demo_carol"),
    ("guest pays $3.00 (no customer: suspense)", "evt_demo_guest_1", "pi_demo_guest_1", 300, "usd", None),
]
DEMO_CREATED = 1_764_320_000  # fixed, so a second demo run sends byte-identical events (duplicates)
# the partner's settlement report says one cent more for this one: the demo's reconciliation break
DEMO_MISMATCH = ("pi_demo_alice_2", 1)
STRIPE_REPORT_HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)


def demo_settlement_report() -> tuple[date, bytes]:
    """Stripe's itemized balance-change report (the columns of its `balance_change_from_activity
    .itemized` report) for the demo's payments, in major units by each currency's ISO exponent, as
    Stripe writes them; one row disagrees with the ledger by a cent (DEMO_MISMATCH). Returns the day the
    report covers and the CSV."""
    day = datetime.fromtimestamp(DEMO_CREATED, tz=UTC).date()
    rows = [STRIPE_REPORT_HEADER]
    for n, (_, _, pi, amount, currency, _) in enumerate(DEMO_PAYMENTS, start=1):
        reported = amount + (DEMO_MISMATCH[1] if pi == DEMO_MISMATCH[0] else 0)
        gross = decimal_text(reported, exponent(currency))
        charge = "ch_" + pi[3:]
        rows.append(
            f"txn_demo_{n},{day} 09:00:00,{day} 00:00:00,{currency},{gross},0,{gross},charge,{charge},demo,{pi},"
            f"{charge},,"
        )
    return day, ("\n".join(rows) + "\n").encode()


def demo_deliveries(secret: str) -> list[Delivery]:
    """Several customers and currencies, a duplicate delivery, a bad signature, an ignored event type
    and a payment without a customer (posted to suspense). Event ids are fixed, so running the demo
    twice shows every event as a duplicate and the balances unchanged."""
    created = DEMO_CREATED
    bodies = {
        label: encode(payment_intent_succeeded(e, p, a, c, cus, created=created))
        for label, e, p, a, c, cus in DEMO_PAYMENTS
    }
    deliveries = [Delivery(label, body, secret, 200, "accepted") for label, body in bodies.items()]
    deliveries.append(
        Delivery("alice's $20.00 delivered again (duplicate)", bodies["alice pays $20.00"], secret, 200, "duplicate")
    )
    deliveries.append(
        Delivery(
            "forged: dave 'pays' $1000 with a wrong secret",
            encode(payment_intent_succeeded("evt_demo_forged", "pi_demo_forged", 100000, "usd", "cus_demo_dave")),
            "whsec_not_the_real_secret",
            401,
            "signature_invalid",
        )
    )
    deliveries.append(
        Delivery(
            "payment_intent.created (stored, not posted)",
            encode(
                payment_intent_succeeded(
                    "evt_demo_created_1",
                    "pi_demo_created_1",
                    700,
                    "usd",
                    "cus_demo_alice",
                    created=created,
                    event_type="payment_intent.created",
                )
            ),
            secret,
            200,
            "ignored",
        )
    )
    return deliveries
