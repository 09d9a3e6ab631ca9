"""The ledger function in-process: real CloudEvent push bodies through functions-framework's test
client, over the composition root with its adapters replaced by memory ones (the ledger store, the
canonical topic and the retries queue). What the emulator tests check end to end, here fast: a
posting, a redelivery, parking with its deadline task, the re-drive after the commit, a poison
message answered 5xx with its failure noted."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from functions_framework import create_app

from shared import bootstrap
from shared.config import REPO_ROOT, settings
from shared.domain.events import CanonicalEvent
from shared.ledger.balances import balances
from tests.factories import MemoryRoot

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
def root(monkeypatch):
    built = MemoryRoot(AT)
    monkeypatch.setattr(bootstrap, "root", lambda cfg=None: built)
    return built


@pytest.fixture(scope="module")
def client():
    return create_app("ledger", str(REPO_ROOT / "functions" / "ledger" / "main.py"), "cloudevent").test_client()


def event(n: str, kind: str = "payment.captured", **fields) -> CanonicalEvent:
    base = dict(
        event_id=f"stripe:evt_{n}",
        partner="stripe",
        partner_event_id=f"evt_{n}",
        partner_event_type="payment_intent.succeeded",
        kind=kind,
        occurred_at=AT,
        received_at=AT,
        customer="cus_1",
        amount=1000,
        fee=30,
        currency="USD",
        reference="pi_1",
    )
    return CanonicalEvent(**{**base, **fields})


def push(client, data: bytes, event_id: str, message_id: str = "m-1"):
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": {"event_id": event_id, "partner": "stripe"},
            "messageId": message_id,
        },
        "subscription": "projects/p/subscriptions/ledger-push",
    }
    headers = {
        "ce-id": message_id,
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/canonical-events",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    return client.post("/", data=json.dumps(envelope), headers=headers)


def wallet(root: MemoryRoot) -> int:
    found = balances(root.store, "customer:cus_1:wallet").get("USD")
    return found.posted if found else 0


def test_a_payment_posts_once_and_asks_for_one_stream_sweep(client, root):
    payment = event("pay")
    assert push(client, payment.to_message(), payment.event_id).status_code == 200
    assert push(client, payment.to_message(), payment.event_id, "m-2").status_code == 200  # redelivery
    assert len(root.store.data["JournalTransaction"]) == 1 and wallet(root) == 1000
    # one sweep per second is asked for (the redelivery replays within the same second: not asked again)
    assert root.scheduled == [("stream-pending", f"second-{int(AT.timestamp())}", AT + timedelta(seconds=1))]
    assert root.published == []  # nothing was parked behind it


def test_an_early_refund_is_parked_with_its_deadline_task_then_redriven_after_the_payment(client, root):
    refund = event(
        "ref",
        "payment.refunded",
        partner_event_type="charge.refunded",
        amount=400,
        fee=0,
        customer=None,
        reference="re_1",
        payment_reference="pi_1",
    )
    assert push(client, refund.to_message(), refund.event_id).status_code == 200
    assert set(root.store.data["Parked"]) == {refund.event_id} and wallet(root) == 0
    deadline = AT + timedelta(seconds=settings().park_ttl_seconds)
    assert ("park-expiry", f"{refund.event_id}@{int(deadline.timestamp())}", deadline) in root.scheduled

    payment = event("pay")
    assert push(client, payment.to_message(), payment.event_id, "m-3").status_code == 200
    assert [attributes["event_id"] for _, attributes in root.published] == [refund.event_id]
    assert root.published[0][1]["redrive"] == "parked"
    assert CanonicalEvent.model_validate_json(root.published[0][0]) == refund
    assert root.store.data["Parked"] == {}  # re-driven: the ledger posts it when it comes back

    assert push(client, root.published[0][0], refund.event_id, "m-4").status_code == 200
    assert wallet(root) == 600


def test_a_poison_message_is_a_5xx_with_its_failure_noted(client, root):
    resp = push(client, b'{"kind": "payment.captured"}', "stripe:evt_bad")
    assert resp.status_code == 500
    failure = root.store.data["DeliveryFailure"]["stripe:evt_bad"]
    assert failure["attempts"] == 1 and "PermanentError" in failure["last_error"]
    assert root.store.data.get("JournalTransaction", {}) == {}


def test_a_rejection_is_recorded_and_acknowledged(client, root):
    common = dict(fee=0, reference="pi_hold")
    hold = event("auth", "authorization.created", expires_at=AT + timedelta(days=7), **common)
    void = event("void", "authorization.voided", amount=0, **common)
    capture = event("cap", "authorization.captured", **common)  # a capture is a partner fact: it posts
    for n, e in enumerate((hold, capture, void)):
        assert push(client, e.to_message(), e.event_id, f"m-{n}").status_code == 200
    rejection = root.store.data["Rejection"]
    assert [r["code"] for r in rejection.values()] == ["hold_already_resolved"]
    assert [r["event_id"] for r in rejection.values()] == [void.event_id]  # the hold closed with its capture
    assert wallet(root) == 1000
