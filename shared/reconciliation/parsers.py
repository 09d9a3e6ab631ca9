"""Partner reports and bank statements → the normalised record frame (shared.reconciliation.frame).

Every parser takes the file's bytes and a source name (the GCS object or local path, used in row
references and error messages) and returns a validated frame, or raises ReportError naming the file,
the line (1-based; the CSV header is line 1) and the column of the first bad cell. Amounts in the files
are decimal strings in major units; they become integer minor units exactly (frame.to_minor), and a
value with more significant decimals than the currency's exponent is an error, never rounded.

CSV cells are read as text by polars (no type inference, so "0012" or "1e3" can never be reinterpreted);
validation is vectorised, so a million-row report costs no Python per row. Line numbers assume one
physical line per record; when a quoted cell spans lines, `_physical_line` recomputes the true line for
the error only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from xml.parsers import expat

import polars as pl

from shared.domain.money import EXPONENTS
from shared.reconciliation import bai2_file
from shared.reconciliation.bank_codes import BAI2_DIRECTION, bai2_class, camt_class
from shared.reconciliation.frame import ReportError, conform, exponent_expr, first_problem, to_minor, validate

# ----------------------------------------------------------------------------------------- CSV helpers


def _read_csv(data: bytes, source: str) -> pl.DataFrame:
    if not data.strip():
        raise ReportError(source, None, None, "empty file")
    try:
        frame = pl.read_csv(data.removeprefix(b"\xef\xbb\xbf"), infer_schema=False, quote_char='"')
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ReportError(source, None, None, f"unreadable CSV: {exc}") from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(pl.all().fill_null(""))  # an empty cell is "", never a missing value
    return frame.with_row_index("_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64))


def _physical_line(data: bytes, record_line: int) -> int:
    """The physical line where CSV record `record_line` (header = 1) starts, for error messages."""
    if data.count(b"\n") + 1 >= record_line and b'"' not in data:
        return record_line
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    start = 1
    for n, _ in enumerate(reader, start=1):
        if n == record_line:
            return start
        start = reader.line_num + 1
    return record_line


def _require(frame: pl.DataFrame, source: str, columns: list[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ReportError(source, 1, column, "required column missing from the header")


def _fail(data: bytes, source: str, problem: tuple | None) -> None:
    if problem is not None:
        line, column, message = problem
        raise ReportError(source, _physical_line(data, line), column, message)


def _date(text: pl.Expr) -> pl.Expr:
    """ISO date or date-time text → Date (the calendar date as written: the report's own time zone)."""
    return text.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _date_problem(text: pl.Expr, required: bool = True) -> pl.Expr:
    empty = text.is_null() | (text.str.strip_chars() == "")
    bad = _date(text).is_null()
    msg = pl.format("not a date: {}", text)
    if required:
        return pl.when(empty).then(pl.lit("missing date")).when(bad).then(msg).otherwise(None)
    return pl.when(~empty & bad).then(msg).otherwise(None)


def _currency_problem(currency: pl.Expr) -> pl.Expr:
    return pl.when(exponent_expr(currency).is_null()).then(pl.format("unknown ISO-4217 currency: {}", currency))


def _nonempty(text: pl.Expr) -> pl.Expr:
    stripped = text.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


# ----------------------------------------------------------------------------------------- Stripe

# Stripe Reports API, itemized balance reports (balance_change_from_activity.itemized.*,
# payout_reconciliation.itemized.*, ending_balance_reconciliation.itemized.*): column names as
# documented. Aliases accept the Dashboard "balance transactions" export (id, type, amount, created…).
STRIPE_ALIASES = {
    "id": "balance_transaction_id",
    "amount": "gross",
    "created (utc)": "created_utc",
    "available on (utc)": "available_on_utc",
    "source": "source_id",
    "type": "type",
}
STRIPE_CATEGORIES = {
    "charge": "payment",
    "payment": "payment",
    "refund": "refund",
    "payment_refund": "refund",
    "dispute": "dispute",
    "dispute_reversal": "dispute_won",
    "payout": "payout",
    "payout_reversal": "payout_failed",
    "payout_failure": "payout_failed",
    "payout_cancel": "payout_failed",
    "fee": "fee",
    "stripe_fee": "fee",
}


def parse_stripe(data: bytes, source: str, decimal_separator: str = ".") -> pl.DataFrame:
    raw = _read_csv(data, source)
    raw = raw.rename({c: STRIPE_ALIASES.get(c.lower(), c.lower()) for c in raw.columns if c != "_line"})
    if "reporting_category" not in raw.columns and "type" in raw.columns:
        raw = raw.rename({"type": "reporting_category"})
    created = next((c for c in ("created_utc", "created") if c in raw.columns), "created_utc")
    available = next((c for c in ("available_on_utc", "available_on") if c in raw.columns), None)
    payout_date = next(
        (c for c in ("automatic_payout_effective_at_utc", "automatic_payout_effective_at") if c in raw.columns), None
    )
    _require(raw, source, ["balance_transaction_id", "currency", "gross", "fee", "net", "reporting_category", created])
    for optional in ("source_id", "automatic_payout_id", "payout_id", "payment_intent_id", "charge_id"):
        if optional not in raw.columns:
            raw = raw.with_columns(pl.lit("").alias(optional))
    currency = pl.col("currency").str.strip_chars().str.to_uppercase()
    raw = raw.with_columns(currency.alias("_ccy"))
    ccy = pl.col("_ccy")
    gross, gross_p = to_minor(pl.col("gross"), ccy, decimal_separator)
    fee, fee_p = to_minor(pl.col("fee"), ccy, decimal_separator)
    net, net_p = to_minor(pl.col("net"), ccy, decimal_separator)
    raw = raw.with_columns(gross.alias("_gross"), fee.alias("_fee"), net.alias("_net"))
    checks = {
        "balance_transaction_id": pl.when(_nonempty(pl.col("balance_transaction_id")).is_null()).then(
            pl.lit("missing balance transaction id")
        ),
        "currency": _currency_problem(ccy),
        "gross": pl.when(gross_p.is_null() & pl.col("_gross").is_null())
        .then(pl.lit("missing amount"))
        .otherwise(gross_p),
        "fee": fee_p,
        "net": pl.when(net_p.is_not_null())
        .then(net_p)
        .when(pl.col("_net").is_not_null() & (pl.col("_net") != pl.col("_gross") - pl.col("_fee").fill_null(0)))
        .then(pl.format("net {} is not gross {} minus fee {}", pl.col("net"), pl.col("gross"), pl.col("fee"))),
        created: _date_problem(pl.col(created)),
    }
    if available:
        checks[available] = _date_problem(pl.col(available), required=False)
    _fail(data, source, first_problem(raw, checks))
    category = pl.col("reporting_category").str.strip_chars().str.to_lowercase()
    kind = category.replace_strict(STRIPE_CATEGORIES, default="other")
    source_id = _nonempty(pl.col("source_id"))
    intent, charge = _nonempty(pl.col("payment_intent_id")), _nonempty(pl.col("charge_id"))
    is_payout = kind.is_in(["payout", "payout_failed"])
    payout_ref = pl.when(is_payout).then(pl.coalesce(_nonempty(pl.col("payout_id")), source_id))
    payout_ref = payout_ref.otherwise(_nonempty(pl.col("automatic_payout_id")))
    fee_col = pl.col("_fee").fill_null(0)
    value_date = _date(pl.col(available)) if available else _date(pl.col(created))
    frame = raw.select(
        pl.lit("stripe").alias("source"),
        pl.format("{}:{}", pl.lit(source), pl.col("_line")).alias("row_ref"),
        kind.alias("kind"),
        # Ledger convention (shared.partners.stripe): a capture's reference is its payment intent, a
        # refund/dispute/payout its own object id; the report's source_id is the charge for charges.
        pl.when(kind == "payment")
        .then(pl.coalesce(intent, source_id))
        .otherwise(pl.coalesce(source_id, _nonempty(pl.col("balance_transaction_id"))))
        .alias("reference"),
        pl.when(kind == "payment")
        .then(pl.coalesce(charge, source_id))
        .otherwise(pl.coalesce(intent, charge))
        .alias("payment_reference"),
        payout_ref.alias("payout_ref"),
        pl.col("_gross").alias("amount"),
        fee_col.alias("fee"),
        (pl.col("_gross") - fee_col).alias("net"),
        ccy.alias("currency"),
        _date(pl.col(created)).alias("date"),
        pl.when(is_payout)
        .then(value_date)
        .otherwise(pl.coalesce(_date(pl.col(payout_date)) if payout_date else pl.lit(None, pl.Date), value_date))
        .alias("value_date"),
        category.alias("status"),
    )
    return validate(conform(frame))


# ----------------------------------------------------------------------------------------- Adyen

ADYEN_REQUIRED = [
    "Psp Reference",
    "Creation Date",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Batch Number",
]
ADYEN_FEE_COLUMNS = ["Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)"]
ADYEN_TYPES = {
    "Settled": "payment",
    "SettledBulk": "payment",
    "Refunded": "refund",
    "RefundedBulk": "refund",
    "Chargeback": "dispute",
    "SecondChargeback": "dispute",
    "ChargebackReversed": "dispute_won",
    "Fee": "fee",
    "MiscCosts": "fee",
    "MerchantPayout": "payout",
}


def parse_adyen(data: bytes, source: str) -> pl.DataFrame:
    """Adyen Settlement details report (settlement_detail_report_batch_N.csv).

    currency = Net Currency; net = Net Credit − Net Debit; fee = Commission + Markup + Scheme Fees +
    Interchange (NC); amount = net + fee. When Gross Currency equals Net Currency the gross columns must
    agree with that (amount = Gross Credit − Gross Debit), else the row is refused.

    Amounts are decimals in major units written with Adyen's precision for the currency (its report
    legend: "fixed point number, precision is based on the currency exponent", read as Adyen's table in
    shared.partners.adyen: CLP "1000.00", CVE "1000"); a fraction may have no leading zero (".11").
    They are converted by value, exactly (either reading of that exponent gives the same values): CLP
    "1000.00" is 1000 ISO minor units, CVE "1000" 100000; CLP "1000.50" has no ISO-4217 representation
    and is refused, naming its column. A cell that does not parse is reported as itself, never counted
    as 0 in the gross = net + fees check.
    """
    raw = _read_csv(data, source)
    _require(raw, source, ADYEN_REQUIRED)
    for column in ADYEN_FEE_COLUMNS:
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit("").alias(column))
    gc = pl.col("Gross Currency").str.strip_chars().str.to_uppercase()
    nc = pl.col("Net Currency").str.strip_chars().str.to_uppercase()
    raw = raw.with_columns(gc.alias("_gc"), nc.alias("_nc"))
    parts = {
        "Gross Debit (GC)": to_minor(pl.col("Gross Debit (GC)"), pl.col("_gc")),
        "Gross Credit (GC)": to_minor(pl.col("Gross Credit (GC)"), pl.col("_gc")),
        "Net Debit (NC)": to_minor(pl.col("Net Debit (NC)"), pl.col("_nc")),
        "Net Credit (NC)": to_minor(pl.col("Net Credit (NC)"), pl.col("_nc")),
        **{c: to_minor(pl.col(c), pl.col("_nc")) for c in ADYEN_FEE_COLUMNS},
    }
    raw = raw.with_columns(*[value.fill_null(0).alias(f"_{name}") for name, (value, _) in parts.items()])
    net = pl.col("_Net Credit (NC)") - pl.col("_Net Debit (NC)")
    gross = pl.col("_Gross Credit (GC)") - pl.col("_Gross Debit (GC)")
    fee = pl.sum_horizontal(*[pl.col(f"_{c}") for c in ADYEN_FEE_COLUMNS])
    filled = {name: pl.col(name).str.strip_chars() != "" for name in parts}
    has_gross = filled["Gross Debit (GC)"] | filled["Gross Credit (GC)"]
    all_parsed = pl.all_horizontal(*[problem.is_null() for _, problem in parts.values()])
    # The cross-check names the net column that holds the row's value (a refund's is Net Debit).
    disagrees = all_parsed & has_gross & (pl.col("_gc") == pl.col("_nc")) & (gross != net + fee)
    mismatch = pl.format("gross {} minus fees {} is not net {} (minor units)", gross, fee, net)
    net_credit_blamed = filled["Net Credit (NC)"] | ~filled["Net Debit (NC)"]
    type_ = pl.col("Type").str.strip_chars()
    checks = {
        "Type": pl.when(type_ == "").then(pl.lit("missing record type")),
        "Creation Date": _date_problem(pl.col("Creation Date")),
        "Net Currency": _currency_problem(pl.col("_nc")),
        "Gross Currency": pl.when(has_gross).then(_currency_problem(pl.col("_gc"))),
        **{name: problem for name, (_, problem) in parts.items()},
        "Net Credit (NC)": pl.coalesce(
            parts["Net Credit (NC)"][1], pl.when(disagrees & net_credit_blamed).then(mismatch)
        ),
        "Net Debit (NC)": pl.coalesce(
            parts["Net Debit (NC)"][1], pl.when(disagrees & ~net_credit_blamed).then(mismatch)
        ),
        "Batch Number": pl.when((type_ == "MerchantPayout") & (pl.col("Batch Number").str.strip_chars() == "")).then(
            pl.lit("a MerchantPayout needs its batch number")
        ),
    }
    _fail(data, source, first_problem(raw, checks))
    kind = type_.replace_strict(ADYEN_TYPES, default="other")
    psp, modification = _nonempty(pl.col("Psp Reference")), _nonempty(pl.col("Modification Reference"))
    batch = _nonempty(pl.col("Batch Number"))
    batch_ref = pl.when(batch.is_not_null()).then(pl.format("batch-{}", batch))
    day = _date(pl.col("Creation Date"))
    frame = raw.select(
        pl.lit("adyen").alias("source"),
        pl.format("{}:{}", pl.lit(source), pl.col("_line")).alias("row_ref"),
        kind.alias("kind"),
        # Ledger convention (shared.partners.adyen): captures are about the payment's pspReference,
        # refunds and chargebacks about their own modification pspReference.
        pl.when(kind == "payment")
        .then(psp)
        .when(kind == "payout")
        .then(batch_ref)
        .otherwise(pl.coalesce(modification, psp, pl.format("{}:{}", type_, pl.col("_line"))))
        .alias("reference"),
        pl.when(kind == "payment").then(modification).otherwise(psp).alias("payment_reference"),
        batch_ref.alias("payout_ref"),
        (net + fee).alias("amount"),
        fee.alias("fee"),
        net.alias("net"),
        pl.col("_nc").alias("currency"),
        day.alias("date"),
        day.alias("value_date"),
        type_.alias("status"),
    )
    return validate(conform(frame))


