from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events import CanonicalEvent
from shared.ledger import (
    AccountBalance,
    Entry,
    InvariantViolation,
    JournalTransaction,
    UnknownAccount,
    account_type,
    apply_entry,
    audit,
    event_hash,
    journal_for,
    transaction_id,
    unbalanced_currencies,
)
from shared.money import EXPONENTS, MAX_AMOUNT

T0 = datetime(2026, 11, 1, tzinfo=UTC)

events = st.builds(
    CanonicalEvent,
    event_id=st.from_regex(r"stripe:evt_[a-z0-9]{1,12}", fullmatch=True),
    partner=st.just("stripe"),
    partner_event_id=st.from_regex(r"evt_[a-z0-9]{1,12}", fullmatch=True),
    partner_event_type=st.just("payment_intent.succeeded"),
    kind=st.just("payment.captured"),
    occurred_at=st.just(T0),
    received_at=st.just(T0),
    customer=st.one_of(st.none(), st.from_regex(r"cus_[A-Za-z0-9]{1,10}", fullmatch=True)),
    amount=st.integers(min_value=1, max_value=MAX_AMOUNT),
    currency=st.sampled_from(sorted(EXPONENTS)),
    reference=st.just("pi_1"),
)


@given(events)
def test_every_journal_balances_per_currency(event):
    journal = journal_for(event)
    assert unbalanced_currencies(journal.entries) == {}
    assert {e.currency for e in journal.entries} == {event.currency}
    assert sum(e.amount for e in journal.entries if e.direction == "debit") == event.amount


@given(events)
def test_journal_is_deterministic_and_id_derived_from_source(event):
    a, b = journal_for(event), journal_for(event.model_copy(update={"received_at": datetime.now(tz=UTC)}))
    assert a == b  # redelivery (received later) produces the identical transaction
    assert a.transaction_id == transaction_id("stripe", event.partner_event_id, a.rule)


def test_different_source_events_never_share_a_transaction_id():
    assert transaction_id("stripe", "evt_1", "r") != transaction_id("stripe", "evt_2", "r")
    assert transaction_id("stripe", "evt_1", "r") != transaction_id("adyen", "evt_1", "r")
    assert transaction_id("stripe", "evt_1", "r1") != transaction_id("stripe", "evt_1", "r2")


def test_payment_credits_customer_wallet_and_debits_clearing():
    event = CanonicalEvent(
        event_id="stripe:evt_1",
        partner="stripe",
        partner_event_id="evt_1",
        partner_event_type="payment_intent.succeeded",
        kind="payment.captured",
        occurred_at=T0,
        received_at=T0,
        customer="cus_A",
        amount=5000,
        currency="jpy",
        reference="pi_1",
    )
    legs = {(e.account, e.direction, e.amount, e.currency) for e in journal_for(event).entries}
    assert legs == {("partner:stripe:clearing", "debit", 5000, "JPY"), ("customer:cus_A:wallet", "credit", 5000, "JPY")}


def test_event_hash_changes_with_money_not_with_receipt_time():
    base = dict(
        event_id="stripe:evt_1",
        partner="stripe",
        partner_event_id="evt_1",
        partner_event_type="payment_intent.succeeded",
        kind="payment.captured",
        occurred_at=T0,
        received_at=T0,
        customer="cus_A",
        amount=100,
        currency="USD",
        reference="pi_1",
    )
    h = event_hash(CanonicalEvent(**base))
    assert h == event_hash(CanonicalEvent(**{**base, "received_at": datetime.now(tz=UTC)}))
    assert h != event_hash(CanonicalEvent(**{**base, "amount": 101}))


def entry(i, account, direction, amount, currency="USD"):
    return Entry(f"t:{i}", "t", i, account, currency, direction, amount)


def test_unbalanced_transaction_is_refused():
    with pytest.raises(InvariantViolation):
        JournalTransaction(
            "t",
            "r",
            "e",
            "stripe",
            "h",
            (entry(0, "suspense", "credit", 100), entry(1, "partner:stripe:clearing", "debit", 99)),
        )
    with pytest.raises(InvariantViolation):  # balanced in total but not per currency
        JournalTransaction(
            "t",
            "r",
            "e",
            "stripe",
            "h",
            (entry(0, "suspense", "credit", 100, "USD"), entry(1, "partner:stripe:clearing", "debit", 100, "EUR")),
        )


@pytest.mark.parametrize("amount", [0, -1, 1.0, True, MAX_AMOUNT + 1])
def test_entry_amount_must_be_positive_int(amount):
    with pytest.raises(InvariantViolation):
        entry(0, "suspense", "credit", amount)


@pytest.mark.parametrize(
    ("account", "kind"),
    [
        ("partner:stripe:clearing", "asset"),
        ("customer:cus_1:wallet", "liability"),
        ("fees:stripe", "expense"),
        ("bank:column:operating", "asset"),
        ("suspense", "liability"),
    ],
)
def test_chart_of_accounts_naming_rules(account, kind):
    assert account_type(account) == kind


@pytest.mark.parametrize("account", ["customer:cus_1", "customer::wallet", "wallet", "customer:a b:wallet", ""])
def test_unknown_account_names_are_refused(account):
    with pytest.raises(UnknownAccount):
        account_type(account)


def test_audit_finds_account_entry_mismatch_and_unbalanced_transaction():
    e0, e1 = entry(0, "partner:stripe:clearing", "debit", 100), entry(1, "customer:c:wallet", "credit", 100)
    good = AccountBalance("partner:stripe:clearing", "USD", 0, 0)
    good = apply_entry(good, e0)
    wallet = apply_entry(AccountBalance("customer:c:wallet", "USD", 0, 0), e1)
    assert audit({"t": [e0, e1]}, [good, wallet]) == []
    assert wallet.posted == 100 and good.posted == 100
    drifted = AccountBalance("customer:c:wallet", "USD", 0, 101)
    checks = {p["check"] for p in audit({"t": [e0, e1]}, [good, drifted])}
    assert checks == {"account_equals_entries"}
    checks = {p["check"] for p in audit({"t": [e0]}, [good])}
    assert checks == {"transaction_entries", "transaction_balanced"}
