"""The intake service's accept path over the memory adapters (no emulators): store before answering,
dedupe, publish, the republish task when publishing fails, several events in one request, and the
stale-event sweep. The Datastore inbox gives the same answers (tests/integration/test_slice.py)."""

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory_inbox import MemoryInbox
from shared.adapters.memory_store import MemoryStore
from shared.config import settings
from shared.demo import encode, payment_intent_succeeded
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.operations import operation_for
from shared.errors import ClientError
from shared.intake.inbox import InboxRecord
from shared.intake.service import Intake, Unavailable
from shared.ledger.transactions import execute
from shared.partners import adyen, stripe
from shared.recovery.dead_letters import dead_letter_id
from tests.factories import Bus, Queue, adyen_item, adyen_notification

CFG = settings()


@pytest.fixture
def intake() -> Intake:
    return Intake(CFG, MemoryInbox(), publish=Bus(), schedule=Queue())


def stripe_delivery(event_id: str, amount: int = 2000, now: datetime | None = None) -> tuple[dict, bytes]:
    body = encode(payment_intent_succeeded(event_id, f"pi_{event_id}", amount, "usd", "cus_intake"))
    ts = int((now or datetime.now(tz=UTC)).timestamp())
    headers = {
        "Stripe-Signature": stripe.sign(body, CFG.webhook_secrets("stripe")[0], ts),
        "Content-Type": "application/json",
    }
    return headers, body


def receive(intake: Intake, event_id: str, **kw):
    headers, body = stripe_delivery(event_id, **kw)
    return intake.receive("stripe", headers, body, now=datetime.now(tz=UTC), trace="t-1")


def test_an_accepted_event_is_stored_raw_then_published_once(intake, caplog):
    headers, body = stripe_delivery("evt_a1")
    with caplog.at_level(logging.INFO, logger="ledgerline.intake"):
        receipt = intake.receive("stripe", headers, body, now=datetime.now(tz=UTC), trace="t-1")
    assert (receipt.status, receipt.body["status"], receipt.body["published"]) == (200, "accepted", True)
    stored = intake.inbox.get("stripe:evt_a1")
    assert stored.body == body and stored.accepted and stored.deliveries == 1
    assert stored.headers == {"Content-Type": "application/json", "Stripe-Signature": headers["Stripe-Signature"]}
    assert (stored.message_id, stored.published) == ("m1", True)
    ((data, attributes),) = intake.publish.messages
    assert data == stored.canonical and CanonicalEvent.model_validate_json(data).amount == 2000
    assert attributes == {"event_id": "stripe:evt_a1", "partner": "stripe", "consumer": "ledger", "trace": "t-1"}
    (line,) = [r for r in caplog.records if r.name == "ledgerline.intake"]
    assert (line.getMessage(), line.message_id, line.first_delivery) == ("webhook accepted", "m1", True)


def test_a_duplicate_delivery_is_counted_not_published_again(intake):
    receive(intake, "evt_d1")
    receipt = receive(intake, "evt_d1")
    assert (receipt.status, receipt.body["status"]) == (200, "duplicate")
    assert intake.inbox.get("stripe:evt_d1").deliveries == 2
    assert len(intake.publish.messages) == 1


def test_a_redelivery_with_other_content_is_a_conflict_and_the_first_version_is_kept(intake):
    receive(intake, "evt_c1", amount=2000)
    first = intake.inbox.get("stripe:evt_c1").body
    receipt = receive(intake, "evt_c1", amount=9999)
    assert (receipt.status, receipt.body["status"]) == (200, "conflict")
    stored = intake.inbox.get("stripe:evt_c1")
    assert (stored.body, stored.deliveries, stored.conflicts) == (first, 2, 1)
    assert [c.inbox_key for c in intake.inbox.conflicts()] == ["stripe:evt_c1"]
    assert len(intake.publish.messages) == 1


