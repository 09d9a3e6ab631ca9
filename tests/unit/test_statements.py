"""Statements (GET /v1/accounts/{id}/statements/{period}): period parsing and bounds, the per-currency
arithmetic (opening + entries = closing), agreement with GET …/balance?as_of= on both clocks, the CSV
rendering, tenant isolation, scopes and the contract."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.api import tenants
from shared.domain import statements as domain
from shared.domain.ledger.accounts import AccountBalance
from shared.domain.ledger.model import Leg, Operation
from shared.domain.money import decimal_text
from shared.errors import ClientError
from shared.ledger import transactions
from tests.unit.test_api import World, transfer
from tests.unit.test_api_webhooks import conforms

PATH = "/v1/accounts/{id}/statements/{period}"


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    "name, start, end",
    [
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2028-02", datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
    ],
)
def test_a_month_is_half_open_in_utc(name, start, end):
    period = domain.parse_period(name, None, None)
    assert (period.name, period.start, period.end) == (name, start, end)
    assert period.opening_as_of == start - timedelta(microseconds=1)
    assert period.closing_as_of == end - timedelta(microseconds=1)


def test_custom_periods_and_their_bounds():
    a = datetime(2026, 1, 1, tzinfo=UTC)
    assert domain.parse_period("custom", a, a + timedelta(days=366)).end == a + timedelta(days=366)
    cases = [
        (("custom", None, a), "parameter_missing", "from"),
        (("custom", a, None), "parameter_missing", "to"),
        (("custom", a, a), "parameter_invalid", "to"),
        (("custom", a, a - timedelta(seconds=1)), "parameter_invalid", "to"),
        (("custom", a, a + timedelta(days=366, microseconds=1)), "statement_too_large", "period"),
        (("2026-11", a, None), "parameter_invalid", "from"),
        (("2026-11", None, a), "parameter_invalid", "to"),
        (("2026-13", None, None), "parameter_invalid", "period"),
        (("2026-1", None, None), "parameter_invalid", "period"),
        (("1970-01", None, None), "parameter_invalid", "period"),
        (("Custom", None, None), "parameter_invalid", "period"),
        (("", None, None), "parameter_invalid", "period"),
    ]
    for args, code, param in cases:
        with pytest.raises(ClientError) as caught:
            domain.parse_period(*args)
        assert (caught.value.status, caught.value.code, caught.value.param) == (400, code, param), args


# ----------------------------------------------------------------------------- the pure statement


def line(n, direction, amount, phase="posted", at=datetime(2026, 11, 5, tzinfo=UTC), currency="USD"):
    return domain.Line(f"t{n}:0", f"t{n}", "post", currency, direction, phase, amount, at, at, n)


ACCOUNT = "customer:cus_x:wallet"


def test_opening_plus_in_minus_out_is_closing_and_the_invariant_is_checked():
    period = domain.month_period(2026, 11)
    before = datetime(2026, 10, 30, tzinfo=UTC)
    lines = [
        line(1, "credit", 500, at=before),  # before the period: in the opening balance only
        line(2, "credit", 300),
        line(3, "debit", 120),
        line(4, "debit", 50, "pending"),
        line(5, "debit", 50, "release"),
        line(6, "debit", 50),
        line(7, "credit", 9, at=datetime(2026, 12, 1, tzinfo=UTC)),  # the end is exclusive
    ]
    opening = {"USD": AccountBalance(ACCOUNT, "USD", 0, 500)}
    closing = {"USD": AccountBalance(ACCOUNT, "USD", 170, 800)}
    s = domain.build(ACCOUNT, "cus_x", period, "recorded", lines, opening, closing, datetime(2027, 1, 1, tzinfo=UTC))
    (usd,) = s.currencies
    m = usd.movement
    assert [x.id for x, _ in usd.lines] == ["t2:0", "t3:0", "t4:0", "t5:0", "t6:0"]
    assert (m.total_in, m.total_out, m.count_in, m.count_out) == (300, 170, 1, 2)
    assert (m.pending_out_added, m.pending_out_released) == (50, 50)
    assert usd.opening.posted + m.total_in - m.total_out == usd.closing.posted == 630
    assert [after.available for _, after in usd.lines] == [800, 680, 630, 680, 630]
    assert s.complete and s.entry_count == 5
    with pytest.raises(domain.StatementInconsistent):
        domain.build(ACCOUNT, "cus_x", period, "recorded", lines[:-2], opening, closing, datetime.now(UTC))
    with pytest.raises(domain.StatementTooLarge):
        domain.build(ACCOUNT, "cus_x", period, "recorded", lines, opening, closing, datetime.now(UTC), max_entries=4)


# ----------------------------------------------------------------------------- through the API


def post_at(w: World, name: str, legs, effective_at: datetime) -> None:
    op = Operation(name, "post", "test_funding.v1", name, "test", name, effective_at, legs=legs)
    assert transactions.execute(w.store, op, w.clock).status == "posted"


@pytest.fixture
def busy():
    """cus_a over November and December 2026, in USD and JPY: funding, transfers both ways, a hold
    partly captured, another voided, and a back-dated credit (effective in October, recorded in
    November)."""
    w = World()
    w.fund("cus_a", 10_000)
    w.fund("cus_a", 5_000, "JPY")
    assert w.post("/v1/transfers", transfer(1_250)).status_code == 200
    assert w.post("/v1/transfers", transfer(2_000, source="cus_b", to="cus_a")).status_code == 422  # no funds
    w.fund("cus_b", 700)
    assert w.post("/v1/transfers", transfer(300, source="cus_b", to="cus_a")).status_code == 200
    hold = w.post("/v1/holds", transfer(2_000)).json["id"]
    assert w.post(f"/v1/holds/{hold}/capture", {"amount": 500}).status_code == 200
    legs = (Leg("bank:test:operating", "debit", 42, "USD"), Leg(tenants.wallet("cus_a"), "credit", 42, "USD"))
    post_at(w, "backdated", legs, datetime(2026, 10, 20, tzinfo=UTC))
    w.clock.now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert w.post("/v1/transfers", transfer(999, "JPY")).status_code == 200
    voided = w.post("/v1/holds", transfer(100)).json["id"]
    assert w.post(f"/v1/holds/{voided}/void").status_code == 200
    w.post("/v1/holds", transfer(400))  # still open at the end
    w.clock.now = datetime(2027, 1, 3, tzinfo=UTC)
    return w


def balances_of(w, as_of: str, clock: str) -> dict:
    body = w.get(f"/v1/accounts/cus_a/balance?as_of={as_of}&clock={clock}").json
    return {
        b["currency"]: {k: b[k] for k in ("posted", "pending_in", "pending_out", "available")} for b in body["balances"]
    }


@pytest.mark.parametrize("clock", ["recorded", "effective"])
def test_closing_is_the_balance_as_of_its_instant_on_both_clocks(busy, clock):
    w = busy
    statements = {}
    for period in ("2026-10", "2026-11", "2026-12"):
        resp = w.get(f"/v1/accounts/cus_a/statements/{period}?clock={clock}")
        assert resp.status_code == 200, resp.json
        conforms(resp, PATH, "get")
        s = statements[period] = resp.json
        assert s["clock"] == clock and s["complete"] is True
        closing = {c["currency"]: c["closing"] for c in s["currencies"]}
        opening = {c["currency"]: c["opening"] for c in s["currencies"]}
        assert closing == balances_of(w, s["closing_as_of"], clock)
        assert closing == balances_of(w, s["end"], clock)  # nothing was recorded at the very instant
        assert {k: v for k, v in opening.items() if any(v.values())} == {
            k: v for k, v in balances_of(w, s["opening_as_of"], clock).items() if any(v.values())
        }
        for c in s["currencies"]:
            t = c["totals"]
            assert c["opening"]["posted"] + t["total_in"] - t["total_out"] == c["closing"]["posted"]
            assert (
                c["opening"]["pending_out"] + t["pending_out_added"] - t["pending_out_released"]
                == (c["closing"]["pending_out"])
            )
            assert c["entry_count"] == len(c["entries"]) and t["count_in"] + t["count_out"] <= c["entry_count"]
            if c["entries"]:
                assert c["entries"][-1]["balance_after"] == c["closing"]
    nov, dec = statements["2026-11"], statements["2026-12"]
    assert {c["currency"]: c["closing"] for c in nov["currencies"]} == {
        c["currency"]: c["opening"] for c in dec["currencies"]
    }
    usd_oct = [c for c in statements["2026-10"]["currencies"] if c["currency"] == "USD"]
    if clock == "effective":  # the back-dated credit is October's on the effective clock, November's otherwise
        assert [e["transaction"] for e in usd_oct[0]["entries"]] == ["backdated"]
    else:
        assert usd_oct == []
        usd_nov = next(c for c in nov["currencies"] if c["currency"] == "USD")
        assert "backdated" in [e["transaction"] for e in usd_nov["entries"]]


def test_entries_and_running_balances_agree_with_the_entries_listing(busy):
    w = busy
    s = w.get("/v1/accounts/cus_a/statements/custom?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z").json
    listed = []
    cursor = None
    while True:
        page = w.get("/v1/accounts/cus_a/entries?limit=100" + (f"&starting_after={cursor}" if cursor else "")).json
        listed += page["data"]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    for c in s["currencies"]:
        mine = [e for e in listed if e["currency"] == c["currency"]]
        assert [e["id"] for e in c["entries"]] == [e["id"] for e in mine]
        assert [e["balance_after"]["posted"] for e in c["entries"]] == [e["posted_after"] for e in mine]
        assert [e["balance_after"]["available"] for e in c["entries"]] == [e["available_after"] for e in mine]
        versions = [e["account_version"] for e in c["entries"]]
        assert versions == list(range(1, len(versions) + 1))  # every entry of the account, none left out
    usd = next(c for c in s["currencies"] if c["currency"] == "USD")
    assert usd["closing"]["pending_out"] == 1_500 + 400  # what the partial capture left held, the open hold
    assert s["entry_count"] == sum(len(c["entries"]) for c in s["currencies"])


def test_csv_is_well_formed_with_exact_decimals(busy):
    w = busy
    resp = w.get("/v1/accounts/cus_a/statements/2026-12?format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="statement-cus_a-2026-12-recorded.csv"'
    text = resp.data.decode()
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(domain.CSV_COLUMNS)
    assert all(None not in r and len(r) == len(domain.CSV_COLUMNS) for r in rows)
    s = w.get("/v1/accounts/cus_a/statements/2026-12").json
    for c in s["currencies"]:
        mine = [r for r in rows if r["currency"] == c["currency"]]
        kinds = [r["record"] for r in mine]
        assert kinds == ["opening", *["entry"] * len(c["entries"]), "closing", "total_in", "total_out"]
        closing = next(r for r in mine if r["record"] == "closing")
        assert int(closing["posted_minor"]) == c["closing"]["posted"]
        assert int(closing["available_minor"]) == c["closing"]["available"]
        for r, e in zip([r for r in mine if r["record"] == "entry"], c["entries"], strict=True):
            assert (r["entry"], int(r["amount_minor"]), r["direction"]) == (e["id"], e["amount"], e["direction"])
    jpy = [r for r in rows if r["currency"] == "JPY" and r["record"] == "entry"]
    assert jpy[0]["amount"] == "999" and jpy[0]["amount_minor"] == "999"  # exponent 0
    usd = next(r for r in rows if r["currency"] == "USD" and r["record"] == "opening")
    assert usd["posted"] == f"{int(usd['posted_minor']) // 100}.{int(usd['posted_minor']) % 100:02d}"


def test_decimal_amounts_follow_the_iso_exponent():
    w = World()
    w.fund("cus_a", 1_234_567, "BHD")
    rows = list(csv.DictReader(io.StringIO(w.get("/v1/accounts/cus_a/statements/2026-11?format=csv").data.decode())))
    entry = next(r for r in rows if r["record"] == "entry")
    assert (entry["amount_minor"], entry["amount"], entry["posted"]) == ("1234567", "1234.567", "1234.567")


def test_currency_filter_and_an_empty_period(busy):
    w = busy
    s = w.get("/v1/accounts/cus_a/statements/2026-12?currency=jpy").json
    assert [c["currency"] for c in s["currencies"]] == ["JPY"] and s["currencies"][0]["exponent"] == 0
    empty = w.get("/v1/accounts/cus_a/statements/2025-01").json
    assert empty["currencies"] == [] and empty["entry_count"] == 0
    quiet = w.get("/v1/accounts/cus_a/statements/2027-01").json  # balances carried, no entries
    assert all(c["entries"] == [] and c["opening"] == c["closing"] for c in quiet["currencies"])
    assert quiet["complete"] is False


def test_other_tenants_accounts_are_404_like_missing_ones(busy):
    w = busy
    w.fund("cus_g", 500)
    for query in ("", "?format=csv", "?format=pdf", "?clock=effective", "?currency=USD"):
        theirs = w.get(f"/v1/accounts/cus_g/statements/2026-11{query}")
        nobody = w.get(f"/v1/accounts/cus_nobody/statements/2026-11{query}")
        assert theirs.status_code == nobody.status_code == 404, (query, theirs.json)
        assert theirs.json["error"]["code"] == nobody.json["error"]["code"] == "account_not_found"
        assert theirs.json["error"]["message"].replace("cus_g", "X") == nobody.json["error"]["message"].replace(
            "cus_nobody", "X"
        )
        conforms(theirs, PATH, "get")
    assert w.get("/v1/accounts/cus_g/statements/2026-11", key=w.globex).status_code == 200
    assert w.get("/v1/accounts/cus_a/statements/2026-11", key=w.globex).status_code == 404


def test_scopes(busy):
    w = busy
    assert w.get("/v1/accounts/cus_a/statements/2026-11", key=w.read_only).status_code == 200
    resp = w.get("/v1/accounts/cus_a/statements/2026-11", key=w.operator)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_scope"
    assert w.get("/v1/accounts/cus_a/statements/2026-11", key=None).status_code == 401


@pytest.mark.parametrize(
    "query, code, param",
    [
        ("2026-13", "parameter_invalid", "period"),
        ("november", "parameter_invalid", "period"),
        ("custom", "parameter_missing", "from"),
        ("custom?from=2026-11-01T00:00:00Z", "parameter_missing", "to"),
        ("custom?from=2026-11-01&to=2026-12-01T00:00:00Z", "parameter_invalid", "from"),
        ("custom?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "parameter_invalid", "to"),
        ("custom?from=2025-01-01T00:00:00Z&to=2026-12-01T00:00:00Z", "statement_too_large", "period"),
        ("2026-11?from=2026-11-01T00:00:00Z", "parameter_invalid", "from"),
        ("2026-11?clock=wall", "parameter_invalid", "clock"),
        ("2026-11?format=xlsx", "parameter_invalid", "format"),
        ("2026-11?currency=XYZ", "parameter_invalid", "currency"),
        ("2026-11?page=2", "parameter_unknown", "page"),
    ],
)
def test_bad_parameters_are_400_with_param(query, code, param):
    w = World()
    resp = w.get(f"/v1/accounts/cus_a/statements/{query}")
    assert (resp.status_code, resp.json["error"]["code"], resp.json["error"]["param"]) == (400, code, param)
    conforms(resp, PATH, "get")


def test_too_many_entries_is_400_statement_too_large(monkeypatch):
    w = World()
    for amount in (1, 2, 3):
        w.fund("cus_a", amount)
    monkeypatch.setattr(domain, "MAX_ENTRIES", 2)
    resp = w.get("/v1/accounts/cus_a/statements/2026-11")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "statement_too_large"
    assert w.get("/v1/accounts/cus_a/statements/2026-11?currency=EUR").status_code == 200


def test_the_contract_lists_the_renderings():
    from tests.unit.test_api_contract import committed

    ok = committed()["paths"][PATH]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv", "application/pdf"}
    assert "Content-Disposition" in ok["headers"]


# ----------------------------------------------------------------------------- PDF


def test_pdf_renders_to_a_page_with_the_header_and_the_closing_balance(busy, tmp_path):
    """The PDF as a person sees it: rendered by PDFium to PNG (kept under the test's tmp dir), the
    header band is dark, the page is not blank, and its text carries the account, the period and the
    closing balance of each currency."""
    pdfium = pytest.importorskip("pypdfium2")
    w = busy
    resp = w.get("/v1/accounts/cus_a/statements/2026-11?format=pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="statement-cus_a-2026-11-recorded.pdf"'
    assert resp.data.startswith(b"%PDF-")
    s = w.get("/v1/accounts/cus_a/statements/2026-11").json
    (tmp_path / "statement.pdf").write_bytes(resp.data)
    doc = pdfium.PdfDocument(resp.data)
    try:
        assert len(doc) == 1
        page = doc[0]
        image = page.render(scale=1).to_pil().convert("L")
        image.save(tmp_path / "statement-page-1.png")
        width, height = image.size
        band = image.crop((0, 0, width, int(height * 0.03)))  # the header band: dark
        shades = band.histogram()  # mode L: how many pixels of each grey, 0 (black) to 255
        assert sum(i * n for i, n in enumerate(shades)) / sum(shades) < 80
        body = image.crop((0, int(height * 0.05), width, height))
        shades = body.histogram()
        assert sum(shades[:128]) > 0.005 * sum(shades)  # text and rules, not a blank page
        text = page.get_textpage().get_text_range()
    finally:
        doc.close()
    assert "Account statement" in text and "cus_a" in text and "2026-11" in text
    assert s["proof"]["digest"] in text  # the printed statement names the digest its JSON proves
    for c in s["currencies"]:
        closing = decimal_text(c["closing"]["posted"], c["exponent"])
        assert f"Closing balance {closing}" in " ".join(text.split()), (c["currency"], closing)
        for e in c["entries"]:
            assert e["id"][:10] in text


def test_a_long_pdf_numbers_its_pages_and_repeats_the_headings():
    pdfium = pytest.importorskip("pypdfium2")
    w = World()
    w.fund("cus_a", 100_000)
    for i in range(120):
        assert w.post("/v1/transfers", transfer(1 + i)).status_code == 200
    resp = w.get("/v1/accounts/cus_a/statements/2026-11?format=pdf")
    doc = pdfium.PdfDocument(resp.data)
    try:
        pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()
    assert len(pages) >= 3
    assert all(f"page {i + 1}/{len(pages)}" in text for i, text in enumerate(pages))
    assert all("Posted after" in text for text in pages)  # the entries' heading on every page
    closing = w.get("/v1/accounts/cus_a/statements/2026-11").json["currencies"][0]["closing"]["posted"]
    assert decimal_text(closing, 2) in pages[0]


def test_an_empty_pdf_says_so():
    pdfium = pytest.importorskip("pypdfium2")
    w = World()
    doc = pdfium.PdfDocument(w.get("/v1/accounts/cus_a/statements/2025-01?format=pdf").data)
    try:
        assert "No balance and no entry in this period." in doc[0].get_textpage().get_text_range()
    finally:
        doc.close()


# ----------------------------------------------------------------------------- exports (a job, a file, a URL)


@pytest.fixture
def files(busy):
    from shared.adapters.statement_files import MemoryStatementFiles

    bucket = MemoryStatementFiles(clock=busy.clock)
    busy.backend.statement_files = lambda: bucket
    return bucket


def run_tasks(w, files) -> list[str]:
    from shared.api.statement_exports import exporter

    done = [exporter(w.store, lambda: files, w.clock)(t.key) for t in w.scheduled if t.kind == "statement-export"]
    w.scheduled.clear()
    return done


EXPORTS = "/v1/accounts/{id}/statements/exports"


def test_an_export_is_a_job_that_writes_the_file_and_answers_a_signed_url(busy, files):
    w = busy
    body = {"period": "custom", "from": "2022-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "format": "csv"}
    assert (
        w.get("/v1/accounts/cus_a/statements/custom?from=2022-01-01T00:00:00Z&to=2027-01-01T00:00:00Z").json["error"][
            "code"
        ]
        == "statement_too_large"
    )  # five years: too long inline, fine as an export
    assert w.post("/v1/accounts/cus_a/statements/exports", body, idem=None).json["error"]["code"] == (
        "idempotency_key_missing"
    )
    resp = w.post("/v1/accounts/cus_a/statements/exports", body, idem="export-1")
    assert resp.status_code == 202, resp.json
    conforms(resp, EXPORTS, "post")
    export = resp.json
    assert export["status"] == "pending" and export["url"] is None and export["period"] == "custom"
    assert w.post("/v1/accounts/cus_a/statements/exports", body, idem="export-1").json["id"] == export["id"]
    assert [t.key for t in w.scheduled if t.kind == "statement-export"] == [export["id"]]  # a replay queues nothing
    (outcome,) = run_tasks(w, files)
    assert "bytes" in outcome
    resp = w.get(f"/v1/statement-exports/{export['id']}")
    conforms(resp, "/v1/statement-exports/{id}", "get")
    done = resp.json
    assert done["status"] == "done" and done["url"].startswith("memory://") and done["url_expires_at"]
    (name,) = files.objects
    data, media = files.objects[name]
    assert name == f"statements/acme/{export['id']}.csv" and media.startswith("text/csv")
    assert done["bytes"] == len(data) and done["sha256"] == __import__("hashlib").sha256(data).hexdigest()
    inline = w.get("/v1/accounts/cus_a/statements/custom?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&format=csv")
    assert data == inline.data  # nothing before 2026: the five years' file is the last year's
    assert (
        done["entry_count"]
        == w.get("/v1/accounts/cus_a/statements/2026-11").json["entry_count"]
        + (w.get("/v1/accounts/cus_a/statements/2026-12").json["entry_count"])
    )
    exporter_again = __import__("shared.api.statement_exports", fromlist=["exporter"]).exporter
    assert "already done" in exporter_again(w.store, lambda: files, w.clock)(export["id"])  # a task run twice


def test_exports_are_tenant_scoped_and_checked_before_the_job(busy, files):
    w = busy
    body = {"period": "2026-11", "format": "pdf"}
    mine = w.post("/v1/accounts/cus_a/statements/exports", body).json
    assert w.get(f"/v1/statement-exports/{mine['id']}", key=w.globex).status_code == 404
    nobody = w.get("/v1/statement-exports/stx_nothing", key=w.globex)
    assert nobody.status_code == 404 and nobody.json["error"]["code"] == "statement_export_not_found"
    theirs = w.post("/v1/accounts/cus_a/statements/exports", body, key=w.globex)
    assert theirs.status_code == 404 and theirs.json["error"]["code"] == "account_not_found"
    for bad, code, param in (
        ({"period": "2026-13"}, "parameter_invalid", "period"),
        ({"period": "custom", "from": "2026-01-01T00:00:00Z"}, "parameter_missing", "to"),
        (
            {"period": "custom", "from": "2010-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "statement_too_large",
            "period",
        ),
        ({"period": "2026-11", "format": "xlsx"}, "parameter_invalid", "format"),
        ({"period": "2026-11", "currency": "XYZ"}, "parameter_invalid", "currency"),
        ({"period": "2026-11", "page": 2}, "parameter_unknown", "page"),
    ):
        resp = w.post("/v1/accounts/cus_a/statements/exports", bad)
        assert (resp.status_code, resp.json["error"]["code"], resp.json["error"]["param"]) == (400, code, param), bad
    assert w.post("/v1/accounts/cus_a/statements/exports", body, key=w.read_only).status_code == 202  # scope read
    run_tasks(w, files)
    pdf = next(data for name, (data, _) in files.objects.items() if name.endswith(f"{mine['id']}.pdf"))
    assert pdf.startswith(b"%PDF-")


def test_an_export_too_large_for_the_job_fails_with_the_code(busy, files, monkeypatch):
    w = busy
    monkeypatch.setattr(domain, "EXPORT_MAX_ENTRIES", 3)
    export = w.post("/v1/accounts/cus_a/statements/exports", {"period": "2026-11"}).json
    (outcome,) = run_tasks(w, files)
    assert "failed: statement_too_large" in outcome
    failed = w.get(f"/v1/statement-exports/{export['id']}").json
    assert (failed["status"], failed["failure_code"], failed["url"]) == ("failed", "statement_too_large", None)
    assert files.objects == {}


# ----------------------------------------------------------------------------- provable statements


def anchored_rows(w) -> list[dict]:
    """What BigQuery `entries` holds once the outbox streamed everything (shared.ledger.outbox.entry_rows)."""
    from shared.ledger.outbox import entry_rows

    return [row for name in w.store.data["JournalTransaction"] for row in entry_rows(w.store.transaction(name))]


def chain_rows(w) -> list[dict]:
    """What BigQuery `transactions` holds then (shared.ledger.outbox.transaction_row)."""
    from shared.ledger.outbox import transaction_row

    return [transaction_row(w.store.transaction(name)) for name in w.store.data["JournalTransaction"]]


def anchor(w) -> tuple[list[dict], list[dict], list[dict]]:
    """verify()'s anchored inputs: the entries rows, the transactions rows, and every leg (all entries)."""
    rows = anchored_rows(w)
    return rows, chain_rows(w), rows


def checks(problems) -> set[str]:
    return {p["check"] for p in problems}


@pytest.mark.parametrize("clock", ["recorded", "effective"])
def test_an_untouched_statement_verifies_against_the_anchored_rows(busy, clock):
    from shared.domain import statement_proof

    w = busy
    rows = anchor(w)
    for period in ("2026-10", "2026-11", "2026-12", "2027-01"):
        s = w.get(f"/v1/accounts/cus_a/statements/{period}?clock={clock}").json
        assert s["proof"]["ledger_account"] == "customer:cus_a:wallet" and len(s["proof"]["digest"]) == 64
        assert statement_proof.verify(s, *rows) == [], period
        settled = clock == "recorded" and period != "2027-01"  # the clock reads 2027-01-03
        assert (s["proof"]["chain"] is not None) == settled, period
    one = w.get(f"/v1/accounts/cus_a/statements/2026-12?clock={clock}&currency=JPY").json
    assert statement_proof.verify(one, *rows) == []
    again = w.get(f"/v1/accounts/cus_a/statements/2026-11?clock={clock}").json
    s = w.get(f"/v1/accounts/cus_a/statements/2026-11?clock={clock}").json
    assert (
        again["generated_at"] != s["generated_at"] and again["proof"] == s["proof"]
    )  # the same period, the same digest


def tampered(s: dict, change) -> dict:
    copy = json.loads(json.dumps(s))
    change(next(c for c in copy["currencies"] if c["currency"] == "USD"))
    return copy


def reprove(s: dict) -> dict:
    """What a forger would do after altering the file: recompute every digest."""
    from shared.domain import statement_proof

    versions = {p["currency"]: (p["opening_version"], p["closing_version"]) for p in s["proof"]["sections"]}
    body = {k: v for k, v in s.items() if k != "proof"}
    chain = s["proof"].get("chain")
    return {**s, "proof": statement_proof.prove(body, s["proof"]["ledger_account"], versions, chain)}


def test_a_tampered_truncated_or_reordered_statement_fails_verification(busy):
    from shared.domain import statement_proof

    w = busy
    rows, chain, legs = anchor(w)
    s = w.get("/v1/accounts/cus_a/statements/2026-11").json
    assert len(next(c for c in s["currencies"] if c["currency"] == "USD")["entries"]) >= 4

    def amount(c):
        c["entries"][1]["amount"] += 100

    def truncate(c):
        del c["entries"][-1]

    def drop_middle(c):
        del c["entries"][1]

    def reorder(c):
        c["entries"][1], c["entries"][2] = c["entries"][2], c["entries"][1]

    def closing(c):
        c["closing"]["posted"] += 1

    for change, anchored in (
        (amount, {"entry_altered"}),
        (truncate, {"entry_missing", "versions"}),
        (drop_middle, {"entry_missing", "versions"}),
        (reorder, {"entry_order", "versions"}),
        (closing, {"closing_balance"}),
    ):
        altered = tampered(s, change)
        assert "digest" in checks(statement_proof.verify(altered, rows, chain, legs)), (
            change.__name__
        )  # the file was changed
        forged = reprove(altered)  # digests recomputed: the anchor still tells
        found = checks(statement_proof.verify(forged, rows, chain, legs))
        assert "digest" not in found and anchored <= found, (change.__name__, found)
    assert checks(statement_proof.verify({**s, "proof": None}, rows, chain, legs)) == {"proof_missing"}
    # a currency left out of a statement of every currency
    without = reprove(
        {**json.loads(json.dumps(s)), "currencies": [c for c in s["currencies"] if c["currency"] != "JPY"]}
    )
    without["proof"]["sections"] = [p for p in without["proof"]["sections"] if p["currency"] != "JPY"]
    assert "currency_missing" in checks(statement_proof.verify(reprove(without), rows, chain, legs))
    # the anchor itself: an entry missing from BigQuery is a gap, not a pass
    usd_ids = [e["id"] for e in next(c for c in s["currencies"] if c["currency"] == "USD")["entries"]]
    assert "anchor_gap" in checks(
        statement_proof.verify(s, [r for r in rows if r["entry_id"] != usd_ids[0]], chain, legs)
    )


def test_a_settled_statement_names_the_chain_heads_at_its_end_and_they_verify(busy):
    from shared.domain import statement_proof
    from shared.domain.ledger.chain import GENESIS, chains_of

    w = busy
    rows, chain, legs = anchor(w)
    s = w.get("/v1/accounts/cus_a/statements/2026-11").json
    proof = s["proof"]
    assert proof["version"] == "ledgerline.statement.v2" and proof["anchor"] == "bigquery:entries+transactions"
    assert proof["chain"]["before"] == s["end"] == "2026-12-01T00:00:00Z"
    heads = proof["chain"]["heads"]
    assert [h["chain_id"] for h in heads] == chains_of("main")
    end = datetime(2026, 12, 1, tzinfo=UTC)
    for head in heads:  # each is the chain's last transaction recorded before the end, from the store itself
        last = w.store.chain_head_at(head["chain_id"], end)
        if last is None:
            assert (head["seq"], head["hash"], head["transaction"]) == (0, GENESIS, None)
        else:
            assert (head["seq"], head["hash"], head["transaction"]) == (last.seq, last.hash, last.id)
            later = [r for r in chain if r["chain_id"] == head["chain_id"] and r["seq"] > head["seq"]]
            assert all(r["recorded_at"] >= end.isoformat() for r in later)
    assert any(h["seq"] > 0 for h in heads)
    assert statement_proof.verify(s, rows, chain, legs) == []
    assert checks(statement_proof.verify(s, rows)) == {"chain_unchecked"}  # never a silent pass
    # a month later the November heads are the same: the digest too
    w.clock.now += timedelta(days=30)
    assert w.get("/v1/accounts/cus_a/statements/2026-11").json["proof"] == proof


def test_a_statement_whose_chain_does_not_hold_fails(busy):
    from shared.domain import statement_proof
    from shared.domain.ledger.chain import GENESIS

    w = busy
    rows, chain, legs = anchor(w)
    s = w.get("/v1/accounts/cus_a/statements/2026-11").json
    listed = statement_proof.listed_transactions(s)
    by_id = {r["transaction_id"]: r for r in chain}
    first = min((by_id[t] for t in listed), key=lambda r: r["seq"])
    head = next(h for h in s["proof"]["chain"]["heads"] if h["chain_id"] == first["chain_id"])
    assert head["seq"] > first["seq"]  # one test thread: one chain, so there are links to walk

    def verify(statement=s, chain_rows=chain, all_legs=legs):
        return checks(statement_proof.verify(statement, rows, chain_rows, all_legs))

    # another account's leg of a listed transaction altered in BigQuery: the hash no longer recomputes
    other = next(r for r in legs if r["transaction_id"] == first["transaction_id"] and r["account"] != s["account"])
    bent = [{**r, "amount": r["amount"] + 1} if r is other else r for r in legs]
    assert verify(all_legs=bent) == {"transaction_hash"}
    assert verify(all_legs=[r for r in legs if r is not other]) == {"transaction_hash"}  # a leg missing
    # a row between the transaction and the head gone, or its link forged
    middle = next(r for r in chain if r["chain_id"] == first["chain_id"] and r["seq"] == first["seq"] + 1)
    assert "chain_link" in verify(chain_rows=[r for r in chain if r is not middle])
    forged = [{**r, "prev_hash": "f" * 64} if r is middle else r for r in chain]
    assert "chain_link" in verify(chain_rows=forged)
    # a listed transaction absent from the anchor
    assert "transaction_unanchored" in verify(chain_rows=[r for r in chain if r is not first])
    # the heads: one forged in the file (digest recomputed), one missing from BigQuery, one not the last
    forged_head = json.loads(json.dumps(s))
    forged_head["proof"]["chain"]["heads"][int(head["chain_id"].split("#")[1])]["hash"] = "e" * 64
    assert "head_unanchored" in verify(statement=reprove(forged_head))
    head_row = next(r for r in chain if r["transaction_id"] == head["transaction"])
    assert "head_unanchored" in verify(chain_rows=[r for r in chain if r is not head_row])
    late = {**head_row, "transaction_id": "txn_late", "seq": head["seq"] + 1, "recorded_at": s["start"]}
    assert "head_not_last" in verify(chain_rows=[*chain, late])
    assert "chain_conflict" in verify(chain_rows=[*chain, {**head_row, "transaction_id": "txn_twin"}])
    # a head pushed back to genesis to hide the chain (digest recomputed)
    genesis = json.loads(json.dumps(s))
    genesis["proof"]["chain"]["heads"][int(head["chain_id"].split("#")[1])].update(
        seq=0, hash=GENESIS, transaction=None
    )
    assert {"head_not_last", "transaction_unanchored"} <= verify(statement=reprove(genesis))
    # heads of another instant
    moved = json.loads(json.dumps(s))
    moved["proof"]["chain"]["before"] = "2026-12-02T00:00:00Z"
    assert "chain_instant" in verify(statement=reprove(moved))


def test_recorded_time_never_goes_back_along_a_chain_or_an_account():
    from shared.adapters.memory_store import MemoryStore
    from shared.domain.ledger.engine import recorded_after

    t = datetime(2026, 11, 5, tzinfo=UTC)
    one = timedelta(microseconds=1)
    assert recorded_after(t, []) == t and recorded_after(t, [None, t - one]) == t
    assert recorded_after(t, [t]) == t + one and recorded_after(t, [t - one, t + 5 * one, None]) == t + 6 * one
    store = MemoryStore()
    legs = (Leg("bank:test:operating", "debit", 5, "USD"), Leg(tenants.wallet("cus_m"), "credit", 5, "USD"))
    clocks = [t + timedelta(seconds=2), t + timedelta(seconds=1), t + timedelta(seconds=1)]  # a clock behind
    for n, at in enumerate(clocks):
        op = Operation(f"mono{n}", "post", "test_funding.v1", f"mono{n}", "test", f"mono{n}", at, legs=legs)
        assert transactions.execute(store, op, lambda at=at: at).status == "posted"
    posted = [store.transaction(f"mono{n}") for n in range(3)]
    assert [p.recorded_at for p in posted] == [
        t + timedelta(seconds=2),
        t + timedelta(seconds=2) + one,
        t + timedelta(seconds=2) + 2 * one,
    ]
    assert [p.seq for p in posted] == [1, 2, 3] and len({p.chain_id for p in posted}) == 1
    wallet = [e.account_version for p in posted for e in p.entries_on(tenants.wallet("cus_m"))]
    assert wallet == [1, 2, 3]


def test_a_rewritten_transaction_cannot_be_relinked_and_the_heads_must_be_every_chain_at_the_end(busy):
    """A forger with write access to BigQuery rewrites a listed transaction (a counterparty's leg),
    recomputes its hashes and patches the next row's prev_hash: the next row's own hash (the linked
    form: H(prev_hash, content_hash)) no longer holds, so the walk to the head breaks."""
    from shared.domain import statement_proof
    from shared.domain.ledger.chain import GENESIS, content_hash, link_hash

    w = busy
    rows, chain, legs = anchor(w)
    s = w.get("/v1/accounts/cus_a/statements/2026-11").json
    by_id = {r["transaction_id"]: r for r in chain}
    first = min((by_id[t] for t in statement_proof.listed_transactions(s)), key=lambda r: r["seq"])
    assert first["content_hash"] and first["hash"] == link_hash(first["prev_hash"], first["content_hash"])
    other = next(r for r in legs if r["transaction_id"] == first["transaction_id"] and r["account"] != s["account"])
    bent_legs = [{**r, "amount": r["amount"] + 1} if r is other else r for r in legs]
    txn = w.store.transaction(first["transaction_id"])
    record = {
        "seq": txn.seq, "transaction_id": txn.id, "kind": txn.kind, "rule": txn.rule, "event_id": txn.event_id,
        "body_hash": txn.body_hash, "effective_at": txn.effective_at, "recorded_at": txn.recorded_at,
        "expires_at": txn.expires_at, "partner": txn.partner, "ledger": txn.ledger, "target": txn.target,
    }  # fmt: skip
    entries = [
        {"account": e.account, "currency": e.currency, "shard": e.shard, "direction": e.direction,
         "amount": e.amount + (1 if f"{txn.id}:{e.index}" == other["entry_id"] else 0), "phase": e.phase}
        for e in txn.entries
    ]  # fmt: skip
    forged_content = content_hash(record, entries)
    forged_hash = link_hash(first["prev_hash"], forged_content)
    relinked = []
    for r in chain:
        if r is first:
            r = {**r, "content_hash": forged_content, "hash": forged_hash}
        elif r["chain_id"] == first["chain_id"] and r["seq"] == first["seq"] + 1:
            r = {**r, "prev_hash": forged_hash}
        relinked.append(r)
    problems = statement_proof.verify(s, rows, relinked, bent_legs)
    found = checks(problems)
    forged_itself = {"check": "transaction_hash", "transaction": first["transaction_id"]}
    assert forged_itself not in problems and "chain_link" in found, problems  # its own hashes recompute
    # heads: all 32 chains once, in order; the last ones before the end (given by BigQuery's MAX(seq))
    dropped = json.loads(json.dumps(s))
    dropped["proof"]["chain"]["heads"] = dropped["proof"]["chain"]["heads"][:1]
    assert "chain_heads" in checks(statement_proof.verify(reprove(dropped), rows, chain, legs))
    behind = statement_proof.latest_before(chain, datetime(2026, 12, 1, tzinfo=UTC))
    behind[first["chain_id"]] += 1
    assert "head_not_last" in checks(statement_proof.verify(s, rows, chain, legs, latest=behind))
    # a quiet period (no entry of the account) proves its heads too: genesis heads are refused
    quiet = w.get("/v1/accounts/cus_a/statements/2026-12").json
    stale = json.loads(json.dumps(quiet))
    for head in stale["proof"]["chain"]["heads"]:
        head.update(seq=0, hash=GENESIS, transaction=None)
    assert statement_proof.verify(quiet, rows, chain, legs) == []
    assert "head_not_last" in checks(statement_proof.verify(reprove(stale), rows, chain, legs))
    # a proof of the wrong shape is a problem, not a crash
    broken = json.loads(json.dumps(s))
    broken["proof"]["chain"]["before"] = None
    assert checks(statement_proof.verify(reprove(broken), rows, chain, legs)) >= {"chain_malformed"}


def test_a_chain_head_from_before_heads_kept_their_time_still_orders_the_next_posting():
    from shared.adapters.memory_store import MemoryStore

    t = datetime(2026, 11, 5, tzinfo=UTC)
    store = MemoryStore()
    legs = (Leg("bank:test:operating", "debit", 5, "USD"), Leg(tenants.wallet("cus_h"), "credit", 5, "USD"))
    first = Operation("old0", "post", "test_funding.v1", "old0", "test", "old0", t, legs=legs)
    assert transactions.execute(store, first, lambda: t + timedelta(seconds=5)).status == "posted"
    chain_id = store.transaction("old0").chain_id
    del store.data["ChainHead"][chain_id]["recorded_at"]  # as written before this change
    other = (Leg("bank:test:operating", "debit", 5, "USD"), Leg(tenants.wallet("cus_i"), "credit", 5, "USD"))
    second = Operation("old1", "post", "test_funding.v1", "old1", "test", "old1", t, legs=other)
    assert transactions.execute(store, second, lambda: t + timedelta(seconds=1)).status == "posted"  # clock behind
    later = store.transaction("old1")
    assert later.chain_id == chain_id and later.recorded_at == t + timedelta(seconds=5, microseconds=1)


def test_the_heads_of_a_settled_instant_are_read_once_per_instance(busy):
    w = busy
    reads = []
    original = w.store.chain_head_at
    w.store.chain_head_at = lambda chain_id, before: reads.append(chain_id) or original(chain_id, before)
    first = w.get("/v1/accounts/cus_a/statements/2026-11").json
    assert len(reads) == 32
    assert w.get("/v1/accounts/cus_a/statements/2026-11").json["proof"] == first["proof"] and len(reads) == 32
    assert w.get("/v1/accounts/cus_a/statements/2026-11?format=csv").status_code == 200  # no proof: no heads
    assert len(reads) == 32
    assert w.get("/v1/accounts/cus_a/statements/2026-10").json["proof"]["chain"] is not None
    assert len(reads) == 64  # another instant: its own 32
