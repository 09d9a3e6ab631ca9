"""Parsers: exact minor units from decimal strings, and a ReportError naming file, line and column for
every kind of bad input."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.domain.money import EXPONENTS, MAX_AMOUNT, decimal_text
from shared.partners import adyen
from shared.reconciliation import ReportError, parse_adyen, parse_bai2, parse_camt053, parse_stripe
from shared.reconciliation.formats import bai2

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


ADYEN_HEADER = (FIXTURES / "adyen_settlement.csv").read_text().splitlines()[0].split(",")


def adyen_report(*rows: dict) -> bytes:
    """A Settlement details report with the fixture's header; each row names only its non-empty cells."""
    base = {
        "Company Account": "TestCompany",
        "Merchant Account": "TestMerchant",
        "TimeZone": "CET",
        "Batch Number": "7",
    }
    lines = [",".join(ADYEN_HEADER)]
    for row in rows:
        cells = {"Creation Date": "2026-11-10 11:26:49", **base, **row}
        lines.append(",".join(cells.get(column, "") for column in ADYEN_HEADER))
    return ("\n".join(lines) + "\n").encode()


def settled(currency: str, gross: str, net: str, **fees: str) -> dict:
    row = {"Psp Reference": "1813702551707653", "Type": "Settled", "Modification Reference": "1713702551795048"}
    row |= {"Gross Currency": currency, "Gross Credit (GC)": gross, "Net Currency": currency, "Net Credit (NC)": net}
    return row | {f"{name} (NC)": value for name, value in fees.items()}


def test_adyen_fraction_without_leading_zero_is_a_decimal():
    reversed_ = settled("USD", "52", "51.89", Markup=".11") | {"Type": "ChargebackReversed"}
    row = parse_adyen(adyen_report(reversed_), "a.csv").row(0, named=True)
    assert (row["kind"], row["amount"], row["fee"], row["net"]) == ("dispute_won", 5200, 11, 5189)


@pytest.mark.parametrize("bad", ['"0,11"', "abc", "1e-1", ".", "- .5"])
def test_adyen_unparsable_fee_is_named_not_counted_as_zero(bad):
    with pytest.raises(ReportError) as err:
        parse_adyen(adyen_report(settled("USD", "52", "51.89", Markup=bad)), "a.csv")
    assert (err.value.line, err.value.column) == (2, "Markup (NC)")
    assert "not a decimal" in err.value.message


def test_adyen_disagreement_on_a_debit_row_names_net_debit():
    refund = {"Psp Reference": "1813702551707653", "Type": "Refunded", "Modification Reference": "8813702551799999"}
    refund |= {"Gross Currency": "GBP", "Gross Debit (GC)": "2.00", "Net Currency": "GBP", "Net Debit (NC)": "2.10"}
    with pytest.raises(ReportError) as err:
        parse_adyen(adyen_report(refund), "a.csv")
    assert (err.value.column, err.value.message) == (
        "Net Debit (NC)",
        "gross -200 minus fees 0 is not net -210 (minor units)",
    )


@pytest.mark.parametrize(
    ("currency", "gross", "net", "fee", "minor"),
    [
        ("CLP", "1000.00", "990.00", "10.00", (1000, 10, 990)),  # Adyen writes CLP with 2 decimals; ISO has 0
        ("ISK", "500.00", "495.00", "5.00", (500, 5, 495)),
        ("CVE", "1000", "990", "10", (100000, 1000, 99000)),  # Adyen: 0 decimals; ISO: 2
        ("IDR", "15000", "14850", "150", (1500000, 15000, 1485000)),
        ("JPY", "5000", "4950", "50", (5000, 50, 4950)),
        ("BHD", "10.500", "10.400", "0.100", (10500, 100, 10400)),
    ],
)
def test_adyen_report_amounts_are_converted_by_value(currency, gross, net, fee, minor):
    row = parse_adyen(adyen_report(settled(currency, gross, net, Commission=fee)), "a.csv").row(0, named=True)
    assert ((row["amount"], row["fee"], row["net"]), row["currency"]) == (minor, currency)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (settled("CLP", "1000.50", "1000.50"), "Gross Credit (GC)"),  # 50 centavos: no ISO-4217 CLP unit
        (settled("CLP", "1000.00", "999.50", Commission="0.50"), "Net Credit (NC)"),
        (settled("CLP", "1000.00", "1000.00", Interchange="0.01"), "Interchange (NC)"),
        (settled("ISK", "500.00", "499.99", Markup="0.01"), "Net Credit (NC)"),
    ],
)
def test_adyen_amount_iso_cannot_represent_is_refused_with_its_column(row, column):
    with pytest.raises(ReportError) as err:
        parse_adyen(adyen_report(row), "a.csv")
    assert (err.value.line, err.value.column) == (2, column)
    assert "more decimals than" in err.value.message


