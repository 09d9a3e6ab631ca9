"""Fees a partner reports but its webhooks never carried: booked by the reconciliation run as linked,
idempotent adjusting transactions (shared.reconciliation.fees, shared.domain.ledger.operations.fee_booking), and the
`verify` check that the clearing account follows the partner's balance (shared.ledger.verify.clearing_checks)."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters import ledger_rows
from shared.adapters.memory_store import MemoryStore
from shared.domain.ledger.engine import entries_of
from shared.domain.ledger.errors import InvariantViolation
from shared.domain.ledger.operations import FEE_BOOKING_RULE, fee_booking
from shared.ledger import balances as ledger_balances
from shared.ledger import transactions
from shared.ledger.verify import clearing_checks
from shared.reconciliation import service as recon_service
from tests.factories import canonical_event, post_event, stripe_payment

HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)
DAY = date(2026, 11, 27)
NOON = datetime(2026, 11, 20, 12, tzinfo=UTC)


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def charge(n: int, gross: int, fee: int) -> str:
    return (
        f"txn_{n},2026-11-20 09:00:00,2026-11-22 00:00:00,usd,{money(gross)},{money(fee)},{money(gross - fee)},"
        f"charge,ch_{n},,pi_{n},ch_{n},,"
    )


def stripe_fee(n: int, amount: int) -> str:  # a fee-only balance transaction (e.g. Radar, Billing)
    return f"txn_f{n},2026-11-20 10:00:00,2026-11-22 00:00:00,usd,{money(-amount)},0.00,{money(-amount)},fee,,,,,,"


class Books:
    """A memory ledger with posted Stripe payments (fee 0, as the webhooks carry) and a run helper."""

    def __init__(self, payments):
        self.store, self.events = MemoryStore(), {}
        for n, amount in payments:
            self.post(stripe_payment(n, amount))

    def post(self, event):
        self.events[event.event_id] = event
        post_event(None, event, store=self.store, stream=lambda *a: None)

    def book(self, op, record):
        return transactions.execute(self.store, op, also=(("FeeBooking", op.op_id, record),))

    def run(self, rows, *, book=True):
        return recon_service.run(
            self.store,
            partner="stripe",
            as_of=DAY,
            report=("report.csv", "\n".join([HEADER, *rows]).encode()),
            canonical_of=lambda keys: {k: self.events[k] for k in keys if k in self.events},
            now=datetime(2026, 11, 28, tzinfo=UTC),
            book=self.book if book else None,
        )

    def balance(self, account):
        found = ledger_balances.balances(self.store, account).get("USD")
        return 0 if found is None else found.posted

    def fee_transactions(self):
        return {n: t for n, t in self.store.data["JournalTransaction"].items() if t["rule"] == FEE_BOOKING_RULE}

    def clearing(self):
        data = self.store.data
        return clearing_checks(
            data["ReconBalance"],
            data.get("ReconBreak", {}),
            ledger_rows.transactions(data["JournalTransaction"]),
            self.store.account_shards(),
        )


def test_a_fee_booking_moves_the_fee_between_fees_and_clearing_either_way():
    charged = fee_booking("stripe", "fee:txn_a:59", 59, "usd", NOON)
    assert [(leg.account, leg.direction, leg.amount, leg.currency) for leg in charged.legs] == [
        ("fees:stripe", "debit", 59, "USD"),
        ("partner:stripe:clearing", "credit", 59, "USD"),
    ]
    rebated = fee_booking("stripe", "fee:txn_a:0", -59, "USD", NOON)
    assert [(leg.account, leg.direction) for leg in rebated.legs] == [
        ("partner:stripe:clearing", "debit"),
        ("fees:stripe", "credit"),
    ]
    assert fee_booking("stripe", "fee:txn_a:59", 59, "USD", NOON).op_id == charged.op_id  # same key, same txn
    assert rebated.op_id != charged.op_id
    for bad in (0, 1.5, True):
        with pytest.raises(InvariantViolation):
            fee_booking("stripe", "k", bad, "USD", NOON)


def test_a_run_books_the_reported_fees_and_leaves_no_fee_variance():
    books = Books([(1, 10_000), (2, 2_000)])
    report = [charge(1, 10_000, 320), charge(2, 2_000, 88), stripe_fee(1, 500)]
    without = books.run(report, book=False)
    assert without.summary["breaks"] == {"fee_variance": 2, "missing_in_ledger": 1}
    assert books.fee_transactions() == {}  # nothing booked without a booking port

    done = books.run(report)
    assert done.status == "done" and done.summary["breaks"] == {} and done.summary["fees_booked"] == 3
    assert books.balance("fees:stripe") == 320 + 88 + 500  # what the partner reported
    assert books.balance("partner:stripe:clearing") == (10_000 - 320) + (2_000 - 88) - 500  # the report's net
    assert all(d["ok"] for d in done.drift)
    # Linked both ways: the booking names the break and the transaction it corrects; the run lists it.
    records = books.store.data["FeeBooking"]
    assert {r["ledger_transaction"] is None for r in records.values()} == {True, False}
    assert all(r["break_id"].startswith("brk_") for r in records.values())
    assert set(records) == set(books.fee_transactions())

    before = dict(books.store.data["JournalTransaction"])
    again = books.run(report)
    assert again.status == "replayed"  # same report, same books: nothing posted twice
    assert books.store.data["JournalTransaction"] == before


def test_a_report_that_restates_a_fee_books_only_the_new_difference():
    books = Books([(1, 10_000)])
    books.run([charge(1, 10_000, 320)])
    restated = books.run([charge(1, 10_000, 300)])  # the partner refunded 0.20 of its fee
    assert restated.summary["breaks"] == {}
    assert books.balance("fees:stripe") == 300
    assert sorted(entries_of(t)[0]["amount"] for t in books.fee_transactions().values()) == [20, 320]


@settings(max_examples=40, deadline=None)
@given(
    fees=st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=6),
    fee_rows=st.lists(st.integers(min_value=1, max_value=3_000), max_size=3),
    reruns=st.integers(min_value=1, max_value=3),
)
def test_after_any_run_fees_and_clearing_equal_the_report(fees, fee_rows, reruns):
    books = Books([(n, 10_000 + n) for n in range(1, len(fees) + 1)])
    report = [charge(n, 10_000 + n, fee) for n, fee in enumerate(fees, start=1)]
    report += [stripe_fee(n, amount) for n, amount in enumerate(fee_rows, start=1)]
    for _ in range(reruns):
        outcome = books.run(report)
        assert outcome.summary["breaks"] == {}
    assert books.balance("fees:stripe") == sum(fees) + sum(fee_rows)
    net = sum(10_000 + n - fee for n, fee in enumerate(fees, start=1)) - sum(fee_rows)
    assert books.balance("partner:stripe:clearing") == net
    rows, problems = books.clearing()
    assert problems == [] and [r["difference"] for r in rows] == [0]


def test_verify_follows_clearing_from_the_last_run_and_flags_an_unexplained_difference():
    books = Books([(1, 10_000)])
    books.run([charge(1, 10_000, 320)])
    (row,), problems = books.clearing()
    assert problems == [] and row["reconciled_balance"] == 9_680 and row["posted_since"] == 0
    books.post(stripe_payment(2, 2_000))  # after the run: posted since, not a difference
    (row,), problems = books.clearing()
    assert (row["posted_since"], row["expected"], row["clearing"], row["difference"]) == (2_000, 11_680, 11_680, 0)
    # A clearing movement nobody accounts for: the run's partner balance no longer explains it.
    (run,) = books.store.data["ReconBalance"].values()
    run["partner_balance"] = '{"USD": 9679}'
    (row,), problems = books.clearing()
    assert row["difference"] == 1 and [p["check"] for p in problems] == ["clearing_drift"]
    # ... unless the partner's open breaks in that currency are at least that large: explained.
    books.store.data["ReconBreak"] = {"brk_x": {"partner": "stripe", "status": "open", "currency": "USD", "amount": 1}}
    (row,), problems = books.clearing()
    assert row["open_breaks"] == 1 and row["explained"] and problems == []
    run["partner_balance"] = '{"USD": 9000}'  # a break of 0.01 does not explain 6.80
    (row,), problems = books.clearing()
    assert not row["explained"] and [p["check"] for p in problems] == ["clearing_drift"]


def test_a_payment_of_the_next_morning_posted_before_the_run_is_not_drift():
    books = Books([(1, 10_000)])
    books.post(
        stripe_payment(2, 5_000).model_copy(update={"occurred_at": datetime(2026, 11, 28, 7, tzinfo=UTC)})
    )  # after as_of
    books.run([charge(1, 10_000, 320)])  # the report of the 27th runs on the 28th at 08:00
    (row,), problems = books.clearing()
    assert problems == [] and (row["posted_since"], row["difference"]) == (5_000, 0)


def test_the_first_run_opens_at_the_books_before_the_report():
    books = Books([(1, 10_000)])
    long_before = datetime(2026, 11, 2, 9, tzinfo=UTC)
    books.post(stripe_payment(9, 700).model_copy(update={"occurred_at": long_before}))
    books.run([charge(1, 10_000, 320)])
    (row,), problems = books.clearing()
    assert row["reconciled_balance"] == 700 + 9_680 and problems == []


def test_a_report_that_restates_a_fee_back_to_an_earlier_value_books_each_change_once():
    books = Books([(1, 10_000)])
    for fee in (320, 350, 320, 350, 350):
        outcome = books.run([charge(1, 10_000, fee)])
        assert outcome.summary["breaks"] == {} and books.balance("fees:stripe") == fee
    assert len(books.fee_transactions()) == 4  # 0→320, 320→350, 350→320, 320→350; the rerun books nothing


def test_a_restated_fee_only_row_books_the_difference():
    books = Books([(1, 10_000)])
    books.run([charge(1, 10_000, 0), stripe_fee(1, 500)])
    restated = books.run([charge(1, 10_000, 0), stripe_fee(1, 650)])
    assert restated.summary["breaks"] == {}
    assert books.balance("fees:stripe") == 650
    again = books.run([charge(1, 10_000, 0), stripe_fee(1, 650)])
    assert again.status == "replayed" and len(books.fee_transactions()) == 2


def test_a_fee_correction_on_a_reinstatement_folds_with_the_frame_sign():
    """A reinstatement whose ledger fee (0: e.g. a cross-currency balance transaction) differs from the
    report's refunded fee (−15.00): the booking gives 15.00 back, and the next run sees it matched."""
    books = Books([(1, 10_000)])
    books.post(dispute_funds("dispute.funds_withdrawn", 1, 3_000, 1_500))
    books.post(dispute_funds("dispute.funds_reinstated", 2, 3_000, 0))
    report = [charge(1, 10_000, 0), *dispute_rows()]
    first = books.run(report)
    assert first.summary["breaks"] == {} and first.summary["fees_booked"] == 1
    assert books.balance("fees:stripe") == 0
    again = books.run(report)
    assert again.status == "replayed" and again.summary["breaks"] == {}


