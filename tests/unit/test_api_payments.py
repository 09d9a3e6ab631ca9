"""The customer API's payouts, payments, refunds and payout limits in-process over the memory store:
required Idempotency-Key, destinations validated and masked, limits (422 with what is left), retries
and reused keys, tenancy, cursor pages, cancel, the hand-off to the payments function, the error
table, and the responses against docs/openapi.yaml."""

from __future__ import annotations

import json
import logging

import pytest

from shared.api import payments as api_payments
from shared.domain.payments.errors import PAYMENT_ERROR_CODES, PaymentError
from shared.domain.payments.payins import ProcessorEvent
from shared.domain.payments.payouts import PayoutEvent
from shared.ledger import balances as ledger_balances
from tests.factories import PAYMENTS_TEST_DEFAULT_LIMITS
from tests.unit.test_api import World
from tests.unit.test_api_contract import _validator

ACCOUNT_NUMBER = "000123456789"
DEST = {"rail": "ach", "routing_number": "021000021", "account_number": ACCOUNT_NUMBER, "account_holder": "Ada L"}
MAX_SINGLE, DAILY = PAYMENTS_TEST_DEFAULT_LIMITS["USD"]


class Started(list):
    def __init__(self):
        super().__init__()
        self.down = False

    def __call__(self, kind, record_id):
        if self.down:
            raise ConnectionError("queue unavailable")
        self.append((kind, record_id))


@pytest.fixture
def w():
    world = World()
    world.started = Started()
    world.backend.start = world.started
    world.fund("cus_a", 2_000_000)
    return world


def payout(amount=10_000, source="cus_a", **extra):
    return {"from_account": source, "amount": amount, "currency": "usd", "destination": dict(DEST), **extra}


def held(w, customer="cus_a"):
    b = ledger_balances.balances(w.store, f"customer:{customer}:wallet")["USD"]
    return b.posted, b.available


def conforms(resp, path, method):
    errors = list(_validator(resp.status_code, path, method).iter_errors(resp.json))
    assert not errors, (path, resp.status_code, resp.json, [str(e) for e in errors])


# ----------------------------------------------------------------------------- payouts


def test_a_payout_needs_an_idempotency_key_and_changes_nothing_without_it(w):
    before = w.store.snapshot(tuple(w.store.data))
    resp = w.post("/v1/payouts", payout(), idem=None)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "idempotency_key_missing" and resp.json["error"]["param"] == "Idempotency-Key"
    assert w.store.snapshot(tuple(w.store.data)) == before and not w.started
    conforms(resp, "/v1/payouts", "post")


def test_a_payout_holds_at_once_is_masked_and_is_handed_to_payments(w):
    resp = w.post("/v1/payouts", payout(description="rent", metadata={"invoice": "42"}), idem="p1")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["object"] == "payout" and body["id"].startswith("po_") and body["status"] == "pending"
    assert (body["amount"], body["currency"], body["from_account"]) == (10_000, "USD", "cus_a")
    assert body["destination"] == {
        "rail": "ach",
        "routing_number": "021000021",
        "account_holder": "Ada L",
        "account_number": "••••6789",
    }
    assert body["description"] == "rent" and body["metadata"] == {"invoice": "42"}
    assert body["attempts"] == [] and [t["event"] for t in body["timeline"]] == ["requested"]
    assert ACCOUNT_NUMBER not in resp.get_data(as_text=True)
    assert held(w) == (2_000_000, 2_000_000 - 10_000)  # available drops at once, posted unchanged
    assert w.started == [("payout-step", body["id"])]
    conforms(resp, "/v1/payouts", "post")
    got = w.get(f"/v1/payouts/{body['id']}")
    assert got.status_code == 200 and got.json == body
    conforms(got, "/v1/payouts/{id}", "get")


