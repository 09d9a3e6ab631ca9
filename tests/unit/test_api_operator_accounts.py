"""Operator API: any ledger account cross-tenant (balances, as_of, open holds), its entries with running
balances, a transaction with all its entries, links and raw partner event (secret headers hidden), and
the exact-match search, on the memory backend through the real router."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.api import tenants
from shared.domain.ledger.model import Leg, Operation
from shared.intake.inbox import InboxRecord
from shared.ledger import transactions
from tests.unit.test_api import NOW, World

EVENT = "stripe:evt_pay_1"


@pytest.fixture
def w():
    world = World()
    world.fund("cus_a", 5000)
    world.fund("cus_g", 700, "JPY")
    legs = (
        Leg("partner:stripe:clearing", "debit", 1250, "USD"),
        Leg(tenants.wallet("cus_b"), "credit", 1250, "USD"),
    )
    op = Operation("txn_pay_1", "post", "stripe_payment.v1", EVENT, "stripe", "h1", world.clock(), legs=legs)
    assert transactions.execute(world.store, op, world.clock).status == "posted"
    body = b'{"id": "evt_pay_1", "type": "payment_intent.succeeded", "amount": 1250}'
    world.backend.operations().inbox.put_if_absent(
        InboxRecord(
            "stripe", "evt_pay_1", "payment_intent.succeeded", "accepted", None, body,
            {"Stripe-Signature": "t=1,v1=deadbeef", "Content-Type": "application/json", "X-Webhook-Secret": "s3"},
            NOW, None,
        )
    )  # fmt: skip
    return world


def test_an_operator_reads_any_tenants_wallet_with_balances_and_open_holds(w):
    hold = w.post("/v1/holds", {"from_account": "cus_a", "to_account": "cus_b", "amount": 300, "currency": "USD"})
    assert hold.status_code in (200, 201), hold.json
    a = w.get("/v1/operator/accounts/cus_a", key=w.operator)
    assert a.status_code == 200, a.json
    body = a.json
    assert (body["id"], body["customer"], body["tenant"], body["type"]) == (
        "customer:cus_a:wallet",
        "cus_a",
        "acme",
        "liability",
    )
    assert body["balances"] == [
        {"currency": "USD", "posted": 5000, "pending_in": 0, "pending_out": 300, "available": 4700}
    ]
    assert [h["id"] for h in body["open_holds"]] == [hold.json["id"]]
    other = w.get("/v1/operator/accounts/customer%3Acus_g%3Awallet", key=w.operator).json  # another tenant's
    assert (other["tenant"], other["balances"][0]["currency"], other["balances"][0]["posted"]) == ("globex", "JPY", 700)


def test_a_system_account_by_name_and_a_point_in_time_balance(w):
    clearing = w.get("/v1/operator/accounts/partner%3Astripe%3Aclearing", key=w.operator).json
    assert (clearing["type"], clearing["sharded"], clearing["balances"][0]["posted"]) == ("asset", True, 1250)
    before = (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    past = w.get(f"/v1/operator/accounts/cus_a?as_of={before}", key=w.operator).json
    assert past["as_of"] == before and past["balances"] == []


def test_unknown_accounts_are_404_and_bad_parameters_400(w):
    for name in ("cus_nobody", "customer%3Anobody%3Awallet", "nothing%3Alike%3Athis", "fees%3Aadyen", "a%2Fb"):
        r = w.get(f"/v1/operator/accounts/{name}", key=w.operator)
        assert r.status_code == 404, (name, r.json)
    assert w.get("/v1/operator/accounts/cus_a?as_of=yesterday", key=w.operator).json["error"]["param"] == "as_of"
    assert w.get("/v1/operator/accounts/cus_a?clock=wall", key=w.operator).status_code == 400
    bad = w.get("/v1/operator/accounts/cus_a/entries?starting_after=txn_pay_1:0", key=w.operator)
    assert (bad.status_code, bad.json["error"]["code"]) == (400, "invalid_cursor")


def test_customer_keys_cannot_read_operator_accounts(w):
    assert w.get("/v1/operator/accounts/cus_a").status_code == 403
    assert w.get("/v1/operator/transactions/txn_pay_1").status_code == 403


def test_entries_carry_running_balances_on_a_wallet_not_on_a_sharded_account(w):
    w.post("/v1/transfers", {"from_account": "cus_a", "to_account": "cus_b", "amount": 100, "currency": "USD"})
    w.post("/v1/transfers", {"from_account": "cus_a", "to_account": "cus_c", "amount": 200, "currency": "USD"})
    page = w.get("/v1/operator/accounts/cus_a/entries?limit=2", key=w.operator).json
    assert [e["posted_after"] for e in page["data"]] == [5000, 4900] and page["has_more"]
    rest = w.get(
        f"/v1/operator/accounts/cus_a/entries?starting_after={page['next_starting_after']}", key=w.operator
    ).json
    assert [e["posted_after"] for e in rest["data"]] == [4700] and not rest["has_more"]
    system = w.get("/v1/operator/accounts/partner%3Astripe%3Aclearing/entries", key=w.operator).json["data"]
    assert [(e["amount"], e["posted_after"]) for e in system] == [(1250, None)]


def test_a_transaction_with_all_its_entries_and_its_raw_event_without_secret_headers(w):
    r = w.get("/v1/operator/transactions/txn_pay_1", key=w.operator)
    assert r.status_code == 200, r.json
    t = r.json
    assert {e["account"] for e in t["entries"]} == {"partner:stripe:clearing", "customer:cus_b:wallet"}
    raw = t["raw_event"]
    assert (raw["partner"], raw["partner_event_id"], raw["type"]) == ("stripe", "evt_pay_1", "payment_intent.succeeded")
    assert raw["headers"] == {"Content-Type": "application/json"}
    assert '"amount": 1250' in raw["body"] and not raw["truncated"]
    assert "deadbeef" not in r.get_data(as_text=True) and "s3" not in raw["headers"].values()
    missing = w.get("/v1/operator/transactions/txn_nope", key=w.operator)
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "transaction_not_found")


def test_a_long_raw_body_is_cut_and_flagged(w):
    from shared.api import operator_accounts

    w.backend.operations().inbox.put_if_absent(
        InboxRecord("stripe", "evt_big", "x", "accepted", None, b"a" * (70 << 10), {}, NOW, None)
    )
    raw = operator_accounts.raw_event(w.backend, "stripe:evt_big")
    assert raw.truncated and len(raw.body) == 64 << 10 and raw.body_bytes == 70 << 10


def test_search_resolves_what_an_id_is(w):
    def kinds(q):
        r = w.get(f"/v1/operator/search?q={q}", key=w.operator)
        assert r.status_code == 200, r.json
        return [(h["kind"], h["id"]) for h in r.json["data"]]

    assert kinds("txn_pay_1") == [("transaction", "txn_pay_1")]
    assert kinds("cus_g") == [("customer", "cus_g")]
    assert kinds("suspense") == []  # no entries yet: nothing to show
    assert kinds("partner%3Astripe%3Aclearing") == [("account", "partner:stripe:clearing")]
    assert kinds("stripe%3Aevt_pay_1") == [("partner_event", "txn_pay_1")]
    assert w.get("/v1/operator/search?q=", key=w.operator).status_code == 400
    assert w.get("/v1/operator/search", key=w.operator).status_code == 400


def test_account_numbers_in_a_raw_body_are_masked_and_the_rest_kept():
    from shared.api.operator_accounts import mask_account_numbers

    body = '{"account_number": "000123456789", "account_number_id": "acno_1", "iban":"DE89370400440532013000", "x": 1}'
    masked = mask_account_numbers(body)
    assert masked == '{"account_number": "••••6789", "account_number_id": "acno_1", "iban":"••••3000", "x": 1}'


def test_a_payouts_ledger_transaction_links_to_the_payout():
    from shared.api import tenants
    from shared.domain.ledger.model import Leg, Operation
    from shared.ledger import transactions
    from tests.unit.test_api import World

    w = World()
    w.fund("cus_a", 5000)
    legs = (
        Leg(tenants.wallet("cus_a"), "debit", 1500, "USD"),
        Leg("partner:payouts_ach:clearing", "credit", 1500, "USD"),
    )
    op = Operation(
        "op_po", "post", "payout_capture.v1", "ledgerline:po_abc123:capture", "ledgerline", "h", w.clock(), legs=legs
    )
    result = transactions.execute(w.store, op, w.clock)
    got = w.get(f"/v1/operator/transactions/{result.transaction_id}", key=w.operator)
    assert got.status_code == 200, got.json
    assert {"kind": "payout", "id": "po_abc123"} in got.json["links"]
