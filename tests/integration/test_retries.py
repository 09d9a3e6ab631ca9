"""Retries and dead letters through the real stack: the Cloud Tasks emulator dispatches tasks to the
running retries function, which runs them against the Datastore and Pub/Sub emulators. Downstream
failures are injected with Fault records (shared.recovery.faults; honoured only locally)."""

import time
from datetime import UTC, datetime

import pytest
import requests
from google.cloud import datastore

from shared import bootstrap as wiring
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.intake.inbox import InboxRecord
from shared.intake.service import Intake
from shared.partners import stripe
from shared.recovery import faults
from shared.recovery.dead_letters import dead_letter_id

from .conftest import cli, posted, transaction_for, wait_for, wallet_balance


@pytest.fixture(autouse=True)
def fault_injection(cfg, db):
    health = requests.get(cfg.function_urls["retries"] + "/healthz", timeout=5).json()
    if not health.get("fault_injection"):
        pytest.skip("the running retries function was started without LEDGERLINE_FAULT_INJECTION=true")
    yield
    faults.clear(db, "pubsub")


def accept_with_failed_publish(cfg, db, p, secret):
    """Intake stores the event, its publish fails, a republish task is scheduled (the real path)."""
    now = datetime.now(tz=UTC)

    def broken_publish(data, attributes):
        raise ConnectionError("simulated Pub/Sub outage")

    intake = Intake(
        cfg, DatastoreInbox(db), publish=broken_publish, schedule=lambda task, at: wiring.scheduler(cfg)(task, now)
    )
    receipt = intake.receive(
        "stripe", {"Stripe-Signature": stripe.sign(p["body"], secret, int(now.timestamp()))}, p["body"], now=now
    )
    assert (receipt.status, receipt.body["published"]) == (202, False)


def test_downstream_failing_n_times_then_succeeding_has_exactly_one_effect(cfg, db, secret, payment):
    faults.inject(db, "pubsub", failures=3)
    p = payment(amount=1111, currency="usd")
    accept_with_failed_publish(cfg, db, p, secret)
    (txn,) = posted(db, p["key"], timeout=90)  # attempts 1-3 fail (backoff 0.5-4 s), attempt 4 publishes
    assert faults.triggered(db, "pubsub") == 3
    time.sleep(2.0)
    assert [t.key.name for t in transaction_for(db, p["key"])] == [txn.key.name]
    assert wallet_balance(db, p["customer"], "USD") == 1111
    assert db.get(db.key("DeadLetter", dead_letter_id("task", "republish", p["key"]))) is None


def test_permanent_failure_is_one_dead_letter_and_its_replay_posts_exactly_once(cfg, db, secret, payment):
    faults.inject(db, "pubsub", failures=1, mode="permanent")
    p = payment(amount=2222, currency="usd")
    accept_with_failed_publish(cfg, db, p, secret)
    name = dead_letter_id("task", "republish", p["key"])
    letter = wait_for(lambda: db.get(db.key("DeadLetter", name)), timeout=60, what="the dead letter")
    assert (letter["reason_code"], letter["status"], letter["attempts"]) == ("permanent", "open", 1)
    assert "injected fault" in letter["last_error"]
    assert transaction_for(db, p["key"]) == []
    listed = cli("dead-letters", "--source", "task", "--kind", "republish")
    assert name in [row["id"] for row in listed]

    dry = cli("replay", name, "--dry-run")
    assert dry == [
        {
            "dead_letter": name,
            "action": "enqueue",
            "task_kind": "republish",
            "key": p["key"],
            "replay": 1,
            "dry_run": True,
        }
    ]
    time.sleep(1.0)
    assert transaction_for(db, p["key"]) == [] and db.get(db.key("DeadLetter", name))["status"] == "open"

    cli("replay", name, "--reason", "the publisher was fixed")
    (txn,) = posted(db, p["key"], timeout=60)
    assert db.get(db.key("DeadLetter", name))["status"] == "replayed"
    cli("replay", name, "--reason", "again")  # an operator replays it again: still one posting
    time.sleep(3.0)
    assert [t.key.name for t in transaction_for(db, p["key"])] == [txn.key.name]
    assert wallet_balance(db, p["customer"], "USD") == 2222


def stale_published_event(cfg, db, p):
    """Stored and marked published long enough ago to be stale, but the message never arrived."""
    from datetime import timedelta

    from shared.domain.ledger.ids import event_hash
    from shared.partners import plugin

    received = datetime.now(tz=UTC) - timedelta(seconds=cfg.stale_after_seconds + 60)
    (parsed,) = plugin("stripe").parse(p["body"], received_at=received, cfg=cfg, headers={})
    record = InboxRecord(
        partner="stripe",
        partner_event_id=parsed.partner_event_id,
        partner_event_type=parsed.partner_event_type,
        verdict=parsed.verdict,
        reason=parsed.reason,
        body=p["body"],
        headers={},
        received_at=received,
        canonical=parsed.canonical.to_message(),
        content_hash=event_hash(parsed.canonical),
    )
    assert DatastoreInbox(db).put_if_absent(record)[0]
    DatastoreInbox(db).mark_published(record.key_name, "lost-message")  # published, never delivered


def sweep(cfg, key: str) -> requests.Response:
    url = cfg.function_urls["retries"] + "/tasks"
    answer = requests.post(url, json={"kind": "redrive-stale", "key": key}, timeout=120)
    assert answer.status_code == 200 and answer.json()["detail"].startswith("re-drove"), answer.text
    return answer


def test_an_acknowledged_event_that_never_reached_the_ledger_is_redriven_by_the_sweep(cfg, db, secret, payment):
    """Stored and marked published 16 minutes ago, but the message never arrived (a lost delivery):
    the scheduled `redrive-stale` task publishes it again and it posts once."""
    p = payment(amount=1717, currency="usd")
    stale_published_event(cfg, db, p)
    sweep(cfg, "t")
    (txn,) = posted(db, p["key"], timeout=60)
    again = sweep(cfg, "t2")
    assert p["key"] not in again.text  # posted now: not re-driven again
    assert [t.key.name for t in transaction_for(db, p["key"])] == [txn.key.name]


def test_the_sweep_leaves_an_event_with_an_open_dead_letter_to_the_operator(cfg, db, secret, payment):
    """Its republish failed permanently: an operator fixes the cause and replays it; the sweep does not
    re-drive it behind their back (the dead letter would stay open for a posted event). Once the dead
    letter is no longer open (replayed) and the event still has not posted, the sweep takes it again."""
    p = payment(amount=1818, currency="usd")
    stale_published_event(cfg, db, p)
    letter = datastore.Entity(db.key("DeadLetter", dead_letter_id("task", "republish", p["key"])))
    letter.update({"key": p["key"], "source": "task", "kind": "republish", "status": "open"})
    db.put(letter)
    sweep(cfg, "open-1")
    time.sleep(5.0)
    assert transaction_for(db, p["key"]) == []
    letter["status"] = "replayed"
    db.put(letter)
    sweep(cfg, "open-2")
    (txn,) = posted(db, p["key"], timeout=60)
    assert [t.key.name for t in transaction_for(db, p["key"])] == [txn.key.name]
