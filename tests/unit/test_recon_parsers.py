"""Parsers: exact minor units from decimal strings, and a ReportError naming file, line and column for
every kind of bad input."""

from pathlib import Path

import pytest

from shared.reconciliation import ReportError, parse_adyen, parse_bai2, parse_camt053, parse_stripe

FIXTURES = Path(__file__).parent.parent / "fixtures" / "recon"
STRIPE = (FIXTURES / "stripe_balance.csv").read_bytes()
HEADER = STRIPE.splitlines()[0]


def stripe_with(row: bytes) -> bytes:
    good = STRIPE.splitlines()[1]
    return b"\n".join([HEADER, good, row]) + b"\n"


def test_stripe_fixture_in_minor_units_with_ledger_references():
    frame = parse_stripe(STRIPE, "stripe.csv")
    first = frame.row(0, named=True)
    assert (first["amount"], first["fee"], first["net"], first["currency"]) == (10000, 320, 9680, "USD")
    assert (first["reference"], first["payment_reference"], first["payout_ref"]) == ("pi_001", "ch_001", "po_A")
    jpy = frame.filter(frame["reference"] == "pi_004").row(0, named=True)
    assert (jpy["amount"], jpy["currency"]) == (5000, "JPY")  # zero-decimal currency: 5000 yen
    refund = frame.filter(frame["kind"] == "refund").row(0, named=True)
    assert (refund["reference"], refund["payment_reference"], refund["amount"]) == ("re_006", "pi_001", -1000)
    assert set(frame["kind"]) == {"payment", "refund", "dispute", "payout", "payout_failed"}
    assert frame["row_ref"][0] == "stripe.csv:2"


@pytest.mark.parametrize(
    ("row", "column", "needle"),
    [
        (b"txn_x,2026-11-10 09:00:00,,usd,12.345,0,12.345,charge,ch_x,,,,,", "gross", "more decimals"),
        (b"txn_x,2026-11-10 09:00:00,,jpy,100.5,0,100.5,charge,ch_x,,,,,", "gross", "more decimals"),
        (b"txn_x,2026-11-10 09:00:00,,usd,1e3,0,1e3,charge,ch_x,,,,,", "gross", "not a decimal"),
        (b"txn_x,2026-11-10 09:00:00,,usd,,0,,charge,ch_x,,,,,", "gross", "missing amount"),
        (b"txn_x,2026-11-10 09:00:00,,xxx,1.00,0,1.00,charge,ch_x,,,,,", "currency", "unknown ISO-4217"),
        (b"txn_x,10/11/2026,,usd,1.00,0,1.00,charge,ch_x,,,,,", "created_utc", "not a date"),
        (b"txn_x,2026-11-10 09:00:00,,usd,10.00,1.00,8.00,charge,ch_x,,,,,", "net", "is not gross"),
        (b",2026-11-10 09:00:00,,usd,1.00,0,1.00,charge,ch_x,,,,,", "balance_transaction_id", "missing"),
    ],
)
def test_stripe_bad_cell_names_file_line_and_column(row, column, needle):
    with pytest.raises(ReportError) as err:
        parse_stripe(stripe_with(row), "reports/stripe.csv")
    assert (err.value.file, err.value.line, err.value.column) == ("reports/stripe.csv", 3, column)
    assert needle in err.value.message
    assert str(err.value).startswith("reports/stripe.csv:3: ")


def test_stripe_missing_column_is_reported_on_the_header_line():
    data = STRIPE.replace(b",net,", b",nett,", 1)
    with pytest.raises(ReportError) as err:
        parse_stripe(data, "s.csv")
    assert (err.value.line, err.value.column) == (1, "net")


def test_stripe_error_line_is_the_physical_line_after_a_multiline_cell():
    multiline = b'txn_m,2026-11-10 09:00:00,,usd,1.00,0,1.00,charge,ch_m,"two\nlines",,,,'
    data = b"\n".join([HEADER, multiline, b"txn_x,2026-11-10 09:00:00,,usd,1.001,0,1.001,charge,ch_x,,,,,"]) + b"\n"
    with pytest.raises(ReportError) as err:
        parse_stripe(data, "s.csv")
    assert err.value.line == 4  # record 3 starts on physical line 4


def test_stripe_trailing_zeros_past_the_exponent_are_exact_not_errors():
    frame = parse_stripe(stripe_with(b"txn_x,2026-11-10 09:00:00,,usd,12.300,0.000,12.3,charge,ch_x,,,,,"), "s.csv")
    assert frame["amount"][1] == 1230


