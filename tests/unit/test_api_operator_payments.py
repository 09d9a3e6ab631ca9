"""Operator pay-ins in-process over the memory store: every tenant's pay-ins newest first (filters,
cursor pages), one pay-in with its refunds and the ledger transactions it and its refunds booked (read
by their derived ids, each a real transaction), the operator scope, and the contract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.payments.payins import ProcessorEvent
from tests.unit.test_api import World
from tests.unit.test_api_payments import Started, conforms, payment

BASE = "/v1/operator/payments"


@pytest.fixture
def w():
    world = World()
    world.started = Started()
    world.backend.start = world.started
    return world


def _pay(w, customer="cus_a", key=None, amount=5_000):
    made = w.post("/v1/payments", payment(amount=amount, customer=customer), key=key or w.key)
    assert made.status_code == 201, made.json
    w.clock.now += timedelta(seconds=1)
    return made.json["id"]


def test_operators_list_every_tenants_pay_ins_newest_first_with_filters_and_cursor(w):
    a = _pay(w)
    g = _pay(w, "cus_g", w.globex)
    b = _pay(w, "cus_b")
    w.backend.payments().apply(b, ProcessorEvent("succeeded", w.clock(), processor_reference="pi_b"))
    listed = w.get(BASE, key=w.operator)
    assert listed.status_code == 200 and [p["id"] for p in listed.json["data"]] == [b, g, a]
    conforms(listed, BASE, "get")
    assert {p["id"]: p["tenant"] for p in listed.json["data"]} == {a: "acme", g: "globex", b: "acme"}
    ids = lambda q: [p["id"] for p in w.get(BASE, query_string=q, key=w.operator).json["data"]]  # noqa: E731
    assert ids({"tenant": "globex"}) == [g]
    assert ids({"customer": "cus_a"}) == [a]
    assert ids({"status": "succeeded"}) == [b] and ids({"status": "processing"}) == [g, a]
    first = w.get(BASE, query_string={"limit": 1}, key=w.operator).json
    assert first["has_more"] and ids({"starting_after": first["data"][0]["id"]}) == [g, a]
    assert w.get(BASE, query_string={"starting_after": "py_missing"}, key=w.operator).json["error"]["code"] == (
        "invalid_cursor"
    )
    assert w.get(BASE, query_string={"status": "paid"}, key=w.operator).status_code == 400
    assert w.get(BASE).status_code == 403  # a tenant's key: not an operator


def test_a_pay_in_with_its_refunds_and_the_transactions_they_booked(w):
    pid = _pay(w, amount=5_000)
    payins = w.backend.payments()
    payins.apply(pid, ProcessorEvent("succeeded", w.clock(), processor_reference="pi_1"))
    refund = w.post(f"/v1/payments/{pid}/refunds", {"amount": 2_000}, idem="r1").json["id"]
    payins.apply_refund(refund, ProcessorEvent("succeeded", w.clock()))
    got = w.get(f"{BASE}/{pid}", key=w.operator)
    assert got.status_code == 200, got.json
    conforms(got, BASE + "/{id}", "get")
    body = got.json
    assert (body["tenant"], body["status"], body["amount_refunded"]) == ("acme", "succeeded", 2_000)
    assert [(t["record"], t["effect"]) for t in body["transactions"]] == [
        (pid, "credit"),
        (refund, "hold"),
        (refund, "capture"),
    ]
    for t in body["transactions"]:  # each a real ledger transaction, which links back to its record
        txn = w.get(f"/v1/operator/transactions/{t['transaction']}", key=w.operator).json
        assert {"kind": "payment" if t["record"] == pid else "refund", "id": t["record"]} in txn["links"]
    missing = w.get(f"{BASE}/py_missing", key=w.operator)
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "payment_not_found")


def test_a_pay_in_lists_the_processors_webhooks_about_it_each_readable_raw(w):
    from shared.config import settings
    from shared.demo import encode, payment_intent_succeeded
    from shared.intake.service import Intake
    from shared.partners import stripe
    from tests.factories import Bus, Queue

    pid = _pay(w, amount=5_000)
    other = _pay(w, amount=700)
    cfg = settings()
    intake = Intake(cfg, w.backend.operations().inbox, publish=Bus(), schedule=Queue())

    def deliver(event_id: str, record: str, amount: int, kind: str | None = None) -> None:
        event = payment_intent_succeeded(event_id, f"pi_{event_id}", amount, "usd", None)
        event["data"]["object"]["metadata"] = {"ledgerline_payment": record}
        if kind is not None:  # an event intake stores but posts nothing from
            event["type"] = kind
        body = encode(event)
        ts = int(w.clock().timestamp())
        headers = {"Stripe-Signature": stripe.sign(body, cfg.webhook_secrets("stripe")[0], ts)}
        assert intake.receive("stripe", headers, body, now=w.clock()).status == 200

    deliver("evt_mine", pid, 5_000)
    deliver("evt_mine", pid, 5_000)  # Stripe's redelivery: one event, two deliveries
    deliver("evt_other", other, 700)
    body = w.get(f"{BASE}/{pid}", key=w.operator)
    conforms(body, f"{BASE}/{{id}}", "get")
    (hook,) = body.json["webhooks"]
    assert (hook["record"], hook["key"], hook["type"], hook["deliveries"], hook["verdict"]) == (
        pid, "stripe:evt_mine", "payment_intent.succeeded", 2, "accepted",
    )  # fmt: skip
    assert hook["detail"] == "2 deliveries"
    raw = w.get(f"/v1/operator/raw-events/{hook['key']}", key=w.operator).json
    assert raw["partner_event_id"] == "evt_mine" and pid in raw["body"]
    assert [h["key"] for h in w.get(f"{BASE}/{other}", key=w.operator).json["webhooks"]] == ["stripe:evt_other"]
    # stored-only events name the pay-in in their object's metadata too: on its list, as not posted
    deliver("evt_created", other, 700, kind="payment_intent.created")
    hooks = w.get(f"{BASE}/{other}", key=w.operator).json["webhooks"]
    assert [(h["key"], h["verdict"]) for h in hooks] == [
        ("stripe:evt_other", "accepted"),
        ("stripe:evt_created", "ignored"),
    ]