# ----------------------------------------------------------------------------------------- camt.053


@dataclass
class _Node:
    tag: str
    line: int
    attrs: dict[str, str]
    children: list[_Node] = field(default_factory=list)
    text: str = ""

    def find(self, *path: str) -> _Node | None:
        node: _Node | None = self
        for tag in path:
            node = next((c for c in node.children if c.tag == tag), None) if node else None
        return node

    def findall(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]

    def value(self, *path: str) -> str | None:
        node = self.find(*path)
        return node.text.strip() if node is not None and node.text.strip() else None


def _parse_xml(data: bytes, source: str) -> _Node:
    """Namespace-stripped element tree with line numbers. DOCTYPEs and entity declarations are refused
    (no external entities, no entity-expansion bombs): bank statements never need them."""
    parser = expat.ParserCreate()
    root = _Node("#document", 0, {})
    stack = [root]

    def refuse(*_args):
        raise ReportError(source, parser.CurrentLineNumber, None, "DOCTYPE/entity declarations are not accepted")

    def start(name, attrs):
        node = _Node(name.rsplit(":", 1)[-1].rsplit("}", 1)[-1], parser.CurrentLineNumber, attrs)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_name):
        stack.pop()

    def chars(text):
        stack[-1].text += text

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ReportError(source, exc.lineno, None, f"malformed XML: {expat.errors.messages[exc.code]}") from exc
    return root


