"""Statements through the running api function on the emulators: a wallet funded by a signed Stripe
webhook (intake -> ledger), a transfer, then this month's statement: its closing balance is the balance
as of its closing instant (and now), in JSON and CSV; another tenant's account is a 404."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

from .test_api import Tenant, acme, api_url, fund, globex, payment, transfer  # noqa: F401 (fixtures)


def test_statement_of_a_funded_wallet_after_a_transfer(acme, globex, fund):  # noqa: F811
    a, b = acme.customers[0], acme.customers[1]
    fund(a, 7_500)
    resp = acme.post("/v1/transfers", transfer(a, b, 1_234), idem=f"st-{uuid.uuid4()}")
    assert resp.status_code == 200, resp.text
    moved = resp.json()["transaction"]
    month = datetime.now(UTC).strftime("%Y-%m")
    balance = acme.get(f"/v1/accounts/{a}/balance").json()["balances"]
    resp = acme.get(f"/v1/accounts/{a}/statements/{month}")
    assert resp.status_code == 200, resp.text
    s = resp.json()
    assert s["period"] == month and s["clock"] == "recorded" and s["complete"] is False
    (usd,) = s["currencies"]
    closing = {"currency": "USD", **usd["closing"]}
    assert [closing] == balance  # nothing moved since: the balance now is the closing one
    as_of = acme.get(f"/v1/accounts/{a}/balance", params={"as_of": s["closing_as_of"]}).json()["balances"]
    assert [closing] == as_of
    assert usd["opening"]["posted"] + usd["totals"]["total_in"] - usd["totals"]["total_out"] == usd["closing"]["posted"]
    assert usd["entries"][-1]["transaction"] == moved and usd["entries"][-1]["balance_after"] == usd["closing"]
    custom = acme.get(
        f"/v1/accounts/{a}/statements/custom",
        params={"from": s["start"], "to": s["end"], "clock": "effective", "format": "csv"},
    )
    assert custom.status_code == 200 and custom.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(custom.text, newline="")))
    final = next(r for r in rows if r["record"] == "closing")
    assert int(final["posted_minor"]) == usd["closing"]["posted"] and final["posted"] == "62.66"
    theirs = globex.get(f"/v1/accounts/{a}/statements/{month}")
    nobody = globex.get(f"/v1/accounts/cus_nobody_{uuid.uuid4().hex[:6]}/statements/{month}")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["error"]["code"] == nobody.json()["error"]["code"] == "account_not_found"
    pdf = globex.get(f"/v1/accounts/{a}/statements/{month}", params={"format": "pdf"})
    assert pdf.status_code == 404 and pdf.headers["Content-Type"] == "application/json"
