"""Reconciliation through the real stack: payments posted by the running intake/ledger, a Stripe
balance report with planted breaks, the CLI run (Datastore + BigQuery), reruns and the lifecycle."""

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import requests

from shared.adapters import bigquery_sink
from shared.config import REPO_ROOT
from shared.demo import Delivery, send

from .conftest import cli, posted

HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,"
    "description,payment_intent_id,charge_id,automatic_payout_id,automatic_payout_effective_at_utc"
)


def report_row(n: int, pi: str, minor: int, day: str) -> str:
    major = f"{minor // 100}.{minor % 100:02d}"
    ch = "ch_" + pi[3:]
    return f"txn_{n},{day} 09:00:00,{day} 00:00:00,usd,{major},0.00,{major},charge,{ch},t,{pi},{ch},,"


def test_planted_breaks_are_found_exactly_reruns_are_idempotent_and_fixes_close_them(
    cfg, db, intake, secret, payment, tmp_path
):
    sent = [payment(amount=a, currency="usd") for a in (1000, 2500, 4000)]
    for p in sent:
        assert send(intake, Delivery("recon", p["body"], secret, 200, "accepted")).status_code == 200
    for p in sent:
        posted(db, p["key"])
    pis = [json.loads(p["body"])["data"]["object"]["id"] for p in sent]
    today = datetime.now(tz=UTC).date()
    day = today.isoformat()
    as_of = (today + timedelta(days=7)).isoformat()  # past the timing window: a missing row is a break
    missing = "pi_" + pis[0][3:] + "x"  # at Stripe, never in our ledger
    planted = [
        report_row(1, pis[0], 1000, day),
        report_row(2, pis[1], 2500, day),
        report_row(3, pis[2], 4100, day),  # amount_mismatch: the ledger has 40.00
        report_row(4, missing, 98_761, day),  # missing_in_ledger (an amount no other posting has: no candidate)
    ]
    report = tmp_path / "report.csv"
    report.write_text("\n".join([HEADER, *planted]) + "\n")

    first = cli(
        "recon", "run", "--partner", "stripe", "--date", as_of, "--report", str(report), "--out", str(tmp_path / "r.md")
    )
    assert first["status"] == "done"
    ours = set(pis) | {missing}

    def open_breaks():
        return {
            (b["reason_code"], b["reference"]): b
            for b in cli("recon", "breaks", "--open", "--partner", "stripe")
            if b["reference"] in ours
        }

    found = open_breaks()
    assert set(found) == {("amount_mismatch", pis[2]), ("missing_in_ledger", missing)}, found
    assert found[("amount_mismatch", pis[2])]["difference"] in (100, -100)
    assert all(b["opened_run"] == first["run_id"] for b in found.values())
    assert "amount_mismatch" in (tmp_path / "r.md").read_text()

    again = cli(
        "recon",
        "run",
        "--partner",
        "stripe",
        "--date",
        as_of,
        "--report",
        str(report),
        "--out",
        str(tmp_path / "r2.md"),
    )
    assert (again["run_id"], again["status"]) == (first["run_id"], "replayed")  # same inputs: same run, no writes
    assert set(open_breaks()) == set(found)

    report.write_text("\n".join([HEADER, *planted[:2], report_row(3, pis[2], 4000, day)]) + "\n")  # corrected
    fixed = cli(
        "recon",
        "run",
        "--partner",
        "stripe",
        "--date",
        as_of,
        "--report",
        str(report),
        "--out",
        str(tmp_path / "r3.md"),
    )
    assert fixed["run_id"] != first["run_id"]
    assert open_breaks() == {}
    closed = {b["break_id"]: b for b in cli("recon", "breaks", "--partner", "stripe") if b["reference"] in ours}
    assert {b["closed_run"] for b in closed.values()} == {fixed["run_id"]}
    # recon_runs requires a partition filter (topology.json): name the run's day, as any reader must
    sql = "SELECT run_id FROM {table:recon_runs} WHERE run_date = CAST(@day AS DATE) AND run_id = @run"
    rows = bigquery_sink.query(cfg, sql, day=as_of, run=fixed["run_id"])
    assert len(rows) == 1