def dispute_funds(kind, n, amount, fee):
    return canonical_event(
        kind,
        f"txn_d{n}",
        partner_event_type="dispute.balance_transaction",
        at=datetime(2026, 11, 21, 9, n, tzinfo=UTC),
        amount=amount,
        fee=fee,
        reference="du_1",
        payment_reference="pi_1",
    )


def dispute_rows():
    day = "2026-11-21 09:00:00,2026-11-23 00:00:00,usd"
    return [
        f"txn_d1,{day},-30.00,15.00,-45.00,dispute,du_1,,pi_1,ch_1,,",
        f"txn_d2,{day},30.00,-15.00,45.00,dispute_reversal,du_1,,pi_1,ch_1,,",
    ]


def test_fee_entries_are_in_the_books_like_every_other_transaction():
    books = Books([(1, 10_000)])
    books.run([charge(1, 10_000, 320)])
    (txn,) = books.fee_transactions().values()
    assert [(e["account"], e["direction"], e["amount"]) for e in entries_of(txn)] == [
        ("fees:stripe", "debit", 320),
        ("partner:stripe:clearing", "credit", 320),
    ]
    assert txn["event_id"].startswith("ledgerline:fee:stripe:")
    assert books.store.data["Outbox"]  # streamed to BigQuery like every posting


