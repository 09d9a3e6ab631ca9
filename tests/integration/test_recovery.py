"""Recovery paths through the real emulators: a failed publish is repaired through Cloud Tasks (task
dispatched by the Tasks emulator to the running retries function), and a poison message ends on the
dead-letter topic and in the dead-letter store instead of being dropped."""

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from google.cloud import pubsub_v1

from shared import bootstrap as wiring
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.config import REPO_ROOT
from shared.intake.service import Intake
from shared.partners import stripe
from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task
from shared.topology import CANONICAL_EVENTS_TOPIC, DEAD_LETTER_HOLD_SUBSCRIPTION

from .conftest import posted, transaction_for, wait_for, wallet_balance


def test_failed_publish_is_kept_and_republished_through_cloud_tasks(cfg, db, secret, payment):
    p = payment(amount=4321, currency="usd")
    now = datetime.now(tz=UTC)
    headers = {"Stripe-Signature": stripe.sign(p["body"], secret, int(now.timestamp()))}
    enqueued = []

    def broken_publish(data, attributes):
        raise ConnectionError("simulated Pub/Sub outage")

    def enqueue(key):
        enqueued.append(key)
        return wiring.scheduler(cfg)(Task("republish", key), datetime.now(tz=UTC))

    intake = Intake(cfg, DatastoreInbox(db), publish=broken_publish, schedule=lambda task, at: enqueue(task.key))
    receipt = intake.receive("stripe", headers, p["body"], now=now)
    assert (receipt.status, receipt.body["status"], receipt.body["published"]) == (202, "accepted", False)
    assert enqueued == [p["key"]]
    # Durable before the answer, even though publishing failed.
    assert DatastoreInbox(db).get(p["key"]).body == p["body"]
    # The Tasks emulator dispatches to the retries function, which republishes; the ledger posts once.
    (posted_txn,) = posted(db, p["key"], timeout=60)
    assert DatastoreInbox(db).get(p["key"]).published_at is not None
    # Duplicate task delivery: Cloud Tasks dedupes task names, but the emulator does not (and the cloud
    # may still run a task twice), so the handler must be idempotent: enqueue again, expect one effect.
    enqueue(p["key"])
    time.sleep(2.0)
    assert [t.key.name for t in transaction_for(db, p["key"])] == [posted_txn.key.name]
    assert wallet_balance(db, p["customer"], "USD") == 4321


@pytest.mark.slow  # make test-slow: five deliveries at the subscription's real 10 s..600 s backoff
def test_poison_message_is_dead_lettered_not_dropped(cfg, db):
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    marker = uuid.uuid4().hex
    publisher.publish(
        publisher.topic_path(cfg.project, CANONICAL_EVENTS_TOPIC), b"not a canonical event", event_id=f"poison:{marker}"
    ).result(timeout=10)
    hold = subscriber.subscription_path(cfg.project, DEAD_LETTER_HOLD_SUBSCRIPTION)

    def dead_lettered():
        response = subscriber.pull(subscription=hold, max_messages=50, timeout=5)
        mine = [m for m in response.received_messages if m.message.attributes.get("event_id") == f"poison:{marker}"]
        if mine:  # other messages stay on the hold subscription for the operators' dead-letter listing
            subscriber.acknowledge(subscription=hold, ack_ids=[m.ack_id for m in mine])
        return mine

    (message,) = wait_for(dead_lettered, timeout=120, interval=1.0, what="poison message on the dead-letter topic")
    assert message.message.data == b"not a canonical event"
    assert int(message.message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"]) >= 5
    # ... and in the dead-letter store (pushed to the retries function), with the ledger's last error.
    name = dead_letter_id("pubsub", "canonical-event", f"poison:{marker}")
    letter = wait_for(lambda: db.get(db.key("DeadLetter", name)), timeout=60, what="the poison dead letter")
    assert letter["payload"] == "not a canonical event" and letter["reason_code"] == "max_delivery_attempts"
    assert letter["attempts"] >= 5 and "not a canonical event" in letter["last_error"]
    listed = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", "dead-letters", "--source", "pubsub"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert name in [row["id"] for row in json.loads(listed.stdout)]