def _xml_date(node: _Node | None) -> str | None:
    if node is None:
        return None
    return node.value("Dt") or node.value("DtTm")


def _calendar_date(text: str | None, source: str, line: int, column: str) -> date | None:
    """ISODate or ISODateTime → the calendar date as written (the statement's own time zone)."""
    if text is None:
        return None
    head, tail = text[:10], text[10:]
    try:
        if tail and tail[0] not in "TZ+-":
            raise ValueError(text)
        return date.fromisoformat(head)
    except ValueError:
        raise ReportError(source, line, column, f"not a date or date-time: {text!r}") from None


_BANK_ROW = {
    "row_ref": pl.String,
    "kind": pl.String,
    "reference": pl.String,
    "amount": pl.Int64,
    "fee": pl.Int64,
    "currency": pl.String,
    "date": pl.Date,
    "value_date": pl.Date,
    "status": pl.String,
}


def parse_camt053(data: bytes, source: str) -> pl.DataFrame:
    """ISO 20022 camt.053 (BkToCstmrStmt, versions .001.02 to .001.13: element names are stable).

    A document without a `Stmt` (mandatory, 1..n) is refused. One row per Ntry, or one per
    NtryDtls/TxDtls when an entry is a batch booking that itemises several transactions with their
    amounts (which must add up to the entry's amount, plus the entry's charges its transactions do not
    itemise: those become one more `fee` row). The sign follows CdtDbtInd alone (credit +):
    `RvslInd` marks a reversal, whose indicator is already the opposite of the original's, so it never
    flips the sign again. net = the booked amount (signed); fee = the charges included in it
    (`_charges`: ChrgInclInd true or absent); amount = net + fee: on a credit the gross the payer sent,
    on a debit the principal without the charges. kind = the line class of its BkTxCd (bank_codes.camt_class; a
    reversal of an ACH entry is `ach_return`). reference: EndToEndId (unless NOTPROVIDED), else the
    first unstructured remittance line, else the bank's AcctSvcrRef / NtryRef. Dates: BookgDt and ValDt,
    each a Dt or a DtTm (the calendar date as written).
    """
    root = _parse_xml(data, source)
    document = root.find("Document")
    statements = document.find("BkToCstmrStmt") if document else None
    if statements is None:
        raise ReportError(source, 1, "Document/BkToCstmrStmt", "not a camt.053 statement")
    if not statements.findall("Stmt"):
        raise ReportError(source, statements.line, "BkToCstmrStmt/Stmt", "a camt.053 needs at least one Stmt")
    rows: list[dict] = []
    for statement in statements.findall("Stmt"):
        account_ccy = statement.value("Acct", "Ccy")
        for entry in statement.findall("Ntry"):
            rows.extend(_camt_entry(entry, source, account_ccy))
    seen: dict[str, int] = {}
    for row in rows:  # several elements on one line (a minified file): file:line#n keeps row_ref unique
        n = seen[row["row_ref"]] = seen.get(row["row_ref"], 0) + 1
        if n > 1:
            row["row_ref"] += f"#{n}"
    frame = pl.DataFrame(rows, schema=_BANK_ROW, orient="row")
    frame = frame.with_columns(
        pl.lit("bank").alias("source"),
        pl.col("reference").alias("payout_ref"),
        (pl.col("amount") - pl.col("fee")).alias("net"),
    )
    return validate(conform(frame))


