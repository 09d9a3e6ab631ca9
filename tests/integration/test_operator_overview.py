"""The operator overview against the real emulators (issue 22): partner events posted through intake, then
GET /v1/operator/balances per currency — customer liabilities, derived from the system accounts alone,
equal the wallets' direct sum read from Datastore — and today's volume counts them."""

import uuid
from collections import defaultdict

from shared.adapters import datastore_store
from shared.demo import Delivery, send

from .conftest import cli, posted
from .test_api import Tenant


def _wallets(db) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for shard in datastore_store.DatastoreLedger(db).account_shards():
        if shard.account.startswith("customer:"):
            out[shard.currency] += shard.balance().posted
    return dict(out)


def test_balances_volume_and_health_over_real_postings(cfg, db, intake, secret, payment):
    cli("tenants", "create", "internal")
    operator = Tenant(
        cfg.function_urls["api"], "internal", [], scopes="operator", operator=f"ov-{uuid.uuid4().hex[:6]}@ops.test"
    )
    before = operator.get("/v1/operator/volume", params={"days": 1}).json()["series"][-1]["partners"]
    counted = {(p["partner"], p["currency"]): (p["count"], p["gross"]) for p in before}

    events = [
        payment(amount=123_456, currency="usd"),
        payment(amount=2_000, currency="usd"),
        payment(amount=5_000, currency="eur"),
    ]
    for paid in events:
        assert send(intake, Delivery("overview", paid["body"], secret, 200, "accepted")).status_code == 200
    for paid in events:
        posted(db, paid["key"])

    resp = operator.get("/v1/operator/balances")
    assert resp.status_code == 200, resp.text
    books = {c["currency"]: c for c in resp.json()["currencies"]}
    assert {"USD", "EUR"} <= set(books)
    wallets = _wallets(db)
    assert {c: b["customer_liabilities"] for c, b in books.items()} == {c: wallets.get(c, 0) for c in books}
    assert all(not a["account"].startswith("customer:") for b in books.values() for a in b["accounts"])
    assert any(a["account"] == "partner:stripe:clearing" for a in books["USD"]["accounts"])

    today = operator.get("/v1/operator/volume", params={"days": 1}).json()
    now = {(p["partner"], p["currency"]): (p["count"], p["gross"]) for p in today["series"][-1]["partners"]}
    usd0, eur0 = counted.get(("stripe", "USD"), (0, 0)), counted.get(("stripe", "EUR"), (0, 0))
    assert now[("stripe", "USD")] == (usd0[0] + 2, usd0[1] + 125_456)
    assert now[("stripe", "EUR")] == (eur0[0] + 1, eur0[1] + 5_000)
    assert today["source"] == "datastore" and not today["truncated"]

    health = operator.get("/v1/operator/health", params={"days": 2})
    assert health.status_code == 200, health.text
    assert {r["severity"] for r in health.json()["break_ageing"]} == {"low", "medium", "high", "critical"}
    assert operator.get("/v1/operator/volume", params={"days": 0}).status_code == 400
