"""The retries function in-process: Cloud Tasks and Pub/Sub dead-letter push bodies through
functions-framework's test client, over the composition root with memory adapters (ledger store,
entry sink, queue, topic). The emulator tests (tests/integration/test_retries.py, test_recovery.py)
run the same handlers end to end; these check each answer and what it leaves behind, fast."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from functions_framework import create_app

from shared import bootstrap
from shared.config import REPO_ROOT
from shared.domain.ledger.errors import PredecessorMissing
from shared.domain.ledger.model import Leg, Operation
from shared.ledger import parking
from shared.ledger.transactions import execute
from tests.factories import MemoryRoot, canonical_event

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
def root(monkeypatch):
    built = MemoryRoot(AT)
    monkeypatch.setattr(bootstrap, "root", lambda cfg=None: built)
    monkeypatch.setattr(bootstrap.bigquery_sink, "stream", lambda cfg, table, rows, ids: built.streamed.append(ids))
    return built


@pytest.fixture(scope="module")
def client():
    return create_app("retries", str(REPO_ROOT / "functions" / "retries" / "main.py"), "http").test_client()


def run(client, kind: str, key: str, **fields):
    return client.post("/tasks", json={"kind": kind, "key": key, "attempt": 1, **fields})


def parked_refund(root: MemoryRoot, deadline: datetime) -> str:
    refund = canonical_event(
        "payment.refunded", "evt_ref", customer=None, reference="re_1", payment_reference="pi_missing", at=AT
    )
    missing = PredecessorMissing("payment pi_missing has not arrived yet", ("PaymentIndex", "stripe:pi_missing"))
    parking.park(root.store, refund, missing, clock=lambda: deadline - parking.PARK_TTL)
    return refund.event_id


def test_a_parked_event_past_its_deadline_becomes_a_dead_letter(client, root):
    name = parked_refund(root, deadline=AT - timedelta(minutes=1))
    resp = run(client, "park-expiry", parking.expiry_task_key(name, AT - timedelta(minutes=1)))
    assert resp.status_code == 200 and resp.json == {"status": "done", "detail": "parked event: dead_letter"}
    dead = root.store.data["DeadLetter"][f"parked:{name}"]
    assert (dead["source"], dead["reason_code"], dead["status"]) == ("parked", "predecessor_missing", "open")
    assert root.store.data["Parked"] == {}


def test_a_parked_event_before_its_deadline_is_rescheduled_at_it(client, root):
    deadline = AT + timedelta(hours=1)
    name = parked_refund(root, deadline=deadline)
    resp = run(client, "park-expiry", parking.expiry_task_key(name, deadline))
    assert resp.status_code == 200 and resp.json["status"] == "rescheduled"
    assert [(kind, at) for kind, _, at in root.scheduled] == [("park-expiry", deadline)]
    assert name in root.store.data["Parked"]


def test_the_outbox_sweep_streams_every_pending_record_in_one_call(client, root):
    for n in (1, 2):
        legs = (Leg("suspense", "debit", 100, "USD"), Leg("customer:c1:wallet", "credit", 100, "USD"))
        execute(
            root.store, Operation(f"txn_sweep_{n}", "post", "test_move.v1", f"t:{n}", "test", f"h{n}", AT, legs=legs)
        )
    resp = run(client, "stream-pending", "second-1")
    assert resp.json == {"status": "done", "detail": "streamed 2 pending transaction(s), 0 left for the next sweep"}
    assert root.streamed == [  # one insert call per table: the entries, then the transactions (the chain)
        ["txn_sweep_1:0", "txn_sweep_1:1", "txn_sweep_2:0", "txn_sweep_2:1"],
        ["txn_sweep_1", "txn_sweep_2"],
    ]
    assert root.store.data["Outbox"] == {}


def test_a_dead_letter_push_is_recorded_with_the_ledgers_last_error(client, root):
    root.store.record("DeliveryFailure", "stripe:evt_x", {"attempts": 5, "first_error": "E1", "last_error": "E5"})
    push = {
        "message": {
            "data": base64.b64encode(b'{"not": "an event"}').decode(),
            "attributes": {"event_id": "stripe:evt_x", "CloudPubSubDeadLetterSourceDeliveryCount": "5"},
            "messageId": "m-9",
        }
    }
    resp = client.post("/projects/p/topics/canonical-events-dead-letter", json=push)
    assert resp.status_code == 200 and resp.json["status"] == "dead_letter_recorded"
    dead = root.store.data["DeadLetter"][resp.json["dead_letter"]]
    assert (dead["source"], dead["reason_code"], dead["last_error"]) == ("pubsub", "max_delivery_attempts", "E5")
    assert json.loads(dead["payload"]) == {"not": "an event"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/tasks", None, 405, "method_not_allowed"),
        ("post", "/tasks", [1, 2], 400, "invalid_task"),
        ("post", "/elsewhere", {"kind": "stream", "key": "k"}, 404, "not_found"),
    ],
)
def test_a_malformed_request_is_refused_with_its_code_and_runs_nothing(client, root, method, path, body, status, code):
    resp = getattr(client, method)(path, json=body)
    assert (resp.status_code, resp.json["error"]["code"]) == (status, code)
    assert root.scheduled == [] and root.published == [] and dict(root.store.data) == {}