def _decimal_minor(text: str | None, currency: str, source: str, line: int, column: str) -> int:
    frame = pl.DataFrame({"v": [text], "c": [currency]})
    value, problem = to_minor(pl.col("v"), pl.col("c"))
    got = frame.select(value.alias("v"), problem.alias("p")).row(0)
    if got[1] is not None or got[0] is None:
        raise ReportError(source, line, column, got[1] or "missing amount")
    if got[0] < 0:
        raise ReportError(source, line, column, "amounts are unsigned in camt.053 (CdtDbtInd gives the sign)")
    return got[0]


def _amount_of(node: _Node, currency: str, source: str, column: str) -> int:
    given = (node.attrs.get("Ccy") or currency).upper()
    if given != currency:
        raise ReportError(source, node.line, f"{column}/@Ccy", f"{given} amount in a {currency} entry")
    return _decimal_minor(node.text.strip(), currency, source, node.line, column)


def _included(record: _Node) -> bool:
    """A charge record's ChrgInclInd (ISO ChargeIncludedIndicator, an xs:boolean: true "included", false
    "pre-advised"). The element is optional and ISO gives no default; an absent indicator is read as
    included (the charge is part of the booked amount), which is how a record without it has always been
    read here and how the banks' guides use it (the flag marks the pre-advised exception)."""
    return (record.value("ChrgInclInd") or "true").lower() not in ("false", "0")


