"""The Standard Webhooks partner and the bank/ACH (Column-style) partner: real signing schemes."""

import time
from datetime import UTC, datetime

import pytest

from shared.config import settings_from
from shared.demo import encode
from shared.errors import ClientError
from shared.partners import column, generic
from tests.factories import column_event, generic_headers, generic_message

GENERIC = "whsec_bGVkZ2VybGluZS1kZXYtc3RhbmRhcmQtd2ViaG9va3M="
ROTATED = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="
CFG = settings_from(
    {
        "LEDGERLINE_ENV": "local",
        "GENERIC_WEBHOOK_SECRETS": f"{ROTATED},{GENERIC}",
        "COLUMN_WEBHOOK_SECRETS": "col_old,col_new",
    }
)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BODY = encode(
    generic_message(
        "payment.captured",
        "2026-11-28T08:59:00Z",
        amount=1000,
        fee=30,
        currency="EUR",
        customer="c_1",
        reference="pay_1",
    )
)


def test_standard_webhooks_signature_verifies_with_any_active_secret():
    generic.verify(generic_headers("msg_1", BODY, GENERIC), BODY, CFG, int(time.time()))
    generic.verify(generic_headers("msg_1", BODY, ROTATED), BODY, CFG, int(time.time()))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h: {**h, "webhook-signature": "v1,AAAA"}, "signature_invalid"),
        (lambda h: {**h, "webhook-signature": "garbage-without-comma"}, "signature_invalid"),
        (lambda h: {**h, "webhook-signature": "v1,@@@not-base64"}, "signature_invalid"),
        (lambda h: {**h, "webhook-id": "msg_other"}, "signature_invalid"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-id"}, "signature_missing"),
    ],
)
def test_standard_webhooks_bad_headers_are_401(mutate, code):
    with pytest.raises(ClientError) as info:
        generic.verify(mutate(generic_headers("msg_1", BODY, GENERIC)), BODY, CFG, int(time.time()))
    assert (info.value.status, info.value.code) == (401, code)


@pytest.mark.parametrize("skew", [-400, 400])
def test_standard_webhooks_timestamp_checked_both_ways(skew):
    headers = generic_headers("msg_1", BODY, GENERIC, timestamp=int(time.time()) + skew)
    with pytest.raises(ClientError) as info:
        generic.verify(headers, BODY, CFG, int(time.time()))
    assert info.value.code == "timestamp_out_of_tolerance"


def test_non_utf8_body_is_401_not_a_crash():
    headers = generic_headers("msg_1", BODY, GENERIC)
    with pytest.raises(ClientError):
        generic.verify(headers, b"\xff\xfe", CFG, int(time.time()))


def test_generic_message_maps_to_the_canonical_event_with_webhook_id_as_dedupe_key():
    (parsed,) = generic.parse(BODY, NOW, CFG, {"webhook-id": "msg_1"})
    c = parsed.canonical
    assert (parsed.partner_event_id, c.kind, c.amount, c.fee, c.customer) == (
        "msg_1",
        "payment.captured",
        1000,
        30,
        "c_1",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            encode(
                generic_message("payment.captured", "2026-11-28T08:59:00Z", amount="10", currency="EUR", reference="p")
            ),
            "data.amount",
        ),
        (
            encode(
                generic_message(
                    "payment.captured", "2026-11-28T08:59:00Z", amount=10, currency="EUR", reference="p", surprise=1
                )
            ),
            "data.surprise",
        ),
        (
            encode(generic_message("payout.paid", "2026-11-28T08:59:00Z", amount=10, currency="EUR", reference="p")),
            "data.",
        ),
    ],
)
def test_generic_bad_fields_name_their_path(body, param):
    with pytest.raises(ClientError) as info:
        generic.parse(body, NOW, CFG, {"webhook-id": "msg_1"})
    assert info.value.status == 400 and info.value.param.startswith(param.rstrip("."))


def test_column_signature_rotation_and_rejections():
    body = encode(column_event("evnt_1", "ach.incoming_transfer.completed", "acht_1", 2500, "acno_cust1"))
    column.verify({"Column-Signature": column.sign(body, "col_new")}, body, CFG, 0)
    column.verify({"Column-Signature": column.sign(body, "col_old")}, body, CFG, 0)
    for headers, code in (
        ({}, "signature_missing"),
        ({"Column-Signature": "xyz"}, "signature_malformed"),
        ({"Column-Signature": column.sign(body + b" ", "col_new")}, "signature_invalid"),
    ):
        with pytest.raises(ClientError) as info:
            column.verify(headers, body, CFG, 0)
        assert (info.value.status, info.value.code) == (401, code)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("ach.incoming_transfer.completed", "ach.credit.received"),
        ("ach.outgoing_transfer.completed", "ach.debit.sent"),
        ("ach.outgoing_transfer.returned", "ach.debit.returned"),
    ],
)
def test_column_ach_events(event_type, kind):
    (parsed,) = column.parse(encode(column_event("evnt_1", event_type, "acht_1", 2500, "acno_cust1")), NOW, CFG)
    c = parsed.canonical
    assert (c.kind, c.amount, c.customer, c.bank, c.reference) == (kind, 2500, "acno_cust1", "column", "acht_1")


def test_column_unknown_type_is_stored_not_posted_and_bad_amount_is_400():
    (parsed,) = column.parse(encode(column_event("evnt_1", "book.transfer.completed", "acht_1", 1, "acno_c")), NOW, CFG)
    assert parsed.canonical is None
    bad = column_event("evnt_1", "ach.incoming_transfer.completed", "acht_1", 1, "acno_c")
    bad["data"]["amount"] = 12.5
    with pytest.raises(ClientError) as info:
        column.parse(encode(bad), NOW, CFG)
    assert info.value.param == "data.amount"


def test_timestamps_without_a_timezone_are_refused_at_intake():
    body = encode(generic_message("payment.captured", "2026-11-28T08:59:00", amount=1, currency="EUR", reference="p"))
    with pytest.raises(ClientError) as info:
        generic.parse(body, NOW, CFG, {"webhook-id": "msg_1"})
    assert (info.value.status, info.value.param) == (400, "timestamp")
