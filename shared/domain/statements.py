"""Account statements, pure (no I/O): the period a request names, the per-currency statement of one
account over it (opening balance, every entry with the running balance, totals in and out, closing
balance) and its CSV rendering. The service (shared.api.statements) reads the store and the balances;
this module only computes, so the arithmetic is tested without a store.

Periods are half-open, [start, end): `YYYY-MM` is the calendar month in UTC (start = the 1st, 00:00,
end = the 1st of the next month); `custom` takes `from` (inclusive) and `to` (exclusive). The ledger's
instants have microsecond resolution, so the opening balance is the balance as of `start - 1 µs` and
the closing balance the balance as of `end - 1 µs` (`opening_as_of` / `closing_as_of` in the
statement: GET …/balance?as_of= with either returns exactly those figures). An entry belongs to the
period when its instant on the statement's clock (recorded_at or effective_at) is in [start, end).

Invariant (checked on every statement): per currency, opening + the period's entries = closing, for
posted, pending_in and pending_out alike."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.domain.ledger.accounts import NORMAL_SIDE, TOTALS, AccountBalance, account_type
from shared.domain.money import decimal_text, exponent
from shared.errors import ClientError

MAX_DAYS = 366  # a longer range is an export job (or several statements)
MAX_ENTRIES = 5000  # inline, all currencies together; beyond: statement_too_large
EXPORT_MAX_DAYS = 3660  # an export job (POST …/statements/exports): about ten years
EXPORT_MAX_ENTRIES = 200_000
TICK = timedelta(microseconds=1)  # the ledger's time resolution
MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
CLOCKS = ("recorded", "effective")


class StatementTooLarge(ClientError):
    def __init__(self, message: str):
        super().__init__(400, "statement_too_large", message, "period")


@dataclass(frozen=True)
class Period:
    name: str  # YYYY-MM or custom
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def opening_as_of(self) -> datetime:
        return self.start - TICK

    @property
    def closing_as_of(self) -> datetime:
        return self.end - TICK


def month_period(year: int, month: int) -> Period:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return Period(f"{year:04d}-{month:02d}", start, end)


def parse_period(name: str, start: datetime | None, end: datetime | None, *, max_days: int = MAX_DAYS) -> Period:
    """`YYYY-MM` (no from/to) or `custom` (from and to, both required); at most max_days long."""
    match = MONTH.match(name or "")
    if match:
        if start is not None or end is not None:
            param = "from" if start is not None else "to"
            raise ClientError(400, "parameter_invalid", "from/to go with period custom only", param)
        year = int(match.group(1))
        if year < 1971:
            raise ClientError(400, "parameter_invalid", "period is out of range", "period")
        return month_period(year, int(match.group(2)))
    if name != "custom":
        raise ClientError(400, "parameter_invalid", "period is YYYY-MM (a calendar month, UTC) or custom", "period")
    if start is None or end is None:
        param = "from" if start is None else "to"
        raise ClientError(400, "parameter_missing", "period custom needs from and to", param)
    if end <= start:
        raise ClientError(400, "parameter_invalid", "to must be after from", "to")
    if end - start > timedelta(days=max_days):
        raise StatementTooLarge(
            f"a statement covers at most {max_days} days: ask for shorter periods"
            + (", or an export (POST /v1/accounts/{id}/statements/exports)" if max_days < EXPORT_MAX_DAYS else "")
        )
    return Period("custom", start, end)


# ----------------------------------------------------------------------------- the statement


@dataclass(frozen=True)
class Line:
    """One entry of the account, as the statement needs it (the service maps stored entries to these)."""

    id: str  # <transaction>:<index>
    transaction: str
    kind: str
    currency: str
    direction: str  # debit | credit
    phase: str  # posted | pending | release
    amount: int
    effective_at: datetime
    recorded_at: datetime
    account_version: int

    def at(self, clock: str) -> datetime:
        return self.recorded_at if clock == "recorded" else self.effective_at

    def order(self, clock: str) -> tuple:
        """Ledger order on the recorded clock; on the effective clock, by effective time first."""
        index = int(self.id.rpartition(":")[2])
        if clock == "recorded":
            return (self.recorded_at, self.transaction, index)
        return (self.effective_at, self.recorded_at, self.transaction, index)


def apply(totals: dict[str, int], line: Line) -> None:
    """What an entry does to an account's totals: shared.domain.ledger.engine.add_entry's arithmetic
    (and shared.ledger.balances.balance_as_of's on the effective clock)."""
    side = "debits" if line.direction == "debit" else "credits"
    if line.phase == "posted":
        totals[f"{side}_posted"] += line.amount
    elif line.phase == "pending":
        totals[f"{side}_pending"] += line.amount
    else:  # release of a pending amount
        totals[f"{side}_pending"] -= line.amount


@dataclass
class Movement:
    """What the period's entries did, on the account's normal side: in raises the balance."""

    total_in: int = 0  # posted
    total_out: int = 0
    count_in: int = 0
    count_out: int = 0
    pending_in_added: int = 0
    pending_in_released: int = 0
    pending_out_added: int = 0
    pending_out_released: int = 0


@dataclass
class CurrencyStatement:
    currency: str
    opening: AccountBalance
    closing: AccountBalance
    lines: list[tuple[Line, AccountBalance]] = field(default_factory=list)  # each entry, the balance after it
    movement: Movement = field(default_factory=Movement)
    # recorded clock: the account's version (per currency, contiguous) at the opening and closing instants
    opening_version: int | None = None
    closing_version: int | None = None


@dataclass
class Statement:
    account: str  # the ledger account
    customer: str
    period: Period
    clock: str
    generated_at: datetime
    currencies: list[CurrencyStatement]
    currency: str | None = None  # the filter, if one
    chain: dict | None = None  # the chain heads at `end` it is anchored to (shared.domain.statement_proof)

    @property
    def complete(self) -> bool:
        """The period had ended when the statement was made (on the recorded clock nothing can still
        be added to it; on the effective clock a late entry with an earlier effective time still can)."""
        return self.period.end <= self.generated_at

    @property
    def entry_count(self) -> int:
        return sum(len(c.lines) for c in self.currencies)


class StatementInconsistent(RuntimeError):
    """opening + entries != closing: the balances and the entries disagree (a ledger invariant broke)."""


def _balance(account: str, currency: str, totals: dict[str, int]) -> AccountBalance:
    return AccountBalance(account, currency, *(totals[t] for t in TOTALS))


def build(
    account: str,
    customer: str,
    period: Period,
    clock: str,
    lines: Iterable[Line],
    opening: dict[str, AccountBalance],
    closing: dict[str, AccountBalance],
    generated_at: datetime,
    *,
    currency: str | None = None,
    max_entries: int | None = None,
) -> Statement:
    """The statement from the account's entries (any superset of the period's: those outside it are
    dropped) and its balances as of the opening and closing instants (the same computation as GET
    …/balance?as_of=). Raises StatementTooLarge beyond max_entries, StatementInconsistent when the
    entries do not lead from the opening to the closing balance."""
    if clock not in CLOCKS:
        raise ValueError("clock is recorded or effective")
    lines = list(lines)
    inside = sorted(
        (x for x in lines if period.start <= x.at(clock) < period.end and currency in (None, x.currency)),
        key=lambda x: x.order(clock),
    )
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    if len(inside) > max_entries:
        raise StatementTooLarge(
            f"the period has more than {max_entries} entries: ask for a shorter period or one currency"
            + (", or an export (POST /v1/accounts/{id}/statements/exports)" if max_entries < EXPORT_MAX_ENTRIES else "")
        )
    codes = sorted({*opening, *closing, *(x.currency for x in inside)})
    if currency is not None:
        codes = [c for c in codes if c == currency]
    normal = NORMAL_SIDE[account_type(account)]
    out = []
    for code in codes:
        start = opening.get(code) or AccountBalance(account, code, 0, 0)
        end = closing.get(code) or AccountBalance(account, code, 0, 0)
        totals = {t: getattr(start, t) for t in TOTALS}
        statement = CurrencyStatement(code, start, end)
        if clock == "recorded":
            mine = [x for x in lines if x.currency == code]
            statement.opening_version = max(
                (x.account_version for x in mine if x.recorded_at < period.start), default=0
            )
            statement.closing_version = max((x.account_version for x in mine if x.recorded_at < period.end), default=0)
        m = statement.movement
        for line in (x for x in inside if x.currency == code):
            apply(totals, line)
            statement.lines.append((line, _balance(account, code, totals)))
            inward = line.direction == normal
            if line.phase == "posted":
                if inward:
                    m.total_in, m.count_in = m.total_in + line.amount, m.count_in + 1
                else:
                    m.total_out, m.count_out = m.total_out + line.amount, m.count_out + 1
            else:
                sign = "added" if line.phase == "pending" else "released"
                name = f"pending_{'in' if inward else 'out'}_{sign}"
                setattr(m, name, getattr(m, name) + line.amount)
        reached = _balance(account, code, totals)
        if reached != end:
            raise StatementInconsistent(f"{code}: opening + entries = {reached}, closing = {end}")
        out.append(statement)
    return Statement(account, customer, period, clock, generated_at, out, currency)


# ----------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "record",  # opening | entry | closing | total_in | total_out
    "currency",
    "entry",
    "transaction",
    "kind",
    "effective_at",
    "recorded_at",
    "direction",
    "phase",
    "amount_minor",
    "amount",
    "posted_minor",
    "posted",
    "pending_in_minor",
    "pending_out_minor",
    "available_minor",
    "available",
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_csv(statement: Statement) -> str:
    """RFC 4180 CSV (CRLF line ends), one header row, then per currency: an opening row, one row per
    entry (with the balance after it), a closing row and the totals in and out. Amounts twice: integer
    minor units (`*_minor`) and the exact decimal by the currency's ISO-4217 exponent (never a float)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for c in statement.currencies:
        exp = exponent(c.currency)

        def money(amount: int, exp: int = exp) -> str:
            return decimal_text(amount, exp)

        def balance_cells(b: AccountBalance) -> list:
            return [b.posted, money(b.posted), b.pending_in, b.pending_out, b.available, money(b.available)]

        blank = [""] * 7  # entry … phase
        writer.writerow(["opening", c.currency, *blank, "", "", *balance_cells(c.opening)])
        for line, after in c.lines:
            writer.writerow(
                [
                    "entry",
                    c.currency,
                    line.id,
                    line.transaction,
                    line.kind,
                    iso(line.effective_at),
                    iso(line.recorded_at),
                    line.direction,
                    line.phase,
                    line.amount,
                    money(line.amount),
                    *balance_cells(after),
                ]
            )
        writer.writerow(["closing", c.currency, *blank, "", "", *balance_cells(c.closing)])
        m = c.movement
        for record, amount in (("total_in", m.total_in), ("total_out", m.total_out)):
            writer.writerow([record, c.currency, *blank, amount, money(amount), *[""] * 6])
    return buffer.getvalue()
