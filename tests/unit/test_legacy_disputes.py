"""Stripe disputes open when the dispute lifecycle deploys (memory store): before it,
`charge.dispute.created` posted dispute.opened (the disputed amount, keyed by the webhook's evt id,
inquiries included) and `charge.dispute.closed` won posted dispute.won. Whatever the order of the
migration (`shared.cli migrate-disputes`) and the webhooks after the deploy, the books end as Stripe's:
the legacy postings are reversed once the withdrawal balance transaction posts (or the dispute is an
inquiry), never a double debit, the dispute fee booked once."""

import logging
from datetime import UTC, datetime

import pytest

from shared.adapters.memory_store import MemoryStore
from shared.demo import encode, payment_intent_succeeded
from shared.domain.events import CanonicalEvent
from shared.domain.ledger.ids import event_hash
from shared.domain.ledger.operations import operation_for
from shared.ledger import dispute_migration, disputes, parking
from shared.ledger.balances import balances
from shared.ledger.transactions import execute
from shared.partners import stripe
from tests.factories import canonical_event, dispute, dispute_balance_transaction, post_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CREATED = 1_790_000_000
WALLET = "customer:cus_S:wallet"


def parsed(body: dict) -> list[CanonicalEvent]:
    return [p.canonical for p in stripe.parse_events(encode(body), T0) if p.canonical is not None]


def webhook(n: int, event_type: str, status: str, txns: list[dict]) -> dict:
    body = dispute(f"evt_ds{n}", event_type, "dp_s", "ch_s", "pi_s", 3000, "usd", status, txns, CREATED)
    return {**body, "created": CREATED + 60 * n}


def legacy_event(body: dict, kind: str) -> CanonicalEvent:
    """What the parser before the lifecycle published for this webhook (written out, not derived)."""
    return canonical_event(
        kind,
        body["id"],
        partner_event_type=body["type"],
        at=datetime.fromtimestamp(body["created"], tz=UTC),
        received_at=T0,
        customer=None,
        amount=0 if kind == "dispute.lost" else 3000,
        reference="dp_s",
        payment_reference="pi_s",
    )


def deliver(store, events):
    queue = list(events)
    while queue:
        event = queue.pop(0)
        result = post_event(None, event, store=store, stream=lambda *a: None)
        for name, record in parking.released_by(store, event, result).items():
            parking.redrive(
                store, name, record, lambda data, attrs: queue.append(CanonicalEvent.model_validate_json(data))
            )
    assert store.data["Parked"] == {}


def before_the_deploy(store, *legacy: tuple[dict, str]) -> None:
    """The payment and the legacy postings as the old code left them: no legacy index, no Dispute
    record; the inbox keeps each webhook's body and the canonical event it published."""
    deliver(store, parsed(payment_intent_succeeded("evt_ps", "pi_s", 10_000, "usd", "cus_S", created=CREATED - 3600)))
    for body, kind in legacy:
        event = legacy_event(body, kind).model_copy(update={"customer": "cus_S"})  # resolved, as it posted
        assert execute(store, operation_for(event)).status == "posted"
        fields = {"partner": "stripe", "partner_event_id": body["id"], "partner_event_type": body["type"]}
        canonical = legacy_event(body, kind).to_message()
        store.record("Inbox", event.event_id, {**fields, "canonical": canonical, "body": encode(body)})


def inbox(store):
    return lambda key: (store.get("Inbox", key) or {}).get("body")


def wallet(store) -> int:
    return balances(store, WALLET)["USD"].posted


def fees(store) -> int:
    found = balances(store, "fees:stripe")
    return found["USD"].posted if "USD" in found else 0


WITHDRAWAL = dispute_balance_transaction("txn_ws", -3000, 1500, "usd", CREATED, "dp_s")
REINSTATED = dispute_balance_transaction("txn_rs", 3000, 0, "usd", CREATED + 86400, "dp_s")  # fee kept
CREATED_BODY = webhook(0, "charge.dispute.created", "needs_response", [WITHDRAWAL])