ADYEN_AND_ISO = sorted(set(adyen.ADYEN_EXPONENTS) & set(EXPONENTS))


@pytest.mark.parametrize("currency", ADYEN_AND_ISO)
def test_adyen_report_every_listed_currency_at_adyens_precision(currency):
    """Seven major units written as Adyen writes them (its exponent) are seven ISO major units."""
    seven = decimal_text(7 * 10 ** adyen.ADYEN_EXPONENTS[currency], adyen.ADYEN_EXPONENTS[currency])
    row = parse_adyen(adyen_report(settled(currency, seven, seven)), "a.csv").row(0, named=True)
    assert row["amount"] == 7 * 10 ** EXPONENTS[currency]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ADYEN_AND_ISO), st.integers(min_value=0, max_value=10**14), st.integers(0, 10**6))
@example("CLP", 100001, 0)  # 1000.01 pesos: refused
@example("CLP", 100000, 50)  # the fee is not whole pesos: refused
@example("CVE", 100000, 1)  # 100000 escudos, fee 1 escudo: 10000000 and 100 ISO minor units
@example("CVE", 90071992547410, 0)  # more ISO minor units than the ledger holds: refused, column named
def test_adyen_report_never_loses_or_invents_a_minor_unit(currency, gross, fee):
    """Any amount at Adyen's precision is read as exactly its value in ISO minor units, or the row is
    refused naming an amount column because ISO cannot hold it; nothing is ever rounded."""
    theirs, ours = adyen.ADYEN_EXPONENTS[currency], EXPONENTS[currency]
    fee = min(fee, gross)
    row = settled(
        currency, decimal_text(gross, theirs), decimal_text(gross - fee, theirs), Commission=decimal_text(fee, theirs)
    )
    try:
        parsed = parse_adyen(adyen_report(row), "a.csv").row(0, named=True)
    except ReportError as err:
        step = 10 ** (theirs - ours) if theirs > ours else 1
        too_large = gross * 10 ** max(ours - theirs, 0) > MAX_AMOUNT
        assert too_large or any(v % step for v in (gross, fee, gross - fee)), err
        assert err.column in ("Gross Credit (GC)", "Net Credit (NC)", "Commission (NC)")
        return
    for value, minor in ((gross, parsed["amount"]), (fee, parsed["fee"]), (gross - fee, parsed["net"])):
        assert Decimal(minor).scaleb(-ours) == Decimal(value).scaleb(-theirs)


def test_camt053_entries_signed_with_fee_netting_and_lines():
    frame = parse_camt053((FIXTURES / "camt053.xml").read_bytes(), "stmt.xml")
    rows = {(r["reference"], r["amount"] > 0): r for r in frame.iter_rows(named=True)}
    assert set(frame["kind"]) == {"other"}  # no BkTxCd: a line class cannot be told
    assert rows[("po_A", True)]["amount"] == 18300
    assert rows[("UNKNOWN CREDIT", True)]["amount"] == 99900  # EndToEndId NOTPROVIDED → remittance
    jpy = rows[("po_B", True)]
    assert (jpy["amount"], jpy["fee"], jpy["net"], jpy["currency"]) == (4825, 25, 4800, "JPY")
    assert rows[("po_B", False)]["amount"] == -4825
    assert rows[("po_A", True)]["row_ref"] == "stmt.xml:8"


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
        ("bank.bai:4", "ach_credit", "po_A", 18300),  # 165 Preauthorized ACH Credit
        ("bank.bai:6", "check", "chk_1", -500),  # 475 Check Paid
    ]


def test_bai2_control_total_mismatch_is_an_error():
    data = (FIXTURES / "bai2.txt").read_bytes().replace(b"49,18800", b"49,18801")
    with pytest.raises(ReportError, match="control total"):
        parse_bai2(data, "bank.bai")


# ----------------------------------------------------------------------------------------- BAI2, continued

