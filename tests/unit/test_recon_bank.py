"""Bank lines that are not payouts: the statement's ACH lines reconcile against the ledger's ACH
postings (bank ↔ ledger leg), payouts against the partner's payouts; checks and bank fees are
`missing_in_ledger`. Example tests and hypothesis properties over generated BAI2 files."""

from datetime import UTC, date, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.reconciliation import ReportError, parse_bai2, parse_camt053, reconcile
from shared.reconciliation.frame import conform, empty_frame, validate
from shared.reconciliation.ledger_side import bank_ledger_frame, ledger_frame

DAY = date(2026, 11, 13)
AS_OF = DAY + timedelta(days=14)  # far past the timing window: anything unmatched is a break


def partner_payouts(payouts: list[tuple[str, int]]) -> pl.DataFrame:
    rows = [
        {
            "source": "stripe",
            "row_ref": f"report.csv:{n}",
            "kind": "payout",
            "reference": ref,
            "payout_ref": ref,
            "amount": -amount,
            "fee": 0,
            "net": -amount,
            "currency": "USD",
            "date": DAY,
            "value_date": DAY,
            "status": "payout",
        }
        for n, (ref, amount) in enumerate(payouts, start=2)
    ]
    if not rows:
        return empty_frame()
    return validate(conform(pl.DataFrame(rows, schema_overrides={"date": pl.Date, "value_date": pl.Date})))


def posting(n: int, kind: str, reference: str, amount: int, partner: str = "stripe") -> dict:
    return {
        "transaction_id": f"txn_{n}",
        "event_id": f"{partner}:evt_{n}",
        "partner": partner,
        "kind": kind,
        "reference": reference,
        "payment_reference": None,
        "amount": amount,
        "fee": 0,
        "currency": "USD",
        "effective_at": datetime(2026, 11, 13, 9, tzinfo=UTC),
    }


ACH_CODES = {"ach.credit.received": "142", "ach.debit.sent": "451", "ach.debit.returned": "257"}
ACH_CREDIT = {"ach.credit.received": True, "ach.debit.sent": False, "ach.debit.returned": True}


def bai2(details: list[tuple[str, int, str, str]], split: list[int] | None = None) -> bytes:
    """A BAI2 file of one account: details (type code, amount, customer reference, text), each 16 split
    onto an 88 after field `split[i]` (0 = not split), with correct control totals."""
    physical = ["03,0532013000,USD,010,100000,,,015,,,/"]
    total = 100000
    for i, (code, amount, ref, text) in enumerate(details):
        fields = [code, str(amount), "Z", f"BR{i}", ref]
        k = split[i] if split else 0
        if k:
            physical += ["16," + ",".join(fields[:k]) + "/", "88," + ",".join(fields[k:]) + "," + text]
        else:
            physical.append("16," + ",".join(fields) + "," + text)
        total += amount
    physical.append(f"49,{total},{len(physical) + 1}/")
    group = ["02,CUST,BANK,1,261113,,USD,2/", *physical, f"98,{total},1,{len(physical) + 2}/"]
    lines = ["01,BANK,CUST,261114,0600,1,,,2/", *group, f"99,{total},1,{len(group) + 2}/"]
    return ("\n".join(lines) + "\n").encode()


def day_of(payouts, ach) -> tuple:
    """(partner, ledger, bank statement bytes, bank ledger) for a day where the books are right."""
    ledger = ledger_frame([posting(n, "payout.paid", ref, a) for n, (ref, a) in enumerate(payouts)], "stripe")
    bank_rows = [("165", a, ref, "STRIPE PAYOUT, TRANSFER") for ref, a in payouts]
    bank_rows += [(ACH_CODES[kind], a, ref, "ACH, COLUMN") for kind, ref, a in ach]
    ach_postings = [posting(100 + n, kind, ref, a, "column") for n, (kind, ref, a) in enumerate(ach)]
    return partner_payouts(payouts), ledger, bank_rows, bank_ledger_frame(ach_postings)


def run(partner, ledger, bank, bank_ledger):
    return reconcile(partner, ledger, bank, as_of=AS_OF, bank_ledger=bank_ledger)


PAYOUTS = [("po_1", 18300), ("po_2", 5000)]
ACH = [
    ("ach.credit.received", "acht_in1", 10000),
    ("ach.credit.received", "acht_in2", 5000),  # the amount of a payout of the same day
    ("ach.debit.sent", "acht_out1", 4000),
    ("ach.debit.returned", "acht_out1", 4000),  # the outgoing transfer came back: same transfer id
]


