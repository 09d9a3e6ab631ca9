"""The console's accounts pages in a real browser (console/e2e/accounts.e2e.mjs on the harness): a Stripe
payment posted through intake, then an operator searches its customer, opens the account (the balance
by the currency's exponent) and the transaction with its raw partner event. Screenshots:
<run dir>/artifacts/console/accounts/*.png."""

from __future__ import annotations

import uuid

import pytest

from shared.demo import Delivery, send

from .conftest import posted
from .test_api import Tenant
from .test_console_e2e import _missing, run_console


def test_an_operator_finds_an_account_and_reads_a_transactions_raw_event(cfg, db, intake, secret, payment):
    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing}")
    api = cfg.function_urls["api"]
    paid = payment(amount=123_456, currency="usd")
    Tenant(api, f"acc-e2e-{uuid.uuid4().hex[:6]}", [paid["customer"]])
    operator = Tenant(api, "internal", [], scopes="operator", operator=f"acc-e2e-{uuid.uuid4().hex[:6]}@ops.test")
    assert send(intake, Delivery("accounts-e2e", paid["body"], secret, 200, "accepted")).status_code == 200
    posted(db, paid["key"])
    posted_usd = next(b for b in operator.get(f"/v1/operator/accounts/{paid['customer']}").json()["balances"])
    major, minor = divmod(posted_usd["posted"], 100)
    artifacts = cfg.run_dir / "artifacts" / "console" / "accounts"
    run_console(
        cfg, "accounts.e2e.mjs", artifacts, [operator.key], CONSOLE_KEY=operator.key,
        CONSOLE_CUSTOMER=paid["customer"], CONSOLE_AMOUNT_TEXT=f"{major:,}.{minor:02d}",
        CONSOLE_EVENT_ID=paid["event_id"],
    )  # fmt: skip
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert shots == ["01-search.png", "02-account.png", "03-transaction.png"], shots
    assert all((artifacts / s).stat().st_size > 5000 for s in shots)
