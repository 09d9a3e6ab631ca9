"""OIDC caller check (fake verifier) and the reconciliation service over the memory store."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from shared.adapters.memory_store import MemoryStore
from shared.auth import verify_invoker
from shared.config import settings_from
from shared.errors import ClientError
from shared.reconciliation import service as recon_service
from tests.factories import post_event, stripe_payment

CLOUD = replace(settings_from({"K_SERVICE": "retries", "GOOGLE_CLOUD_PROJECT": "p"}), env="cloud")
TASKS_SA = "tasks@p.iam.gserviceaccount.com"


def verifier(claims):
    def verify(token, audience):
        if token != "good" or audience != "https://retries":
            raise ValueError("bad token")
        return claims

    return verify


def test_local_needs_no_token():
    assert verify_invoker(settings_from({}), {}, "https://retries", (TASKS_SA,)) is None


@pytest.mark.parametrize(
    ("headers", "claims", "status"),
    [
        ({}, {}, 401),
        ({"Authorization": "Basic abc"}, {}, 401),
        ({"Authorization": "Bearer bad"}, {}, 401),
        ({"Authorization": "Bearer good"}, {"email": "someone@else.com", "email_verified": True}, 403),
        ({"Authorization": "Bearer good"}, {"email": TASKS_SA, "email_verified": False}, 403),
    ],
)
def test_cloud_refuses_missing_invalid_or_foreign_tokens(headers, claims, status):
    with pytest.raises(ClientError) as err:
        verify_invoker(CLOUD, headers, "https://retries", (TASKS_SA, None), verify=verifier(claims))
    assert err.value.status == status


def test_cloud_admits_the_named_service_account():
    claims = {"email": TASKS_SA, "email_verified": True}
    headers = {"Authorization": "Bearer good"}
    assert verify_invoker(CLOUD, headers, "https://retries", (TASKS_SA,), verify=verifier(claims)) == TASKS_SA


HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)
DAY = date(2026, 11, 27)  # a week after the activity: past the timing window, a missing row is a break


def row(n: int, minor: int) -> str:
    money = f"{minor // 100}.{minor % 100:02d}"
    return f"txn_{n},2026-11-20 09:00:00,2026-11-22 00:00:00,usd,{money},0.00,{money},charge,ch_{n},,pi_{n},ch_{n},,"


def test_service_run_finds_planted_breaks_replays_and_closes_them():
    store, events = MemoryStore(), {}
    for n, amount in ((1, 1000), (2, 2000), (3, 3000)):
        event = stripe_payment(n, amount)
        events[event.event_id] = event
        post_event(None, event, store=store, stream=lambda *a: None)

    def canonical_of(keys):
        return {k: events[k] for k in keys if k in events}

    def go(rows):
        data = "\n".join([HEADER, *rows]).encode()
        return recon_service.run(
            store,
            partner="stripe",
            as_of=DAY,
            report=("report.csv", data),
            canonical_of=canonical_of,
            now=datetime(2026, 11, 28, tzinfo=UTC),
        )

    planted = [row(1, 1000), row(2, 2100), row(4, 500)]  # 2: amount differs, 3: missing at Stripe, 4: not ours
    first = go(planted)
    open_ = {(r["reason_code"], r["reference"]) for r in store.data["ReconBreak"].values() if r["status"] == "open"}
    assert open_ == {("amount_mismatch", "pi_2"), ("missing_at_partner", "pi_3"), ("missing_in_ledger", "pi_4")}
    assert first.opened == 3 and first.status == "done"
    assert go(planted).status == "replayed"  # same inputs, same run: nothing written twice
    early = recon_service.run(  # the day itself: a counterpart may still come (timing), not a break yet
        MemoryStore(),
        partner="stripe",
        as_of=date(2026, 11, 20),
        report=("report.csv", "\n".join([HEADER, row(4, 500)]).encode()),
        canonical_of=canonical_of,
        now=datetime(2026, 11, 21, tzinfo=UTC),
    )
    assert early.summary["breaks"] == {"timing": 1}
    fixed = go([row(1, 1000), row(2, 2000), row(3, 3000)])
    assert fixed.closed == 3 and fixed.still_open == 0
    assert {r["closed_run"] for r in store.data["ReconBreak"].values()} == {fixed.run_id}
    assert all(d["ok"] for d in fixed.drift)
