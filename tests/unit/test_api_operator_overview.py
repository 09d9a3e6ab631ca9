"""Operator overview (shared.api.operator_overview) on the memory backend through the real router: the
books per currency (customer liabilities derived from the system accounts, checked against a direct sum
of the wallets), partner volume by UTC day, break ageing, webhook delivery and payout health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from shared.api import operator_overview as ov
from shared.api import tenants
from shared.domain.ledger.model import Leg, Operation
from shared.domain.payments.payouts import PayoutEvent
from shared.ledger import balances as ledger_balances
from shared.ledger import transactions
from shared.payments import janitor
from tests.unit.test_api import NOW, World
from tests.unit.test_api_payments import Started, payout


def partner_event(w: World, name: str, partner: str, customer: str, amount: int, fee: int, currency: str, at=None):
    if at is not None:
        w.clock.now = at - timedelta(milliseconds=1)
    legs = (
        Leg(f"partner:{partner}:clearing", "debit", amount - fee, currency),
        *((Leg(f"fees:{partner}", "debit", fee, currency),) if fee else ()),
        Leg(tenants.wallet(customer), "credit", amount, currency),
    )
    op = Operation(name, "post", "payin.v1", name, partner, name, w.clock(), legs=legs)
    assert transactions.execute(w.store, op, w.clock).status == "posted"


def wallets_total(w: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in ledger_balances.all_balances(w.store):
        if b.account.startswith("customer:"):
            out[b.currency] = out.get(b.currency, 0) + b.posted
    return out


@pytest.fixture
def w():
    world = World()
    partner_event(world, "p1", "stripe", "cus_a", 10_000, 290, "USD")
    partner_event(world, "p2", "adyen", "cus_b", 5_000, 100, "EUR")
    partner_event(world, "p3", "stripe", "cus_g", 1_234, 34, "USD")
    partner_event(world, "p4", "adyen", "cus_a", 900, 0, "JPY")
    world.fund("cus_c", 777, "USD")  # a bank-funded wallet: not a partner event
    world.post("/v1/transfers", {"from_account": "cus_a", "to_account": "cus_b", "amount": 500, "currency": "USD"})
    return world


def test_liabilities_from_the_system_accounts_equal_the_wallets_direct_sum(w):
    resp = w.get("/v1/operator/balances", key=w.operator)
    assert resp.status_code == 200, resp.json
    books = {c["currency"]: c for c in resp.json["currencies"]}
    assert {c: books[c]["customer_liabilities"] for c in books} == wallets_total(w)
    assert books["USD"]["customer_liabilities"] == 10_000 + 1_234 + 777
    usd = {a["account"]: a["posted"] for a in books["USD"]["accounts"]}
    assert usd == {"bank:test:operating": 777, "fees:stripe": 324, "partner:stripe:clearing": 10_910}
    assert not any(a["account"].startswith("customer:") for c in books.values() for a in c["accounts"])
    assert books["JPY"]["customer_liabilities"] == 900 and books["EUR"]["customer_liabilities_pending"] == 0
    assert all(isinstance(a["posted"], int) for c in books.values() for a in c["accounts"])


def test_the_overview_is_for_operators_only(w):
    assert w.get("/v1/operator/balances").status_code == 403
    assert w.get("/v1/operator/volume").status_code == 403
    assert w.get("/v1/operator/health").status_code == 403


@pytest.mark.parametrize("days", ["0", "91", "-1", "x", "1.5"])
def test_bad_days_are_400(w, days):
    for path in ("/v1/operator/volume", "/v1/operator/health"):
        resp = w.get(f"{path}?days={days}", key=w.operator)
        assert resp.status_code == 400, resp.json
        assert resp.json["error"]["param"] == "days"
    assert w.get("/v1/operator/volume?since=1", key=w.operator).status_code == 400


def test_volume_counts_partner_events_per_day_partner_and_currency(w):
    body = w.get("/v1/operator/volume?days=3", key=w.operator).json
    assert (body["days"], body["source"], body["truncated"]) == (3, "datastore", False)
    assert [d["date"] for d in body["series"]] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    today = body["series"][-1]
    assert {(p["partner"], p["currency"]): (p["count"], p["gross"]) for p in today["partners"]} == {
        ("adyen", "EUR"): (1, 5_000),
        ("adyen", "JPY"): (1, 900),
        ("stripe", "USD"): (2, 11_234),
    }
    assert {t["currency"]: (t["count"], t["gross"]) for t in today["totals"]} == {
        "EUR": (1, 5_000), "JPY": (1, 900), "USD": (2, 11_234),
    }  # fmt: skip
    assert len(w.get("/v1/operator/volume", key=w.operator).json["series"]) == ov.DEFAULT_DAYS


def test_day_buckets_split_at_utc_midnight():
    midnight = datetime(2026, 11, 28, tzinfo=UTC)

    def txn(at, partner="stripe", kind="post"):
        entry = SimpleNamespace(direction="debit", phase="posted", currency="USD", amount=100)
        return SimpleNamespace(kind=kind, partner=partner, recorded_at=at, entries=(entry,))

    days = ov.window(midnight + timedelta(hours=5), 2)
    assert days == [date(2026, 11, 27), date(2026, 11, 28)]
    series = ov.bucket_volume(
        [
            txn(midnight - timedelta(microseconds=1)),
            txn(midnight),
            txn(midnight + timedelta(hours=1), partner="api"),  # not a partner event
            txn(midnight + timedelta(hours=1), kind="hold"),
            txn(midnight - timedelta(days=2)),  # outside the window
        ],
        days,
    )
    assert [[(p.partner, p.count, p.gross) for p in d.partners] for d in series] == [
        [("stripe", 1, 100)],
        [("stripe", 1, 100)],
    ]


@pytest.mark.parametrize(
    ("age", "bucket"),
    [(0, "lt_1d"), (1, "d1_3"), (2, "d1_3"), (3, "d3_7"), (6, "d3_7"), (7, "d7_30"), (29, "d7_30"), (30, "gt_30d"),
     (400, "gt_30d"), (-1, "lt_1d")],
)  # fmt: skip
def test_age_bucket_boundaries(age, bucket):
    assert ov.age_bucket(age) == bucket


def test_health_ages_open_breaks_counts_deliveries_and_stuck_payouts(w):
    today = NOW.date()
    for i, (age, severity, status) in enumerate(
        ((0, "high", "open"), (3, "high", "open"), (30, "critical", "open"), (45, "low", "closed"), (7, "low", "open"))
    ):
        opened = (today - timedelta(days=age)).isoformat()
        w.store.record("ReconBreak", f"brk_{i}", {"status": status, "severity": severity, "opened_on": opened})
    for i, (hours, code) in enumerate(((1, 200), (2, 500), (3, None), (30, 204))):
        w.store.record("WebhookAttempt", f"dlv_{i}#1", {"endpoint": "we_1", "at": NOW - timedelta(hours=hours),
                                                         "status_code": code})  # fmt: skip
    # payouts through the API: unknown at a partner, quiet, changed lately, canceled (final)
    w.backend.start = Started()
    w.fund("cus_a", 1_000_000)
    unknown, quiet, fresh, canceled = (w.post("/v1/payouts", payout(source="cus_a")).json["id"] for _ in range(4))
    payouts = w.backend.payouts()
    payouts.apply(unknown, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    payouts.apply(unknown, PayoutEvent("unknown", w.clock(), attempt=1, reason="timeout"))
    payouts.cancel(canceled)
    w.clock.now += janitor.STALE_AFTER
    payouts.apply(fresh, PayoutEvent("submit", w.clock(), attempt=1, partner="bank_a"))
    body = w.get("/v1/operator/health?days=2", key=w.operator).json
    rows = {r["severity"]: r for r in body["break_ageing"]}
    assert (rows["high"]["lt_1d"], rows["high"]["d3_7"], rows["critical"]["gt_30d"], rows["low"]["d7_30"]) == (
        1,
        1,
        1,
        1,
    )
    assert sum(v for r in body["break_ageing"] for k, v in r.items() if k != "severity") == 4
    hooks = body["webhooks"]
    assert (hooks["last_24h_attempts"], hooks["last_24h_succeeded"]) == (3, 1)
    assert [(d["date"], d["attempts"], d["succeeded"]) for d in hooks["days"]] == [
        ("2026-11-27", 1, 1),
        ("2026-11-28", 3, 1),
    ]
    # stuck is the janitor's rule (quiet for its STALE_AFTER), as the payouts list's attention filter says
    assert body["payouts"] == {"open": 3, "stuck": 2, "unknown": 1, "stuck_after_seconds": 600}
    attention = w.get("/v1/operator/payouts", query_string={"attention": "true"}, key=w.operator).json["data"]
    assert {p["id"] for p in attention} == {unknown, quiet}