def _charges(owner: _Node, currency: str, source: str, where: str) -> int:
    """Charges included in the booked amount of an entry or a transaction (v2: Chrgs/Amt; v4+:
    Chrgs/Rcrd/Amt). Only records included in the amount (`_included`) count: a pre-advised charge
    (ChrgInclInd false) is booked separately and did not reduce this amount. TtlChrgsAndTaxAmt, the total
    of ALL the charges and taxes, is used when every record is included (or there are no records with an
    amount); with a mix, the included records' amounts are summed."""
    groups = owner.findall("Chrgs")
    records = [r for g in groups for r in (g.findall("Rcrd") or [g]) if r.find("Amt") is not None]
    included = [r for r in records if _included(r)]
    if records and not included:
        return 0
    if len(included) == len(records):
        for g in groups:
            total = g.find("TtlChrgsAndTaxAmt")
            if total is not None:
                return _amount_of(total, currency, source, f"{where}/Chrgs/TtlChrgsAndTaxAmt")
    return sum(_amount_of(r.find("Amt"), currency, source, f"{where}/Chrgs/Amt") for r in included)


def _bank_code(owner: _Node) -> tuple[str | None, str | None, str | None, tuple[str | None, str | None]] | None:
    code = owner.find("BkTxCd")
    if code is None:
        return None
    domain = code.find("Domn")
    return (
        domain.value("Cd") if domain else None,
        domain.value("Fmly", "Cd") if domain else None,
        domain.value("Fmly", "SubFmlyCd") if domain else None,
        (code.value("Prtry", "Cd"), code.value("Prtry", "Issr")),
    )


