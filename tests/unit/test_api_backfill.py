"""`ledgerline api-index backfill` (shared.api.backfill): transfers and holds made before their index
records existed are indexed from the journal, as the API would have indexed them (without the
transfer's description, which the journal never held), once; customers are re-written as they are."""

from shared.api.backfill import backfill
from shared.api.service import HOLD_INDEX, TRANSFER_INDEX
from tests.unit.test_api import World, transfer


def test_the_backfill_rebuilds_the_index_the_api_writes_and_is_idempotent():
    w = World()
    w.fund("cus_a", 5_000)
    t1 = w.post("/v1/transfers", transfer(100, description="rent")).json["id"]
    t2 = w.post("/v1/transfers", transfer(50, source="cus_b", to="cus_a")).json["id"]
    hold = w.post("/v1/holds", transfer(300)).json["id"]
    written = {kind: dict(w.store.data[kind]) for kind in (TRANSFER_INDEX, HOLD_INDEX)}
    listed = w.get("/v1/transfers?limit=10").json["data"]
    for kind in written:  # as a deployment from before the listings has them: no index at all
        w.store.data[kind].clear()
    assert w.get("/v1/transfers").json["data"] == []
    customers_before = dict(w.store.data["TenantCustomer"])

    counts = backfill(w.store)

    assert counts == {"customers": len(customers_before), "transfers": 2, "holds": 1, "payments": 0}
    assert w.store.data["TenantCustomer"] == customers_before  # re-written unchanged
    rebuilt = {kind: dict(w.store.data[kind]) for kind in written}
    assert set(rebuilt[TRANSFER_INDEX]) == {t1, t2} and set(rebuilt[HOLD_INDEX]) == {hold}
    assert rebuilt[TRANSFER_INDEX][t1] == {**written[TRANSFER_INDEX][t1], "description": None}
    assert rebuilt[TRANSFER_INDEX][t2] == written[TRANSFER_INDEX][t2]
    assert rebuilt[HOLD_INDEX] == written[HOLD_INDEX]
    assert [{**x, "description": None} for x in listed] == [
        {**x, "description": None} for x in w.get("/v1/transfers?limit=10").json["data"]
    ]
    assert backfill(w.store) == {"customers": len(customers_before), "transfers": 0, "holds": 0, "payments": 0}