BAI2_CONT = (FIXTURES / "bai2_continuations.bai").read_bytes()


def test_bai2_continuation_between_any_fields_funds_types_and_padding():
    frame = parse_bai2(BAI2_CONT, "b.bai")
    assert frame.select("row_ref", "kind", "reference", "amount", "currency", "status").rows() == [
        ("b.bai:5", "ach_credit", "po_A", 18300, "USD", "165"),  # padded customer reference stripped
        ("b.bai:7", "ach_debit", "acht_out1", -500, "USD", "451"),  # funds type on the 88
        ("b.bai:9", "ach_credit", "acht_in1", 1000, "USD", "142"),  # S: three availability amounts
        ("b.bai:11", "ach_return", "acht_ret1", 2000, "USD", "257"),  # amount on the 88, D: 2 pairs
    ]
    assert frame["value_date"].to_list() == [date(2026, 11, 14), *[date(2026, 11, 13)] * 3]  # V keeps its own
    assert set(frame["date"]) == {date(2026, 11, 13)}  # the group's as-of date


def test_bai2_text_runs_to_the_end_of_the_logical_record_with_commas():
    details = [d for g in bai2.parse_file(BAI2_CONT, "b") for a in g.accounts for d in a.details]
    # commas and inner slashes are text; the `/` banks end each physical record with is not
    assert details[0].text == "STRIPE PAYOUT, ID po_A CONTINUED TEXT"
    assert (details[0].bank_reference, details[0].funds_type) == ("BANKREF1", "V")
    assert [d.text for d in details[1:]] == ["ACH DEBIT", "ACH CREDIT", "RETURN R01"]


def bai2_one(detail: str, amount: int) -> bytes:
    lines = ["01,S,R,261116,0100,1,,,2/", "02,R,S,1,261115,2359,,2/", "03,111,USD,010,0,,/", detail]
    lines += [f"49,{amount},3/", f"98,{amount},1,5/", f"99,{amount},1,7/"]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("detail", "text"),
    [
        # Banks end 16 records with a `/` the spec does not ask for: one trailing `/` goes, inner ones stay.
        ("16,165,100,Z,BR,CR,INVOICE 12/2026/", "INVOICE 12/2026"),
        ("16,165,100,Z,BR,CR,INVOICE 12/2026", "INVOICE 12/2026"),
        ("16,165,100,Z,BR,CR,RETURNED CHEQUE     /", "RETURNED CHEQUE"),  # fixed-width padding, then `/`
        ("16,165,100,Z,BR,CR,/", None),  # the spec's own `,,,/`: no text
        ("16,165,100,Z,BR,CR,   /   ", None),
        ("16,165,100,Z,BR,CR", None),
    ],
)
def test_bai2_a_16_text_loses_only_the_terminating_slash(detail, text):
    details = [d for g in bai2.parse_file(bai2_one(detail, 100), "b") for a in g.accounts for d in a.details]
    assert details[0].text == text


@pytest.mark.parametrize(
    ("code", "kind", "amount"),
    [("925", "other", 100), ("959", "other", 100), ("960", "other", -100), ("999", "other", -100)],
)
def test_bai2_a_bank_custom_type_code_is_an_other_line_with_the_spec_range_direction(code, kind, amount):
    frame = parse_bai2(bai2_one(f"16,{code},100,Z,BR,po_X,BANK CUSTOM", 100), "b.bai")
    assert frame.select("kind", "reference", "amount", "status").rows() == [(kind, "po_X", amount, code)]


@pytest.mark.parametrize(("code", "needle"), [("905", "custom account status"), ("750", "700-899")])
def test_bai2_a_16_whose_code_has_no_direction_is_refused_naming_line_and_code(code, needle):
    with pytest.raises(ReportError) as err:
        parse_bai2(bai2_one(f"16,{code},100,Z,BR,CR,TEXT", 100), "b.bai")
    assert (err.value.line, err.value.column) == (4, "16.type_code")
    assert f"type code {code}" in err.value.message and needle in err.value.message


def test_bai2_an_03_type_code_ending_the_line_with_its_amount_on_the_88():
    # the shape of the specification's own example (03 … ,190/ then 88,500000,…): a hand-written copy
    data = b"""01,S,R,261116,0100,1,,,2/
02,R,S,1,261115,2359,,2/
03,111,,010,-500,,,190/
88,700,,,072/
88,300,,/
49,500,4/
98,500,1,6/
99,500,1,8/
"""
    assert parse_bai2(data, "x.bai").height == 0  # parsed: the control totals include the continued amounts


