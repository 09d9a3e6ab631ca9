"""Issue 19 through the running stack: breaks found by a real run are worked on the operator API by two
people — a write-off asked by one and approved by the other posts once and survives the next run; a
self-approval is refused; an expired request moves nothing; a manual match is applied by the next run
and undone; `verify` checks the audit chain and BigQuery has every entry."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from shared.adapters import bigquery_sink
from shared.demo import Delivery, send

from .conftest import cli, posted, wait_for
from .test_api import Tenant
from .test_reconciliation import HEADER, report_row


def recon(report, tmp_path, as_of: str) -> dict:
    out = tmp_path / f"{uuid.uuid4().hex[:6]}.md"
    return cli("recon", "run", "--partner", "stripe", "--date", as_of, "--report", str(report), "--out", str(out))


def test_two_operators_work_breaks_from_a_real_run(cfg, db, intake, secret, payment, tmp_path):
    api = cfg.function_urls["api"]
    ana = Tenant(api, "internal", [], scopes="operator", operator="ana@ops.test")
    bo = Tenant(api, "internal", [], scopes="operator", operator="bo@ops.test")
    sent = [payment(amount=a, currency="usd") for a in (4000, 98_760, 1500)]
    for p in sent:
        assert send(intake, Delivery("ops", p["body"], secret, 200, "accepted")).status_code == 200
    txns = [posted(db, p["key"])[0].key.name for p in sent]
    pis = [json.loads(p["body"])["data"]["object"]["id"] for p in sent]
    today = datetime.now(tz=UTC).date()
    day, as_of = today.isoformat(), (today + timedelta(days=7)).isoformat()
    typo = pis[1] + "typo"  # the partner's reference for our 98,760 payment, with a cent more: nothing pairs it
    rows = [report_row(1, pis[0], 4100, day), report_row(2, typo, 98_761, day), report_row(3, pis[2], 1500, day)]
    report = tmp_path / "report.csv"
    report.write_text("\n".join([HEADER, *rows]) + "\n")
    first = recon(report, tmp_path, as_of)

    listed = ana.get("/v1/operator/breaks", params={"partner": "stripe", "state": "open", "limit": 100}).json()
    ours = {(b["reason_code"], b["reference"]): b for b in listed["data"] if b["reference"] in (*pis, typo)}
    assert set(ours) == {("amount_mismatch", pis[0]), ("missing_in_ledger", typo), ("missing_at_partner", pis[1])}
    mismatch = ours[("amount_mismatch", pis[0])]["id"]

    # write-off: ana takes the break and asks; she cannot approve it herself; bo approves; it posts once
    taken = ana.post(f"/v1/operator/breaks/{mismatch}/acknowledge", {})
    assert (taken.status_code, taken.json()["state"], taken.json()["assignee"]) == (200, "acknowledged", "ana@ops.test")
    asked = ana.post(f"/v1/operator/breaks/{mismatch}/write-off", {"reason": "Stripe rounding"}, idem=uuid.uuid4().hex)
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    request_id = asked.json()["id"]
    assert request_id in [r["id"] for r in bo.get("/v1/operator/requests", params={"status": "pending"}).json()["data"]]
    own = ana.post(f"/v1/operator/requests/{request_id}/approve", {})
    assert (own.status_code, own.json()["error"]["code"]) == (403, "self_approval")
    approved = bo.post(f"/v1/operator/requests/{request_id}/approve", {"reason": "matches the payout file"})
    assert approved.status_code == 200 and approved.json()["status"] == "executed", approved.text
    (write_off_txn,) = approved.json()["transactions"]
    again = bo.post(f"/v1/operator/requests/{request_id}/approve", {})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "request_decided")
    entries = [e for e in db.query(kind="JournalTransaction").fetch() if e.key.name == write_off_txn]
    assert len(entries) == 1 and entries[0]["rule"] == "write_off.v1"
    work = ana.get(f"/v1/operator/breaks/{mismatch}").json()
    assert (work["state"], work["history"][-1]["reference"]) == ("written_off", write_off_txn)

    # an expired request: its time passes (set in the store), the approval comes too late, nothing moves
    missing = ours[("missing_in_ledger", typo)]["id"]
    ana.post(f"/v1/operator/breaks/{missing}/acknowledge", {})
    stale = ana.post(f"/v1/operator/breaks/{missing}/write-off", {"reason": "lost"}, idem=uuid.uuid4().hex).json()
    key = db.key("OperatorRequest", stale["id"])
    record = db.get(key)
    record["expires_at"] = datetime.now(tz=UTC) - timedelta(seconds=1)
    db.put(record)
    late = bo.post(f"/v1/operator/requests/{stale['id']}/approve", {})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "request_expired")
    assert bo.get(f"/v1/operator/requests/{stale['id']}").json()["status"] == "expired"
    assert ana.get(f"/v1/operator/breaks/{missing}").json()["state"] == "acknowledged"

    # manual match: the typo'd row is our 98,760 payment; the next run pairs them (an amount_mismatch of 1)
    matched = ana.post(
        f"/v1/operator/breaks/{missing}/manual-match", {"counterpart": txns[1], "reason": "reference typo at Stripe"}
    )
    assert matched.status_code == 201, matched.text
    second = recon(report, tmp_path, as_of)  # the same report: a new run, since the manual matches changed
    assert second["run_id"] != first["run_id"] and second["status"] == "done"
    now_open = {
        (b["reason_code"], b["reference"])
        for b in ana.get("/v1/operator/breaks", params={"partner": "stripe", "limit": 100}).json()["data"]
        if b["reference"] in (*pis, typo) and b["run_status"] == "open"
    }
    assert ("missing_in_ledger", typo) not in now_open and ("missing_at_partner", pis[1]) not in now_open
    assert ("amount_mismatch", typo) in now_open
    # the write-off corrected the ledger side: the run no longer finds the difference, and it stays written off
    assert ("amount_mismatch", pis[0]) not in now_open
    written_off = ana.get(f"/v1/operator/breaks/{mismatch}").json()
    assert (written_off["state"], written_off["run_status"]) == ("written_off", "closed")

    undone = bo.post(f"/v1/operator/manual-matches/{matched.json()['id']}/undo", {"reason": "wrong payment"})
    assert undone.status_code == 200 and undone.json()["status"] == "undone"
    assert [h["did"] for h in undone.json()["history"]] == ["matched", "undone"]
    assert ana.get(f"/v1/operator/breaks/{missing}").json()["state"] == "open"  # open again at once
    third = recon(report, tmp_path, as_of)
    assert third["run_id"] not in (first["run_id"], second["run_id"]) and third["status"] == "done"
    reopened = ana.get(f"/v1/operator/breaks/{missing}").json()
    assert (reopened["state"], reopened["run_status"]) == ("open", "open")  # the cascade's verdict again

    # the record: every step, who and why; the chain checks; BigQuery has every entry
    log = ana.get("/v1/audit-log", params={"target": mismatch}).json()["data"]
    assert [(e["action"], e["actor"], e["approved_by"]) for e in log] == [
        ("write_off", "ana@ops.test", "bo@ops.test"),
        ("request:write_off", "ana@ops.test", None),
        ("acknowledge", "ana@ops.test", None),
    ]
    assert log[0]["transactions"] == [write_off_txn]
    seqs = {e["seq"] for e in ana.get("/v1/audit-log", params={"limit": 100}).json()["data"]}

    def streamed():
        rows = bigquery_sink.query(cfg, "SELECT seq FROM {table:operator_audit}")
        return seqs <= {int(r["seq"]) for r in rows}

    wait_for(streamed, timeout=30, what="the audit entries in BigQuery")
    report_ = cli("verify")
    assert report_["counts"]["audit_entries"] >= len(seqs)
    assert not [p for p in report_["problems"] if p["check"].startswith("audit")], report_["problems"]


def test_an_erasure_approved_by_a_second_operator_removes_personal_data_and_keeps_the_books(
    cfg, db, intake, secret, payment
):
    api = cfg.function_urls["api"]
    run = uuid.uuid4().hex[:6]
    ana = Tenant(api, "internal", [], scopes="operator", operator="ana@ops.test")
    bo = Tenant(api, "internal", [], scopes="operator", operator="bo@ops.test")
    tenant = Tenant(api, f"erase-{run}", [f"cus_erase{run}"])
    customer = tenant.customers[0]
    p = payment(amount=4321, currency="usd", customer=customer)
    assert send(intake, Delivery("erase", p["body"], secret, 200, "accepted")).status_code == 200
    posted(db, p["key"])
    inbox_key = db.key("Inbox", p["key"])
    assert db.get(inbox_key)["body"] and db.get(inbox_key)["customer"] == customer
    before = tenant.get(f"/v1/accounts/{customer}/balance").json()

    asked = ana.post(f"/v1/operator/customers/{customer}/erasure", {"reason": "GDPR art. 17"}, idem=uuid.uuid4().hex)
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    assert db.get(inbox_key)["body"]  # nothing happens before the second operator
    done = bo.post(f"/v1/operator/requests/{asked.json()['id']}/approve", {})
    assert done.status_code == 200 and done.json()["status"] == "executed", done.text
    erased = db.get(inbox_key)
    assert (erased["body"], erased["headers"], erased["redaction"]) == (b"", "{}", "erasure")
    assert json.loads(erased["canonical"])["amount"] == 4321  # what the ledger and reconciliation read stays
    assert tenant.get(f"/v1/accounts/{customer}/balance").json() == before  # the books are untouched
    assert db.get(db.key("Erasure", customer))["bodies_redacted"] == 1
    assert ana.get("/v1/operator/customers/nobody-here/erasure").status_code == 405
    assert ana.post("/v1/operator/customers/nobody-here/erasure", {"reason": "x"}, idem="e1").status_code == 404


def test_the_retention_sweep_redacts_raw_bodies_older_than_13_months(cfg, db, intake, secret, payment):
    p = payment(amount=1234, currency="usd")
    assert send(intake, Delivery("old", p["body"], secret, 200, "accepted")).status_code == 200
    posted(db, p["key"])
    record = db.get(db.key("Inbox", p["key"]))
    record["received_at"] = datetime.now(tz=UTC) - timedelta(days=400)  # as if it arrived 13 months ago
    db.put(record)
    preview = cli("retention", "run", "--dry-run")
    assert preview["due"] >= 1 and db.get(record.key)["body"]
    swept = cli("retention", "run")
    assert swept["redacted"] >= 1
    old = db.get(record.key)
    assert (old["body"], old["redaction"]) == (b"", "retention") and old["canonical"]
    assert cli("retention", "run")["redacted"] == 0  # done: the mark moved past it