def test_reconciliation_function_runs_from_the_reports_bucket_and_refuses_bad_input(cfg, db, tmp_path):
    """The reports bucket on the storage emulator, through google-cloud-storage, as in the cloud."""
    from shared.adapters import gcs_reports

    reports = gcs_reports.reports(cfg)
    assert isinstance(reports, gcs_reports.GcsReports)
    url = cfg.function_urls["reconciliation"]
    assert requests.post(f"{url}/runs", json={"partner": "paypal"}, timeout=30).json()["error"]["code"] == (
        "unsupported_partner"
    )
    bad_date = requests.post(f"{url}/runs", json={"partner": "stripe", "date": "28/11/2026"}, timeout=30)
    assert bad_date.status_code == 400 and bad_date.json()["error"]["param"] == "date"
    missing = requests.post(f"{url}/runs", json={"partner": "stripe", "date": "1999-01-01"}, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "report_missing"
    bad = HEADER + "\ntxn_1,not a date,,usd,1.00,0,1.00,charge,ch_1,,pi_1,ch_1,,\n"
    reports.put("stripe", date(1999, 1, 2), "report", "export.csv", bad.encode())
    broken = requests.post(f"{url}/runs", json={"partner": "stripe", "date": "1999-01-02"}, timeout=30)
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "report_invalid"
    assert "report.csv:2: created_utc" in broken.json()["error"]["message"]  # file, line and column
    good = HEADER + "\n" + report_row(1, "pi_recon_fn_only", 12_345, "1999-01-03") + "\n"
    reports.put("stripe", date(1999, 1, 3), "report", "export.csv", good.encode())
    ran = requests.post(f"{url}/runs", json={"partner": "stripe", "date": "1999-01-03"}, timeout=60)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["breaks"] == {"timing": 1} and body["open"] >= 1  # the report's own day: may still arrive
    written = reports.bucket.get_blob(f"reports/stripe/1999-01-03/{body['run_id']}.md")
    assert written is not None and body["report"] == f"gs://{reports.bucket.name}/{written.name}"
    first = written.generation
    again = requests.post(f"{url}/runs", json={"partner": "stripe", "date": "1999-01-03"}, timeout=60)
    assert again.status_code == 200 and again.json()["run_id"] == body["run_id"]
    written.reload()
    assert written.generation == first  # a replayed run writes its report once


def test_a_report_with_real_fees_reconciles_to_zero_breaks_once_the_fees_are_booked(cfg, db, intake, secret, tmp_path):
    """Stripe's payment_intent.succeeded carries no fee: the ledger books the whole amount to clearing.
    The report says what Stripe kept (per charge, plus a fee-only balance transaction); the run books
    it, reconciles to zero breaks, and the clearing account then equals the report's balance. SEK on a
    day of its own: no other test's posting is in this window or this currency."""
    from shared.demo import encode, payment_intent_succeeded

    from .conftest import unique, wait_for

    created = int(datetime(2025, 3, 3, 10, tzinfo=UTC).timestamp())
    charges = [(unique("pi"), gross, fee) for gross, fee in ((10_000, 320), (2_550, 104), (99_900, 2_927))]
    keys = []
    for pi, gross, _ in charges:
        evt = unique("evt")
        body = encode(payment_intent_succeeded(evt, pi, gross, "sek", unique("cus"), created=created))
        assert send(intake, Delivery("fees", body, secret, 200, "accepted")).status_code == 200
        keys.append(f"stripe:{evt}")
    for key in keys:
        posted(db, key)

    def kr(minor: int) -> str:
        return f"{'-' if minor < 0 else ''}{abs(minor) // 100}.{abs(minor) % 100:02d}"

    rows = [
        f"txn_{pi[3:]},2025-03-03 10:00:00,2025-03-05 00:00:00,sek,{kr(g)},{kr(f)},{kr(g - f)},charge,"
        f"ch_{pi[3:]},,{pi},ch_{pi[3:]},,"
        for pi, g, f in charges
    ]
    radar = unique("txn")
    rows.append(f"{radar},2025-03-03 23:00:00,2025-03-05 00:00:00,sek,-5.00,0.00,-5.00,fee,,Radar,,,,")
    report = tmp_path / "fees.csv"
    report.write_text("\n".join([HEADER, *rows]) + "\n")
    run = cli("recon", "run", "--partner", "stripe", "--date", "2025-03-10", "--report", str(report))
    assert run["status"] == "done" and run["breaks"] == {} and run["fees_booked"] == 4, run
    assert all(d["ok"] for d in run["drift"]), run["drift"]

    fees = sum(f for _, _, f in charges) + 500
    net = sum(g - f for _, g, f in charges) - 500

    def sek(account):
        return next((b["posted"] for b in cli("balances") if b["account"] == account and b["currency"] == "SEK"), 0)

    assert sek("fees:stripe") == fees
    assert sek("partner:stripe:clearing") == net  # the report's balance
    checked = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", "verify"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    (row,) = [r for r in json.loads(checked.stdout)["clearing"] if r["currency"] == "SEK"]
    assert (row["reconciled_balance"], row["clearing"], row["difference"]) == (net, net, 0), row
    # The bookings are ledger transactions like any other: their entries reach BigQuery.
    wait_for(
        lambda: (
            bigquery_sink.query(
                cfg, "SELECT SUM(amount) AS n FROM {table:entries} WHERE account = 'fees:stripe' AND currency = 'SEK'"
            )[0]["n"]
            == fees
        ),
        what="fee entries in BigQuery",
    )
    again = cli("recon", "run", "--partner", "stripe", "--date", "2025-03-10", "--report", str(report))
    assert again["status"] == "replayed" and again["run_id"] == run["run_id"]
    assert sek("fees:stripe") == fees  # nothing booked twice
