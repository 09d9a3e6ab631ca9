import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.demo import encode, payment_intent_succeeded
from shared.errors import ClientError
from shared.partners import plugin, stripe

SECRET = "whsec_unit_test_secret"
NOW = 1_800_000_000
RECEIVED = datetime.fromtimestamp(NOW, tz=UTC)


def headers_for(body: bytes, secret: str = SECRET, ts: int = NOW) -> dict:
    return {"Stripe-Signature": stripe.sign(body, secret, ts)}


def rejected(body, headers, secrets=(SECRET,), now=NOW) -> ClientError:
    with pytest.raises(ClientError) as info:
        stripe.verify_signature(headers, body, list(secrets), now=now)
    assert info.value.status == 401
    return info.value


@given(st.binary(max_size=2048))
def test_signature_round_trip(body):
    stripe.verify_signature(headers_for(body), body, [SECRET], now=NOW)


@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0, max_value=511), st.integers(1, 255))
def test_any_tampered_byte_is_rejected(body, position, flip):
    headers = headers_for(body)
    tampered = bytearray(body)
    tampered[position % len(body)] ^= flip
    assert rejected(bytes(tampered), headers).code == "signature_invalid"


def test_wrong_secret_is_rejected():
    body = b'{"id":"evt_1"}'
    assert rejected(body, headers_for(body, secret="whsec_other")).code == "signature_invalid"


def test_rotation_any_active_secret_verifies():
    body = b'{"id":"evt_1"}'
    stripe.verify_signature(headers_for(body, secret="whsec_new"), body, [SECRET, "whsec_new"], now=NOW)


def test_several_v1_values_one_matching_is_enough():
    body = b"{}"
    good = stripe.sign(body, SECRET, NOW)
    header = f"t={NOW},v1={'0' * 64},{good.split(',')[1]},v0=ignored"
    stripe.verify_signature({"Stripe-Signature": header}, body, [SECRET], now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -10_000, 10_000])
def test_timestamp_outside_tolerance_both_directions(skew):
    body = b"{}"
    assert rejected(body, headers_for(body, ts=NOW + skew)).code == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_at_tolerance_edges_is_accepted(skew):
    body = b"{}"
    stripe.verify_signature(headers_for(body, ts=NOW + skew), body, [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "signature_missing"),
        ("", "signature_missing"),
        ("garbage", "signature_malformed"),
        (f"t={NOW}", "signature_malformed"),
        ("v1=abc", "signature_malformed"),
        (f"t=abc,v1={'0' * 64}", "signature_malformed"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", "signature_malformed"),
    ],
)
def test_missing_or_malformed_header(header, code):
    headers = {} if header is None else {"Stripe-Signature": header}
    err = rejected(b"{}", headers)
    assert (err.code, err.param) == (code, "Stripe-Signature")


def event(amount=2000, currency="usd", customer="cus_A", event_type="payment_intent.succeeded"):
    return payment_intent_succeeded("evt_1", "pi_1", amount, currency, customer, created=NOW, event_type=event_type)


def test_payment_intent_succeeded_normalises():
    parsed = stripe.parse_event(encode(event()), RECEIVED)
    c = parsed.canonical
    assert parsed.verdict == "accepted"
    assert (c.event_id, c.kind, c.amount, c.currency, c.customer, c.reference) == (
        "stripe:evt_1",
        "payment.captured",
        2000,
        "USD",
        "cus_A",
        "pi_1",
    )
    assert c.occurred_at == RECEIVED


@pytest.mark.parametrize(
    ("stripe_amount", "currency", "iso_minor"),
    [
        (5000, "jpy", 5000),  # zero-decimal in both: ¥5000, not ¥50
        (1, "krw", 1),
        (2000, "usd", 2000),
        (1230, "bhd", 1230),  # three-decimal in both
        (500, "isk", 5),  # Stripe keeps ISK two-decimal ("500 = 5 kr"); ISO-4217 ISK has no minor unit
        (100, "mga", 10000),  # Stripe: zero-decimal; ISO-4217 MGA: two decimals
        (1000, "huf", 1000),
    ],
)
def test_stripe_amounts_convert_to_iso_minor_units(stripe_amount, currency, iso_minor):
    assert stripe.parse_event(encode(event(stripe_amount, currency)), RECEIVED).canonical.amount == iso_minor


def test_fractional_isk_is_refused_not_rounded():
    with pytest.raises(ClientError) as info:
        stripe.parse_event(encode(event(550, "isk")), RECEIVED)
    assert (info.value.code, info.value.param) == ("invalid_event", "data.object.amount_received")