@pytest.mark.parametrize(
    ("change", "line", "column", "needle"),
    [
        ((b"49,259900,11/", b"49,259901,11/"), 13, "49.account_control_total", "says 259901, the records give 259900"),
        ((b"49,259900,11/", b"49,259900,10/"), 13, "49.number_of_records", "the file has 11"),
        ((b"98,259900,1,13/", b"98,259900,2,13/"), 14, "98.number_of_accounts", "says 2"),
        ((b"99,259900,1,15/", b"99,259900,1,16/"), 15, "99.number_of_records", "the file has 15"),
        ((b"16,451,500/", b"16,451,5.00/"), 7, "16.amount", "not an unsigned integer"),
        ((b"16,451,500/", b"16,451,-500/"), 7, "16.amount", "not an unsigned integer"),
        ((b"88,Z,BR2", b"88,X,BR2"), 8, "16.detail.funds_type", "unknown funds type 'X'"),
        ((b"V,261114,,BANK", b"V,261314,,BANK"), 5, "16.detail.value_date", "not a YYMMDD"),
        ((b"88,2000,D,2,", b"88,2000,D,x,"), 12, "16.detail.distributions", "number of distributions"),
        ((b"16,142,1000", b"16,042,1000"), 9, "16.type_code", "neither credit nor debit"),
        ((b"0532013000,USD", b"0532013000,XXX"), 3, "03.currency", "unknown ISO-4217"),
        ((b",,2/\n02", b",,1/\n02"), 1, "01.version", "only version 2"),
        ((b"99,259900,1,15/\n", b""), 14, "99", "without a 99"),
        ((b"49,259900,11/\n", b""), 13, "98.record code", "before 49"),
        ((b"03,0532013000", b"07,0532013000"), 3, "record code", "unknown BAI2 record code"),
    ],
)
def test_bai2_errors_name_line_and_field(change, line, column, needle):
    with pytest.raises(ReportError) as err:
        parse_bai2(BAI2_CONT.replace(*change, 1), "b.bai")
    assert (err.value.line, err.value.column) == (line, column), err.value
    assert needle in err.value.message


def test_bai2_a_continuation_first_and_a_detail_outside_an_account_are_refused():
    with pytest.raises(ReportError, match="no record to continue"):
        parse_bai2(b"88,abc/\n", "b.bai")
    lines = BAI2_CONT.splitlines()
    without_03 = b"\n".join([*lines[:2], *lines[4:]])
    with pytest.raises(ReportError, match="outside an account") as err:
        parse_bai2(without_03, "b.bai")
    assert err.value.line == 3


def test_bai2_test_only_groups_are_skipped_and_deletions_refused():
    assert parse_bai2(BAI2_CONT.replace(b"BANKID,1,261113", b"BANKID,4,261113"), "b.bai").is_empty()
    with pytest.raises(ReportError, match="deletion"):
        parse_bai2(BAI2_CONT.replace(b"BANKID,1,261113", b"BANKID,2,261113"), "b.bai")


# ----------------------------------------------------------------------------------------- camt.053, continued

CAMT_LINES = (FIXTURES / "camt053_bank_lines.xml").read_bytes()


def test_camt053_classes_batch_booking_reversal_charges_and_date_times():
    frame = parse_camt053(CAMT_LINES, "s.xml")
    assert frame.select("row_ref", "kind", "reference", "amount", "fee", "net").rows() == [
        ("s.xml:8", "ach_credit", "acht_in1", 15000, 0, 15000),
        ("s.xml:27", "ach_credit", "acht_in2", 10000, 0, 10000),  # a batch: one row per TxDtls
        ("s.xml:32", "ach_credit", "acht_in3", 20000, 0, 20000),  # (its amount from AmtDtls/TxAmt)
        ("s.xml:38", "ach_return", "acht_out1", 4000, 0, 4000),  # ARET, a credit: a transfer came back
        ("s.xml:46", "ach_return", "acht_in9", -2500, 0, -2500),  # DBIT + RvslInd: negative, not flipped
        ("s.xml:55", "fee", "FEE-NOV", -250, 0, -250),  # MDOP/CHRG
        ("s.xml:63", "ach_credit", "po_A", 48200, 200, 48000),  # Prtry 165 issued by BAI; charges netted
        ("s.xml:72", "ach_debit", "acht_out2", -5900, 100, -6000),  # charges in a debit: principal 59.00
    ]
    assert frame["value_date"][0] == date(2026, 11, 14)  # ValDt/DtTm: the date as written
    assert frame["status"][4] == "BOOK PMNT/RCDT/ACDT reversal"