def test_a_failed_publish_keeps_the_event_and_asks_for_a_republish_task(intake):
    intake.publish.down = True
    before = datetime.now(tz=UTC)
    receipt = receive(intake, "evt_p1")
    assert (receipt.status, receipt.body["status"], receipt.body["published"]) == (202, "accepted", False)
    assert not intake.inbox.get("stripe:evt_p1").published
    ((task, at),) = intake.schedule.tasks
    assert (task.kind, task.key) == ("republish", "stripe:evt_p1")
    assert before < at <= datetime.now(tz=UTC) + timedelta(seconds=1)  # the policy's first retry: 0.5-1 s

    intake.publish.down = False  # the retries function runs the task
    assert intake.republish("stripe:evt_p1") == "published"
    assert intake.inbox.get("stripe:evt_p1").published
    ((_, attributes),) = intake.publish.messages
    assert attributes == {"event_id": "stripe:evt_p1", "partner": "stripe", "consumer": "ledger", "trace": "t-1"}
    assert intake.republish("stripe:evt_p1") == "nothing_to_do"  # a task run twice publishes once
    assert intake.republish("stripe:evt_p1", force=True) == "published"
    assert intake.republish("stripe:evt_missing") == "missing"
    # A redelivery before the republish ran publishes too (the ledger replays the second one).
    intake.publish.down = True
    receive(intake, "evt_p2")
    intake.publish.down = False
    assert receive(intake, "evt_p2").body["status"] == "accepted"


def test_when_publish_and_enqueue_both_fail_the_partner_is_asked_to_retry(intake):
    intake.publish.down = intake.schedule.down = True
    with pytest.raises(Unavailable):
        receive(intake, "evt_u1")
    assert not intake.inbox.get("stripe:evt_u1").published  # stored: the partner's retry is deduped


def test_a_bad_signature_stores_and_publishes_nothing(intake):
    headers, body = stripe_delivery("evt_b1")
    headers["Stripe-Signature"] = stripe.sign(body, "whsec_wrong", int(time.time()))
    with pytest.raises(ClientError) as info:
        intake.receive("stripe", headers, body, now=datetime.now(tz=UTC))
    assert (info.value.status, info.value.code) == (401, "signature_invalid")
    assert intake.inbox.events() == [] and intake.publish.messages == []


def test_an_invalid_event_is_refused_before_anything_is_stored(intake):
    payload = payment_intent_succeeded("evt_n1", "pi_n1", 100, "usd", "cus_n1")
    payload["data"]["object"]["amount_received"] = "100"
    body = encode(payload)
    headers = {"Stripe-Signature": stripe.sign(body, CFG.webhook_secrets("stripe")[0], int(time.time()))}
    with pytest.raises(ClientError) as info:
        intake.receive("stripe", headers, body, now=datetime.now(tz=UTC))
    assert info.value.status == 400
    assert intake.inbox.events() == []


def test_a_partner_batch_stores_and_publishes_each_event(intake):
    key = CFG.secret(adyen.HMAC_KEYS)[0]
    batch = adyen_notification(
        adyen_item("AUTHORISATION", "AUTHB1", 5000, "EUR", key, shopper="shopper_b1"),
        adyen_item("CAPTURE", "CAPB1", 4200, "EUR", key, original="AUTHB1"),
    )
    user, password = CFG.secret(adyen.BASIC_AUTH)[0].split(":", 1)
    headers = {"Authorization": adyen.basic_auth(user, password), "Content-Type": "application/json"}
    receipt = intake.receive("adyen", headers, encode(batch), now=datetime.now(tz=UTC))
    assert (receipt.status, receipt.body) == (200, "[accepted]")
    keys = ["adyen:AUTHORISATION-AUTHB1-true", "adyen:CAPTURE-CAPB1-true"]
    assert [e.key for e in intake.inbox.events()] == keys
    assert all(e.published and "Authorization" not in e.headers for e in intake.inbox.events())
    assert [a["event_id"] for _, a in intake.publish.messages] == keys
    assert intake.receive("adyen", headers, encode(batch), now=datetime.now(tz=UTC)).body == "[accepted]"
    assert [e.deliveries for e in intake.inbox.events()] == [2, 2] and len(intake.publish.messages) == 2


