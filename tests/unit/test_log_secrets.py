"""The log secret scan (tests/log_secrets.py) can fail: secrets planted in temporary log files are
found, by name and line, and the session-finish check of tests/integration fails the session."""

import base64
import json
from types import SimpleNamespace

import pytest

from shared.config import read_env_file
from tests import log_secrets
from tests.log_secrets import DEV_ENV, Finding, dev_secrets, log_files, scan, secrets_from


def test_every_partner_secret_of_dev_env_is_looked_for():
    values = read_env_file(DEV_ENV)
    secrets = dev_secrets()
    assert secrets["STRIPE_WEBHOOK_SECRET[0]"] == values["STRIPE_WEBHOOK_SECRET"]
    assert secrets["ADYEN_HMAC_KEYS[0]"] == values["ADYEN_HMAC_KEYS"]
    assert secrets["ADYEN_BASIC_AUTH[0] password"] == values["ADYEN_BASIC_AUTH"].split(":", 1)[1]
    assert secrets["GENERIC_WEBHOOK_SECRETS[0]"] == values["GENERIC_WEBHOOK_SECRETS"]
    assert secrets["COLUMN_WEBHOOK_SECRETS[0]"] == values["COLUMN_WEBHOOK_SECRETS"]
    key = base64.b64decode(values["GENERIC_WEBHOOK_SECRETS"].removeprefix("whsec_")).decode()
    assert secrets["GENERIC_WEBHOOK_SECRETS[0] decoded key"] == key


def test_rotation_lists_derived_forms_and_short_values():
    secrets = secrets_from(
        {
            "STRIPE_WEBHOOK_SECRET": "whsec_first_secret_value, whsec_second_secret_value",
            "ADYEN_BASIC_AUTH": "user:long_password_1",
            "GENERIC_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(b"\x00\x01binary key bytes").decode(),
            "COLUMN_WEBHOOK_SECRETS": "short",
        }
    )
    assert secrets["STRIPE_WEBHOOK_SECRET[1]"] == "whsec_second_secret_value"
    assert secrets["ADYEN_BASIC_AUTH[0] Basic token"] == base64.b64encode(b"user:long_password_1").decode()
    assert "GENERIC_WEBHOOK_SECRETS[0] decoded key" not in secrets  # not printable: cannot appear as text
    assert not any(name.startswith("COLUMN") for name in secrets)  # too short to scan for


@pytest.mark.parametrize("name", sorted(dev_secrets()))
def test_a_planted_secret_is_found_by_name_and_line(tmp_path, name):
    secret = dev_secrets()[name]
    logs = tmp_path / "logs"
    (logs / "nested").mkdir(parents=True)
    (logs / "intake.log").write_text('{"message": "webhook accepted"}\n' * 3)
    (logs / "nested" / "ledger.log").write_bytes(
        b'{"message": "ok"}\n\xff\xfe binary noise\n' + json.dumps({"headers": f"x {secret} y"}).encode() + b"\n"
    )
    findings = scan(log_files(logs), dev_secrets())
    assert Finding(logs / "nested" / "ledger.log", 3, name) in findings
    assert all(secret not in str(f) for f in findings)  # reports never repeat the secret


def test_clean_logs_and_a_missing_directory_have_no_findings(tmp_path):
    neighbour = dev_secrets()["STRIPE_WEBHOOK_SECRET[0]"][:-1]  # all but the last character
    (tmp_path / "a.log").write_text(f"signed with {neighbour}?\n")
    assert scan(log_files(tmp_path), dev_secrets()) == []
    assert log_files(tmp_path / "absent") == []


def test_the_session_finish_check_fails_the_session(tmp_path, monkeypatch, capsys):
    from tests.integration import conftest

    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "pids").mkdir()
    (run / "pids" / "intake.json").write_text("{}")
    (run / "logs" / "retries.log").write_text("fine\n" + "auth " + dev_secrets()["ADYEN_BASIC_AUTH[0] Basic token"])
    monkeypatch.setattr(conftest, "settings", lambda: SimpleNamespace(run_dir=run))
    monkeypatch.setattr(log_secrets, "API_KEYS", {})
    session = SimpleNamespace(
        exitstatus=pytest.ExitCode.OK,
        config=SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: None)),
    )
    conftest.pytest_sessionfinish(session, pytest.ExitCode.OK)
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
    out = capsys.readouterr().out
    assert f"{run / 'logs' / 'retries.log'}:2: contains ADYEN_BASIC_AUTH[0] Basic token" in out
    assert dev_secrets()["ADYEN_BASIC_AUTH[0] Basic token"] not in out
    (run / "logs" / "retries.log").write_text("fine\n")
    session.exitstatus = pytest.ExitCode.OK
    conftest.pytest_sessionfinish(session, pytest.ExitCode.OK)
    assert session.exitstatus == pytest.ExitCode.OK
