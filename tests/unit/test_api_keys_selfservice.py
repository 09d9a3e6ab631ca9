"""API keys, self-service (shared.api.apikeys) through the in-process API: an admin key creates,
lists, revokes and rotates its own tenant's keys; it can never grant a scope it lacks nor the operator
scope, never sees or touches another tenant's keys, a secret is shown once and never stored for a
replay, expiry and the rotation overlap are enforced, and every change is in the operator audit log."""

from datetime import timedelta

import pytest

from shared.api import keys, versions
from shared.operations.audit import ENTRY
from tests.unit.test_api import NOW
from tests.unit.test_api_webhooks import Api, conforms, error


@pytest.fixture
def w():
    world = Api()
    world.admin = keys.create_key(world.store, "acme", ["read", "write", "admin"], NOW, livemode=False)
    world.narrow_admin = keys.create_key(world.store, "acme", ["read", "admin"], NOW, livemode=False)
    return world


def audit(w) -> list[dict]:
    return [r for _, r in sorted(w.store.data.get(ENTRY, {}).items())]


def test_an_admin_key_creates_a_key_whose_secret_is_shown_once_and_works(w):
    made = w.post("/v1/api-keys", {"scopes": ["read"], "label": "reporting"}, key=w.admin)
    assert made.status_code == 201, made.json
    conforms(made, "/v1/api-keys", "post")
    assert made.headers["Cache-Control"] == "no-store"
    body = made.json
    assert (body["scopes"], body["label"], body["status"], body["api_version"]) == (
        ["read"], "reporting", "active", versions.LATEST
    )  # fmt: skip
    secret = body["secret"]
    assert w.get("/v1/accounts/cus_a", key=secret).status_code == 200
    assert error(w.post("/v1/transfers", {}, key=secret))[0] == 403  # read only, as granted
    listed = w.get("/v1/api-keys", key=w.admin)
    conforms(listed, "/v1/api-keys", "get")
    assert body["id"] in {k["id"] for k in listed.json["data"]} and secret not in listed.text
    # never stored for a replay: no idempotency record holds it, and nothing in the store does
    assert secret not in repr(w.store.data)
    entry = audit(w)[-1]
    assert entry["action"] == "api_key_change" and entry["target"] == body["id"] and secret not in repr(entry)
    assert entry["actor"] == f"api-key:{w.admin.split('_')[2]}"


def test_a_key_cannot_grant_more_than_it_holds_nor_operator_nor_without_admin(w):
    assert error(w.post("/v1/api-keys", {"scopes": ["write"]}, key=w.narrow_admin)) == (
        403, "scope_not_grantable", "scopes"
    )  # fmt: skip
    assert error(w.post("/v1/api-keys", {"scopes": ["operator"]}, key=w.admin))[0] == 400  # not a grantable name
    assert error(w.post("/v1/api-keys", {"scopes": ["read"]}))[:2] == (403, "insufficient_scope")  # no admin
    assert error(w.get("/v1/api-keys"))[:2] == (403, "insufficient_scope")
    assert len(keys.list_keys(w.store, "acme")) == 4  # nothing was made


def test_another_tenants_keys_are_out_of_reach(w):
    globex_id = w.globex.split("_")[2]
    assert error(w.post(f"/v1/api-keys/{globex_id}/revoke", {}, key=w.admin)) == (404, "api_key_not_found", "id")
    assert error(w.post(f"/v1/api-keys/{globex_id}/rotate", {}, key=w.admin)) == (404, "api_key_not_found", "id")
    assert globex_id not in {k["id"] for k in w.get("/v1/api-keys", key=w.admin).json["data"]}
    assert w.get("/v1/accounts/cus_g", key=w.globex).status_code == 200  # untouched


def test_revoke_is_immediate_and_twice_answers_the_revoked_key(w):
    target = w.key.split("_")[2]
    first = w.post(f"/v1/api-keys/{target}/revoke", {}, key=w.admin)
    assert first.status_code == 200 and first.json["status"] == "revoked"
    assert error(w.get("/v1/accounts/cus_a"))[:2] == (401, "invalid_api_key")
    again = w.post(f"/v1/api-keys/{target}/revoke", {}, key=w.admin)
    assert again.status_code == 200 and again.json["revoked_at"] == first.json["revoked_at"]
    assert [e["target"] for e in audit(w)].count(target) == 1  # one change, one audit entry


