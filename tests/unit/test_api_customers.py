"""Customers self-service (shared.api.customers) through the in-process API: create with your id or one
made up (the same one on a retry with the same Idempotency-Key), read, list newest first with cursors
and a metadata filter, merge metadata; another tenant's customer is 404 and its id is taken; every
answer conforms to docs/openapi.yaml."""

import pytest

from shared.api import tenants
from tests.unit.test_api import World, transfer
from tests.unit.test_api_webhooks import Api, conforms, error


@pytest.fixture
def w():
    return Api()


def test_a_customer_is_created_read_updated_and_gets_a_wallet_on_first_use(w):
    made = w.post("/v1/customers", {"id": "cus_new", "metadata": {"plan": "gold", "ref": "42"}})
    assert made.status_code == 201, made.json
    conforms(made, "/v1/customers", "post")
    assert made.json == {"object": "customer", "id": "cus_new", "created": made.json["created"],
                         "metadata": {"plan": "gold", "ref": "42"}}  # fmt: skip
    got = w.get("/v1/customers/cus_new")
    assert got.status_code == 200 and got.json == made.json
    conforms(got, "/v1/customers/{id}", "get")
    patched = w.patch("/v1/customers/cus_new", {"metadata": {"plan": "platinum", "ref": "", "tier": "2"}})
    assert patched.status_code == 200 and patched.json["metadata"] == {"plan": "platinum", "tier": "2"}
    conforms(patched, "/v1/customers/{id}", "patch")
    # the new customer is the tenant's like any other: its wallet takes money on first use
    w.fund("cus_a", 500)
    moved = w.post("/v1/transfers", transfer(200, to="cus_new"))
    assert moved.status_code == 200 and w.available("cus_new") == 200


def test_an_id_is_made_up_when_absent_and_a_retry_gets_the_same_customer(w):
    first = w.post("/v1/customers", {}, idem="make-1")
    again = w.post("/v1/customers", {}, idem="make-1")
    other = w.post("/v1/customers", {}, idem="make-2")
    assert first.status_code == again.status_code == other.status_code == 201
    assert first.json["id"] == again.json["id"] != other.json["id"]
    assert first.json["id"].startswith("cus_") and again.headers.get("Idempotent-Replayed") == "true"
    assert tenants.customers(w.store, "acme").count(first.json["id"]) == 1


def test_ids_are_one_namespace_and_another_tenants_customer_is_not_found(w):
    assert error(w.post("/v1/customers", {"id": "cus_a"})) == (409, "customer_exists", "id")  # acme's own
    assert error(w.post("/v1/customers", {"id": "cus_g"})) == (409, "customer_exists", "id")  # globex's
    assert error(w.get("/v1/customers/cus_g")) == (404, "customer_not_found", "id")
    assert error(w.get("/v1/customers/cus_nobody")) == (404, "customer_not_found", "id")
    assert error(w.patch("/v1/customers/cus_g", {"metadata": {"x": "1"}})) == (404, "customer_not_found", "id")
    assert w.store.get("TenantCustomer", "cus_g").get("metadata") in (None, {})  # untouched
    listed = w.get("/v1/customers?limit=100", key=w.globex).json["data"]
    assert {c["id"] for c in listed} == {"cus_g"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"id": "has space"}, "id"),
        ({"id": ""}, "id"),
        ({"metadata": {"k" * 41: "v"}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_bodies_are_400_with_their_field_and_change_nothing(w, body, param):
    before = tenants.customers(w.store, "acme")
    resp = w.post("/v1/customers", body)
    assert resp.status_code == 400 and resp.json["error"]["param"].startswith(param), resp.json
    assert tenants.customers(w.store, "acme") == before


def test_metadata_merges_within_its_bound(w):
    w.post("/v1/customers", {"id": "cus_m", "metadata": {f"k{i}": "v" for i in range(20)}})
    assert error(w.patch("/v1/customers/cus_m", {"metadata": {"k20": "v"}})) == (400, "metadata_too_large", "metadata")
    assert w.patch("/v1/customers/cus_m", {"metadata": {"k0": "", "k20": "v"}}).status_code == 200


def test_the_list_pages_newest_first_and_filters_on_metadata(w):
    made = []  # the clock ticks on every read: each customer is added later than the one before
    for i in range(7):
        plan = "gold" if i % 2 == 0 else "free"
        made.append(w.post("/v1/customers", {"id": f"cus_l{i}", "metadata": {"plan": plan}}).json["id"])
    seen, cursor = [], None
    while True:
        page = w.get("/v1/customers?limit=3" + (f"&starting_after={cursor}" if cursor else ""))
        assert page.status_code == 200
        conforms(page, "/v1/customers", "get")
        seen += [c["id"] for c in page.json["data"]]
        if not page.json["has_more"]:
            break
        cursor = seen[-1]
    ours = [c for c in seen if c.startswith("cus_l")]
    assert ours == list(reversed(made))  # newest first, each once
    gold = w.get("/v1/customers?limit=2&metadata=plan:gold").json
    assert [c["id"] for c in gold["data"]] == ["cus_l6", "cus_l4"] and gold["has_more"] is True
    assert error(w.get("/v1/customers?metadata=nocolon")) == (400, "parameter_invalid", "metadata")
    assert error(w.get("/v1/customers?starting_after=cus_g")) == (400, "invalid_cursor", "starting_after")


def test_scopes(w):
    assert error(w.post("/v1/customers", {}, key=w.read_only))[0] == 403
    assert w.get("/v1/customers", key=w.read_only).status_code == 200


def test_world_has_the_customers_these_tests_assume():
    world = World()
    assert set(tenants.customers(world.store, "globex")) == {"cus_g"}


def test_a_filtered_page_reads_a_bounded_number_of_rows_and_says_where_to_go_on(w, monkeypatch):
    from shared.api import customers

    monkeypatch.setattr(customers, "MAX_SCANNED", 3)
    for i in range(7):
        w.post("/v1/customers", {"id": f"cus_r{i}", "metadata": {"rare": "yes" if i == 0 else "no"}})
    found, cursor, pages = [], None, 0
    while True:
        page = w.get("/v1/customers?limit=5&metadata=rare:yes" + (f"&starting_after={cursor}" if cursor else "")).json
        pages += 1
        found += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_starting_after"]
        assert cursor is not None
    assert found == ["cus_r0"] and pages >= 3  # cus_r0 is the oldest: reached three rows at a time
