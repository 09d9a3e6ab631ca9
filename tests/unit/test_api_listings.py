"""GET /v1/transfers, /v1/transfers/{id} and /v1/holds through the in-process API: what the API made,
newest first with cursors, per customer, holds by their status now (an open hold past its expiry is
expired), never another tenant's; the index record is written in the posting's own transaction (a
rejected transfer is not listed, a replay is listed once)."""

from datetime import timedelta

import pytest

from tests.unit.test_api import transfer
from tests.unit.test_api_webhooks import Api, conforms, error


@pytest.fixture
def w():
    world = Api()
    world.fund("cus_a", 10_000)
    return world


def ids(resp) -> list[str]:
    return [x["id"] for x in resp.json["data"]]


def test_transfers_are_listed_newest_first_by_cursor_and_per_customer(w):
    made = [w.post("/v1/transfers", transfer(100 + i, to="cus_b" if i % 2 else "cus_c")).json["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = w.get("/v1/transfers?limit=2" + (f"&starting_after={cursor}" if cursor else ""))
        assert page.status_code == 200, page.json
        conforms(page, "/v1/transfers", "get")
        seen += ids(page)
        if not page.json["has_more"]:
            break
        cursor = seen[-1]
    assert seen == list(reversed(made))
    to_b = w.get("/v1/transfers?customer=cus_b&limit=10")
    assert ids(to_b) == [made[3], made[1]]
    one = w.get(f"/v1/transfers/{made[0]}")
    assert one.status_code == 200 and one.json["amount"] == 100 and one.json["to_account"] == "cus_c"
    conforms(one, "/v1/transfers/{id}", "get")
    listed = w.get("/v1/transfers?limit=1").json["data"][0]
    assert listed == w.get(f"/v1/transfers/{listed['id']}").json  # the list shows what the read shows


def test_a_replay_is_listed_once_and_a_rejected_transfer_never(w):
    first = w.post("/v1/transfers", transfer(300), idem="once")
    w.post("/v1/transfers", transfer(300), idem="once")
    refused = w.post("/v1/transfers", transfer(1_000_000))
    assert refused.status_code == 422
    assert ids(w.get("/v1/transfers?limit=100")) == [first.json["id"]]


def test_another_tenant_sees_none_of_it(w):
    made = w.post("/v1/transfers", transfer(100)).json["id"]
    hold = w.post("/v1/holds", transfer(100)).json["id"]
    assert w.get("/v1/transfers", key=w.globex).json["data"] == []
    assert w.get("/v1/holds", key=w.globex).json["data"] == []
    assert error(w.get(f"/v1/transfers/{made}", key=w.globex)) == (404, "transfer_not_found", "id")
    assert error(w.get("/v1/transfers?customer=cus_a", key=w.globex)) == (404, "account_not_found", "customer")
    assert error(w.get(f"/v1/holds?starting_after={hold}", key=w.globex)) == (400, "invalid_cursor", "starting_after")


def test_holds_are_listed_by_their_status_now(w):
    open_ = w.post("/v1/holds", transfer(100)).json["id"]
    captured = w.post("/v1/holds", transfer(200)).json["id"]
    voided = w.post("/v1/holds", transfer(300)).json["id"]
    short = w.post("/v1/holds", {**transfer(400), "expires_in": 60}).json["id"]
    assert w.post(f"/v1/holds/{captured}/capture", {}).status_code == 200
    assert w.post(f"/v1/holds/{voided}/void", {}).status_code == 200
    everything = w.get("/v1/holds?limit=10")
    conforms(everything, "/v1/holds", "get")
    assert ids(everything) == [short, voided, captured, open_]
    assert ids(w.get("/v1/holds?status=open")) == [short, open_]
    w.clock.now += timedelta(seconds=61)
    assert ids(w.get("/v1/holds?status=open")) == [open_]
    assert ids(w.get("/v1/holds?status=expired")) == [short]
    assert ids(w.get("/v1/holds?status=captured")) == [captured]
    assert ids(w.get("/v1/holds?status=voided&customer=cus_b")) == [voided]
    assert error(w.get("/v1/holds?status=pending"))[:2] == (400, "parameter_invalid")
