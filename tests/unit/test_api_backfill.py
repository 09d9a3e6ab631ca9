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


def test_the_inbox_backfill_pages_parses_a_batch_body_once_and_does_not_look_at_an_event_twice(monkeypatch):
    """An Adyen batch's stored-only items share one raw body: parsed once, not once per item; events found
    about nothing of ours are marked so and a second run looks at none of them again."""
    from datetime import UTC, datetime

    from shared.adapters.memory_inbox import MemoryInbox
    from shared.api import backfill as module
    from shared.config import settings_from
    from shared.demo import encode
    from shared.intake.inbox import InboxRecord
    from shared.partners import adyen, plugin
    from tests.factories import adyen_item, adyen_notification

    key = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
    cfg = settings_from({"LEDGERLINE_ENV": "local", "ADYEN_HMAC_KEYS": key, "ADYEN_BASIC_AUTH": "u:p"})
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    body = encode(adyen_notification(*(adyen_item("REPORT_AVAILABLE", f"R{n}", 0, "EUR", key) for n in range(3))))
    inbox = MemoryInbox()
    for item in adyen.parse(body, at, cfg):
        assert item.canonical is None  # stored, not posted: only its body says what it is about
        inbox.put_if_absent(
            InboxRecord(
                "adyen", item.partner_event_id, item.partner_event_type, "ignored", item.reason, body, {}, at, None
            )
        )
        inbox.legacy.add(f"adyen:{item.partner_event_id}")
    calls = []

    class Counting:
        def parse(self, *args, **kwargs):
            calls.append(1)
            return plugin("adyen").parse(*args, **kwargs)

    monkeypatch.setattr(module, "plugin", lambda partner: Counting())
    monkeypatch.setattr(module, "PAGE", 2)  # three events: two pages

    assert module.backfill_inbox(inbox, cfg) == {"inbox_events": 3, "inbox_referenced": 0, "inbox_unreadable": 0}
    assert len(calls) == 1 and inbox.legacy == set()
    assert module.backfill_inbox(inbox, cfg) == {"inbox_events": 0, "inbox_referenced": 0, "inbox_unreadable": 0}
    assert len(calls) == 1
