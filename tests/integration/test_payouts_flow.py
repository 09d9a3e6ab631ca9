"""Payouts through the running stack: a payout (its hold placed in Datastore) is handed to the payments
function as a Cloud Tasks step; the function calls the bank sandbox, the sandbox's signed webhooks go
through intake and Pub/Sub back to the payments function, and the payout ends paid (or failed, or
returned) with the ledger moved exactly once. The sandbox's record of executed transfers is the
oracle: never two executions for one payout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import requests

from shared import bootstrap
from shared.demo import Delivery, encode, payment_intent_succeeded, send
from shared.domain.payments.destinations import Destination
from shared.ledger import balances
from shared.recovery.policies import Task

from .conftest import posted, wait_for

BANKS = ("column", "lakeside")


@pytest.fixture(scope="module")
def root(cfg):
    return bootstrap.root(cfg)


@pytest.fixture
def sandbox(cfg):
    base = f"http://127.0.0.1:{cfg.port('bank_sandbox')}"
    for bank in BANKS:
        requests.delete(f"{base}/_control/{bank}/faults", timeout=5).raise_for_status()
        requests.post(f"{base}/_control/{bank}/clock", json={"settle_after_seconds": 0.5}, timeout=5).raise_for_status()
    yield base
    for bank in BANKS:
        requests.delete(f"{base}/_control/{bank}/faults", timeout=5)


def faults(sandbox: str, bank: str, **settings) -> None:
    requests.post(f"{sandbox}/_control/{bank}/faults", json=settings, timeout=5).raise_for_status()


def executed(sandbox: str, payout_id: str) -> dict:
    return requests.get(f"{sandbox}/_control/executed", timeout=5).json()["payouts"].get(payout_id, {"executed": 0})


@pytest.fixture
def customer(db, intake, secret):
    """A customer whose wallet holds 10,000 (a Stripe pay-in through intake, posted by the ledger)."""
    name = f"cus_po{uuid.uuid4().hex[:12]}"
    evt, pi = f"evt_po{uuid.uuid4().hex[:16]}", f"pi_po{uuid.uuid4().hex[:16]}"
    body = encode(payment_intent_succeeded(evt, pi, 10_000, "usd", name))
    assert send(intake, Delivery("fund", body, secret, 200, "accepted")).status_code == 200
    posted(db, f"stripe:{evt}")
    return name


def wallet(root, customer: str):
    return balances.balances(root.store, f"customer:{customer}:wallet")["USD"]


def pay_out(root, customer: str, amount: int, account: str = "000123456789") -> str:
    destination = Destination(rail="ach", routing_number="021000021", account_number=account, account_holder="Ada L")
    applied = bootstrap.payouts(root).request(
        customer, uuid.uuid4().hex, f"customer:{customer}:wallet", amount, "USD", destination
    )  # the dev default limits (emulators/dev.env) apply
    pid = applied.payout.payout.payout_id
    assert bootstrap.payments_schedule(root)(Task("payout-step", pid), datetime.now(UTC))
    return pid


def final(root, pid: str, status: str, timeout: float = 30.0):
    def reached():
        found = bootstrap.payouts(root).get(pid).payout
        return found if found.status == status else None

    return wait_for(reached, timeout=timeout, what=f"{pid} {status}")


def test_a_payout_is_paid_once_through_the_first_bank(root, sandbox, customer):
    pid = pay_out(root, customer, 2_500)
    held = wallet(root, customer)
    assert (held.posted, held.available) == (10_000, 7_500)  # the hold, at once
    payout = final(root, pid, "paid")
    assert [(a.partner, a.state) for a in payout.attempts] == [("column", "accepted")]
    assert (wallet(root, customer).posted, wallet(root, customer).pending_out) == (7_500, 0)
    assert executed(sandbox, pid) == {"executed": 1, "banks": ["column"]}


def test_a_timeout_after_the_bank_committed_is_queried_and_paid_once(root, sandbox, customer):
    # the create commits and hangs past the client's 5 s; the transfer settles (and says so) only later,
    # so what finds it is the status query, not its webhook
    faults(sandbox, "column", timeout_after_commit_rate=1.0, hang_seconds=7)
    requests.post(f"{sandbox}/_control/column/clock", json={"settle_after_seconds": 12}, timeout=5).raise_for_status()
    pid = pay_out(root, customer, 1_000)
    payout = final(root, pid, "paid", timeout=45)
    assert [a.state for a in payout.attempts] == ["accepted"]  # one attempt: found by the status query
    assert [t.event for t in payout.timeline] == ["requested", "submit", "unknown", "accepted", "settled"]
    assert executed(sandbox, pid) == {"executed": 1, "banks": ["column"]}
    assert wallet(root, customer).posted == 9_000


def test_a_decline_at_the_first_bank_fails_over_to_the_second(root, sandbox, customer):
    faults(sandbox, "column", decline_rate=1.0)
    pid = pay_out(root, customer, 1_200)
    payout = final(root, pid, "paid")
    assert [(a.partner, a.state) for a in payout.attempts] == [("column", "declined"), ("lakeside", "accepted")]
    assert executed(sandbox, pid) == {"executed": 1, "banks": ["lakeside"]}


def test_a_return_after_paid_gives_the_money_back(root, sandbox, customer):
    pid = pay_out(root, customer, 3_000, account="1111111111")
    payout = final(root, pid, "returned")
    assert payout.return_code == "R01"
    assert (wallet(root, customer).posted, wallet(root, customer).available) == (10_000, 10_000)


def test_a_closed_account_fails_the_payout_and_releases_the_hold(root, sandbox, customer):
    pid = pay_out(root, customer, 4_000, account="8888888888")
    payout = final(root, pid, "failed")
    assert payout.failure_reason.startswith("invalid")
    assert wallet(root, customer).available == 10_000
    assert executed(sandbox, pid)["executed"] == 0


def test_no_function_logs_an_account_number(cfg, root, sandbox, customer):
    pid = pay_out(root, customer, 500, account="000987654321")
    final(root, pid, "paid")
    logs = sorted((cfg.run_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"payments", "intake", "ledger", "bank-sandbox"}
    leaked = [p.name for p in logs if "000987654321" in p.read_text(errors="replace")]
    assert not leaked, f"the account number is in {leaked}"
