"""BAI2 bank statements (format `bai2`): the file (BAI "Cash Management Balance Reporting Specifications",
version 2) read into groups, accounts and transaction details by `parse_file`, with every control total
checked and every error naming the physical line and the field; its lines as the record frame by `parse_bai2`.

Structure: 01 file header, then groups (02 … 98), each of accounts (03 … 49) holding transaction
details (16); 99 ends the file. Rules applied as the specification states them:
- Fields are separated by `,`; `/` ends a physical record's fields (anything after it is padding);
  adjacent delimiters are a defaulted (empty) field.
- A logical record is a record plus its `88` continuation records. A continuation may start at any
  field boundary: the 88's fields simply continue the field list (the spec's own example continues an
  03 record between a type code and its amount).
- The 16 record's text is its last field and runs to the end of the logical record: it may contain
  commas and `/` (a trailing `/` included: the `/` terminator rule is "except for record 16"; a text
  that is only `/` is defaulted); its 88 continuations are more text (joined with a space). A 16 that
  is continued before its text must end its physical record with `/`; one continued within its text
  must not.
- Funds type decides how many fields follow the amount: Z / 0 / 1 / 2 / empty none; V value date and
  value time; S immediate, one-day and two-or-more-day amounts; D a count n and n (days, amount) pairs.
- Amounts are integers in the currency's minor units (implied decimals); 16 amounts are unsigned (the
  type code says credit or debit), 03 summary/status amounts may carry a sign.
- Control totals: an account's 49 total is the algebraic sum of every amount field of its 03 record
  (type-code amounts, not availability amounts) and of its 16 records; a group's 98 total is the sum of
  its accounts' totals, a file's 99 total the sum of its groups'. Record counts count physical records
  (88s included) from the 03/02/01 through the trailer itself. Any mismatch refuses the file: the
  totals exist so a receiver can tell a complete file from a damaged or truncated one.
- Leniency seen in real files and harmless: trailing blanks after `/`, a missing final `/`, an empty
  type-code field in an 03 record (an empty summary slot `,,,,` or a stray comma before `/`), an empty
  control total where there is nothing to sum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from shared.domain.money import EXPONENTS, MAX_AMOUNT
from shared.reconciliation.bank_codes import BAI2_DIRECTION, bai2_class
from shared.reconciliation.frame import BANK_LINE_SCHEMA, ReportError, conform, validate

_AMOUNT = re.compile(r"^[+-]?\d+$")
_TYPE_CODE = re.compile(r"^\d{3}$")
FUNDS_TYPES = ("Z", "0", "1", "2", "V", "S", "D")


@dataclass
class Detail:
    line: int  # the 16 record's physical line
    type_code: str
    amount: int  # unsigned minor units
    funds_type: str
    value_date: date | None  # funds type V
    bank_reference: str | None
    customer_reference: str | None
    text: str | None


@dataclass
class Account:
    line: int
    number: str
    currency: str | None
    details: list[Detail] = field(default_factory=list)


@dataclass
class Group:
    line: int
    as_of: date
    currency: str | None
    status: str
    accounts: list[Account] = field(default_factory=list)


@dataclass
class _Record:
    code: str
    pieces: list[tuple[int, str]]  # (physical line, content after "NN,") of the record and its 88s

    @property
    def line(self) -> int:
        return self.pieces[0][0]


class _Fields:
    """Cursor over a logical record's fields across its physical records (the record and its 88s)."""

    def __init__(self, record: _Record, source: str):
        self.record, self.source = record, source
        self.piece, self.pos, self.done = 0, 0, False  # done: this piece's fields ended ("/" or end of line)
        self.line = record.line

    def _live(self) -> bool:
        while self.piece < len(self.record.pieces):
            if not self.done and self.pos < len(self.record.pieces[self.piece][1]):
                self.line = self.record.pieces[self.piece][0]
                return True
            self.piece, self.pos, self.done = self.piece + 1, 0, False
        return False

    def next(self) -> str | None:
        """The next field (stripped; "" when defaulted), or None when the logical record has no more."""
        if not self._live():
            return None
        text = self.record.pieces[self.piece][1]
        match = re.compile(r"[,/]").search(text, self.pos)
        if match is None:
            value, self.pos = text[self.pos :], len(text)
        else:
            value = text[self.pos : match.start()]
            self.pos = match.end()
            self.done = match.group() == "/"
        return value.strip()

    def rest(self) -> str | None:
        """Everything left in the logical record, as text (the 16 record's text field)."""
        parts = []
        if self._live():
            parts.append(self.record.pieces[self.piece][1][self.pos :])
            self.piece += 1
        parts += [text for _, text in self.record.pieces[self.piece :]]
        self.piece, self.pos = len(self.record.pieces), 0
        # The spec ends a 16's text at the next non-88 record, not at a `/`, and text may contain `/`; but
        # banks (and the spec's own example, `LOCK BOX NO.68751/`) still end 16 records with one: each
        # physical piece loses ONE trailing `/` (as moov-io/bai2 reads them); slashes inside are text.
        # Blanks are fixed-width padding (`RETURNED CHEQUE     /`).
        cleaned = [p.rstrip().removesuffix("/").strip() for p in parts]
        return " ".join(p for p in cleaned if p) or None

    def fail(self, field_name: str, message: str) -> ReportError:
        return ReportError(self.source, self.line, f"{self.record.code}.{field_name}", message)


