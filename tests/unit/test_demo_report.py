"""The demo's Stripe settlement report (make demo's reconciliation): read by the same parser as a real
report, it agrees with the demo's payments in minor units, currency by currency, but for the one row
planted a cent higher."""

from datetime import UTC, datetime

from shared.demo import DEMO_CREATED, DEMO_MISMATCH, DEMO_PAYMENTS, demo_settlement_report
from shared.reconciliation.formats.stripe_report import parse_stripe


def test_the_demo_report_parses_and_differs_from_the_ledger_by_one_planted_cent():
    day, data = demo_settlement_report()
    frame = parse_stripe(data, "demo-stripe-report.csv")
    assert frame.height == len(DEMO_PAYMENTS)
    rows = frame.to_dicts()
    text = data.decode()
    for _, _, pi, amount, currency, _ in DEMO_PAYMENTS:
        (row,) = [r for r in rows if pi in str(r.values())]
        want = amount + (DEMO_MISMATCH[1] if pi == DEMO_MISMATCH[0] else 0)
        assert want in row.values() and currency.upper() in {str(v).upper() for v in row.values()}, row
    assert ",jpy,5000," in text and ",usd,5.51," in text and ",eur,12.34," in text  # ISO exponents: 0, 2, 2
    assert day == datetime.fromtimestamp(DEMO_CREATED, tz=UTC).date()  # the day the demo payments were made
