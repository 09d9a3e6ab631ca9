"""Dated API versions (shared.api.versions): the Idempotency-Key rule of 2026-12-02 reaches a key only
when it is pinned to that version or asks for it; a retried POST with the same key moves money once;
every answer names its version; the registry, the routes, the OpenAPI document and docs/api.md agree."""

import re

import pytest

from shared.api import keys, versions
from shared.api.openapi import document
from shared.api.routes import ROUTES
from shared.config import REPO_ROOT
from tests.unit.test_api import NOW, World, transfer

MONEY_POSTS = {"/v1/transfers", "/v1/holds", "/v1/holds/<id>/capture", "/v1/holds/<id>/void"}


@pytest.fixture
def w():
    world = World()
    world.fund("cus_a", 10_000)
    return world


def test_new_keys_are_pinned_to_the_newest_version_and_need_an_idempotency_key_to_move_money(w):
    assert w.store.get("ApiKey", w.key.split("_")[2])["api_version"] == versions.LATEST
    before = w.store.snapshot(tuple(w.store.data))
    missing = w.post("/v1/transfers", transfer(100), idem=None)
    assert missing.status_code == 400, missing.json
    assert (missing.json["error"]["code"], missing.json["error"]["param"]) == (
        "idempotency_key_missing",
        "Idempotency-Key",
    )
    assert missing.headers[versions.HEADER] == versions.LATEST
    assert {k: v for k, v in w.store.snapshot(tuple(w.store.data)).items() if k != "RateLimit"} == {
        k: v for k, v in before.items() if k != "RateLimit"
    }
    hold = w.post("/v1/holds", transfer(100), idem=None)
    assert hold.json["error"]["code"] == "idempotency_key_missing"


def test_two_posts_with_the_same_key_move_money_once(w):
    first = w.post("/v1/transfers", transfer(100), idem="pay-rent")
    again = w.post("/v1/transfers", transfer(100), idem="pay-rent")
    assert first.status_code == again.status_code == 200 and first.json["id"] == again.json["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert w.available("cus_a") == 9_900 and w.available("cus_b") == 100


def legacy_key(w: World) -> str:
    """A key made before versions existed: its record has no api_version."""
    key = keys.create_key(w.store, "acme", ["read", "write"], NOW, livemode=False)
    key_id = key.split("_")[2]
    record = dict(w.store.get("ApiKey", key_id))
    del record["api_version"]
    w.store.data["ApiKey"][key_id] = record
    return key


def test_an_older_integration_keeps_its_contract_until_it_opts_in(w):
    for key in (
        legacy_key(w),
        keys.create_key(w.store, "acme", ["write"], NOW, livemode=False, api_version="2026-11-01"),
    ):
        old = w.post("/v1/transfers", transfer(100), key=key, idem=None)
        assert old.status_code == 200 and old.headers[versions.HEADER] == versions.FIRST, old.json
        # the same request asking for the newest version gets the newest rule
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            versions.HEADER: versions.LATEST,
        }
        new = w.client.post("/v1/transfers", json=transfer(100), headers=headers)
        assert new.status_code == 400 and new.json["error"]["code"] == "idempotency_key_missing"
        assert new.headers[versions.HEADER] == versions.LATEST
    assert w.available("cus_a") == 9_800  # only the two old-contract transfers moved money


def test_a_pinned_key_may_ask_for_an_older_version_and_an_unknown_one_is_refused(w):
    headers = {"Authorization": f"Bearer {w.key}", "Content-Type": "application/json"}
    older = w.client.post("/v1/transfers", json=transfer(50), headers={**headers, versions.HEADER: versions.FIRST})
    assert older.status_code == 200 and older.headers[versions.HEADER] == versions.FIRST
    for bad in ("2026-12-03", "latest", "", "2026-13-01"):
        refused = w.client.get("/v1/accounts/cus_a", headers={**headers, versions.HEADER: bad})
        assert refused.status_code == 400, bad
        assert (refused.json["error"]["code"], refused.json["error"]["param"]) == (
            "api_version_invalid",
            versions.HEADER,
        )
    read = w.get("/v1/accounts/cus_a")
    assert read.status_code == 200 and read.headers[versions.HEADER] == versions.LATEST


def test_a_key_cannot_be_pinned_to_a_version_that_does_not_exist(w):
    with pytest.raises(ValueError, match="API versions are"):
        keys.create_key(w.store, "acme", ["read"], NOW, livemode=False, api_version="2027-01-01")
    assert {k["api_version"] for k in keys.list_keys(w.store, "acme")} == {versions.LATEST}


def test_the_registry_the_routes_the_contract_and_the_docs_agree():
    names = list(versions.NAMES)
    assert names == sorted(set(names)) and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", n) for n in names)
    assert all(v.changes for v in versions.VERSIONS)
    named = {r.idempotency_required_from for r in ROUTES if r.idempotency_required_from}
    assert named <= set(names)
    money = {r.path for r in ROUTES if r.method == "POST" and r.idempotency_required_from}
    assert money == MONEY_POSTS
    # every POST that moves money requires a key under the newest version
    spec = document()
    for path in MONEY_POSTS | {"/v1/payouts", "/v1/payments", "/v1/payments/<id>/refunds"}:
        openapi = re.sub(r"<(\w+)>", r"{\1}", path)
        params = {p["name"]: p for p in spec["paths"][openapi]["post"]["parameters"]}
        assert params["Idempotency-Key"]["required"] is True, path
        assert params[versions.HEADER]["schema"]["enum"] == names
    docs = (REPO_ROOT / "docs" / "api.md").read_text()
    section = docs.partition("## Versions")[2]
    assert section, "docs/api.md has no Versions section"
    for name in names:
        assert f"`{name}`" in section, name