def test_the_account_number_is_stored_sealed_and_in_no_idempotency_record(w):
    w.post("/v1/payouts", payout(), idem="p1")
    for kind in ("Payout", "IdempotencyRecord", "JournalTransaction", "PayoutExposure"):
        assert ACCOUNT_NUMBER not in json.dumps(w.store.data.get(kind, {}), default=str), kind


def test_a_retried_payout_is_the_same_and_the_same_key_with_another_amount_is_refused(w):
    first = w.post("/v1/payouts", payout(), idem="p1")
    again = w.post("/v1/payouts", payout(), idem="p1")
    assert again.status_code == 201 and again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert held(w)[1] == 2_000_000 - 10_000
    assert w.started == [("payout-step", first.json["id"])] * 2  # a retry hands it off again (deduped by name)
    reused = w.post("/v1/payouts", payout(amount=10_001), idem="p1")
    assert reused.status_code == 409 and reused.json["error"]["code"] == "idempotency_key_reuse"
    other_dest = w.post("/v1/payouts", payout(destination={**DEST, "account_number": "000123456780"}), idem="p1")
    assert other_dest.status_code == 409
    assert held(w)[1] == 2_000_000 - 10_000 and len(w.store.data["Payout"]) == 1


def test_the_service_refuses_the_same_generation_with_other_parameters_too(w):
    """Behind the idempotency layer: the payout's request digest (e.g. an idempotency record that
    expired while its payout stayed, or a caller of the service itself)."""
    w.post("/v1/payouts", payout(), idem="p1")
    w.store.data["IdempotencyRecord"].clear()  # forgotten; the generation is new, so a new payout
    assert w.post("/v1/payouts", payout(amount=5), idem="p1").status_code == 201
    assert len(w.store.data["Payout"]) == 2


@pytest.mark.parametrize(
    ("destination", "param"),
    [
        ({**DEST, "routing_number": "021000022"}, "destination.routing_number"),
        ({**DEST, "account_number": "12ab5678"}, "destination.account_number"),
        ({**DEST, "account_holder": "  "}, "destination.account_holder"),
    ],
)
def test_an_invalid_destination_is_a_400_naming_the_field_not_its_value(w, destination, param):
    before = w.store.snapshot(tuple(w.store.data))
    resp = w.post("/v1/payouts", payout(destination=destination), idem="p1")
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["code"] == "invalid_destination" and resp.json["error"]["param"] == param
    assert destination["account_number"] not in resp.get_data(as_text=True)
    assert w.store.snapshot(tuple(w.store.data)) == before


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (payout(amount="100"), "parameter_invalid", "amount"),
        (payout(amount=0), "parameter_invalid", "amount"),
        ({**payout(), "destination": {**DEST, "rail": "wire"}}, "parameter_invalid", "destination.rail"),
        ({**payout(), "destination": {**DEST, "extra": 1}}, "parameter_unknown", "destination.extra"),
        ({k: v for k, v in payout().items() if k != "destination"}, "parameter_missing", "destination"),
        (payout(metadata={"k": 1}), "parameter_invalid", "metadata.k"),
    ],
)
def test_bad_payout_bodies_are_400s(w, body, code, param):
    resp = w.post("/v1/payouts", body, idem="p1")
    assert resp.status_code == 400 and resp.json["error"]["code"] == code and resp.json["error"]["param"] == param
    assert ACCOUNT_NUMBER not in resp.get_data(as_text=True)


def test_another_tenants_wallet_or_payout_is_a_404(w):
    resp = w.post("/v1/payouts", payout(source="cus_g"), idem="p1")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "account_not_found"
    mine = w.post("/v1/payouts", payout(), idem="p2").json["id"]
    for path in (f"/v1/payouts/{mine}", "/v1/payouts/po_000000000000000000000000"):
        resp = w.get(path, key=w.globex)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "payout_not_found"
    resp = w.post(f"/v1/payouts/{mine}/cancel", {}, key=w.globex)
    assert resp.status_code == 404 and w.get(f"/v1/payouts/{mine}").json["status"] == "pending"
    assert w.get("/v1/payouts?customer=cus_a", key=w.globex).status_code == 404


