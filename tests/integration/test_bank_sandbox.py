"""The bank sandbox on the running stack: transfers made through the payments adapter (ColumnApi)
settle, their signed webhooks reach intake and are stored (the settled one published for the payments
function, never booked by the ledger), a timeout after commit is `unknown` until the status query finds
the transfer, and the sandbox's oracle shows every key executed once."""

import uuid

import pytest
import requests

from emulators.bank_sandbox.server import local_api
from shared.adapters.column_api import ColumnApi
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.domain.payments.destinations import Destination

from .conftest import wait_for

DESTINATION = Destination(
    rail="ach", routing_number="021000021", account_number="000123456789", account_holder="Ada Lovelace"
)


@pytest.fixture(scope="module")
def sandbox(cfg):
    base = f"http://127.0.0.1:{cfg.port('bank_sandbox')}"
    requests.get(f"{base}/healthz", timeout=2).raise_for_status()
    for bank in ("column", "lakeside"):
        requests.delete(f"{base}/_control/{bank}/faults", timeout=2).raise_for_status()
        requests.post(f"{base}/_control/{bank}/clock", json={"settle_after_seconds": 0.5}, timeout=2).raise_for_status()
    yield base
    for bank in ("column", "lakeside"):
        requests.delete(f"{base}/_control/{bank}/faults", timeout=2)
        requests.post(f"{base}/_control/{bank}/clock", json={"settle_after_seconds": 2.0}, timeout=2)


def bank_api(cfg, bank: str, timeout_s: float = 5.0) -> ColumnApi:
    url, key = local_api(bank, cfg)
    assert key, f"{bank.upper()}_API_KEY is not set (emulators/dev.env)"
    return ColumnApi(bank, url, key, timeout_s)


def payout_key(attempt: int = 1) -> str:
    return f"po_{uuid.uuid4().hex[:24]}-{attempt}"


def executions(sandbox: str, bank: str) -> dict:
    return requests.get(f"{sandbox}/_control/{bank}/executed", timeout=5).json()["executions"]


@pytest.mark.parametrize("bank", ["column", "lakeside"])
def test_a_transfer_settles_and_its_signed_webhooks_reach_intake(cfg, db, sandbox, bank):
    client = bank_api(cfg, bank)
    key = payout_key()
    created = client.create_transfer(key, 2_500, "USD", DESTINATION, "payout")
    assert created.outcome.kind == "accepted", created
    wait_for(lambda: client.get_transfer(created.reference).status == "settled", timeout=10, what="settled")

    def delivered():
        rows = requests.get(f"{sandbox}/_control/{bank}/webhooks", timeout=5).json()["deliveries"]
        mine = [d for d in rows if d["transfer_id"] == created.reference]
        return mine if len(mine) == 2 and all(d["state"] == "delivered" for d in mine) else None

    deliveries = wait_for(delivered, timeout=15, what="both webhooks delivered")
    assert [d["type"] for d in deliveries] == ["ach.outgoing_transfer.submitted", "ach.outgoing_transfer.settled"]
    assert all(d["statuses"][-1] == 200 for d in deliveries)
    inbox = DatastoreInbox(db)
    for delivery in deliveries:
        stored = inbox.get(f"{bank}:{delivery['event_id']}")
        assert stored is not None and stored.partner_event_type == delivery["type"]
        if delivery["type"] == "ach.outgoing_transfer.settled":  # for the payments function, not the ledger
            assert stored.verdict == "accepted" and stored.event().kind == "bank.transfer_settled"
            assert stored.event().our_reference == key
        else:
            assert stored.verdict == "ignored" and "nothing to apply" in stored.reason
        assert b"000123456789" not in stored.body  # the bank shows the account number masked
    assert executions(sandbox, bank)[key] == 1


def test_a_timeout_after_commit_is_unknown_then_the_status_query_finds_it_executed_once(cfg, sandbox):
    key = payout_key()
    requests.post(
        f"{sandbox}/_control/column/faults", json={"timeout_after_commit_rate": 1.0, "hang_seconds": 3.0}, timeout=5
    ).raise_for_status()
    try:
        answer = bank_api(cfg, "column", timeout_s=0.5).create_transfer(key, 1_000, "USD", DESTINATION, "payout")
    finally:
        requests.delete(f"{sandbox}/_control/column/faults", timeout=5)
    assert (answer.call.failure, answer.outcome.kind) == ("timeout", "unknown")
    found = bank_api(cfg, "column").find_transfer(key)
    assert found.outcome.kind == "accepted" and found.reference.startswith("acht_")
    assert executions(sandbox, "column")[key] == 1


def test_a_duplicate_create_with_the_same_key_executes_once(cfg, sandbox):
    client = bank_api(cfg, "column")
    key = payout_key()
    first = client.create_transfer(key, 700, "USD", DESTINATION, "payout")
    again = client.create_transfer(key, 700, "USD", DESTINATION, "payout")
    assert (first.call.status, again.call.status) == (201, 200)
    assert first.reference == again.reference
    assert executions(sandbox, "column")[key] == 1
    oracle = requests.get(f"{sandbox}/_control/executed", timeout=5).json()
    assert key.rsplit("-", 1)[0] not in oracle["executed_twice"]
    assert oracle["banks"]["column"]["max_executions_per_key"] == 1