def test_camt053_a_document_without_stmt_is_refused():
    empty = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr>'
    empty += b"<MsgId>1</MsgId></GrpHdr></BkToCstmrStmt></Document>"
    with pytest.raises(ReportError) as err:
        parse_camt053(empty, "x.xml")
    assert (err.value.line, err.value.column) == (1, "BkToCstmrStmt/Stmt")


def test_camt053_a_statement_without_entries_is_an_empty_frame():
    lines = CAMT_LINES.decode()
    no_entries = lines[: lines.index("<Ntry>")] + lines[lines.rindex("</Ntry>") + len("</Ntry>") :]
    assert parse_camt053(no_entries.encode(), "s.xml").is_empty()


@pytest.mark.parametrize(
    ("change", "line", "column", "needle"),
    [
        ((b'<Amt Ccy="USD">100.00</Amt>', b'<Amt Ccy="USD">100.01</Amt>'), 17, "Ntry/NtryDtls/TxDtls", "add up to"),
        ((b'<Amt Ccy="USD">100.00</Amt>', b'<Amt Ccy="EUR">100.00</Amt>'), 29, "Ntry/NtryDtls/TxDtls/Amt/@Ccy", "EUR"),
        ((b"<DtTm>2026-11-14T10:15:00-05:00</DtTm>", b"<DtTm>14.11.2026</DtTm>"), 8, "Ntry/ValDt", "not a date"),
        ((b'<TtlChrgsAndTaxAmt Ccy="USD">2.00', b'<TtlChrgsAndTaxAmt Ccy="USD">2.001'), 68, None, "more decimals"),
    ],
)
def test_camt053_bank_line_errors_name_line_and_element(change, line, column, needle):
    with pytest.raises(ReportError) as err:
        parse_camt053(CAMT_LINES.replace(*change, 1), "s.xml")
    assert err.value.line == line and needle in err.value.message, err.value
    if column:
        assert err.value.column == column


def test_camt053_charges_not_included_in_the_booked_amount_are_not_netted():
    data = CAMT_LINES.replace(b"<ChrgInclInd>true</ChrgInclInd>", b"<ChrgInclInd>false</ChrgInclInd>")
    row = parse_camt053(data, "s.xml").filter(pl.col("reference") == "acht_out2").row(0, named=True)
    assert (row["amount"], row["fee"], row["net"]) == (-6000, 0, -6000)


# ----------------------------------------------------------------------------------------- camt.053 charges


def camt(entries: str) -> bytes:
    head = '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr>'
    head += "<MsgId>M</MsgId></GrpHdr><Stmt><Id>S</Id><Acct><Ccy>USD</Ccy></Acct>\n"
    return (head + entries + "</Stmt></BkToCstmrStmt></Document>\n").encode()


def entry(amount: str, indicator: str, body: str) -> str:
    return (
        f'<Ntry><NtryRef>E1</NtryRef><Amt Ccy="USD">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-13</Dt></BookgDt>\n{body}</Ntry>\n"
    )


def record(amount: str, included: str | None) -> str:
    flag = f"<ChrgInclInd>{included}</ChrgInclInd>" if included is not None else ""
    return f'<Rcrd><Amt Ccy="USD">{amount}</Amt>{flag}</Rcrd>'


def tx(reference: str, amount: str, charges: str = "") -> str:
    return f'<TxDtls><Refs><EndToEndId>{reference}</EndToEndId></Refs><Amt Ccy="USD">{amount}</Amt>{charges}</TxDtls>\n'