def test_a_day_of_payouts_ach_credits_and_an_ach_return_reconciles_to_zero_breaks():
    partner, ledger, rows, bank_ledger = day_of(PAYOUTS, ACH)
    bank = parse_bai2(bai2(rows), "bank.bai")
    assert list(bank["kind"]) == ["ach_credit", "ach_credit", "ach_credit", "ach_credit", "ach_debit", "ach_return"]
    result = run(partner, ledger, bank, bank_ledger)
    assert result.breaks.is_empty(), result.breaks.to_dicts()
    legs = result.matches.group_by("leg").len().sort("leg").rows()
    assert legs == [("bank_ledger", 4), ("partner_ledger", 2), ("payout_bank", 2)]
    assert result.summary["rows"]["bank_ledger"] == 4


def test_the_same_day_as_camt053_reconciles_to_zero_breaks():
    partner, ledger, _, bank_ledger = day_of(PAYOUTS, ACH)
    entries = [("CRDT", "RCDT", "ACDT", ref, a) for ref, a in PAYOUTS]
    entries += [("CRDT", "RCDT", "ACDT", "acht_in1", 10000), ("CRDT", "RCDT", "ACDT", "acht_in2", 5000)]
    entries += [("DBIT", "ICDT", "ACDT", "acht_out1", 4000), ("CRDT", "ICDT", "ARET", "acht_out1", 4000)]
    ntry = "".join(
        f'<Ntry><Amt Ccy="USD">{a // 100}.{a % 100:02d}</Amt><CdtDbtInd>{ind}</CdtDbtInd>'
        f"<BookgDt><Dt>2026-11-13</Dt></BookgDt><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{fam}</Cd>"
        f"<SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{ref}</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"
        for ind, fam, sub, ref, a in entries
    )
    xml = f"<Document><BkToCstmrStmt><Stmt><Acct><Ccy>USD</Ccy></Acct>{ntry}</Stmt></BkToCstmrStmt></Document>"
    result = run(partner, ledger, parse_camt053(xml.encode(), "s.xml"), bank_ledger)
    assert result.breaks.is_empty(), result.breaks.to_dicts()


def test_ach_lines_without_their_ledger_posting_and_fees_and_checks_are_missing_in_ledger():
    partner, ledger, rows, bank_ledger = day_of(PAYOUTS, ACH[:1])
    rows += [("142", 777, "acht_unknown", "ACH"), ("661", 250, "FEE", "ANALYSIS FEE"), ("475", 999, "chk_9", "CHK")]
    result = run(partner, ledger, parse_bai2(bai2(rows), "bank.bai"), bank_ledger)
    got = set(result.breaks.select("leg", "reason", "side", "kind", "reference").iter_rows())
    assert got == {
        ("bank_ledger", "missing_in_ledger", "bank", "ach_credit", "acht_unknown"),
        ("bank_ledger", "missing_in_ledger", "bank", "fee", "FEE"),
        ("bank_ledger", "missing_in_ledger", "bank", "check", "chk_9"),
    }


def test_a_ledger_ach_posting_the_bank_never_booked_is_missing_at_bank_and_an_unknown_wire_missing_at_partner():
    partner, ledger, rows, bank_ledger = day_of(PAYOUTS, ACH)
    rows = [r for r in rows if r[2] != "acht_in1"] + [("195", 31337, "WIRE-1", "INCOMING WIRE")]
    result = run(partner, ledger, parse_bai2(bai2(rows), "bank.bai"), bank_ledger)
    got = set(result.breaks.select("leg", "reason", "side", "reference").iter_rows())
    assert got == {
        ("bank_ledger", "missing_at_bank", "ledger", "acht_in1"),
        ("payout_bank", "missing_at_partner", "bank", "WIRE-1"),  # a payout-like line no partner reported
    }


def test_without_ledger_bank_postings_ach_lines_are_breaks_not_silently_dropped():
    partner, ledger, rows, _ = day_of(PAYOUTS, ACH)
    result = reconcile(partner, ledger, parse_bai2(bai2(rows), "bank.bai"), as_of=AS_OF)
    assert set(result.breaks["reason"]) == {"missing_in_ledger"} and result.breaks.height == 4


amounts = st.integers(min_value=1, max_value=10_000_000)


