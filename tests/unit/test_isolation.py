"""The isolation check's comparison (tests/isolation.py): every changed leaf is reported, nothing else."""

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