def test_insufficient_funds_is_the_ledgers_422_and_writes_no_payout(w):
    w.fund("cus_b", 100)
    resp = w.post("/v1/payouts", payout(amount=101, source="cus_b"), idem="p1")
    assert resp.status_code == 422 and resp.json["error"]["code"] == "insufficient_funds"
    assert not w.store.data.get("Payout") and not w.started
    conforms(resp, "/v1/payouts", "post")


def test_over_a_limit_is_a_422_with_the_limit_its_value_and_what_is_left(w):
    resp = w.post("/v1/payouts", payout(amount=MAX_SINGLE + 1), idem="p1")
    assert resp.status_code == 422
    assert resp.json["error"] | {"message": None} == {
        "type": "invalid_request_error",
        "code": "limit_exceeded",
        "message": None,
        "param": "amount",
        "limit": "max_single",
        "limit_value": MAX_SINGLE,
        "remaining": MAX_SINGLE,
    }
    conforms(resp, "/v1/payouts", "post")
    assert w.post("/v1/payouts", payout(amount=MAX_SINGLE), idem="p2").status_code == 201
    assert w.post("/v1/payouts", payout(amount=MAX_SINGLE), idem="p3").status_code == 201
    before = w.store.snapshot(tuple(w.store.data))
    resp = w.post("/v1/payouts", payout(amount=1), idem="p4")
    assert resp.json["error"]["limit"] == "daily_outflow" and resp.json["error"]["remaining"] == 0
    assert {k: v for k, v in w.store.snapshot(tuple(w.store.data)).items() if k != "IdempotencyRecord"} == {
        k: v for k, v in before.items() if k != "IdempotencyRecord"
    }


