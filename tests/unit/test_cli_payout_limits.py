"""`ledgerline payout-limits get|set` over the memory store: the default until a change, every change
recorded with who, when, old and new; bad values refused with nothing written."""

import json

import pytest

import shared.cli as cli
from shared import bootstrap
from shared.adapters.memory_inbox import MemoryInbox
from shared.adapters.memory_store import MemoryStore
from shared.config import settings_from


@pytest.fixture
def root(monkeypatch):
    cfg = settings_from(
        {
            "LEDGERLINE_ENV": "local",
            "LEDGERLINE_PAYOUT_DEFAULT_LIMITS": '{"USD":{"max_single":100,"daily_outflow":500}}',
        }
    )
    r = bootstrap.Root(cfg)
    r.__dict__["store"] = MemoryStore()
    r.__dict__["inbox"] = MemoryInbox()
    r.__dict__["schedule"] = lambda task, at: True  # no Cloud Tasks here: the audit sweep is asked for, never run
    monkeypatch.setattr(cli.bootstrap, "root", lambda cfg=None: r)
    return r


def run(capsys, *argv):
    code = cli.main(["--json", *argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_get_shows_the_default_then_set_records_the_change(root, capsys, monkeypatch):
    code, out, _ = run(capsys, "payout-limits", "get", "cus_a", "usd")
    assert code == 0 and (out["max_single"], out["daily_outflow"], out["source"]) == (100, 500, "default")
    code, out, _ = run(capsys, "payout-limits", "set", "cus_a", "USD", "--max-single", "7", "--daily-outflow", "9")
    assert code == 0 and (out["max_single"], out["daily_outflow"], out["source"]) == (7, 9, "customer")
    assert out["history"][0]["actor"].startswith("cli:") and out["history"][0]["old"] is None
    assert out["request"]["status"] == "executed"  # a cut: at once
    monkeypatch.setenv("LEDGERLINE_OPERATOR", "ops@example.com")
    run(capsys, "payout-limits", "set", "cus_a", "USD", "--max-single", "8", "--daily-outflow", "9")
    code, out, _ = run(capsys, "payout-limits", "get", "cus_a", "USD")
    assert [(c["actor"], c["old"], c["new"]) for c in out["history"]][-1] == ("ops@example.com", [7, 9], [8, 9])
    assert root.store.data["PayoutLimits"]["cus_a|USD"]["version"] == 2
    # a raise from 9 to 10,000,000 cents: at or above the $1,000 threshold, a second operator approves it
    code, out, _ = run(
        capsys, "payout-limits", "set", "cus_a", "USD", "--max-single", "8", "--daily-outflow", "10000000"
    )
    assert (code, out["daily_outflow"], out["request"]["status"]) == (0, 9, "pending")
    code, _, err = run(capsys, "requests", "approve", out["request"]["id"])
    assert code == 1 and "self_approval" in err
    monkeypatch.setenv("LEDGERLINE_OPERATOR", "bo@example.com")
    assert run(capsys, "requests", "approve", out["request"]["id"])[1]["status"] == "executed"
    assert run(capsys, "payout-limits", "get", "cus_a", "USD")[1]["daily_outflow"] == 10_000_000
    actions = [e["action"] for e in run(capsys, "audit-log")[1]]
    assert actions == ["limit_change", "request:limit_change", "limit_change", "limit_change"]
    code, out, _ = run(capsys, "payout-limits", "get", "cus_a", "EUR")
    assert out["source"] == "none" and out["max_single"] == 0


def test_bad_values_are_refused_and_write_nothing(root, capsys):
    for argv in (
        ("set", "cus_a", "USD", "--max-single", "-1", "--daily-outflow", "9"),
        ("set", "cus_a", "USD", "--max-single", "1"),
        ("get", "cus_a", "XYZ"),
    ):
        code, _, err = run(capsys, "payout-limits", *argv)
        assert code == 2 and err.startswith("error:"), argv
    assert not root.store.data.get("PayoutLimits")


def test_tenant_and_key_changes_are_in_the_audit_log_without_the_secret(root, capsys, monkeypatch):
    monkeypatch.setenv("LEDGERLINE_OPERATOR", "ana@example.com")
    assert run(capsys, "tenants", "create", "acme", "--reason", "onboarding #7")[0] == 0
    assert run(capsys, "tenants", "add-customer", "acme", "cus_1")[0] == 0
    code, key, _ = run(capsys, "api-keys", "create", "--tenant", "acme", "--scopes", "read", "--reason", "their app")
    assert code == 0
    assert run(capsys, "api-keys", "revoke", key["key_id"], "--reason", "leaked")[0] == 0
    entries = run(capsys, "audit-log")[1]
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("api_key_change", key["key_id"], "ana@example.com"),
        ("api_key_change", key["key_id"], "ana@example.com"),
        ("tenant_change", "acme", "ana@example.com"),
        ("tenant_change", "acme", "ana@example.com"),
    ]
    assert [e["reason"] for e in entries] == ["leaked", "their app", "cli", "onboarding #7"]
    assert key["api_key"] not in json.dumps(root.store.data["AuditEntry"], default=str)
    assert run(capsys, "audit-log", "--verify")[1]["ok"] is True
