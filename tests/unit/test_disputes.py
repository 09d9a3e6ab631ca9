"""The operators' dispute record (shared.ledger.disputes): a pure function of the set of events seen."""

import itertools
import json
from datetime import UTC, datetime, timedelta

from shared.domain.events import CanonicalEvent
from shared.ledger import disputes
from tests.factories import canonical_event

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)


def status(n: int, value: str, minutes: int, partner="stripe") -> CanonicalEvent:
    return canonical_event(
        "dispute.status",
        f"evt_{n}",
        partner=partner,
        partner_event_type="charge.dispute.updated",
        dispute_status=value,
        at=T0 + timedelta(minutes=minutes),
        received_at=NOW,
        amount=3000,
        reference="dp_1",
        payment_reference="pi_1",
    )


def funds(kind: str, txn: str, amount: int, fee: int, minutes: int) -> CanonicalEvent:
    return canonical_event(
        kind,
        txn,
        partner_event_type="balance_transaction.dispute",
        at=T0 + timedelta(minutes=minutes),
        received_at=NOW,
        customer="cus_A",
        amount=amount,
        fee=fee,
        reference="dp_1",
        payment_reference="pi_1",
    )


def record_of(events, transaction="txn_ledger") -> dict:
    record = None
    for event in events:
        posted = transaction if event.kind != "dispute.status" else None
        record = disputes.merged(record, event, posted and f"{posted}_{event.partner_event_id}", NOW) or record
    return record


def test_a_final_status_is_not_overtaken_by_an_older_one_arriving_late():
    events = [status(1, "needs_response", 0), status(2, "under_review", 5), status(3, "won", 9)]
    for order in itertools.permutations(events):
        record = record_of(order)
        assert (record["status"], record["final"], record["inquiry"]) == ("won", True, False)
    # a final status wins even over a non-final one stamped later (a status Stripe would not send after)
    assert record_of([status(1, "warning_closed", 5), status(2, "warning_under_review", 9)])["status"] == (
        "warning_closed"
    )


def test_an_inquiry_that_escalates_is_a_dispute_that_began_as_an_inquiry():
    record = record_of([status(1, "warning_needs_response", 0), status(2, "needs_response", 5)])
    assert (record["status"], record["final"], record["inquiry"]) == ("needs_response", False, True)


def test_funds_and_fees_come_from_the_posted_balance_transactions():
    events = [
        status(1, "needs_response", 0),
        funds("dispute.funds_withdrawn", "txn_w", 3000, 1500, 1),
        funds("dispute.funds_reinstated", "txn_r", 3000, 1500, 9),
        status(2, "won", 9),
    ]
    record = record_of(events)
    assert (record["withdrawn"], record["reinstated"], record["fees"], record["customer"]) == (3000, 3000, 0, "cus_A")
    assert record["transactions"] == ["txn_ledger_txn_r", "txn_ledger_txn_w"]
    assert [e["event_id"] for e in json.loads(record["timeline"])] == [
        "stripe:evt_1",
        "stripe:txn_w",
        "stripe:evt_2",  # same minute as txn_r: ordered by event id
        "stripe:txn_r",
    ]


def test_a_redelivery_changes_nothing_and_any_order_gives_the_same_record():
    events = [status(1, "warning_needs_response", 0), status(2, "warning_under_review", 3)]
    first = record_of(events)
    assert disputes.merged(first, events[0], None, NOW + timedelta(hours=1)) is None  # nothing to write
    assert record_of(reversed(events)) == first


def test_partners_without_a_status_lifecycle_show_their_kind():
    opened = status(1, "x", 0, partner="adyen").model_copy(update={"kind": "dispute.opened", "dispute_status": None})
    record = record_of([opened])
    assert (record["partner"], record["status"], record["final"]) == ("adyen", "opened", False)
