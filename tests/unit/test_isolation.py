"""The isolation check's comparison (tests/isolation.py): every changed leaf is reported, nothing else."""

import sys

import pytest

from tests import isolation
from tests.isolation import _by_account, differences


def test_differences_name_every_changed_leaf_and_only_those():
    before = {"datastore": {"Account": 8, "Inbox": 6}, "pubsub": {"subscriptions": {"s": {"backlog": 0}}}}
    after = {
        "datastore": {"Account": 9, "Inbox": 6, "DeadLetter": 1},
        "pubsub": {"subscriptions": {"s": {"backlog": 2}}},
    }
    assert differences(before, after) == [
        "datastore.Account: 8 -> 9",
        "datastore.DeadLetter: None -> 1",
        "pubsub.subscriptions.s.backlog: 0 -> 2",
    ]
    assert differences(before, before) == []


def test_balances_are_compared_per_account_and_currency():
    rows = [{"account": "suspense", "currency": "USD", "posted": 300, "available": 300, "posted_display": "3.00"}]
    assert _by_account(rows) == {"suspense USD": (300, 300)}
    assert _by_account({"exit": 1}) == {"exit": 1}


@pytest.fixture
def dev_stack_runs(monkeypatch):
    """main() against a 'running dev stack' whose snapshots the test scripts (no emulator)."""
    from emulators import ctl

    monkeypatch.setattr(ctl, "healthy", lambda svc, timeout=1.0: True)
    snaps = []
    monkeypatch.setattr(isolation, "settled", lambda cfg, parts, owned: snaps.pop(0))
    return snaps


def test_main_fails_when_the_command_changed_the_dev_stack(dev_stack_runs, capsys):
    dev_stack_runs += [{"datastore": {"Account": 8}}, {"datastore": {"Account": 9}}]
    assert isolation.main(["--", sys.executable, "-c", "pass"]) == 1
    assert "datastore.Account: 8 -> 9" in capsys.readouterr().err


def test_main_passes_on_an_unchanged_dev_stack_and_keeps_the_command_status(dev_stack_runs):
    dev_stack_runs += [{"datastore": {"Account": 8}}] * 2
    assert isolation.main(["--", sys.executable, "-c", "pass"]) == 0
    dev_stack_runs += [{"datastore": {"Account": 8}}] * 2
    assert isolation.main(["--", sys.executable, "-c", "raise SystemExit(3)"]) == 3


def test_a_running_dev_stack_is_never_pulled(monkeypatch):
    calls = []
    monkeypatch.setattr(isolation, "_pubsub", lambda cfg, pull: calls.append(pull) or {})
    isolation.snapshot(None, frozenset({"pubsub"}), owned=False)
    isolation.snapshot(None, frozenset({"pubsub"}), owned=True)
    assert calls == [False, True]