def _records(data: bytes, source: str) -> list[_Record]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ReportError(source, line, None, "not UTF-8/ASCII text") from exc
    records: list[_Record] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        code, _, content = line.partition(",")
        code = code.strip().removesuffix("/")
        if code == "88":
            if not records:
                raise ReportError(source, n, "88", "a continuation record with no record to continue")
            records[-1].pieces.append((n, content))
        elif code in ("01", "02", "03", "16", "49", "98", "99"):
            records.append(_Record(code, [(n, content)]))
        else:
            raise ReportError(source, n, "record code", f"unknown BAI2 record code {code!r}")
    if not records:
        raise ReportError(source, None, None, "empty file")
    return records


def _date(value: str | None, f: _Fields, name: str, required: bool = True) -> date | None:
    if not value:
        if required:
            raise f.fail(name, "missing date (YYMMDD)")
        return None
    if not re.fullmatch(r"\d{6}", value):
        raise f.fail(name, f"not a YYMMDD date: {value!r}")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    try:
        return date(2000 + yy if yy < 70 else 1900 + yy, mm, dd)
    except ValueError:
        raise f.fail(name, f"not a YYMMDD date: {value!r}") from None


def _amount(value: str | None, f: _Fields, name: str, signed: bool) -> int:
    if not value:
        return 0
    if not _AMOUNT.match(value) or (not signed and value[0] in "+-"):
        raise f.fail(name, f"not an {'integer' if signed else 'unsigned integer'} amount: {value!r}")
    if abs(int(value)) > MAX_AMOUNT:
        raise f.fail(name, f"amount out of range: {value} (at most {MAX_AMOUNT} minor units)")
    return int(value)


def _funds(f: _Fields, funds_type: str | None, where: str) -> tuple[str, date | None]:
    """Consume the fields the funds type implies; (funds type, value date for V)."""
    kind = (funds_type or "Z").upper()
    if kind in ("Z", "0", "1", "2"):
        return kind, None
    if kind == "V":
        value_date = _date(f.next(), f, f"{where}.value_date")
        value_time = f.next()
        if value_time and not re.fullmatch(r"\d{4}", value_time):
            raise f.fail(f"{where}.value_time", f"not an HHMM time: {value_time!r}")
        return kind, value_date
    if kind == "S":
        for part in ("immediate", "one_day", "two_or_more_days"):
            _amount(f.next(), f, f"{where}.{part}", signed=True)
        return kind, None
    if kind == "D":
        count = f.next() or ""
        if not count.isdigit():
            raise f.fail(f"{where}.distributions", f"funds type D needs a number of distributions, got {count!r}")
        for k in range(int(count)):
            days = f.next() or ""
            if not days.isdigit():
                raise f.fail(f"{where}.distribution[{k}].days", f"not a number of days: {days!r}")
            _amount(f.next(), f, f"{where}.distribution[{k}].amount", signed=True)
        return kind, None
    raise f.fail(f"{where}.funds_type", f"unknown funds type {funds_type!r} (expected one of {', '.join(FUNDS_TYPES)})")


def _account_amounts(f: _Fields) -> int:
    """The 03 record's summary/status fields: repeated (type code, amount, item count, funds type…)."""
    total, k = 0, 0
    while True:
        type_code = f.next()
        if type_code is None:
            return total
        if type_code == "":
            continue  # an empty slot / stray delimiter (see module docstring)
        where = f"summary[{k}]"
        if not _TYPE_CODE.match(type_code):
            raise f.fail(f"{where}.type_code", f"not a 3-digit type code: {type_code!r}")
        total += _amount(f.next(), f, f"{where}.amount", signed=True)
        count = f.next()
        if count and not count.isdigit():
            raise f.fail(f"{where}.item_count", f"not an item count: {count!r}")
        _funds(f, f.next(), where)
        k += 1


def _control(f: _Fields, name: str, expected: int, what: str) -> None:
    given = f.next()
    value = _amount(given, f, name, signed=True) if given else 0
    if value != expected:
        raise f.fail(name, f"{what}: the trailer says {given or '(empty)'}, the records give {expected}")