@st.composite
def days(draw):
    n_pay = draw(st.integers(0, 4))
    payouts = [(f"po_{i}", draw(amounts)) for i in range(n_pay)]
    ach = []
    for i in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(sorted(ACH_CODES)))
        ach.append((kind, f"acht_{i}", draw(amounts)))
    return payouts, ach


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days(), st.data())
def test_property_books_right_means_zero_breaks_however_the_records_are_continued(day, data):
    payouts, ach = day
    partner, ledger, rows, bank_ledger = day_of(payouts, ach)
    split = [data.draw(st.integers(0, 4)) for _ in rows]
    bank = parse_bai2(bai2(rows, split), "bank.bai")
    assert bank.height == len(rows)
    assert bank["amount"].to_list() == [
        a if code in ("165", "142", "257") else -a for code, a, _ref, _text in rows
    ]  # signed by the type code, whatever the split
    assert bank.drop("row_ref").equals(parse_bai2(bai2(rows), "bank.bai").drop("row_ref"))
    assert run(partner, ledger, bank, bank_ledger).breaks.is_empty()


@settings(max_examples=40, deadline=None)
@given(days(), st.data())
def test_property_a_missing_ach_posting_is_exactly_one_break(day, data):
    payouts, ach = day
    if not ach:
        return
    drop = data.draw(st.integers(0, len(ach) - 1))
    partner, ledger, rows, _ = day_of(payouts, ach)
    kept = [posting(100 + n, k, r, a, "column") for n, (k, r, a) in enumerate(ach) if n != drop]
    breaks = run(partner, ledger, parse_bai2(bai2(rows), "bank.bai"), bank_ledger_frame(kept)).breaks
    assert breaks.select("leg", "reason", "reference").rows() == [("bank_ledger", "missing_in_ledger", ach[drop][1])]


@settings(max_examples=40, deadline=None)
@given(days(), st.integers(1, 3), st.sampled_from(["49", "98", "99"]), st.integers(-5, 5).filter(bool))
def test_property_any_wrong_control_total_or_count_is_refused(day, which, trailer, delta):
    payouts, ach = day
    _, _, rows, _ = day_of(payouts, ach)
    lines = bai2(rows).decode().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith(trailer + ","))
    fields = lines[n].removesuffix("/").split(",")
    k = 1 if which == 1 else len(fields) - 1  # the control total, or the number of records
    fields[k] = str(int(fields[k]) + delta)
    lines[n] = ",".join(fields) + "/"
    try:
        parse_bai2(("\n".join(lines) + "\n").encode(), "bank.bai")
    except ReportError as err:
        assert err.line == n + 1 and err.column.startswith(trailer + ".")
    else:
        raise AssertionError(f"accepted a wrong {trailer} field {k}")


entries = st.tuples(
    st.sampled_from(["CRDT", "DBIT"]),
    st.booleans(),  # RvslInd
    st.integers(1, 10_000_000),  # booked, minor units
    st.integers(0, 500),  # charges
    st.sampled_from([("RCDT", "ACDT"), ("ICDT", "ACDT"), ("ICDT", "ARET"), ("RCDT", "ESCT"), ("MDOP", "CHRG")]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(entries, min_size=1, max_size=6))
def test_property_camt_sign_is_cdtdbtind_alone_and_net_is_the_booked_amount(drawn):
    ntry = "".join(
        f'<Ntry><Amt Ccy="USD">{b // 100}.{b % 100:02d}</Amt><CdtDbtInd>{ind}</CdtDbtInd>'
        f"<RvslInd>{str(rev).lower()}</RvslInd><BookgDt><Dt>2026-11-13</Dt></BookgDt>"
        f'<Chrgs><TtlChrgsAndTaxAmt Ccy="USD">{c // 100}.{c % 100:02d}</TtlChrgsAndTaxAmt></Chrgs>'
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{fam}</Cd><SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        "</Ntry>\n"
        for ind, rev, b, c, (fam, sub) in drawn
    )
    xml = f"<Document><BkToCstmrStmt><Stmt><Acct><Ccy>USD</Ccy></Acct>\n{ntry}</Stmt></BkToCstmrStmt></Document>"
    frame = parse_camt053(xml.encode(), "s.xml")
    for row, (ind, rev, booked, charges, (_fam, sub)) in zip(frame.iter_rows(named=True), drawn, strict=True):
        assert row["net"] == (booked if ind == "CRDT" else -booked)  # a reversal is not flipped twice
        assert (row["fee"], row["amount"]) == (charges, row["net"] + charges)
        if sub == "ACDT":
            want = "ach_return" if rev else ("ach_credit" if ind == "CRDT" else "ach_debit")
            assert row["kind"] == want