@pytest.mark.parametrize(
    ("records", "fee"),
    [
        ([("1.00", "true"), ("0.50", "false")], 100),  # the pre-advised 0.50 did not reduce the booked amount
        ([("1.00", None), ("0.50", "false")], 100),  # absent: included
        ([("1.00", "1"), ("0.50", "0")], 100),  # xs:boolean's other spelling
        ([("1.00", "false"), ("0.50", "false")], 0),
        ([("1.00", None), ("0.50", "true")], 150),
    ],
)
def test_camt053_only_charges_included_in_the_booked_amount_are_netted(records, fee):
    charges = "<Chrgs>" + "".join(record(a, i) for a, i in records) + "</Chrgs>"
    body = charges + "<NtryDtls><TxDtls><Refs><EndToEndId>r1</EndToEndId></Refs></TxDtls></NtryDtls>"
    row = parse_camt053(camt(entry("100.00", "CRDT", body)), "c.xml").row(0, named=True)
    assert (row["amount"], row["fee"], row["net"]) == (10000 + fee, fee, 10000)


def test_camt053_a_mixed_charges_total_is_not_taken_for_the_included_part():
    charges = '<Chrgs><TtlChrgsAndTaxAmt Ccy="USD">1.50</TtlChrgsAndTaxAmt>'
    charges += record("1.00", "true") + record("0.50", "false") + "</Chrgs>"
    row = parse_camt053(camt(entry("100.00", "DBIT", charges)), "c.xml").row(0, named=True)
    assert (row["amount"], row["fee"], row["net"]) == (-9900, 100, -10000)


ENTRY_FEE = "<Chrgs>" + record("2.00", "true") + "</Chrgs>"


@pytest.mark.parametrize(("indicator", "sign"), [("CRDT", 1), ("DBIT", -1)])
def test_camt053_a_batch_whose_transactions_are_before_the_entry_charges_gets_one_fee_line(indicator, sign):
    # credit: 300.00 sent, 2.00 charged, 298.00 booked; debit: 300.00 paid out plus 2.00 charged, 302.00 booked
    booked = "298.00" if sign == 1 else "302.00"
    body = ENTRY_FEE + "<NtryDtls>" + tx("t1", "100.00") + tx("t2", "200.00") + "</NtryDtls>"
    frame = parse_camt053(camt(entry(booked, indicator, body)), "c.xml")
    assert frame.select("kind", "reference", "amount", "fee", "net").rows() == [
        ("other", "t1", sign * 10000, 0, sign * 10000),
        ("other", "t2", sign * 20000, 0, sign * 20000),
        ("fee", "E1", -200, 0, -200),
    ]
    assert frame["net"].sum() == sign * int(booked.replace(".", ""))  # Σ net = what was booked


def test_camt053_a_batch_entry_charges_that_total_its_transactions_charges_are_not_counted_twice():
    tx_fee = "<Chrgs>" + record("1.00", None) + "</Chrgs>"
    body = ENTRY_FEE + "<NtryDtls>" + tx("t1", "100.00", tx_fee) + tx("t2", "200.00", tx_fee) + "</NtryDtls>"
    frame = parse_camt053(camt(entry("300.00", "CRDT", body)), "c.xml")
    assert frame.select("reference", "amount", "fee", "net").rows() == [
        ("t1", 10100, 100, 10000),
        ("t2", 20100, 100, 20000),
    ]


def test_camt053_a_batch_adding_up_to_the_booked_amount_with_unitemised_charges_is_refused():
    body = ENTRY_FEE + "<NtryDtls>" + tx("t1", "100.00") + tx("t2", "198.00") + "</NtryDtls>"
    with pytest.raises(ReportError) as err:
        parse_camt053(camt(entry("298.00", "CRDT", body)), "c.xml")
    assert err.value.column == "Ntry/NtryDtls/TxDtls"
    assert "books 29800 + its unitemised charges 200 = 30000" in err.value.message


def test_camt053_a_batch_pre_advised_entry_charge_is_no_fee_line():
    body = "<Chrgs>" + record("2.00", "false") + "</Chrgs><NtryDtls>" + tx("t1", "100.00") + tx("t2", "200.00")
    frame = parse_camt053(camt(entry("300.00", "CRDT", body + "</NtryDtls>")), "c.xml")
    assert frame["kind"].to_list() == ["other", "other"] and frame["net"].sum() == 30000


def test_bai2_an_amount_the_ledger_cannot_hold_is_refused_at_its_line():
    huge = MAX_AMOUNT + 1
    with pytest.raises(ReportError) as err:
        parse_bai2(bai2_one(f"16,165,{huge},Z,BR,CR,TOO BIG", huge), "b.bai")
    assert (err.value.line, "out of range" in str(err.value)) == (4, True)