ADYEN_HEADER = (
    "Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,"
    "Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,"
    "Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Batch Number"
)


def test_adyen_fees_from_the_settlement_report_are_booked_with_the_fee_check_on():
    """Adyen's notifications carry no fee; its Settlement details report splits what it kept into
    Commission, Markup, Scheme Fees and Interchange. The run books their sum per payment, and a Fee
    row (e.g. a monthly charge) as a fee-only booking."""
    assert recon_service.PARAMS.get("adyen") is None  # no fee_check=False any more
    store = MemoryStore()
    event = canonical_event(
        "payment.captured",
        "8815",
        partner="adyen",
        partner_event_type="AUTHORISATION",
        at=NOON,
        customer="cus_1",
        amount=10_000,
        currency="EUR",
        reference="8815000000000001",
    )
    post_event(None, event, store=store, stream=lambda *a: None)
    report = "\n".join(
        [
            ADYEN_HEADER,
            "Co,Shop,8815000000000001,order-1,visa,2026-11-20 12:00:00,CET,Settled,8815000000000009,EUR,,100.00,,"
            "EUR,,97.35,0.12,1.50,0.23,0.80,",
            "Co,Shop,,,,2026-11-20 13:00:00,CET,Fee,fee-2026-11,EUR,,,,EUR,1.00,,,,,,",
        ]
    ).encode()
    outcome = recon_service.run(
        store,
        partner="adyen",
        as_of=DAY,
        report=("settlement_detail_report_batch_7.csv", report),
        canonical_of=lambda keys: {event.event_id: event} if event.event_id in keys else {},
        now=datetime(2026, 11, 28, tzinfo=UTC),
        book=lambda op, record: transactions.execute(store, op, also=(("FeeBooking", op.op_id, record),)),
    )
    assert outcome.summary["breaks"] == {} and outcome.summary["fees_booked"] == 2
    fees = ledger_balances.balances(store, "fees:adyen")["EUR"].posted
    clearing = ledger_balances.balances(store, "partner:adyen:clearing")["EUR"].posted
    assert (fees, clearing) == (265 + 100, 9_735 - 100)