def _count(f: _Fields, name: str, expected: int, what: str) -> None:
    given = f.next() or ""
    if not given.isdigit():
        raise f.fail(name, f"missing {what}")
    if int(given) != expected:
        raise f.fail(name, f"{what}: the trailer says {given}, the file has {expected}")


def parse_file(data: bytes, source: str) -> list[Group]:
    """The file's groups, accounts and details; raises ReportError(file, line, "NN.field", message)."""
    records = _records(data, source)
    if records[0].code != "01":
        raise ReportError(source, records[0].line, "record code", "a BAI2 file starts with a 01 file header")
    head = _Fields(records[0], source)
    for _ in range(7):  # sender, receiver, creation date, time, file id, record length, block size
        head.next()
    version = head.next()
    if version != "2":
        raise head.fail("version", f"BAI version {version!r}: only version 2 is read")

    groups: list[Group] = []
    group: Group | None = None
    account: Account | None = None
    file_total = group_total = account_total = 0
    group_records = account_records = 0
    file_records = len(records[0].pieces)
    ended = False
    for record in records[1:]:
        f = _Fields(record, source)
        size = len(record.pieces)
        if ended:
            raise ReportError(source, record.line, "record code", "records after the 99 file trailer")
        file_records += size
        group_records += size
        account_records += size
        code = record.code
        if code == "01":
            raise f.fail("record code", "a second 01 file header")
        if code == "02":
            if group is not None:
                raise f.fail("record code", f"group of line {group.line} has no 98 trailer before this 02")
            f.next(), f.next()  # ultimate receiver, originator
            status = f.next() or ""
            if status not in ("1", "2", "3", "4"):
                raise f.fail("group_status", f"group status must be 1-4, got {status!r}")
            as_of = _date(f.next(), f, "as_of_date")
            f.next()  # as-of time
            currency = (f.next() or "").upper() or None
            group = Group(record.line, as_of, currency, status)
            groups.append(group)
            group_total, group_records = 0, size
        elif code == "03":
            if group is None or account is not None:
                where = "outside a group" if group is None else f"before the 49 of the account on line {account.line}"
                raise f.fail("record code", f"an 03 account record {where}")
            number = f.next()
            if not number:
                raise f.fail("account_number", "missing customer account number")
            account = Account(record.line, number, (f.next() or "").upper() or None)
            group.accounts.append(account)
            account_total, account_records = _account_amounts(f), size
        elif code == "16":
            if account is None:
                raise f.fail("record code", "a 16 transaction detail outside an account")
            type_code = f.next() or ""
            if not _TYPE_CODE.match(type_code):
                raise f.fail("type_code", f"not a 3-digit type code: {type_code!r}")
            amount = _amount(f.next(), f, "amount", signed=False)
            funds_type, value_date = _funds(f, f.next(), "detail")
            bank_ref, customer_ref = f.next() or None, f.next() or None
            text = f.rest()
            account.details.append(
                Detail(record.line, type_code, amount, funds_type, value_date, bank_ref, customer_ref, text)
            )
            account_total += amount
        elif code == "49":
            if account is None:
                raise f.fail("record code", "a 49 account trailer without an 03 account record")
            _control(f, "account_control_total", account_total, f"account {account.number} control total")
            _count(f, "number_of_records", account_records, f"account {account.number} number of records")
            group_total += account_total
            account = None
        elif code == "98":
            if group is None or account is not None:
                raise f.fail(
                    "record code", "a 98 group trailer " + ("outside a group" if group is None else "before 49")
                )
            _control(f, "group_control_total", group_total, "group control total")
            _count(f, "number_of_accounts", len(group.accounts), "group number of accounts")
            _count(f, "number_of_records", group_records, "group number of records")
            file_total += group_total
            group = None
        elif code == "99":
            if group is not None:
                raise f.fail("record code", f"the group of line {group.line} has no 98 trailer")
            _control(f, "file_control_total", file_total, "file control total")
            _count(f, "number_of_groups", len(groups), "file number of groups")
            _count(f, "number_of_records", file_records, "file number of records")
            ended = True
    if not ended:
        raise ReportError(source, records[-1].pieces[-1][0], "99", "the file ends without a 99 file trailer")
    return groups


# ----------------------------------------------------------------------------------------- the record frame


def parse_bai2(data: bytes, source: str) -> pl.DataFrame:
    """BAI2 (`parse_file`: continuation records, funds types, control totals, errors
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
    groups = parse_file(data, source)
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
    frame = pl.DataFrame(rows, schema=BANK_LINE_SCHEMA, orient="row")
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


def _bai2_direction(detail: Detail, source: str) -> str | None:
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
