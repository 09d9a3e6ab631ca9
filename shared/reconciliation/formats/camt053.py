"""ISO 20022 camt.053 bank statements → the record frame (format `camt053`): a namespace-stripped element
tree with line numbers (no DOCTYPE, no entities), one row per entry or per itemised transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from xml.parsers import expat

import polars as pl

from shared.domain.money import EXPONENTS
from shared.reconciliation.bank_codes import camt_class
from shared.reconciliation.frame import BANK_LINE_SCHEMA, ReportError, conform, to_minor, validate


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
    frame = pl.DataFrame(rows, schema=BANK_LINE_SCHEMA, orient="row")
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