def test_empty_file_is_an_error():
    with pytest.raises(ReportError, match="empty"):
        parse_stripe(b"", "s.csv")


def test_adyen_fixture_fees_netted_and_record_types():
    frame = parse_adyen((FIXTURES / "adyen_settlement.csv").read_bytes(), "adyen.csv")
    rows = {r["kind"]: r for r in frame.iter_rows(named=True)}
    assert (rows["payment"]["amount"], rows["payment"]["fee"], rows["payment"]["net"]) == (5000, 12, 4988)
    assert rows["payment"]["reference"] == "1813702551707653"
    assert rows["refund"]["reference"] == "8813702551799999"  # the modification's pspReference
    assert rows["refund"]["payment_reference"] == "1813702551707653"
    assert (rows["payout"]["reference"], rows["payout"]["amount"]) == ("batch-4", -4448)
    assert frame["net"].sum() - rows["payout"]["net"] == 4448  # the batch pays out what its rows net to


def test_adyen_gross_fees_net_disagreement_is_refused():
    data = (FIXTURES / "adyen_settlement.csv").read_bytes().replace(b",49.88,", b",49.80,")
    with pytest.raises(ReportError) as err:
        parse_adyen(data, "adyen.csv")
    assert (err.value.line, err.value.column) == (2, "Net Credit (NC)")
    assert "is not net" in err.value.message


def test_adyen_missing_batch_number_column():
    data = (FIXTURES / "adyen_settlement.csv").read_bytes().replace(b"Batch Number", b"Batch")
    with pytest.raises(ReportError) as err:
        parse_adyen(data, "adyen.csv")
    assert err.value.column == "Batch Number"


def test_camt053_entries_signed_with_fee_netting_and_lines():
    frame = parse_camt053((FIXTURES / "camt053.xml").read_bytes(), "stmt.xml")
    rows = {(r["reference"], r["kind"]): r for r in frame.iter_rows(named=True)}
    assert rows[("po_A", "payout")]["amount"] == 18300
    assert rows[("UNKNOWN CREDIT", "payout")]["amount"] == 99900  # EndToEndId NOTPROVIDED → remittance
    jpy = rows[("po_B", "payout")]
    assert (jpy["amount"], jpy["fee"], jpy["net"], jpy["currency"]) == (4825, 25, 4800, "JPY")
    assert rows[("po_B", "payout_failed")]["amount"] == -4825
    assert rows[("po_A", "payout")]["row_ref"] == "stmt.xml:8"


@pytest.mark.parametrize(
    ("change", "line", "needle"),
    [
        ((b'<Amt Ccy="USD">183.00</Amt>', b'<Amt Ccy="USD">183.001</Amt>'), 9, "more decimals"),
        ((b"<CdtDbtInd>CRDT</CdtDbtInd>", b"<CdtDbtInd>CR</CdtDbtInd>"), 8, "expected CRDT or DBIT"),
        ((b'<Amt Ccy="JPY">4800</Amt>', b'<Amt Ccy="XXX">4800</Amt>'), 31, "unknown ISO-4217"),
        ((b"<BookgDt><Dt>2026-11-13</Dt></BookgDt>", b"<BookgDt><Dt>13.11.2026</Dt></BookgDt>"), 8, "not a date"),
        ((b"</Stmt>", b"</Stmtx>"), 26, "malformed XML"),
    ],
)
def test_camt053_errors_name_the_line(change, line, needle):
    data = (FIXTURES / "camt053.xml").read_bytes().replace(*change, 1)
    with pytest.raises(ReportError) as err:
        parse_camt053(data, "stmt.xml")
    assert err.value.line == line and needle in err.value.message


def test_camt053_refuses_doctype_and_entities():
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>'
    with pytest.raises(ReportError, match="DOCTYPE"):
        parse_camt053(bomb, "evil.xml")


def test_camt053_other_documents_are_refused():
    with pytest.raises(ReportError, match=r"not a camt\.053"):
        parse_camt053(b"<Document><Other/></Document>", "x.xml")


def test_bai2_details_with_continuation_and_control_totals():
    frame = parse_bai2((FIXTURES / "bai2.txt").read_bytes(), "bank.bai")
    assert frame.select("row_ref", "kind", "reference", "amount").rows() == [
        ("bank.bai:4", "payout", "po_A", 18300),
        ("bank.bai:6", "payout_failed", "chk_1", -500),
    ]


def test_bai2_control_total_mismatch_is_an_error():
    data = (FIXTURES / "bai2.txt").read_bytes().replace(b"49,18800", b"49,18801")
    with pytest.raises(ReportError, match="control total"):
        parse_bai2(data, "bank.bai")
