from datetime import UTC, datetime

import pytest

from shared.config import settings_from
from shared.errors import ClientError, NotConfigured
from shared.partners import adyen
from shared.scenario import adyen_item, adyen_notification, encode

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