def test_cancel_releases_the_hold_and_only_while_pending(w):
    pid = w.post("/v1/payouts", payout(), idem="p1").json["id"]
    resp = w.post(f"/v1/payouts/{pid}/cancel", {})
    assert resp.status_code == 200 and resp.json["status"] == "canceled"
    assert held(w) == (2_000_000, 2_000_000)
    conforms(resp, "/v1/payouts/{id}/cancel", "post")
    assert w.post(f"/v1/payouts/{pid}/cancel", {}).json["status"] == "canceled"  # twice: the same
    other = w.post("/v1/payouts", payout(), idem="p2").json["id"]
    w.backend.payouts().apply(other, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    resp = w.post(f"/v1/payouts/{other}/cancel", {})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "illegal_transition"
    conforms(resp, "/v1/payouts/{id}/cancel", "post")


def test_payouts_are_listed_newest_first_by_status_in_cursor_pages(w):
    ids = [w.post("/v1/payouts", payout(amount=100 + n), idem=f"p{n}").json["id"] for n in range(5)]
    w.post(f"/v1/payouts/{ids[1]}/cancel", {})
    page = w.get("/v1/payouts?customer=cus_a&limit=2")
    assert page.status_code == 200 and [p["id"] for p in page.json["data"]] == [ids[4], ids[3]]
    assert page.json["has_more"] is True
    conforms(page, "/v1/payouts", "get")
    nxt = w.get(f"/v1/payouts?customer=cus_a&limit=2&starting_after={ids[3]}").json
    assert [p["id"] for p in nxt["data"]] == [ids[2], ids[1]]
    pending = w.get("/v1/payouts?customer=cus_a&status=pending").json
    assert [p["id"] for p in pending["data"]] == [ids[4], ids[3], ids[2], ids[0]] and not pending["has_more"]
    assert [p["id"] for p in w.get("/v1/payouts?customer=cus_a&status=canceled").json["data"]] == [ids[1]]
    assert w.get("/v1/payouts?customer=cus_b").json == {"object": "list", "data": [], "has_more": False}
    for query, code in (
        ("", "parameter_missing"),
        ("customer=cus_a&status=lost", "parameter_invalid"),
        ("customer=cus_a&starting_after=po_000000000000000000000000", "invalid_cursor"),
        ("customer=cus_a&limit=0", "parameter_invalid"),
    ):
        resp = w.get(f"/v1/payouts?{query}")
        assert resp.status_code == 400 and resp.json["error"]["code"] == code, query


def test_a_failed_hand_off_still_answers_the_payout_and_a_retry_hands_it_off(w, caplog):
    w.started.down = True
    with caplog.at_level(logging.ERROR, logger="ledgerline.api"):
        resp = w.post("/v1/payouts", payout(), idem="p1")
    assert resp.status_code == 201 and not w.started
    assert any(r.getMessage() == "payments hand-off failed" for r in caplog.records)
    assert ACCOUNT_NUMBER not in caplog.text
    w.started.down = False
    assert w.post("/v1/payouts", payout(), idem="p1").status_code == 201
    assert w.started == [("payout-step", resp.json["id"])]


def test_scopes(w):
    assert w.post("/v1/payouts", payout(), key=w.read_only, idem="p1").status_code == 403
    assert w.post("/v1/payments", {}, key=w.read_only, idem="p1").status_code == 403


# ----------------------------------------------------------------------------- payments and refunds


def payment(amount=5_000, customer="cus_a", method="pm_card_visa"):
    return {"customer": customer, "amount": amount, "currency": "usd", "payment_method": method}


def test_a_payment_is_processing_moves_nothing_and_is_handed_to_payments(w):
    assert w.post("/v1/payments", payment(), idem=None).json["error"]["code"] == "idempotency_key_missing"
    resp = w.post("/v1/payments", payment(), idem="y1")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["object"] == "payment" and body["id"].startswith("py_") and body["status"] == "processing"
    assert body["refunds"] == [] and body["amount_refunded"] == 0
    assert held(w) == (2_000_000, 2_000_000)
    assert w.started == [("payment-step", body["id"])]
    conforms(resp, "/v1/payments", "post")
    got = w.get(f"/v1/payments/{body['id']}")
    assert got.json == body
    conforms(got, "/v1/payments/{id}", "get")
    assert w.get(f"/v1/payments/{body['id']}", key=w.globex).status_code == 404
    assert w.post("/v1/payments", payment(customer="cus_g"), idem="y2").status_code == 404
    reused = w.post("/v1/payments", payment(amount=1), idem="y1")
    assert reused.status_code == 409 and reused.json["error"]["code"] == "idempotency_key_reuse"


def test_refunds_partial_then_over_and_before_success(w):
    pid = w.post("/v1/payments", payment(), idem="y1").json["id"]
    early = w.post(f"/v1/payments/{pid}/refunds", {"amount": 100}, idem="r0")
    assert early.status_code == 422 and early.json["error"]["code"] == "payment_not_succeeded"
    conforms(early, "/v1/payments/{id}/refunds", "post")
    w.backend.payments().apply(pid, ProcessorEvent("succeeded", w.clock(), processor_reference="pi_1"))
    assert held(w)[0] == 2_005_000
    missing = w.post(f"/v1/payments/{pid}/refunds", {"amount": 100}, idem=None)
    assert missing.json["error"]["code"] == "idempotency_key_missing"
    first = w.post(f"/v1/payments/{pid}/refunds", {"amount": 2_000}, idem="r1")
    assert first.status_code == 201 and first.json["status"] == "processing" and first.json["payment"] == pid
    assert w.started[-1] == ("refund-step", first.json["id"])
    conforms(first, "/v1/payments/{id}/refunds", "post")
    over = w.post(f"/v1/payments/{pid}/refunds", {"amount": 3_001}, idem="r2")
    assert over.status_code == 422 and over.json["error"]["code"] == "refund_exceeds_payment"
    rest = w.post(f"/v1/payments/{pid}/refunds", {}, idem="r3")
    assert rest.status_code == 201 and rest.json["amount"] == 3_000
    w.backend.payments().apply_refund(first.json["id"], ProcessorEvent("succeeded", w.clock()))
    got = w.get(f"/v1/payments/{pid}").json
    assert got["amount_refunded"] == 2_000 and [r["amount"] for r in got["refunds"]] == [2_000, 3_000]
    assert held(w)[0] == 2_003_000
    other = w.get(f"/v1/payments/{pid}/refunds", key=w.globex)
    assert other.status_code == 405
    assert w.post(f"/v1/payments/{pid}/refunds", {}, key=w.globex, idem="r9").status_code == 404


# ----------------------------------------------------------------------------- payout limits (operators)


def test_operators_read_and_set_limits_with_their_history_and_the_payout_then_passes(w):
    path = "/v1/operator/payout-limits/cus_a/usd"
    assert w.get(path).status_code == 403  # a tenant key
    got = w.get(path, key=w.operator)
    assert got.status_code == 200 and got.json["source"] == "default" and got.json["max_single"] == MAX_SINGLE
    conforms(got, "/v1/operator/payout-limits/{customer}/{currency}", "get")
    refused = w.post("/v1/payouts", payout(amount=MAX_SINGLE + 1), idem="p1")
    assert refused.status_code == 422
    put = w.client.put(
        path,
        data=json.dumps({"max_single": MAX_SINGLE * 2, "daily_outflow": DAILY * 2}),
        headers={"Authorization": f"Bearer {w.operator}", "Content-Type": "application/json"},
    )
    assert put.status_code == 200, put.json
    conforms(put, "/v1/operator/payout-limits/{customer}/{currency}", "put")
    # a raise to $10,000: at or above the threshold, nothing changes until a second operator approves
    assert put.json["source"] == "default" and put.json["request"]["status"] == "pending"
    assert w.post("/v1/payouts", payout(amount=MAX_SINGLE + 1), idem="p1b").status_code == 422
    request_id = put.json["request"]["id"]
    assert w.post(f"/v1/operator/requests/{request_id}/approve", {}, key=w.operator).status_code == 403  # own
    approved = w.post(f"/v1/operator/requests/{request_id}/approve", {}, key=w.checker)
    assert approved.status_code == 200 and approved.json["status"] == "executed", approved.json
    got = w.get(path, key=w.operator).json
    assert got["source"] == "customer" and got["max_single"] == MAX_SINGLE * 2
    (change,) = got["history"]
    assert change["old"] is None and change["new"] == {"max_single": MAX_SINGLE * 2, "daily_outflow": DAILY * 2}
    assert change["actor"] == "ana@ledgerline.test" and got["updated_by"] == change["actor"]
    assert [e["action"] for e in w.get("/v1/audit-log", key=w.operator).json["data"]] == [
        "limit_change", "request:limit_change",
    ]  # fmt: skip
    assert w.post("/v1/payouts", payout(amount=MAX_SINGLE + 1), idem="p2").status_code == 201
    for bad in ({"max_single": -1, "daily_outflow": 1}, {"max_single": 1}, {"max_single": "1", "daily_outflow": 1}):
        resp = w.client.put(
            path,
            data=json.dumps(bad),
            headers={"Authorization": f"Bearer {w.operator}", "Content-Type": "application/json"},
        )
        assert resp.status_code == 400, bad
    assert w.get("/v1/operator/payout-limits/nobody/usd", key=w.operator).status_code == 404
    assert w.get("/v1/operator/payout-limits/cus_a/xyz", key=w.operator).status_code == 400


# ----------------------------------------------------------------------------- the error table


def test_every_payments_error_code_has_one_status():
    assert tuple(api_payments.STATUS) == PAYMENT_ERROR_CODES
    for code in PAYMENT_ERROR_CODES:
        err = api_payments.client_error(PaymentError(code, "x"))
        assert err.status == api_payments.STATUS[code] and err.code == code
        assert 400 <= err.status < 500
