"""The Column-style bank adapter (shared/adapters/column_api.py) against the bank sandbox served in this
process on a free port: real sockets, so timeouts, closed connections and refused connects are what
requests really raises. Each call must be described exactly as outcomes.classify expects."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import requests
import urllib3.exceptions
from werkzeug.serving import make_server

from emulators.bank_sandbox.bank import Sandbox
from emulators.bank_sandbox.server import create_app
from shared.adapters.column_api import ColumnApi, failure_of, retry_after
from shared.domain.payments.destinations import Destination
from shared.payments.partners import BankTransfers

KEYS = {"column": "col_test_key_123", "lakeside": "lak_test_key_456"}
ACCOUNT = "000123456789"
KEY = "po_3f9c0a1b2c3d4e5f60718293-1"


def destination(account: str = ACCOUNT) -> Destination:
    return Destination(rail="ach", routing_number="021000021", account_number=account, account_holder="Ada Lovelace")


@pytest.fixture
def bank():
    sandbox = Sandbox(KEYS, settle_after=60.0)
    server = make_server("127.0.0.1", 0, create_app(sandbox), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    yield sandbox, base
    server.shutdown()


def api(base: str, bank: str = "column", timeout_s: float = 2.0, key: str | None = None) -> ColumnApi:
    return ColumnApi(bank, f"{base}/{bank}", key or KEYS[bank], timeout_s)


def faults(base: str, bank: str = "column", **body) -> None:
    requests.post(f"{base}/_control/{bank}/faults", json=body, timeout=2).raise_for_status()


def create(client: ColumnApi, key: str = KEY, account: str = ACCOUNT):
    return client.create_transfer(key, 1234, "usd", destination(account), "payout")


def executions(base: str, bank: str = "column") -> dict:
    return requests.get(f"{base}/_control/{bank}/executed", timeout=2).json()["executions"]


def test_it_plays_the_port(bank):
    assert isinstance(api(bank[1]), BankTransfers)


def test_an_accepted_create_and_the_status_queries(bank):
    _, base = bank
    client = api(base)
    assert client.find_transfer(KEY).outcome.kind == "not_found"
    created = create(client)
    assert (created.outcome.kind, created.call.status, created.status) == ("accepted", 201, "submitted")
    assert created.reference.startswith("acht_")
    found = client.find_transfer(KEY)
    assert (found.outcome.kind, found.reference, found.call.call) == ("accepted", created.reference, "status")
    got = client.get_transfer(created.reference)
    assert (got.outcome.kind, got.status) == ("accepted", "submitted")
    assert client.get_transfer("acht_unknown").outcome.kind == "not_found"
    replay = create(client)
    assert (replay.outcome.kind, replay.call.status, replay.reference) == ("accepted", 200, created.reference)
    assert executions(base) == {KEY: 1}


def test_a_settled_then_returned_transfer_carries_its_return_code(bank):
    sandbox, base = bank
    client = api(base)
    created = create(client, account="1111111111")
    sandbox.settle_now("column", 0.0)
    assert client.get_transfer(created.reference).status == "settled"
    requests.post(f"{base}/_control/column/return/{created.reference}", json={"code": "R01"}, timeout=2)
    returned = client.find_transfer(KEY)
    assert (returned.status, returned.return_code, returned.outcome.kind) == ("returned", "R01", "accepted")


def test_a_rejected_transfer_found_by_the_status_query_is_declined(bank):
    sandbox, base = bank
    client = api(base)
    create(client, account="5555555555")
    sandbox.settle_now("column", 0.0)
    found = client.find_transfer(KEY)
    assert (found.status, found.call.body_code, found.outcome.kind) == ("rejected", "rejected", "declined")


@pytest.mark.parametrize(
    ("account", "status", "code", "kind"),
    [("8888888888", 400, "account_closed", "invalid"), ("7777777777", 422, "transfer_declined", "declined")],
)
def test_refusals_before_acceptance(bank, account, status, code, kind):
    _, base = bank
    answer = create(api(base), account=account)
    assert (answer.call.status, answer.call.body_code, answer.outcome.kind, answer.reference) == (
        status,
        code,
        kind,
        None,
    )


def test_a_timeout_after_commit_is_unknown_and_the_status_query_finds_it(bank):
    _, base = bank
    faults(base, timeout_after_commit_rate=1.0, hang_seconds=3.0)
    client = api(base, timeout_s=0.5)
    answer = create(client)
    assert (answer.call.failure, answer.call.status, answer.outcome.kind) == ("timeout", None, "unknown")
    found = client.find_transfer(KEY)
    assert found.outcome.kind == "accepted" and found.reference.startswith("acht_")
    assert executions(base) == {KEY: 1}


def test_a_connection_closed_after_commit_is_a_reset_and_unknown(bank):
    _, base = bank
    faults(base, timeout_after_commit_rate=1.0, timeout_mode="close")
    client = api(base)
    answer = create(client)
    assert (answer.call.failure, answer.outcome.kind) == ("connection_reset", "unknown")
    assert client.find_transfer(KEY).outcome.kind == "accepted"


def test_5xx_after_commit_is_unknown_before_commit_too(bank):
    _, base = bank
    faults(base, error_after_commit_rate=1.0)
    answer = create(api(base))
    assert (answer.call.status, answer.call.body_code, answer.outcome.kind) == (500, "internal_error", "unknown")
    assert executions(base) == {KEY: 1}


def test_rate_limit_is_retry_later_with_the_banks_delay(bank):
    _, base = bank
    faults(base, rate_limit_rate=1.0)
    answer = create(api(base))
    assert (answer.call.status, answer.call.retry_after_s, answer.outcome.kind) == (429, 1.0, "retry_later")
    assert answer.outcome.retry_after_s == 1.0
    status = api(base).find_transfer(KEY)  # a rate-limited status query confirms nothing
    assert status.outcome.kind == "retry_later"


def test_an_outage_is_503_unknown(bank):
    _, base = bank
    faults(base, outage_seconds=30)
    assert create(api(base)).outcome.kind == "unknown"
    assert api(base).find_transfer(KEY).outcome.kind == "unknown"


def test_a_refused_connection_is_connect_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    answer = create(ColumnApi("column", f"http://127.0.0.1:{port}/column", "k", 1.0))
    assert (answer.call.failure, answer.outcome.kind) == ("connect_failed", "retry_later")


def test_a_wrong_key_is_401_refused(bank):
    _, base = bank
    answer = create(api(base, key="nope"))
    assert (answer.call.status, answer.call.body_code) == (401, "unauthorized")


def test_neither_the_account_number_nor_the_key_is_logged_or_shown(bank, caplog):
    _, base = bank
    client = api(base)
    with caplog.at_level(logging.INFO, logger="ledgerline.payments.bank"):
        answer = create(client)
        client.find_transfer(KEY)
        faults(base, timeout_after_commit_rate=1.0, timeout_mode="close")
        create(client, key=KEY.replace("-1", "-2"))
    records = [r for r in caplog.records if r.name == "ledgerline.payments.bank"]
    text = caplog.text + " ".join(str(r.__dict__) for r in records)
    assert len(records) == 3
    assert ACCOUNT not in text and KEYS["column"] not in text
    assert ACCOUNT not in repr(answer) and KEYS["column"] not in repr(client)
    assert records[0].outcome == "accepted" and records[0].subject == KEY


def test_timeouts_are_explicit():
    assert ColumnApi("column", "http://x/column", "k", 5.0).timeout == (3.0, 5.0)
    assert ColumnApi("column", "http://x/column", "k", 1.0, connect_timeout_s=0.5).timeout == (0.5, 1.0)
    with pytest.raises(ValueError):
        ColumnApi("column", "http://x/column", "k", 0)


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (requests.ConnectTimeout("connect"), "connect_failed"),
        (requests.ReadTimeout("read"), "timeout"),
        (
            requests.ConnectionError(
                urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "refused"))
            ),
            "connect_failed",
        ),
        (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.")), "connection_reset"),
        (requests.ConnectionError("something unclear"), "connection_reset"),
        (requests.exceptions.ChunkedEncodingError("broken"), "connection_reset"),
    ],
)
def test_requests_exceptions_map_to_call_failures(exc, failure):
    assert failure_of(exc) == failure


def test_a_request_exception_that_is_our_bug_is_raised():
    with pytest.raises(requests.exceptions.InvalidURL):
        failure_of(requests.exceptions.InvalidURL("bad url"))


def test_retry_after_seconds_or_http_date():
    assert retry_after("2", 0) == 2.0
    assert retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4.0) == 6.0
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None