def test_rotation_overlaps_then_the_old_key_stops(w):
    old = w.key.split("_")[2]
    rotated = w.post(f"/v1/api-keys/{old}/rotate", {"overlap_seconds": 3600}, key=w.admin)
    assert rotated.status_code == 201, rotated.json
    new = rotated.json
    assert new["scopes"] == ["read", "write"] and new["id"] != old
    assert w.get("/v1/accounts/cus_a").status_code == 200  # the old key, within the overlap
    assert w.get("/v1/accounts/cus_a", key=new["secret"]).status_code == 200
    w.clock.now += timedelta(seconds=3601)
    assert error(w.get("/v1/accounts/cus_a"))[:2] == (401, "invalid_api_key")
    assert w.get("/v1/accounts/cus_a", key=new["secret"]).status_code == 200
    statuses = {k["id"]: k["status"] for k in w.get("/v1/api-keys", key=w.admin).json["data"]}
    assert statuses[old] == "expired" and statuses[new["id"]] == "active"
    assert error(w.post(f"/v1/api-keys/{old}/rotate", {}, key=w.admin))[:2] == (409, "api_key_inactive")


def test_expiry_is_bounded_and_enforced(w):
    too_far = (NOW + timedelta(days=800)).isoformat()
    assert error(w.post("/v1/api-keys", {"scopes": ["read"], "expires_at": too_far}, key=w.admin)) == (
        400, "parameter_invalid", "expires_at"
    )  # fmt: skip
    soon = (w.clock.now + timedelta(minutes=5)).isoformat()
    made = w.post("/v1/api-keys", {"scopes": ["read"], "expires_at": soon}, key=w.admin).json
    assert w.get("/v1/accounts/cus_a", key=made["secret"]).status_code == 200
    w.clock.now += timedelta(minutes=6)
    assert error(w.get("/v1/accounts/cus_a", key=made["secret"]))[:2] == (401, "invalid_api_key")
    bad_version = w.post("/v1/api-keys", {"scopes": ["read"], "api_version": "2020-01-01"}, key=w.admin)
    assert error(bad_version) == (400, "api_version_invalid", "api_version")


def test_a_temporary_key_cannot_make_or_rotate_into_a_permanent_one(w):
    soon = (w.clock.now + timedelta(hours=1)).isoformat()
    temp = w.post("/v1/api-keys", {"scopes": ["read", "admin"], "expires_at": soon}, key=w.admin).json
    ends = temp["expires_at"]
    child = w.post("/v1/api-keys", {"scopes": ["read"]}, key=temp["secret"]).json
    assert child["expires_at"] == ends  # the maker's expiry by default
    later = (w.clock.now + timedelta(hours=2)).isoformat()
    assert error(w.post("/v1/api-keys", {"scopes": ["read"], "expires_at": later}, key=temp["secret"])) == (
        400, "parameter_invalid", "expires_at"
    )  # fmt: skip
    successor = w.post(f"/v1/api-keys/{temp['id']}/rotate", {"overlap_seconds": 300}, key=temp["secret"]).json
    assert successor["expires_at"] == ends  # the successor keeps the old key's expiry


def test_a_narrower_admin_key_cannot_revoke_a_stronger_one_but_any_key_can_revoke_itself(w):
    strong = w.admin.split("_")[2]
    assert error(w.post(f"/v1/api-keys/{strong}/revoke", {}, key=w.narrow_admin)) == (403, "scope_not_grantable", "id")
    assert w.get("/v1/api-keys", key=w.admin).status_code == 200
    narrow = w.narrow_admin.split("_")[2]
    assert w.post(f"/v1/api-keys/{narrow}/revoke", {}, key=w.narrow_admin).json["status"] == "revoked"


def test_a_key_revoked_during_its_rotation_gets_no_successor(w, monkeypatch):
    target = w.key.split("_")[2]
    original = w.store.transact

    def revoked_first(work):  # the owner's revoke commits between the rotation's check and its write
        record = w.store.get("ApiKey", target)
        w.store.data["ApiKey"][target] = {**record, "revoked_at": w.clock.now}
        monkeypatch.setattr(w.store, "transact", original)
        return original(work)

    monkeypatch.setattr(w.store, "transact", revoked_first)
    before = len(keys.list_keys(w.store, "acme"))
    assert error(w.post(f"/v1/api-keys/{target}/rotate", {}, key=w.admin))[:2] == (409, "api_key_inactive")
    assert len(keys.list_keys(w.store, "acme")) == before
    assert w.store.get("ApiKey", target)["expires_at"] is None  # the revoked record untouched


def test_a_rotation_overlaps_at_least_five_minutes(w):
    target = w.key.split("_")[2]
    assert w.post(f"/v1/api-keys/{target}/rotate", {"overlap_seconds": 0}, key=w.admin).status_code == 400
    assert w.post(f"/v1/api-keys/{target}/rotate", {"overlap_seconds": 300}, key=w.admin).status_code == 201
    again = w.post(f"/v1/api-keys/{target}/rotate", {"overlap_seconds": 300}, key=w.admin)
    assert again.status_code == 201  # the answer was lost? the old key still rotates within the overlap