def test_the_ledger_side_nets_each_dispute_transaction_as_it_moved_clearing():
    """A withdrawal takes A + the dispute fee from clearing; a reinstatement gives A + the refunded fee
    back, which Stripe's report writes as fee −F: the ledger row must say the same, or the fee check
    would book a phantom fee of 2F."""
    from shared.reconciliation import ledger_frame

    def posting(kind, n, amount, fee):
        return {
            "transaction_id": f"txn_{n}",
            "event_id": f"stripe:txn_{n}",
            "partner": "stripe",
            "kind": kind,
            "reference": "du_1",
            "payment_reference": "pi_1",
            "amount": amount,
            "fee": fee,
            "currency": "USD",
            "effective_at": NOON,
        }

    frame = ledger_frame(
        [posting("dispute.funds_withdrawn", 1, 3_000, 1_500), posting("dispute.funds_reinstated", 2, 3_000, 1_500)]
    )
    assert frame.select("kind", "amount", "fee", "net").rows() == [
        ("dispute", -3_000, 1_500, -4_500),
        ("dispute_won", 3_000, -1_500, 4_500),
    ]


def test_a_won_dispute_reconciles_with_no_fee_booked():
    books = Books([(1, 10_000)])
    books.post(dispute_funds("dispute.funds_withdrawn", 1, 3_000, 1_500))
    books.post(dispute_funds("dispute.funds_reinstated", 2, 3_000, 1_500))
    outcome = books.run([charge(1, 10_000, 0), *dispute_rows()])
    assert outcome.summary["breaks"] == {} and outcome.summary["fees_booked"] == 0
    assert books.balance("fees:stripe") == 0 and books.balance("partner:stripe:clearing") == 10_000


def test_a_transaction_ledgerline_reversed_is_not_a_row_of_the_run():
    """An operator's reversal (or a superseded legacy dispute posting) and the transaction it reverses
    net to nothing at the partner: the run sees neither, so no false missing_at_partner."""
    from shared.domain.ledger.operations import reversal

    books = Books([(1, 10_000), (2, 2_000)])
    (second,) = [n for n, t in books.store.data["JournalTransaction"].items() if t["event_id"] == "stripe:evt_2"]
    assert transactions.execute(books.store, reversal(second, NOON)).status == "posted"
    outcome = books.run([charge(1, 10_000, 0)])
    assert outcome.summary["breaks"] == {}
