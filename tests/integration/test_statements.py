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
    pdf = acme.get(f"/v1/accounts/{a}/statements/{month}", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    theirs = globex.get(f"/v1/accounts/{a}/statements/{month}")
    nobody = globex.get(f"/v1/accounts/cus_nobody_{uuid.uuid4().hex[:6]}/statements/{month}")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["error"]["code"] == nobody.json()["error"]["code"] == "account_not_found"
    pdf = globex.get(f"/v1/accounts/{a}/statements/{month}", params={"format": "pdf"})
    assert pdf.status_code == 404 and pdf.headers["Content-Type"] == "application/json"


def test_an_export_is_written_by_the_job_and_downloaded_through_its_signed_url(acme, globex, fund):  # noqa: F811
    import hashlib

    import requests

    from .conftest import wait_for

    a = acme.customers[2]
    fund(a, 4_200)
    body = {"period": "custom", "from": "2020-01-01T00:00:00Z", "to": "2028-01-01T00:00:00Z", "format": "csv"}
    resp = acme.post(f"/v1/accounts/{a}/statements/exports", body, idem=f"export-{uuid.uuid4()}")
    assert resp.status_code == 202, resp.text
    export = resp.json()
    assert export["status"] == "pending"
    assert globex.get(f"/v1/statement-exports/{export['id']}").status_code == 404

    def done():
        got = acme.get(f"/v1/statement-exports/{export['id']}").json()
        return got if got["status"] != "pending" else None

    final = wait_for(done, timeout=60, what="the statement export")
    assert final["status"] == "done", final
    download = requests.get(final["url"], timeout=30)
    assert download.status_code == 200, download.text[:300]
    assert hashlib.sha256(download.content).hexdigest() == final["sha256"] and len(download.content) == final["bytes"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode(), newline="")))
    assert int(next(r for r in rows if r["record"] == "closing")["posted_minor"]) == 4_200


def verify_file(tmp_path, statement: dict) -> tuple[int, dict]:
    """`ledgerline --json verify-statement FILE` on the statement: (exit code, report)."""
    import json
    import subprocess
    import sys

    from shared.config import REPO_ROOT

    path = tmp_path / f"statement-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(statement))
    run = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", "verify-statement", str(path)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    return run.returncode, json.loads(run.stdout)


def test_verify_statement_proves_a_statement_against_bigquery_and_refuses_a_tampered_one(acme, fund, tmp_path):  # noqa: F811
    """`ledgerline verify-statement FILE` against the entries the outbox streamed to BigQuery: the
    statement as served passes (once its entries are streamed); an altered amount, a removed entry and
    a reordered pair fail, even with every digest recomputed by the forger."""
    import json

    from shared.domain import statement_proof

    from .conftest import wait_for

    a, b = acme.customers[3], acme.customers[1]
    fund(a, 9_000)
    for amount in (100, 200, 300):
        assert acme.post("/v1/transfers", transfer(a, b, amount), idem=f"vs-{uuid.uuid4()}").status_code == 200
    month = datetime.now(UTC).strftime("%Y-%m")
    s = acme.get(f"/v1/accounts/{a}/statements/{month}").json()

    def verify(statement: dict) -> tuple[int, dict]:
        return verify_file(tmp_path, statement)

    code, report = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(verify(s)), timeout=60, what="streamed")
    assert report["ok"] and report["digest"] == s["proof"]["digest"] and report["anchored_rows"] == 4

    def forged(change) -> dict:
        copy = json.loads(json.dumps(s))
        change(copy["currencies"][0]["entries"])
        versions = {p["currency"]: (p["opening_version"], p["closing_version"]) for p in copy["proof"]["sections"]}
        body = {k: v for k, v in copy.items() if k != "proof"}
        return {**copy, "proof": statement_proof.prove(body, copy["proof"]["ledger_account"], versions)}

    def swap(entries):
        entries[1], entries[2] = entries[2], entries[1]

    for change, expected in (
        (lambda entries: entries[1].update(amount=entries[1]["amount"] + 1), "entry_altered"),
        (lambda entries: entries.pop(), "entry_missing"),
        (swap, "entry_order"),
    ):
        code, report = verify(forged(change))
        assert code == 1 and expected in {p["check"] for p in report["problems"]}, report
    untouched_but_edited = json.loads(json.dumps(s))
    untouched_but_edited["currencies"][0]["closing"]["posted"] += 1
    code, report = verify(untouched_but_edited)
    assert code == 1 and "digest" in {p["check"] for p in report["problems"]}


def test_a_settled_statement_is_anchored_to_the_chain_heads_streamed_to_bigquery(acme, fund, cfg, tmp_path):  # noqa: F811
    """The heads come from Datastore (the chain-head composite query on the emulator) and are checked
    against BigQuery `transactions` (the rows the outbox streamed): verify-statement recomputes every
    listed transaction's hash from BigQuery rows and walks the chain to the head. The statement is
    built in-process with a clock 6 minutes on, so its period has settled (the running api would wait)."""
    import json
    import time
    from datetime import timedelta

    from shared import bootstrap
    from shared.api import statements
    from shared.domain import statement_proof

    from .conftest import wait_for

    a, b = acme.customers[2], acme.customers[1]
    start = datetime.now(UTC) - timedelta(seconds=1)
    fund(a, 3_000)
    for amount in (10, 20):
        assert acme.post("/v1/transfers", transfer(a, b, amount), idem=f"ch-{uuid.uuid4()}").status_code == 200
    end = datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(1.2)
    later = bootstrap.Root(cfg, clock=lambda: end + statement_proof.SETTLE + timedelta(minutes=1))
    built = statements.build_statement(
        bootstrap.api_backend(later), acme.name, a, "custom", start=statements.domain.iso(start),
        end=statements.domain.iso(end),
    )  # fmt: skip
    s = statements.to_model(built).model_dump(mode="json")
    chain = s["proof"]["chain"]
    assert chain is not None and chain["before"] == s["end"] and len(chain["heads"]) == 32
    listed = statement_proof.listed_transactions(s)
    assert len(listed) == 3
    mine = {t.chain_id: t for t in later.store.transactions(listed).values()}
    for head in chain["heads"]:
        if head["chain_id"] in mine:
            assert head["seq"] >= mine[head["chain_id"]].seq

    def verify(statement: dict) -> tuple[int, dict]:
        return verify_file(tmp_path, statement)

    code, report = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(verify(s)), timeout=60, what="streamed")
    assert report["ok"] and report["chain"].endswith("transaction row(s)"), report
    forged = json.loads(json.dumps(s))
    first = next(h for h in forged["proof"]["chain"]["heads"] if h["chain_id"] in mine)
    first["hash"] = "0" * 63 + "1"
    body = {k: v for k, v in forged.items() if k != "proof"}
    versions = {p["currency"]: (p["opening_version"], p["closing_version"]) for p in s["proof"]["sections"]}
    forged["proof"] = statement_proof.prove(body, s["proof"]["ledger_account"], versions, forged["proof"]["chain"])
    code, report = verify(forged)
    assert code == 1 and "head_unanchored" in {p["check"] for p in report["problems"]}, report
