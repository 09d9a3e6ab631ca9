from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import settings_from
from shared.demo import encode
from shared.domain.money import EXPONENTS, MAX_AMOUNT, InexactAmount
from shared.errors import ClientError, NotConfigured
from shared.partners import adyen
from tests.factories import adyen_item, adyen_notification

KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
OTHER_KEY = "00" * 32
CFG = settings_from(
    {"LEDGERLINE_ENV": "local", "ADYEN_HMAC_KEYS": f"{OTHER_KEY},{KEY}", "ADYEN_BASIC_AUTH": "old:pw1,ledgerline:pw2"}
)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def parse(*items, live="false"):
    return adyen.parse(encode(adyen_notification(*items, live=live)), NOW, CFG)


def test_hmac_signing_string_follows_adyens_eight_fields():
    item = adyen_item("AUTHORISATION", "PSP1", 1000, "EUR", KEY)["NotificationRequestItem"]
    assert adyen.signing_string(item) == "PSP1::LedgerlineECOM:order-PSP1:1000:EUR:AUTHORISATION:true"


def test_basic_auth_rotation_and_rejections():
    adyen.verify({"Authorization": adyen.basic_auth("ledgerline", "pw2")}, b"", CFG, 0)
    adyen.verify({"Authorization": adyen.basic_auth("old", "pw1")}, b"", CFG, 0)
    for headers, code in (
        ({}, "basic_auth_missing"),
        ({"Authorization": adyen.basic_auth("ledgerline", "x")}, "basic_auth_invalid"),
        ({"Authorization": "Basic é"}, "basic_auth_invalid"),
    ):
        with pytest.raises(ClientError) as info:
            adyen.verify(headers, b"", CFG, 0)
        assert (info.value.status, info.value.code) == (401, code)
    with pytest.raises(NotConfigured):
        adyen.verify({}, b"", settings_from({"LEDGERLINE_ENV": "local"}), 0)


def test_batch_maps_every_event_code():
    parsed = parse(
        adyen_item("AUTHORISATION", "AUTH1", 5000, "EUR", KEY, shopper="shopper_42"),
        adyen_item("CAPTURE", "CAP1", 4000, "EUR", KEY, original="AUTH1"),
        adyen_item("REFUND", "REF1", 1500, "EUR", KEY, original="AUTH1"),
        adyen_item("CHARGEBACK", "CB1", 1000, "EUR", KEY, original="AUTH1"),
        adyen_item("CANCELLATION", "CAN1", 5000, "EUR", OTHER_KEY, original="AUTH2"),
    )
    kinds = [(p.partner_event_id, p.canonical.kind, p.canonical.amount, p.canonical.reference) for p in parsed]
    assert kinds == [
        ("AUTHORISATION-AUTH1-true", "authorization.created", 5000, "AUTH1"),
        ("CAPTURE-CAP1-true", "authorization.captured", 4000, "AUTH1"),
        ("REFUND-REF1-true", "payment.refunded", 1500, "REF1"),
        ("CHARGEBACK-CB1-true", "dispute.opened", 1000, "CB1"),
        ("CANCELLATION-CAN1-true", "authorization.voided", 0, "AUTH2"),
    ]
    assert parsed[0].canonical.customer == "shopper_42"
    assert parsed[0].canonical.expires_at == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert parsed[2].canonical.payment_reference == "AUTH1"


def test_a_chargeback_reversal_returns_the_funds_and_a_second_chargeback_withdraws_them_again():
    notice, first, reversed_, second = parse(
        adyen_item("NOTIFICATION_OF_CHARGEBACK", "CB2", 1000, "EUR", KEY, original="AUTH1"),
        adyen_item("CHARGEBACK", "CB2", 1000, "EUR", KEY, original="AUTH1"),
        adyen_item("CHARGEBACK_REVERSED", "CB2", 1000, "EUR", KEY, original="AUTH1"),
        adyen_item("SECOND_CHARGEBACK", "CB2", 1000, "EUR", KEY, original="AUTH1"),
    )
    assert notice.canonical is None and "no funds move" in notice.reason
    got = [(p.canonical.kind, p.canonical.amount, p.canonical.payment_reference) for p in (first, reversed_, second)]
    assert got == [("dispute.opened", 1000, "AUTH1"), ("dispute.won", 1000, "AUTH1"), ("dispute.opened", 1000, "AUTH1")]
    assert len({first.canonical.event_id, reversed_.canonical.event_id, second.canonical.event_id}) == 3