@given(st.text(max_size=300))
def test_any_signature_header_text_yields_401_or_success_never_a_crash(header):
    try:
        stripe.verify_signature({"Stripe-Signature": header}, b"{}", [SECRET], now=NOW)
    except ClientError as exc:
        assert exc.status == 401


@pytest.mark.parametrize("header", [f"t={NOW},v1=é", "t=²,v1=" + "0" * 64, f"t={NOW},v1=" + "G" * 64])
def test_non_ascii_or_non_hex_header_parts_are_401(header):
    assert rejected(b"{}", {"Stripe-Signature": header}).code == "signature_malformed"


def test_test_mode_event_never_moves_live_money():
    body = event()
    assert body["livemode"] is False
    parsed = stripe.parse_event(encode(body), RECEIVED, livemode=True)
    assert parsed.canonical is None and "livemode" in parsed.reason
    body["livemode"] = True
    assert stripe.parse_event(encode(body), RECEIVED, livemode=False).canonical is None
    assert stripe.parse_event(encode(body), RECEIVED, livemode=True).canonical is not None


def test_succeeded_event_whose_intent_did_not_succeed_is_not_posted():
    body = event()
    body["data"]["object"]["status"] = "processing"
    parsed = stripe.parse_event(encode(body), RECEIVED)
    assert parsed.canonical is None and "processing" in parsed.reason


def test_deeply_nested_json_is_malformed_not_a_crash():
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ClientError) as info:
        stripe.parse_event(body, RECEIVED)
    assert info.value.code in ("malformed_json", "invalid_event")


def test_amount_received_is_used_not_amount():
    body = event(2000)
    body["data"]["object"]["amount"] = 9999
    assert stripe.parse_event(encode(body), RECEIVED).canonical.amount == 2000


def test_payment_without_customer_is_kept_for_suspense():
    assert stripe.parse_event(encode(event(customer=None)), RECEIVED).canonical.customer is None


def test_other_event_types_are_stored_not_posted():
    parsed = stripe.parse_event(encode(event(event_type="payment_intent.created")), RECEIVED)
    assert parsed.canonical is None and parsed.verdict == "ignored" and "payment_intent.created" in parsed.reason


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"a": 1'])
def test_malformed_json(body):
    with pytest.raises(ClientError) as info:
        stripe.parse_event(body, RECEIVED)
    assert (info.value.status, info.value.code) == (400, "malformed_json")


def mutate(path, value):
    body = event()
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return encode(body)


@pytest.mark.parametrize(
    ("path", "value", "param"),
    [
        (("data", "object", "amount_received"), 12.5, "data.object.amount_received"),
        (("data", "object", "amount_received"), "2000", "data.object.amount_received"),
        (("data", "object", "amount_received"), True, "data.object.amount_received"),
        (("data", "object", "amount_received"), -1, "data.object.amount_received"),
        (("data", "object", "amount_received"), 2**63, "data.object.amount_received"),
        (("data", "object", "amount_received"), KeyError, "data.object.amount_received"),
        (("data", "object", "currency"), "zzz", "data.object.currency"),
        (("data", "object", "customer"), "not a customer", "data.object.customer"),
        (("data", "object", "id"), "ch_123", "data.object.id"),
        (("id",), "not_an_event", "id"),
        (("created",), 10**12, "created"),
        (("data", "object", "customer"), "cus_" + "a" * 65, "data.object.customer"),
        (("type",), KeyError, "type"),
    ],
)
def test_invalid_fields_name_their_path(path, value, param):
    with pytest.raises(ClientError) as info:
        stripe.parse_event(mutate(path, value), RECEIVED)
    assert (info.value.status, info.value.code, info.value.param) == (400, "invalid_event", param)


def test_non_object_json_is_invalid():
    with pytest.raises(ClientError) as info:
        stripe.parse_event(json.dumps([1, 2]).encode(), RECEIVED)
    assert info.value.code == "invalid_event"


def test_unknown_partner_is_404():
    with pytest.raises(ClientError) as info:
        plugin("paypal")
    assert (info.value.status, info.value.code) == (404, "unknown_partner")


def test_charge_refunded_posts_the_partial_delta():
    from tests.factories import charge_refunded

    body = charge_refunded(
        "evt_r1", "ch_1", "pi_1", 10_000, refunded_total=7_000, refunded_before=2_500, currency="usd", customer="cus_A"
    )
    c = stripe.parse_event(encode(body), RECEIVED).canonical
    assert (c.kind, c.amount, c.customer, c.payment_reference) == ("payment.refunded", 4_500, "cus_A", "pi_1")


