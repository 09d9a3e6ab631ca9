"""Card pay-ins and refunds through the real localstripe of the running stack, with the Stripe adapter
(official SDK), and localstripe's signed webhooks through intake into the inbox (docs/localstripe.md)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import stripe

from emulators.localstripe_setup import register_stripe_webhooks
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.adapters.stripe_payments import stripe_payments
from shared.domain.payments.ids import partner_idempotency_key, payment_id, refund_id
from shared.partners.stripe import API_KEY

from .conftest import wait_for


@pytest.fixture(scope="module")
def processor(cfg):
    return stripe_payments(cfg, timeout_s=10)


@pytest.fixture(scope="module")
def sdk(cfg):
    """A plain SDK client to read what localstripe holds (its events)."""
    return stripe.StripeClient(cfg.secret(API_KEY)[0], base_addresses={"api": cfg.stripe_api_base})


@pytest.fixture(scope="module")
def inbox(db):
    return DatastoreInbox(db)


def ids(tag: str = "") -> tuple[str, str]:
    payment = payment_id("cust_it", uuid.uuid4().hex + tag)
    return payment, partner_idempotency_key(payment, 1)


def stored_webhook(sdk, inbox, event_type: str, object_id: str, timeout: float = 15.0):
    """The inbox record of localstripe's `event_type` event about `object_id` (found through its events)."""

    def event():
        for evt in sdk.v1.events.list({"type": event_type, "limit": 100}).auto_paging_iter():
            if evt.data.object.id == object_id:
                return evt
        return None

    evt = wait_for(event, timeout, what=f"localstripe's {event_type} of {object_id}")
    return wait_for(lambda: inbox.get(f"stripe:{evt.id}"), timeout, what=f"intake to store {evt.id}")


def test_a_card_pay_in_succeeds_and_its_webhook_is_verified_and_stored_once(cfg, processor, sdk, inbox):
    register_stripe_webhooks(cfg)  # again (`up` did it first): the same endpoint, not a second one
    payment, key = ids()
    result = processor.create_payment(key, payment, "cust_it", 2599, "USD", "pm_card_visa")
    assert (result.outcome.kind, result.status, result.amount, result.currency) == (
        "accepted",
        "succeeded",
        2599,
        "USD",
    )
    assert result.reference.startswith("pi_")

    stored = stored_webhook(sdk, inbox, "payment_intent.succeeded", result.reference)
    assert (stored.verdict, stored.partner_event_type) == ("accepted", "payment_intent.succeeded")
    assert "Stripe-Signature" in stored.headers
    canonical = json.loads(stored.canonical)
    # ours (metadata ledgerline_payment): for the payments function, which credits the wallet
    assert (canonical["kind"], canonical["amount"], canonical["currency"]) == (
        "processor.payment_succeeded",
        2599,
        "USD",
    )
    assert canonical["our_reference"] == payment
    assert canonical["reference"] == result.reference
    intent = json.loads(stored.body)["data"]["object"]
    assert intent["metadata"] == {"ledgerline_payment": payment, "ledgerline_customer": "cust_it"}
    time.sleep(2.0)  # localstripe posts each event to every endpoint after 1 s: a second one would be here
    assert inbox.get(stored.key).deliveries == 1


def test_a_decline_is_declined_with_stripes_decline_code(processor, sdk, inbox):
    payment, key = ids()
    since = datetime.now(UTC)
    result = processor.create_payment(key, payment, "cust_it", 500, "USD", "pm_card_visa_chargeDeclined")
    assert (result.call.status, result.outcome.kind, result.decline_code) == (402, "declined", "generic_decline")
    assert result.status == "requires_payment_method"
    found = processor.find_payment(payment, since)
    assert (found.outcome.kind, found.reference, found.status) == (
        "accepted",
        result.reference,
        "requires_payment_method",
    )
    stored = stored_webhook(sdk, inbox, "payment_intent.payment_failed", result.reference)
    assert stored.verdict == "accepted"  # ours: the payments function fails the pay-in (nothing moves)
    assert json.loads(stored.canonical)["kind"] == "processor.payment_failed"
    assert json.loads(stored.canonical)["outcome_code"] == "generic_decline"


def test_a_retried_create_with_the_same_key_returns_the_same_payment_intent(processor):
    payment, key = ids()
    since = datetime.now(UTC)
    first = processor.create_payment(key, payment, "cust_it", 1200, "EUR", "pm_card_visa")
    again = processor.create_payment(key, payment, "cust_it", 1200, "EUR", "pm_card_visa")
    assert first.outcome.kind == again.outcome.kind == "accepted"
    assert again.reference == first.reference
    found = processor.find_payment(payment, since)
    assert (found.reference, found.others) == (first.reference, ())
    other = processor.create_payment(key, payment, "cust_it", 1300, "EUR", "pm_card_visa")
    assert (other.call.body_code, other.outcome.kind) == ("idempotency_error", "unknown")


def test_a_lookup_without_a_payment_is_a_confirmed_not_found(processor):
    payment, _ = ids()
    assert processor.find_payment(payment, datetime.now(UTC)).outcome.kind == "not_found"


def test_a_partial_refund_then_the_rest_and_their_webhooks_reach_intake(processor, sdk, inbox):
    payment, key = ids()
    paid = processor.create_payment(key, payment, "cust_it", 1500, "JPY", "pm_card_visa")
    assert (paid.status, paid.amount, paid.currency) == ("succeeded", 1500, "JPY")
    refunds = []
    for amount, tag in ((400, "first"), (1100, "rest")):
        refund = refund_id(payment, tag)
        made = processor.create_refund(partner_idempotency_key(refund, 1), refund, paid.reference, amount, "JPY")
        assert (made.outcome.kind, made.status, made.amount, made.currency) == ("accepted", "succeeded", amount, "JPY")
        found = processor.find_refund(refund, paid.reference)
        assert (found.outcome.kind, found.reference) == ("accepted", made.reference)
        refunds.append(made)
    assert processor.find_refund(refund_id(payment, "never"), paid.reference).outcome.kind == "not_found"

    charge = sdk.v1.payment_intents.retrieve(paid.reference).latest_charge

    def refunded_events():
        events = [
            e
            for e in sdk.v1.events.list({"type": "charge.refunded", "limit": 100}).auto_paging_iter()
            if e.data.object.id == charge
        ]
        return events if len(events) == 2 else None

    events = wait_for(refunded_events, 15, what="two charge.refunded events")
    stored = [wait_for(lambda e=e: inbox.get(f"stripe:{e.id}"), 15, what=f"intake to store {e.id}") for e in events]
    # the charge of our own pay-in carries our metadata (copied by Stripe at confirmation): its
    # charge.refunded goes to the payments function as its total refunded (to tell an outside refund);
    # the refund.created events carry each refund's outcome
    kinds = [json.loads(s.canonical)["kind"] for s in stored]
    assert kinds == ["processor.charge_refunded"] * 2  # for the payments function to compare, never posted
    assert sorted(json.loads(s.canonical)["amount"] for s in stored) == [400, 1500]  # the charge's total
    moved = []
    for made in refunds:
        created = stored_webhook(sdk, inbox, "refund.created", made.reference)
        assert json.loads(created.body)["data"]["object"]["metadata"]["ledgerline_refund"].startswith("re_")
        canonical = json.loads(created.canonical)
        assert canonical["kind"] == "processor.refund_succeeded"
        moved.append(canonical["amount"])
    assert sorted(moved) == [400, 1100]
