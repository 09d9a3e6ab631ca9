"""The console's overview in a real browser (issue 22): partner events posted through intake (USD and JPY,
exponents 2 and 0), then console/e2e/overview.e2e.mjs signs in and finds each currency's customer
liabilities formatted by its exponent as the API reports them, today's volume with the partner, and the
charts drawn as labelled images. Screenshots: <run dir>/artifacts/console/overview/*.png.

Needs `make console` (the build), `make console-deps` and `make chromium`, as test_console_e2e does."""

import uuid

import pytest

from shared.demo import Delivery, send
from shared.domain.money import exponent as money_exponent

from .conftest import cli, posted
from .test_api import Tenant
from .test_console_e2e import _missing, run_console


def _formatted(amount: int, currency: str) -> str:
    """As console/src/money/money.ts formatMoney: grouped digits, the exponent's fraction, the code."""
    exponent = money_exponent(currency)
    sign, value = ("-" if amount < 0 else ""), abs(amount)
    whole, fraction = divmod(value, 10**exponent)
    return f"{sign}{whole:,}" + (f".{fraction:0{exponent}d}" if exponent else "") + f" {currency}"


def test_an_operator_reads_balances_volume_and_charts(cfg, db, intake, secret, payment):
    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing} (make test installs all of it)")
    cli("tenants", "create", "internal")
    operator = Tenant(
        cfg.function_urls["api"], "internal", [], scopes="operator", operator=f"ov-e2e-{uuid.uuid4().hex[:6]}@ops.test"
    )
    events = [payment(amount=123_456, currency="usd"), payment(amount=4_321, currency="jpy")]
    for paid in events:
        assert send(intake, Delivery("overview-e2e", paid["body"], secret, 200, "accepted")).status_code == 200
    for paid in events:
        posted(db, paid["key"])
    books = {c["currency"]: c for c in operator.get("/v1/operator/balances").json()["currencies"]}
    shown = ";".join(f"{c}={_formatted(books[c]['customer_liabilities'], c)}" for c in ("USD", "JPY"))

    artifacts = cfg.run_dir / "artifacts" / "console" / "overview"
    run_console(
        cfg, "overview.e2e.mjs", artifacts, [operator.key], CONSOLE_KEY=operator.key, CONSOLE_LIABILITIES=shown,
        CONSOLE_PARTNER="stripe",
    )  # fmt: skip
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert shots == ["overview-01-balances.png", "overview-02-charts.png"], shots
    assert all((artifacts / s).stat().st_size > 5000 for s in shots)