def test_refund_delta_must_not_go_backwards():
    from tests.factories import charge_refunded

    body = charge_refunded("evt_r1", "ch_1", "pi_1", 10_000, 1_000, 2_000, "usd", "cus_A")
    with pytest.raises(ClientError) as info:
        stripe.parse_event(encode(body), RECEIVED)
    assert info.value.param == "data.previous_attributes.amount_refunded"


def _dispute(event_type, status, balance_transactions=None, amount=3000, currency="eur", event_id="evt_d", **kw):
    from tests.factories import dispute

    body = dispute(event_id, event_type, "dp_1", "ch_1", "pi_1", amount, currency, status, balance_transactions, **kw)
    return stripe.parse_events(encode(body), RECEIVED)


def _txn(txn_id, amount, fee, currency="eur", created=NOW - 60):
    from tests.factories import dispute_balance_transaction

    return dispute_balance_transaction(txn_id, amount, fee, currency, created, "dp_1")


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_under_review", "warning_closed"])
@pytest.mark.parametrize("event_type", ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"])
def test_an_inquiry_is_recorded_and_moves_no_money(event_type, status):
    """Stripe, "Inquiries and retrievals": no funds have been withdrawn. The status is one canonical
    event that the ledger records (shared.ledger.disputes) and posts nothing for."""
    (parsed,) = _dispute(event_type, status)
    c = parsed.canonical
    assert (c.kind, c.dispute_status, c.reference, c.payment_reference, c.customer) == (
        "dispute.status",
        status,
        "dp_1",
        "pi_1",
        None,
    )
    assert (parsed.partner_event_id, c.event_id) == ("evt_d", "stripe:evt_d")
    from shared.domain.ledger.operations import operation_for

    assert operation_for(c) is None


def test_a_dispute_withdraws_per_balance_transaction_with_the_dispute_fee_on_top():
    status, funds = _dispute("charge.dispute.created", "needs_response", [_txn("txn_w1", -3000, 1500)])
    assert status.canonical.kind == "dispute.status" and status.canonical.dispute_status == "needs_response"
    c = funds.canonical
    assert (funds.partner_event_id, funds.partner_event_type) == ("txn_w1", "balance_transaction.dispute")
    assert (c.kind, c.amount, c.fee, c.currency, c.event_id) == (
        "dispute.funds_withdrawn",
        3000,
        1500,
        "EUR",
        "stripe:txn_w1",
    )
    assert (c.reference, c.payment_reference, c.customer) == ("dp_1", "pi_1", None)
    assert c.occurred_at == datetime.fromtimestamp(NOW - 60, tz=UTC)  # the balance transaction's time


def test_a_won_dispute_reinstates_and_a_refunded_fee_comes_back():
    _, withdrawn, reinstated = _dispute(
        "charge.dispute.closed", "won", [_txn("txn_w1", -3000, 1500), _txn("txn_r1", 3000, -1500)]
    )
    assert (withdrawn.canonical.kind, withdrawn.canonical.fee) == ("dispute.funds_withdrawn", 1500)
    c = reinstated.canonical
    assert (c.kind, c.amount, c.fee, reinstated.partner_event_type) == (
        "dispute.funds_reinstated",
        3000,
        1500,
        "balance_transaction.dispute_reversal",
    )
    _, _, kept = _dispute("charge.dispute.closed", "won", [_txn("txn_w1", -3000, 1500), _txn("txn_r1", 3000, 0)])
    assert kept.canonical.fee == 0  # Stripe may keep the dispute fee: nothing comes back to fees


def test_the_same_balance_transaction_through_every_webhook_is_the_same_event():
    """Idempotency across webhooks: the ledger and the inbox key it by the balance transaction id and
    compare content hashes, so every carrier must yield the byte-identical canonical event."""
    from shared.domain.ledger.ids import event_hash
    from shared.domain.ledger.operations import operation_for

    withdrawal = [_txn("txn_w1", -3000, 1500)]
    seen = [
        _dispute("charge.dispute.created", "needs_response", withdrawal, event_id="evt_1")[1],
        _dispute("charge.dispute.funds_withdrawn", "needs_response", withdrawal, event_id="evt_2")[1],
        _dispute("charge.dispute.updated", "under_review", withdrawal, event_id="evt_3")[1],
        _dispute("charge.dispute.closed", "lost", withdrawal, event_id="evt_4")[1],
        _dispute("charge.dispute.closed", "won", [*withdrawal, _txn("txn_r1", 3000, -1500)], event_id="evt_5")[1],
    ]
    assert len({p.canonical.to_message() for p in seen}) == 1  # byte-identical (same received_at here)
    assert {(p.partner_event_id, event_hash(p.canonical), operation_for(p.canonical).op_id) for p in seen} == {
        (seen[0].partner_event_id, event_hash(seen[0].canonical), operation_for(seen[0].canonical).op_id)
    }


@pytest.mark.parametrize(
    ("txn", "param"),
    [
        ({"net": -1}, "data.object.balance_transactions.0.net"),
        ({"amount": 0, "net": -1500}, "data.object.balance_transactions.0.amount"),
        ({"fee": -100, "net": -2900}, "data.object.balance_transactions.0.fee"),  # a withdrawal refunding a fee
        ({"reporting_category": "dispute_reversal"}, "data.object.balance_transactions.0.reporting_category"),
        ({"amount": 12.5}, "data.object.balance_transactions.0.amount"),
        ({"id": "re_1"}, "data.object.balance_transactions.0.id"),
        ({"currency": "zzz"}, "data.object.balance_transactions.0.currency"),
    ],
)
def test_a_balance_transaction_that_is_not_a_disputes_is_400_naming_its_field(txn, param):
    with pytest.raises(ClientError) as info:
        _dispute("charge.dispute.funds_withdrawn", "needs_response", [{**_txn("txn_w1", -3000, 1500), **txn}])
    assert (info.value.status, info.value.code, info.value.param) == (400, "invalid_event", param)


def test_a_reinstatement_charging_a_fee_is_refused():
    with pytest.raises(ClientError) as info:
        _dispute("charge.dispute.funds_reinstated", "won", [_txn("txn_w1", -3000, 0), _txn("txn_r1", 3000, 200)])
    assert info.value.param == "data.object.balance_transactions.1.fee"


@pytest.mark.parametrize(("currency", "stripe_amount", "iso_amount"), [("jpy", -5000, 5000), ("isk", -50000, 500)])
def test_balance_transaction_amounts_are_converted_to_iso_minor_units(currency, stripe_amount, iso_amount):
    _, funds = _dispute(
        "charge.dispute.funds_withdrawn",
        "needs_response",
        [_txn("txn_w1", stripe_amount, 0, currency)],
        amount=-stripe_amount,
        currency=currency,
    )
    assert (funds.canonical.amount, funds.canonical.currency) == (iso_amount, currency.upper())


def test_settled_in_another_currency_books_the_disputed_amount_in_the_payments_currency():
    _, funds = _dispute("charge.dispute.funds_withdrawn", "needs_response", [_txn("txn_w1", -3300, 1500, "usd")])
    assert (funds.canonical.amount, funds.canonical.fee, funds.canonical.currency) == (3000, 0, "EUR")


def test_a_status_stripe_adds_later_is_recorded_not_refused():
    (parsed,) = _dispute("charge.dispute.updated", "some_new_status", [])
    assert parsed.canonical.dispute_status == "some_new_status"


def test_the_receipt_reports_each_balance_transaction_and_is_202_if_one_is_not_yet_published():
    receipt = stripe.acknowledge(
        [
            {"http": 200, "status": "accepted", "partner_event_id": "evt_1"},
            {"http": 202, "status": "accepted", "partner_event_id": "txn_w1", "published": False},
        ]
    )
    assert receipt.status == 202
    assert (
        receipt.body["status"] == "accepted" and receipt.body["balance_transactions"][0]["partner_event_id"] == "txn_w1"
    )
    assert stripe.acknowledge([{"http": 200, "status": "duplicate"}]).body == {"status": "duplicate"}


@pytest.mark.parametrize(("event_type", "kind"), [("payout.paid", "payout.paid"), ("payout.failed", "payout.failed")])
def test_payouts(event_type, kind):
    from tests.factories import payout

    c = stripe.parse_event(encode(payout("evt_p", event_type, "po_1", 12_345, "usd", "ba_123")), RECEIVED).canonical
    assert (c.kind, c.amount, c.bank, c.reference) == (kind, 12_345, "ba_123", "po_1")


def test_payment_failed_is_stored_not_posted():
    body = event(event_type="payment_intent.payment_failed")
    parsed = stripe.parse_event(encode(body), RECEIVED)
    assert parsed.canonical is None and "failed" in parsed.reason


def test_previous_attributes_of_the_wrong_shape_is_400():
    from tests.factories import charge_refunded

    body = charge_refunded("evt_r1", "ch_1", "pi_1", 10_000, 7_000, 2_500, "usd", "cus_A")
    body["data"]["previous_attributes"] = [1, 2]
    with pytest.raises(ClientError) as info:
        stripe.parse_event(encode(body), RECEIVED)
    assert (info.value.status, info.value.param) == (400, "data.previous_attributes")