@pytest.mark.parametrize("migrate_first", [True, False])
def test_a_legacy_opened_dispute_then_withdrawal_and_won_ends_as_stripe_did(migrate_first):
    store = MemoryStore()
    before_the_deploy(store, (CREATED_BODY, "dispute.opened"))
    assert wallet(store) == 7_000
    after = [
        webhook(1, "charge.dispute.updated", "under_review", [WITHDRAWAL]),
        webhook(2, "charge.dispute.closed", "won", [WITHDRAWAL, REINSTATED]),
    ]
    if migrate_first:
        dispute_migration.migrate_legacy_disputes(store, inbox(store))
        deliver(store, parsed(after[0]))
        assert (wallet(store), fees(store)) == (7_000, 1_500)  # never 3000 twice; the fee on top is ours
    deliver(store, [e for body in after for e in parsed(body)])
    if not migrate_first:
        assert wallet(store) == 10_000 - 3_000 - 3_000 + 3_000  # the deploy window's double debit…
        rows = dispute_migration.migrate_legacy_disputes(store, inbox(store))
        assert [(r["kind"], r["indexed"], r["reversed"]) for r in rows] == [("dispute.opened", "written", "reversed")]
    assert wallet(store) == 10_000  # back to the start
    assert fees(store) == 1_500  # the dispute fee (not refunded here), booked once
    assert store.get("DisputeWithdrawal", "stripe:dp_s")["transaction_id"] == operation_for(parsed(after[0])[1]).op_id
    assert dispute_migration.migrate_legacy_disputes(store, inbox(store))[0]["reversed"] == "already"  # idempotent
    assert (wallet(store), fees(store)) == (10_000, 1_500)


def test_a_legacy_lost_dispute_keeps_the_amount_and_books_the_fee_once():
    store = MemoryStore()
    before_the_deploy(store, (CREATED_BODY, "dispute.opened"))
    dispute_migration.migrate_legacy_disputes(store, inbox(store))
    deliver(store, parsed(webhook(2, "charge.dispute.closed", "lost", [WITHDRAWAL])))
    assert (wallet(store), fees(store)) == (7_000, 1_500)


def test_a_dispute_opened_and_won_before_the_deploy_then_redelivered_nets_to_stripe():
    store = MemoryStore()
    closed = webhook(2, "charge.dispute.closed", "won", [WITHDRAWAL, REINSTATED])
    before_the_deploy(store, (CREATED_BODY, "dispute.opened"), (closed, "dispute.won"))
    assert wallet(store) == 10_000
    dispute_migration.migrate_legacy_disputes(store, inbox(store))
    deliver(store, parsed(closed))  # Stripe retries the closed webhook after the deploy
    assert (wallet(store), fees(store)) == (10_000, 1_500)


INQUIRY_CREATED = webhook(0, "charge.dispute.created", "warning_needs_response", [])


@pytest.mark.parametrize("when", ["migrate_first", "migrate_after", "migration_only"])
def test_a_legacy_inquiry_debit_is_given_back(when):
    store = MemoryStore()
    before_the_deploy(store, (INQUIRY_CREATED, "dispute.opened"))
    assert wallet(store) == 7_000  # money that never moved
    closed = parsed(webhook(2, "charge.dispute.closed", "warning_closed", []))
    if when == "migrate_first":
        dispute_migration.migrate_legacy_disputes(store, inbox(store))
    if when != "migration_only":
        deliver(store, closed)
    if when != "migrate_first":
        dispute_migration.migrate_legacy_disputes(store, inbox(store))
    assert (wallet(store), fees(store)) == (10_000, 0)  # untouched overall
    record = store.get(disputes.KIND, "stripe:dp_s")
    assert record["inquiry"] is True


def test_a_legacy_inquiry_closed_without_the_migration_reverses_when_indexed_by_this_code():
    """A legacy dispute.opened still in the inbox, re-driven after the deploy, is indexed by the
    posting itself: the closing inquiry status then gives it back without any migration."""
    store = MemoryStore()
    deliver(store, parsed(payment_intent_succeeded("evt_ps", "pi_s", 10_000, "usd", "cus_S", created=CREATED - 3600)))
    deliver(store, [legacy_event(INQUIRY_CREATED, "dispute.opened")])
    assert wallet(store) == 7_000
    deliver(store, parsed(webhook(2, "charge.dispute.closed", "warning_closed", [])))
    assert wallet(store) == 10_000
    deliver(store, [legacy_event(INQUIRY_CREATED, "dispute.opened")])  # a redelivery replays
    assert wallet(store) == 10_000