def _line_class(code, credit: bool, reversal: bool) -> str:
    if code is None:
        return "other"
    domain, family, subfamily, proprietary = code
    kind = camt_class(domain, family, subfamily, credit, proprietary)
    return "ach_return" if reversal and kind in ("ach_credit", "ach_debit") else kind


def _status(code, entry_status: str, reversal: bool) -> str:
    parts = [entry_status]
    if code is not None:
        domain, family, subfamily, (prtry, _issuer) = code
        parts.append("/".join(c for c in (domain, family, subfamily) if c) or (prtry or ""))
    if reversal:
        parts.append("reversal")
    return " ".join(p for p in parts if p)


def _reference(details: _Node | None, entry: _Node) -> str | None:
    candidates = [
        details.value("Refs", "EndToEndId") if details else None,
        details.value("RmtInf", "Ustrd") if details else None,
        details.value("Refs", "AcctSvcrRef") if details else None,
        entry.value("AcctSvcrRef"),
        entry.value("NtryRef"),
    ]
    return next((r for r in candidates if r and r != "NOTPROVIDED"), None)


def _camt_entry(entry: _Node, source: str, account_ccy: str | None) -> list[dict]:
    amt = entry.find("Amt")
    if amt is None:
        raise ReportError(source, entry.line, "Ntry/Amt", "entry without an amount")
    currency = (amt.attrs.get("Ccy") or account_ccy or "").upper()
    if currency not in EXPONENTS:
        raise ReportError(source, amt.line, "Ntry/Amt/@Ccy", f"unknown ISO-4217 currency: {currency!r}")
    booked = _decimal_minor(amt.text.strip(), currency, source, amt.line, "Ntry/Amt")
    indicator = entry.value("CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise ReportError(source, entry.line, "Ntry/CdtDbtInd", f"expected CRDT or DBIT, got {indicator!r}")
    credit = indicator == "CRDT"
    reversal = (entry.value("RvslInd") or "false").lower() == "true"
    booking_node, value_node = entry.find("BookgDt"), entry.find("ValDt")
    booking = _calendar_date(_xml_date(booking_node), source, entry.line, "Ntry/BookgDt")
    if booking is None:
        raise ReportError(source, entry.line, "Ntry/BookgDt", "entry without a booking date")
    value = _calendar_date(_xml_date(value_node), source, entry.line, "Ntry/ValDt") or booking
    entry_code = _bank_code(entry)
    entry_status = entry.value("Sts", "Cd") or entry.value("Sts") or ""
    details = [tx for d in entry.findall("NtryDtls") for tx in d.findall("TxDtls")]

    def row(node: _Node, net: int, fee: int, detail: _Node | None, code, is_credit: bool) -> dict:
        return {
            "row_ref": f"{source}:{node.line}",
            "kind": _line_class(code, is_credit, reversal),
            "reference": _reference(detail, entry),
            "amount": net + fee,
            "fee": fee,
            "currency": currency,
            "date": booking,
            "value_date": value,
            "status": _status(code, entry_status, reversal),
        }

    itemised = [tx for tx in details if tx.find("Amt") is not None or tx.find("AmtDtls", "TxAmt", "Amt") is not None]
    if len(details) < 2 or len(itemised) != len(details):
        signed = booked if credit else -booked
        first = details[0] if details else None
        return [row(entry, signed, _charges(entry, currency, source, "Ntry"), first, entry_code, credit)]

    rows, total, itemised_charges = [], 0, 0
    for tx in details:
        node = tx.find("Amt") or tx.find("AmtDtls", "TxAmt", "Amt")
        tx_credit = (tx.value("CdtDbtInd") or indicator) == "CRDT"
        signed = _amount_of(node, currency, source, "Ntry/NtryDtls/TxDtls/Amt") * (1 if tx_credit else -1)
        total += signed
        code = _bank_code(tx) or entry_code
        fee = _charges(tx, currency, source, "TxDtls")
        itemised_charges += fee
        rows.append(row(tx, signed, fee, tx, code, tx_credit))
    # The entry's own charges: the batch's total of its transactions' charges, or more. What the
    # transactions do not itemise (`extra`) was taken from the batch as a whole: the transactions' amounts
    # are then before it (Σ = booked + extra) and it is one more line, a bank fee of −extra, so that the
    # rows' nets still add up to what was booked. Σ = booked with an unitemised charge would hide which
    # transaction bore it: refused, like any batch that does not add up.
    signed_booked = booked if credit else -booked
    entry_charges = _charges(entry, currency, source, "Ntry")
    extra = max(entry_charges - itemised_charges, 0)
    if entry_charges and entry_charges < itemised_charges:
        raise ReportError(
            source,
            entry.line,
            "Ntry/Chrgs",
            f"the entry's charges ({entry_charges} minor units) are less than its transactions' ({itemised_charges})",
        )
    if total != signed_booked + extra:
        expected = f"{signed_booked}" + (
            f" + its unitemised charges {extra} = {signed_booked + extra}" if extra else ""
        )
        raise ReportError(
            source,
            entry.line,
            "Ntry/NtryDtls/TxDtls",
            f"the batch's transactions add up to {total} minor units, the entry books {expected}",
        )
    if extra:
        charges_node = entry.find("Chrgs")
        rows.append(
            {
                "row_ref": f"{source}:{charges_node.line}",
                "kind": "fee",
                "reference": _reference(None, entry),
                "amount": -extra,
                "fee": 0,
                "currency": currency,
                "date": booking,
                "value_date": value,
                "status": " ".join(p for p in (entry_status, "batch charges") if p),
            }
        )
    return rows


# ----------------------------------------------------------------------------------------- BAI2


def parse_bai2(data: bytes, source: str) -> pl.DataFrame:
    """BAI2 (shared.reconciliation.bai2_file: continuation records, funds types, control totals, errors
    with line and field). One row per 16 record; `kind` is its line class (bank_codes, by type code).

    Amounts are unsigned minor units (implied decimals); the type code says credit (+) or debit (-),
    from the specification's list, else by range (100-399 and the bank-custom 920-959 credit, 400-699 and
    the custom 960-999 debit; a custom code is class `other`); a status code (001-099, custom 900-919) or
    an unused 700-899 code in a 16 record is refused, naming the line and the code. date = the group's
    as-of date; value_date = the detail's own value date when its funds type is V, else the as-of date.
    reference = customer reference, else bank reference, else the text (fixed-width padding stripped).
    Currency: the account's, else the group's, else USD (the
    specification's default). Groups with status 4 (test only) are skipped; a group with status 2
    (deletion of data sent before) is refused: a statement run cannot delete lines of an earlier file.
    A 16 with type code 890 (non-monetary information) is not a bank line.
    """
    groups = bai2_file.parse(data, source)
    rows = []
    for group in groups:
        if group.status == "4":
            continue
        if group.status == "2":
            raise ReportError(source, group.line, "02.group_status", "group status 2 (deletion) is not supported")
        for account in group.accounts:
            currency = (account.currency or group.currency or "USD").upper()
            if currency not in EXPONENTS:
                raise ReportError(source, account.line, "03.currency", f"unknown ISO-4217 currency: {currency!r}")
            for detail in account.details:
                direction = _bai2_direction(detail, source)
                if direction is None:
                    continue
                reference = detail.customer_reference or detail.bank_reference or detail.text
                rows.append(
                    {
                        "row_ref": f"{source}:{detail.line}",
                        "kind": bai2_class(detail.type_code),
                        "reference": reference,
                        "amount": detail.amount if direction == "credit" else -detail.amount,
                        "fee": 0,
                        "currency": currency,
                        "date": group.as_of,
                        "value_date": detail.value_date or group.as_of,
                        "status": detail.type_code,
                    }
                )
    frame = pl.DataFrame(rows, schema=_BANK_ROW, orient="row")
    frame = frame.with_columns(
        pl.lit("bank").alias("source"), pl.col("reference").alias("payout_ref"), pl.col("amount").alias("net")
    )
    return validate(conform(frame))


# The specification's ranges (BAI2 "Uniform BAI Information Reporting Type Codes"): 001-099 status,
# 100-399 credits, 400-699 debits, 700-899 not used by BAI (890: non-monetary information), and the
# bank-custom ranges 900-919 account status, 920-959 credits, 960-999 debits.
BAI2_RANGES = (
    (100, 399, "credit"),
    (400, 699, "debit"),
    (920, 959, "credit"),  # custom (bank-defined) credit summary and detail codes
    (960, 999, "debit"),  # custom (bank-defined) debit summary and detail codes
)


def _bai2_direction(detail: bai2_file.Detail, source: str) -> str | None:
    """credit / debit for a 16's type code (None: 890, not a bank line): the specification's list, else
    its range, custom codes included (a custom code's line class is `other`). A status code (001-099 or
    the custom 900-919) or one of the unused 700-899 says neither: refused, naming the line and the code."""
    code = detail.type_code
    if code == "890":
        return None
    if code in BAI2_DIRECTION and BAI2_DIRECTION[code] is not None:
        return BAI2_DIRECTION[code]
    number = int(code)
    for low, high, direction in BAI2_RANGES:
        if low <= number <= high:
            return direction
    if 900 <= number <= 919:
        why = "a bank-custom account status code (900-919): a status, not a transaction"
    elif 700 <= number <= 899:
        why = "in 700-899, a range BAI2 does not use: its direction cannot be known"
    else:
        why = "a status code (001-099), not a transaction"
    raise ReportError(source, detail.line, "16.type_code", f"type code {code} says neither credit nor debit: {why}")