def test_unsuccessful_and_unknown_codes_are_stored_not_posted():
    failed, other = parse(
        adyen_item("AUTHORISATION", "A9", 100, "EUR", KEY, success="false"),
        adyen_item("REPORT_AVAILABLE", "R1", 0, "EUR", KEY),
    )
    assert failed.canonical is None and "not successful" in failed.reason
    assert failed.partner_event_id == "AUTHORISATION-A9-false"  # success is part of the dedupe key
    assert other.canonical is None and "REPORT_AVAILABLE" in other.reason


def test_one_tampered_item_rejects_the_whole_batch():
    good = adyen_item("AUTHORISATION", "A1", 100, "EUR", KEY)
    bad = adyen_item("AUTHORISATION", "A2", 100, "EUR", KEY)
    bad["NotificationRequestItem"]["amount"]["value"] = 100000
    with pytest.raises(ClientError) as info:
        parse(good, bad)
    assert (info.value.status, info.value.param) == (
        401,
        "notificationItems.1.NotificationRequestItem.additionalData.hmacSignature",
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"live": "false", "notificationItems": []}, "notificationItems"),
        ({"live": False, "notificationItems": [{}]}, "live"),
        ({"live": "false", "notificationItems": ["x"]}, "notificationItems.0.NotificationRequestItem"),
    ],
)
def test_malformed_batches_name_the_field(body, param):
    with pytest.raises(ClientError) as info:
        adyen.parse(encode(body), NOW, CFG)
    assert (info.value.status, info.value.param) == (400, param)


def test_capture_without_original_reference_is_invalid():
    with pytest.raises(ClientError) as info:
        parse(adyen_item("CAPTURE", "C1", 100, "EUR", KEY))
    assert info.value.param == "notificationItems.0.NotificationRequestItem.originalReference"


def test_acknowledge_is_the_literal_accepted():
    assert adyen.acknowledge([{"http": 202}]).body == "[accepted]"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda item: item.update(amount=5),
        lambda item: item.update(additionalData="x"),
        lambda item: item.update(eventDate="9999-12-31T23:00:00+00:00"),
        lambda item: item.update(eventDate="2026-11-28T10:00:00"),  # no timezone
    ],
)
def test_odd_shapes_are_4xx_never_a_crash(mutate):
    wrapper = adyen_item("AUTHORISATION", "A1", 100, "EUR", KEY)
    mutate(wrapper["NotificationRequestItem"])
    with pytest.raises(ClientError) as info:
        parse(wrapper)
    assert info.value.status in (400, 401)


# ----------------------------------------------------------------------------- amounts: Adyen's units

# Where Adyen's table and ISO-4217 disagree, as Adyen's page says (CLP, CVE, IDR, ISK): (Adyen, ISO).
DIFFERS_FROM_ISO = {"CLP": (2, 0), "CVE": (0, 2), "IDR": (0, 2), "ISK": (2, 0)}
NOT_ISO = {"CNH", "VEF"}  # listed by Adyen, no ISO-4217 code in shared.domain.money: refused
IN_BOTH = sorted(set(adyen.ADYEN_EXPONENTS) & set(EXPONENTS))


def capture(value: int, currency: str, psp: str = "CAP1"):
    item = adyen_item("CAPTURE", psp, 0, "EUR", KEY, original="AUTH1", value=value)["NotificationRequestItem"]
    item["amount"]["currency"] = currency
    item["additionalData"]["hmacSignature"] = adyen.sign(item, KEY)
    return {"NotificationRequestItem": item}


@pytest.mark.parametrize(("code", "decimals"), sorted(adyen.ADYEN_EXPONENTS.items()))
def test_every_currency_adyen_lists_against_iso(code, decimals):
    if code in NOT_ISO:
        assert code not in EXPONENTS
        with pytest.raises(ClientError) as info:
            parse(capture(700, code))
        assert (info.value.status, info.value.param) == (
            400,
            "notificationItems.0.NotificationRequestItem.amount.currency",
        )
        return
    assert (decimals, EXPONENTS[code]) == DIFFERS_FROM_ISO.get(code, (EXPONENTS[code], EXPONENTS[code]))
    # Seven major units as Adyen writes them book seven major units in ISO minor units.
    [posted] = parse(capture(7 * 10**decimals, code))
    assert (posted.canonical.amount, posted.canonical.currency) == (7 * 10 ** EXPONENTS[code], code)