def test_the_migration_dry_run_changes_nothing_and_reports_what_it_would_do():
    store = MemoryStore()
    before_the_deploy(store, (CREATED_BODY, "dispute.opened"))
    deliver(store, parsed(webhook(1, "charge.dispute.updated", "under_review", [WITHDRAWAL])))
    snapshot = {kind: dict(rows) for kind, rows in store.data.items()}
    rows = dispute_migration.migrate_legacy_disputes(store, inbox(store), dry_run=True)
    assert [(r["dispute"], r["indexed"], r["reversed"]) for r in rows] == [
        ("stripe:dp_s", "would write", "would reverse")
    ]
    assert {kind: dict(rows) for kind, rows in store.data.items()} == snapshot


def test_the_migration_reports_a_legacy_posting_it_cannot_link():
    store = MemoryStore()
    before_the_deploy(store, (CREATED_BODY, "dispute.opened"))
    store.record("Inbox", "stripe:evt_ds0", {**store.get("Inbox", "stripe:evt_ds0"), "canonical": b"{"})
    (row,) = dispute_migration.migrate_legacy_disputes(store, inbox(store))
    assert row["problem"] and row["dispute"] is None and wallet(store) == 7_000


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (CREATED_BODY, "dispute.opened"),
        (INQUIRY_CREATED, "dispute.opened"),
        (webhook(2, "charge.dispute.closed", "won", [WITHDRAWAL, REINSTATED]), "dispute.won"),
        (webhook(2, "charge.dispute.closed", "lost", [WITHDRAWAL]), "dispute.lost"),
        (webhook(1, "charge.dispute.updated", "under_review", [WITHDRAWAL]), None),
        (webhook(2, "charge.dispute.closed", "warning_closed", []), None),
    ],
)
def test_a_redelivered_legacy_webhook_is_recognised_under_its_old_hash(body, kind):
    """Intake compares a redelivery with what the old parser stored: its hash (or "" for a webhook it
    stored as not posted) is an equivalent one, so the redelivery is a duplicate, not a Conflict."""
    from shared.intake.inbox import InboxRecord

    (status, *_) = parsed(body)
    old_hash = event_hash(legacy_event(body, kind)) if kind else ""
    versions = stripe.legacy_versions(status)
    assert [event_hash(v) if v else "" for v in versions] == [old_hash]
    fields = dict(verdict="accepted", reason=None, body=b"", headers={}, received_at=T0, canonical=None)
    record = InboxRecord("stripe", body["id"], body["type"], **fields, content_hash=event_hash(status))
    assert record.conflicts_with(old_hash)  # before: a Conflict
    legacy = InboxRecord(**{**record.__dict__, "equivalent_hashes": (old_hash,)})
    assert not legacy.conflicts_with(old_hash) and legacy.conflicts_with("something else")


def test_a_cross_currency_dispute_fee_is_recorded_and_warned_not_dropped(caplog):
    withdrawal = dispute_balance_transaction("txn_wx", -2800, 1400, "eur", CREATED, "dp_s")
    body = webhook(1, "charge.dispute.funds_withdrawn", "needs_response", [withdrawal])
    with caplog.at_level(logging.WARNING, logger="ledgerline.stripe"):
        status, funds = parsed(body)
    assert (funds.amount, funds.fee, funds.currency) == (3000, 0, "USD")
    assert (funds.unbooked_fee, funds.unbooked_fee_currency) == (1400, "EUR")
    (warning,) = [r for r in caplog.records if r.getMessage() == "dispute fee in the settlement currency not booked"]
    assert (warning.dispute, warning.balance_transaction, warning.unbooked_fee) == ("dp_s", "txn_wx", 1400)
    store = MemoryStore()
    deliver(store, parsed(payment_intent_succeeded("evt_ps", "pi_s", 10_000, "usd", "cus_S", created=CREATED - 3600)))
    deliver(store, [status, funds])
    record = store.get(disputes.KIND, "stripe:dp_s")
    assert record["unbooked_fees"] == ["stripe:txn_wx:1400:EUR"]
    assert (wallet(store), fees(store)) == (7_000, 0)


def test_events_without_an_unbooked_fee_keep_their_hash():
    (_status, funds) = parsed(webhook(1, "charge.dispute.updated", "under_review", [WITHDRAWAL]))
    body = funds.model_dump(
        mode="json", exclude={"received_at", "dispute_status", "unbooked_fee", "unbooked_fee_currency"}
    )
    import hashlib
    import json

    assert (
        event_hash(funds)
        == hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    )
    assert funds.unbooked_fee is None
