"""The Stripe card processor adapter over the real SDK, with a fake `requests` session under the SDK's own
RequestsClient: what goes on the wire (amounts in Stripe's units, our ids in metadata, the idempotency
key) and how every SDK exception maps onto the domain's PartnerCall / Outcome."""

from __future__ import annotations

import json
import logging
import urllib.parse
from datetime import UTC, datetime
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
import requests
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

from shared.adapters.stripe_payments import LOOKUP_SLACK_S, ProcessorMismatch, StripePayments, stripe_payments
from shared.config import ConfigError, settings_from

KEY = "sk_test_unit_5f1e"
BASE = "http://stripe.invalid:8420"
PY, RE = "py_0123456789abcdef01234567", "re_0123456789abcdef01234567"


class Answer:
    """What the fake session returns for one request (the SDK reads .content, .status_code, .headers)."""

    def __init__(self, status: int, body, headers: dict | None = None):
        self.status_code = status
        self.content = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = CaseInsensitiveDict(headers or {})


class FakeSession:
    """Scripted answers (an Answer, or an exception to raise); records every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, headers=None, data=None, timeout=None, **kwargs):
        self.sent.append(SimpleNamespace(method=method, url=url, headers=headers or {}, data=data, timeout=timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def form(self, i: int = -1) -> dict:
        data = self.sent[i].data or ""
        return dict(urllib.parse.parse_qsl(data.decode() if isinstance(data, bytes) else data))

    def query(self, i: int = -1) -> dict:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.sent[i].url).query))


def intent(amount=1999, currency="usd", status="succeeded", id="pi_unit1", payment=PY) -> dict:
    return {
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "currency": currency,
        "status": status,
        "metadata": {"ledgerline_payment": payment, "ledgerline_customer": "cust_1"},
    }


def refund(amount=500, currency="usd", status="succeeded", id="re_unit1", ours=RE) -> dict:
    return {
        "id": id,
        "object": "refund",
        "amount": amount,
        "currency": currency,
        "status": status,
        "metadata": {"ledgerline_refund": ours},
    }


def listing(*objects, has_more=False, url="/v1/payment_intents") -> dict:
    return {"object": "list", "data": list(objects), "has_more": has_more, "url": url}


def error(status, type_, **fields) -> Answer:
    return Answer(status, {"error": {"type": type_, "message": fields.pop("message", "refused"), **fields}})


def processor(*answers) -> tuple[StripePayments, FakeSession]:
    session = FakeSession(*answers)
    return StripePayments(KEY, BASE, 10.0, session=session), session


def pay(p: StripePayments, amount=1999, currency="USD", method="pm_card_visa"):
    return p.create_payment(f"{PY}-1", PY, "cust_1", amount, currency, method)


# ---------------------------------------------------------------------- what is sent


def test_a_payment_is_one_confirmed_payment_intent_with_our_ids_and_key():
    p, session = processor(Answer(200, intent()))
    result = pay(p)
    assert (result.outcome.kind, result.reference, result.status, result.amount, result.currency) == (
        "accepted",
        "pi_unit1",
        "succeeded",
        1999,
        "USD",
    )
    (sent,) = session.sent
    assert (sent.method, sent.url) == ("post", f"{BASE}/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == f"{PY}-1"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert session.form() == {
        "amount": "1999",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "payment_method_types[0]": "card",
        "metadata[ledgerline_payment]": PY,
        "metadata[ledgerline_customer]": "cust_1",
    }
    assert sent.timeout == (5.0, 10.0)


@pytest.mark.parametrize(
    ("amount", "currency", "stripe_amount"),
    [(1500, "JPY", "1500"), (5, "ISK", "500"), (1234, "BHD", "1234"), (300, "MGA", "3"), (1999, "usd", "1999")],
)
def test_amounts_are_converted_to_stripes_units_exactly_and_back(amount, currency, stripe_amount):
    p, session = processor(Answer(200, intent(int(stripe_amount), currency.lower())))
    result = pay(p, amount, currency)
    assert session.form()["amount"] == stripe_amount
    assert (result.amount, result.currency) == (amount, currency.upper())


def test_an_amount_stripe_cannot_hold_exactly_is_refused_before_any_call():
    p, session = processor()
    result = pay(p, 150, "MGA")  # MGA: 2 decimals in ISO, none at Stripe: 1.50 would need rounding
    assert (result.outcome.kind, result.call.body_code, session.sent) == ("invalid", "invalid_amount", [])
    with pytest.raises(TypeError):
        pay(p, 19.99)


def test_a_refund_names_the_payment_intent_and_carries_our_refund_id():
    p, session = processor(Answer(200, refund(amount=500, currency="jpy")))
    result = p.create_refund(f"{RE}-1", RE, "pi_unit1", 500, "JPY")
    assert (result.outcome.kind, result.reference, result.amount, result.currency) == (
        "accepted",
        "re_unit1",
        500,
        "JPY",
    )
    assert session.sent[0].url == f"{BASE}/v1/refunds"
    assert session.sent[0].headers["Idempotency-Key"] == f"{RE}-1"
    assert session.form() == {"payment_intent": "pi_unit1", "amount": "500", "metadata[ledgerline_refund]": RE}


# ---------------------------------------------------------------------- the SDK's exceptions, mapped


def test_a_card_decline_is_declined_with_stripes_decline_code_and_the_failed_intent():
    body = dict(
        code="card_declined", decline_code="insufficient_funds", payment_intent=intent(status="requires_payment_method")
    )
    p, _ = processor(error(402, "card_error", **body))
    result = pay(p, method="pm_card_visa_chargeDeclinedInsufficientFunds")
    assert (result.call.status, result.call.body_code, result.outcome.kind) == (402, "insufficient_funds", "declined")
    assert (result.decline_code, result.reference, result.status) == (
        "insufficient_funds",
        "pi_unit1",
        "requires_payment_method",
    )


def test_a_decline_without_a_decline_code_keeps_stripes_error_code():
    p, _ = processor(error(402, "card_error", code="expired_card"))
    assert pay(p).call.body_code == "expired_card"


@pytest.mark.parametrize("header", ["7", "7.5"])
def test_rate_limited_is_retry_later_after_stripes_retry_after(header):
    p, session = processor(
        Answer(429, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}, {"Retry-After": header})
    )
    result = pay(p)
    assert (result.call.status, result.outcome.kind, result.outcome.retry_after_s) == (
        429,
        "retry_later",
        float(header),
    )
    assert len(session.sent) == 1


def test_a_retry_after_date_is_read_as_seconds_from_now():
    later = format_datetime(datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, UTC), usegmt=True)
    p, _ = processor(Answer(429, {"error": {"type": "rate_limit_error"}}, {"Retry-After": later}))
    assert 100 < pay(p).outcome.retry_after_s <= 120


@pytest.mark.parametrize(
    ("status", "code", "kind", "body_code"),
    [
        (400, "amount_too_small", "invalid", "invalid_amount"),
        (400, "amount_too_large", "invalid", "invalid_amount"),
        (400, "parameter_missing", "declined", "parameter_missing"),
        (404, "resource_missing", "declined", "resource_missing"),
    ],
)
def test_an_invalid_request_keeps_its_status_and_code(status, code, kind, body_code):
    p, _ = processor(error(status, "invalid_request_error", code=code))
    result = pay(p)
    assert (result.call.status, result.call.body_code, result.outcome.kind) == (status, body_code, kind)


def test_the_same_key_with_other_parameters_is_unknown_never_a_decline():
    # Stripe's 400 idempotency_error says a request with this key exists: it may have executed.
    p, _ = processor(
        error(
            400, "idempotency_error", message="Keys for idempotent requests can only be used with the same parameters"
        )
    )
    result = pay(p)
    assert (result.call.status, result.call.body_code, result.outcome.kind) == (409, "idempotency_error", "unknown")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_unknown_and_the_sdk_does_not_retry_a_create(status):
    p, session = processor(error(status, "api_error"), Answer(200, intent()))
    result = pay(p)
    assert (result.call.status, result.outcome.kind, len(session.sent)) == (status, "unknown", 1)


def test_authentication_and_permission_errors_keep_their_status():
    p, _ = processor(error(401, "invalid_request_error"), error(403, "invalid_request_error"))
    assert [pay(p).call.status, pay(p).call.status] == [401, 403]


def _refused() -> requests.exceptions.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/v1/payment_intents", reason))


@pytest.mark.parametrize(
    ("raised", "failure", "kind"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), "connect_failed", "retry_later"),
        (_refused(), "connect_failed", "retry_later"),
        (requests.exceptions.SSLError("handshake failed"), "connect_failed", "retry_later"),
        (requests.exceptions.ReadTimeout("read timed out"), "timeout", "unknown"),
        (
            requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("reset", ConnectionResetError())),
            "connection_reset",
            "unknown",
        ),
        (requests.exceptions.ChunkedEncodingError("body cut short"), "connection_reset", "unknown"),
        (RuntimeError("something else"), "connection_reset", "unknown"),
    ],
)
def test_connection_errors_are_connect_failed_only_when_nothing_was_sent(raised, failure, kind):
    p, session = processor(raised, Answer(200, intent()))
    result = pay(p)
    assert (result.call.status, result.call.failure, result.outcome.kind) == (None, failure, kind)
    assert len(session.sent) == 1  # no SDK retry: one attempt, so "nothing was sent" is exact


def test_an_unreadable_answer_may_have_executed():
    p, _ = processor(Answer(200, b"<html>proxy</html>"))
    result = pay(p)
    assert (result.call.failure, result.call.body_code, result.outcome.kind) == (
        "connection_reset",
        "unreadable_response",
        "unknown",
    )


# ---------------------------------------------------------------------- lookups by our id


SINCE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_find_payment_pages_through_the_window_and_matches_our_id():
    other = intent(id="pi_other", payment="py_someoneelse000000000000")
    p, session = processor(
        Answer(200, listing(other, has_more=True)), Answer(200, listing(intent(id="pi_ours", status="processing")))
    )
    result = p.find_payment(PY, SINCE)
    assert (result.call.call, result.outcome.kind, result.reference, result.status) == (
        "status",
        "accepted",
        "pi_ours",
        "processing",
    )
    assert session.query(0) == {"created[gte]": str(int(SINCE.timestamp()) - LOOKUP_SLACK_S), "limit": "100"}
    assert session.query(1)["starting_after"] == "pi_other"


def test_find_payment_with_nothing_of_ours_is_a_confirmed_not_found():
    p, _ = processor(Answer(200, listing(intent(id="pi_other", payment="py_someoneelse000000000000"))))
    result = p.find_payment(PY, SINCE)
    assert (result.call.status, result.outcome.kind) == (404, "not_found")


def test_two_processor_payments_for_one_id_are_both_reported(caplog):
    p, _ = processor(Answer(200, listing(intent(id="pi_a", status="requires_payment_method"), intent(id="pi_b"))))
    with caplog.at_level(logging.ERROR, "ledgerline.stripe_payments"):
        result = p.find_payment(PY, SINCE)
    assert (result.reference, result.others) == ("pi_b", ("pi_a",))  # the succeeded one first
    assert "several processor objects" in caplog.text


def test_find_payment_by_reference_checks_it_is_ours():
    p, session = processor(Answer(200, intent(id="pi_ours")), Answer(200, intent(id="pi_x", payment="py_other")))
    assert p.find_payment(PY, SINCE, reference="pi_ours").reference == "pi_ours"
    assert session.sent[0].url == f"{BASE}/v1/payment_intents/pi_ours"
    with pytest.raises(ProcessorMismatch):
        p.find_payment(PY, SINCE, reference="pi_x")


def test_lookups_may_retry_in_the_sdk_they_execute_nothing(monkeypatch):
    monkeypatch.setattr("stripe._http_client.HTTPClient._sleep_time_seconds", lambda self, n: 0)
    p, session = processor(error(500, "api_error"), Answer(200, listing(intent())))
    assert p.find_payment(PY, SINCE).outcome.kind == "accepted"
    assert len(session.sent) == 2


def test_a_failed_lookup_confirms_nothing():
    p, _ = processor(
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ReadTimeout("slow"),
    )
    assert p.find_payment(PY, SINCE).outcome.kind == "unknown"


def test_find_refund_lists_the_payments_refunds():
    p, session = processor(
        Answer(200, listing(refund(id="re_other", ours="re_x"), refund(id="re_ours"), url="/v1/refunds")),
        Answer(200, listing(url="/v1/refunds")),
    )
    found = p.find_refund(RE, "pi_unit1")
    assert (found.outcome.kind, found.reference) == ("accepted", "re_ours")
    assert session.query(0) == {"payment_intent": "pi_unit1", "limit": "100"}
    assert p.find_refund(RE, "pi_unit1").outcome.kind == "not_found"


# ---------------------------------------------------------------------- settings


def test_settings_point_the_sdk_at_localstripe_locally_and_at_stripe_in_the_cloud():
    local = settings_from({"LOCALSTRIPE_PORT": "18420", "STRIPE_API_KEY": KEY})
    assert local.stripe_api_base == "http://127.0.0.1:18420"
    assert settings_from({"STRIPE_API_BASE": "http://elsewhere:1/"}).stripe_api_base == "http://elsewhere:1"
    assert settings_from({"K_SERVICE": "payments"}).stripe_api_base is None
    adapter = stripe_payments(local)
    assert adapter._client._requestor.base_addresses["api"] == "http://127.0.0.1:18420"
    assert KEY not in repr(local)


@pytest.mark.parametrize("value", ["", "pk_test_public", "sk_test_a,sk_test_b", "whsec_x"])
def test_a_missing_or_malformed_api_key_is_a_config_error_naming_the_variable(value):
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        stripe_payments(settings_from({"STRIPE_API_KEY": value}))


def test_the_api_key_is_never_logged(caplog):
    p, _ = processor(error(402, "card_error", code="card_declined"), Answer(200, intent()))
    with caplog.at_level(logging.DEBUG):
        pay(p)
        pay(p)
    records = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "stripe call" in records and KEY not in records


def test_a_fresh_stack_derives_its_own_stripe_base_from_its_shifted_port():
    from emulators.ctl import isolated_environ

    isolated = isolated_environ({"LEDGERLINE_TEST_PORT_OFFSET": "14000", "STRIPE_API_BASE": "http://127.0.0.1:8420"})
    assert isolated["LOCALSTRIPE_PORT"] == "22420"
    assert isolated["STRIPE_API_BASE"] is None  # dropped: derived again from the shifted port
    assert (
        settings_from({k: v for k, v in isolated.items() if v is not None}).stripe_api_base == "http://127.0.0.1:22420"
    )


def test_localstripe_is_started_as_an_emulator_with_its_data_only_where_the_datastores_is(tmp_path):
    from emulators.ctl import services

    dev = settings_from({"LEDGERLINE_RUN_DIR": str(tmp_path)})
    (svc,) = [s for s in services(dev) if s.name == "localstripe"]
    assert svc.group == "emulator" and svc.health == "ok:http://127.0.0.1:8420/js.stripe.com/v3/"
    assert svc.argv[-2:] == ["--store", str(tmp_path / "data" / "localstripe" / "store.pickle")]
    test = settings_from({"LEDGERLINE_RUN_DIR": str(tmp_path), "LEDGERLINE_DATASTORE_ON_DISK": "false"})
    (svc,) = [s for s in services(test) if s.name == "localstripe"]
    assert "--store" not in svc.argv


def test_the_webhook_is_registered_under_one_id_with_the_first_secret(monkeypatch):
    from emulators import localstripe_setup

    sent = []

    class Done:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(localstripe_setup.urllib.request, "urlopen", lambda req, timeout: sent.append(req) or Done())
    cfg = settings_from(
        {"STRIPE_WEBHOOK_SECRET": "whsec_new,whsec_old", "INTAKE_PORT": "18080", "LOCALSTRIPE_PORT": "18420"}
    )
    assert localstripe_setup.register_stripe_webhooks(cfg) == "http://127.0.0.1:18080/webhooks/stripe"
    localstripe_setup.register_stripe_webhooks(cfg)
    assert [r.full_url for r in sent] == ["http://127.0.0.1:18420/_config/webhooks/ledgerline-intake"] * 2
    assert json.loads(sent[0].data) == {"url": "http://127.0.0.1:18080/webhooks/stripe", "secret": "whsec_new"}
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        localstripe_setup.register_stripe_webhooks(settings_from({}))
