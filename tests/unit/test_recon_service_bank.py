"""The reconciliation service's bank path over the memory store: the ledger's ACH postings on the
bank account (bank_postings) reach the run, so a statement of payouts + ACH lines reconciles."""

from datetime import UTC, date, datetime

from shared.adapters.memory_store import MemoryStore
from shared.domain.events import CanonicalEvent
from shared.reconciliation import service as recon_service
from tests.factories import canonical_event, post_event

from .test_recon_bank import bai2

HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)
REPORT = "\n".join(
    [
        HEADER,
        "txn_1,2026-11-20 09:00:00,2026-11-22 00:00:00,usd,10.00,0.00,10.00,charge,ch_1,,pi_1,ch_1,po_1,",
        "txn_2,2026-11-20 10:00:00,2026-11-22 00:00:00,usd,-10.00,0.00,-10.00,payout,po_1,,,,,",
    ]
).encode()
DAY = date(2026, 11, 27)


def event(n: int, partner: str, kind: str, reference: str, amount: int, **extra) -> CanonicalEvent:
    at = datetime(2026, 11, 20, 9, n, tzinfo=UTC)
    return canonical_event(kind, f"evt_{n}", partner=partner, at=at, amount=amount, reference=reference, **extra)


EVENTS = [
    event(1, "stripe", "payment.captured", "pi_1", 1000, customer="cus_1", payment_reference="ch_1"),
    event(2, "stripe", "payout.paid", "po_1", 1000, bank="ba_1"),
    event(3, "column", "ach.credit.received", "acht_1", 5000, customer="acno_1", bank="column"),
    event(4, "column", "ach.debit.sent", "acht_2", 2000, customer="acno_1", bank="column"),
    event(5, "column", "ach.debit.returned", "acht_2", 2000, customer="acno_1", bank="column"),
]
STATEMENT = bai2(
    [
        ("165", 1000, "po_1", "STRIPE, PAYOUT"),
        ("142", 5000, "acht_1", "ACH CREDIT"),
        ("451", 2000, "acht_2", "ACH DEBIT"),
        ("257", 2000, "acht_2", "ACH RETURN R01"),
    ]
)


def run_with(events):
    store, by_id = MemoryStore(), {e.event_id: e for e in events}
    for e in events:
        post_event(None, e, store=store, stream=lambda *a: None)
    return recon_service.run(
        store,
        partner="stripe",
        as_of=DAY,
        report=("report.csv", REPORT),
        bank=("bank.bai", STATEMENT),
        canonical_of=lambda keys: {k: by_id[k] for k in keys if k in by_id},
        now=datetime(2026, 11, 28, tzinfo=UTC),
    )


def test_payouts_ach_credits_and_an_ach_return_reconcile_to_zero_breaks():
    outcome = run_with(EVENTS)
    assert outcome.summary["breaks"] == {} and outcome.opened == 0, outcome.summary
    assert outcome.summary["rows"] == {"partner": 2, "ledger": 2, "bank": 4, "bank_ledger": 3}
    assert outcome.summary["matches"]["bank_ledger/exact_reference"] == 3


def test_an_ach_return_the_ledger_never_posted_is_a_bank_ledger_break():
    outcome = run_with(EVENTS[:-1])
    assert outcome.summary["breaks"] == {"missing_in_ledger": 1}
    assert outcome.summary["rows"]["bank_ledger"] == 2
    assert recon_service.ACH_BANKS == ("column",)


def test_a_posting_row_is_the_transaction_with_its_canonical_event_fields():
    from shared.reconciliation.service import _posting_row

    at = datetime(2026, 11, 13, 12, tzinfo=UTC)
    event = canonical_event(
        "ach.credit.received",
        "evt_1",
        partner="column",
        partner_event_type="ach.incoming_transfer.completed",
        at=at,
        amount=1500,
        fee=0,
        currency="USD",
        reference="acht_1",
        bank="column",
        customer="cus_1",
    )
    assert _posting_row("txn_1", event) == {
        "transaction_id": "txn_1",
        "event_id": "column:evt_1",
        "partner": "column",
        "kind": "ach.credit.received",
        "reference": "acht_1",
        "payment_reference": None,
        "amount": 1500,
        "fee": 0,
        "currency": "USD",
        "effective_at": at,
    }