def test_a_batch_with_one_bad_item_stores_nothing(intake):
    key = CFG.secret(adyen.HMAC_KEYS)[0]
    batch = adyen_notification(
        adyen_item("AUTHORISATION", "AUTHB2", 5000, "EUR", key, shopper="shopper_b2"),
        adyen_item("CAPTURE", "CAPB2", 4200, "EUR", "11" * 32, original="AUTHB2"),  # forged HMAC
    )
    user, password = CFG.secret(adyen.BASIC_AUTH)[0].split(":", 1)
    headers = {"Authorization": adyen.basic_auth(user, password)}
    with pytest.raises(ClientError):
        intake.receive("adyen", headers, encode(batch), now=datetime.now(tz=UTC))
    assert intake.inbox.events() == []


def test_stale_events_that_never_reached_the_ledger_are_redriven(intake, caplog):
    now = datetime.now(tz=UTC)
    received = now - timedelta(seconds=CFG.stale_after_seconds + 60)
    names = ("lost", "posted", "parked", "dead", "fresh")
    for name in names:
        headers, body = stripe_delivery(f"evt_s_{name}", now=received if name != "fresh" else now)
        intake.receive("stripe", headers, body, now=received if name != "fresh" else now)
    ledger = MemoryStore()
    assert execute(ledger, operation_for(intake.inbox.get("stripe:evt_s_posted").event())).status == "posted"
    ledger.record("Parked", "stripe:evt_s_parked", {"deadline": now})
    letter = dead_letter_id("task", "republish", "stripe:evt_s_dead")
    ledger.record("DeadLetter", letter, {"key": "stripe:evt_s_dead", "status": "open"})
    published = len(intake.publish.messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ledgerline.intake"):
        assert intake.redrive_stale(ledger=ledger, now=now) == ["stripe:evt_s_lost"]
    ((_, attributes),) = intake.publish.messages[published:]
    assert attributes["event_id"] == "stripe:evt_s_lost"
    (line,) = [r for r in caplog.records if r.name == "ledgerline.intake"]
    assert (line.getMessage(), line.count, line.scanned) == ("stale inbox events re-driven", 1, 4)
    assert intake.redrive_stale(ledger=ledger, now=now + timedelta(hours=2)) == []  # past the window


def test_the_memory_inbox_creates_an_event_once_under_concurrent_first_deliveries():
    inbox = MemoryInbox()
    record = InboxRecord(
        "stripe", "evt_x", "payment_intent.succeeded", "ignored", "r", b"{}", {}, datetime.now(UTC), None
    )
    created: list[bool] = []
    threads = [threading.Thread(target=lambda: created.append(inbox.put_if_absent(record)[0])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == [False] * 7 + [True]
    assert inbox.get("stripe:evt_x").deliveries == 8


def test_a_payments_event_is_redriven_until_the_payments_function_recorded_it(intake):
    """A bank's outcome of our payout (a payments kind: the ledger books nothing) reaches the payments
    function by push; a push lost with a killed instance would lose it, so the stale sweep publishes
    it again until the function's handled marker is there."""
    from shared.intake.service import PAYMENTS_HANDLED
    from shared.partners import column
    from tests.factories import column_event

    now = datetime.now(tz=UTC)
    received = now - timedelta(seconds=CFG.stale_after_seconds + 60)
    for name in ("lost", "handled"):
        event = column_event(f"evnt_{name}", "ach.outgoing_transfer.settled", f"acht_{name}", 900, "acno_op")
        event["data"]["idempotency_key"] = f"po_{'a' * 23}{'1' if name == 'lost' else '2'}-1"
        body = encode(event)
        headers = {"Column-Signature": column.sign(body, CFG.secret(column.WEBHOOK_SECRETS)[0])}
        assert intake.receive("column", headers, body, now=received).status == 200
    assert intake.inbox.get("column:evnt_lost").event().kind == "bank.transfer_settled"
    ledger = MemoryStore()
    ledger.record(PAYMENTS_HANDLED, "column:evnt_handled", {"outcome": "applied"})
    published = len(intake.publish.messages)
    assert intake.redrive_stale(ledger=ledger, now=now) == ["column:evnt_lost"]
    ((_, attributes),) = intake.publish.messages[published:]
    assert (attributes["event_id"], attributes["consumer"]) == ("column:evnt_lost", "payments")