def test_table_shape_and_the_differences_are_exactly_the_documented_ones():
    assert len(adyen.ADYEN_EXPONENTS) == len(adyen._ADYEN_TABLE.split()) // 2  # no code listed twice
    assert set(adyen.ADYEN_EXPONENTS.values()) <= {0, 2, 3}
    differ = {c for c in IN_BOTH if adyen.ADYEN_EXPONENTS[c] != EXPONENTS[c]}
    assert differ == set(DIFFERS_FROM_ISO)
    assert set(adyen.ADYEN_EXPONENTS) - set(EXPONENTS) == NOT_ISO


@pytest.mark.parametrize(
    ("value", "currency", "iso"),
    [
        (100000, "CLP", 1000),  # 1000 pesos: Adyen writes centavos, ISO CLP has none
        (50000, "ISK", 500),  # 500 krónur
        (1000, "CVE", 100000),  # 1000 escudos: zero-decimal at Adyen, two in ISO
        (15000, "IDR", 1500000),  # 15000 rupiah
        (5000, "JPY", 5000),
        (1130, "EUR", 1130),
        (1000, "BHD", 1000),  # three decimals in both
    ],
)
def test_adyen_values_become_iso_minor_units(value, currency, iso):
    [posted] = parse(capture(value, currency))
    assert posted.canonical.amount == iso
    assert adyen.to_adyen_value(iso, currency) == value  # and back


@pytest.mark.parametrize(("value", "currency", "shown"), [(150050, "CLP", "1500.50"), (12345, "ISK", "123.45")])
def test_a_value_iso_cannot_represent_is_a_400_naming_the_field(value, currency, shown):
    with pytest.raises(ClientError) as info:
        parse(capture(100, "EUR", "CAP0"), capture(value, currency))  # all-or-nothing: the batch is refused
    assert (info.value.status, info.value.code) == (400, "invalid_event")
    assert info.value.param == "notificationItems.1.NotificationRequestItem.amount.value"
    assert shown in info.value.message and "not a whole number of ISO-4217 minor units" in info.value.message


def test_an_iso_currency_adyen_does_not_list_is_refused():
    assert "BGN" in EXPONENTS and "BGN" not in adyen.ADYEN_EXPONENTS
    with pytest.raises(ClientError) as info:
        parse(capture(100, "BGN"))
    assert info.value.param.endswith("amount.currency") and "Adyen's currency table" in info.value.message


def test_a_value_too_large_once_converted_is_refused():
    with pytest.raises(ClientError) as info:
        parse(capture(MAX_AMOUNT, "CVE"))  # x100 in ISO minor units
    assert info.value.param.endswith("amount.value")


def test_cancellation_books_nothing_whatever_its_value():
    item = capture(150050, "CLP")["NotificationRequestItem"]  # not a whole ISO peso, but nothing moves
    item["eventCode"] = "CANCELLATION"
    item["additionalData"]["hmacSignature"] = adyen.sign(item, KEY)
    assert parse({"NotificationRequestItem": item})[0].canonical.amount == 0


def test_the_test_helper_writes_adyen_units_and_signs_them():
    item = adyen_item("AUTHORISATION", "A1", 1000, "CLP", KEY)["NotificationRequestItem"]
    assert item["amount"] == {"currency": "CLP", "value": 100000}
    assert ":100000:CLP:" in adyen.signing_string(item)
    assert adyen_item("AUTHORISATION", "A1", 100000, "CVE", KEY)["NotificationRequestItem"]["amount"]["value"] == 1000
    with pytest.raises(InexactAmount):  # 1.50 escudos cannot be written at Adyen's 0 decimals
        adyen_item("AUTHORISATION", "A1", 150, "CVE", KEY)


@given(st.sampled_from(IN_BOTH), st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_adyen_to_iso_never_loses_or_invents_a_minor_unit(currency, value):
    theirs, ours = adyen.ADYEN_EXPONENTS[currency], EXPONENTS[currency]
    try:
        minor = adyen.to_minor_units(value, currency)
    except InexactAmount:
        assert theirs > ours and value % 10 ** (theirs - ours) != 0  # refused only when it would round
        return
    assert Decimal(minor).scaleb(-ours) == Decimal(value).scaleb(-theirs)  # the same money, exactly
    assert adyen.to_adyen_value(minor, currency) == value


@given(st.sampled_from(IN_BOTH), st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_iso_to_adyen_never_loses_or_invents_a_minor_unit(currency, minor):
    theirs, ours = adyen.ADYEN_EXPONENTS[currency], EXPONENTS[currency]
    try:
        value = adyen.to_adyen_value(minor, currency)
    except InexactAmount:
        assert ours > theirs and minor % 10 ** (ours - theirs) != 0
        return
    assert Decimal(value).scaleb(-theirs) == Decimal(minor).scaleb(-ours)
    assert adyen.to_minor_units(value, currency) == minor
