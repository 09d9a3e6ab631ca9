"""The operator overview (issue 22, docs/api.md "Operator overview"): the books' money per currency, the
partners' daily volume, and the desk's health (break ageing, webhook delivery, stuck payouts). Every
route is `operator` scope and reads only; amounts are integer minor units.

Customer liabilities without reading a wallet: every transaction balances per currency (debits =
credits, shared.domain.ledger.engine), so over ALL accounts Σ(debits − credits) = 0 per currency, posted
and pending alike. The accounts are the customer wallets and the rest (partner clearing, fees, bank,
suspense, fx, write_off: shared.domain.ledger.accounts.ACCOUNT_RULES), and the rest is enumerable by key
(store.system_account_shards: Account keys outside "customer:…"). So per currency

    Σ_wallets (credits − debits) = Σ_system (debits − credits)

which is the wallets' total on their normal (credit) side, read from the system accounts' shards alone."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from shared.adapters import ledger_rows, payout_rows
from shared.adapters.payout_rows import PAYOUT
from shared.api.service import Backend, _iso
from shared.domain.ledger.accounts import AccountBalance, account_rule, sum_balances
from shared.errors import ClientError
from shared.operations.breaks import BREAK
from shared.partners import PARTNERS
from shared.payments import janitor
from shared.webhooks.records import ATTEMPT

MAX_DAYS, DEFAULT_DAYS = 90, 14
# A bound on what one volume read may fetch (transactions recorded in the window, oldest first); past
# it the answer says `truncated` rather than reading without end.
MAX_TRANSACTIONS = 20_000
MAX_ATTEMPTS = 20_000
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (  # (label, from days, to days exclusive | None)
    ("lt_1d", 0, 1),
    ("d1_3", 1, 3),
    ("d3_7", 3, 7),
    ("d7_30", 7, 30),
    ("gt_30d", 30, None),
)
SEVERITIES = ("low", "medium", "high", "critical")


# ----------------------------------------------------------------------------- models


class SystemAccountBalance(BaseModel):
    account: str
    type: str
    posted: int
    pending_in: int
    pending_out: int


class CurrencyBooks(BaseModel):
    currency: str
    accounts: list[SystemAccountBalance]
    customer_liabilities: int  # the wallets' posted total, on their normal (credit) side
    customer_liabilities_pending: int  # the wallets' net pending (credits − debits pending)


class OperatorBalances(BaseModel):
    object: str = "operator_balances"
    as_of: str
    currencies: list[CurrencyBooks]


class PartnerVolume(BaseModel):
    partner: str
    currency: str
    count: int
    gross: int


class DayVolume(BaseModel):
    date: str  # YYYY-MM-DD, a UTC day
    partners: list[PartnerVolume]
    totals: list[PartnerVolume]  # partner "*": the day's total per currency


class OperatorVolume(BaseModel):
    object: str = "operator_volume"
    days: int
    source: str  # where the postings were read: "datastore"
    truncated: bool
    series: list[DayVolume]


class AgeingRow(BaseModel):
    severity: str
    lt_1d: int = 0
    d1_3: int = 0
    d3_7: int = 0
    d7_30: int = 0
    gt_30d: int = 0


class DeliveryDay(BaseModel):
    date: str
    attempts: int
    succeeded: int


class WebhookHealth(BaseModel):
    last_24h_attempts: int
    last_24h_succeeded: int
    days: list[DeliveryDay]
    truncated: bool


class PayoutHealth(BaseModel):
    open: int
    stuck: int  # open and unchanged for the payments janitor's STALE_AFTER (shared.payments.janitor.quiet)
    unknown: int  # open with an attempt whose outcome is unknown (the partner may have committed)
    stuck_after_seconds: int  # that threshold


class OperatorHealth(BaseModel):
    object: str = "operator_health"
    as_of: str
    break_ageing: list[AgeingRow]
    webhooks: WebhookHealth
    payouts: PayoutHealth


# ----------------------------------------------------------------------------- balances


def liabilities(system: list[AccountBalance]) -> dict[str, tuple[int, int]]:
    """Per currency the wallets' (posted, net pending) on their credit side, from the system accounts
    alone (the derivation in the module docstring; pending entries balance too, so only their net is
    derivable: a hold between two wallets moves nothing outside the wallets)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for b in system:
        row = out[b.currency]
        row[0] += b.debits_posted - b.credits_posted
        row[1] += b.debits_pending - b.credits_pending
    return {cur: (r[0], r[1]) for cur, r in out.items()}


def balances(backend: Backend) -> OperatorBalances:
    shards = backend.store.system_account_shards()
    system = sorted(sum_balances(s.balance() for s in shards).values(), key=lambda b: (b.currency, b.account))
    owed = liabilities(system)
    currencies = []
    for currency in sorted(owed):
        posted, pending = owed[currency]
        accounts = [
            SystemAccountBalance(
                account=b.account,
                type=account_rule(b.account).type,
                posted=b.posted,
                pending_in=b.pending_in,
                pending_out=b.pending_out,
            )
            for b in system
            if b.currency == currency
        ]
        currencies.append(
            CurrencyBooks(
                currency=currency,
                accounts=accounts,
                customer_liabilities=posted,
                customer_liabilities_pending=pending,
            )
        )
    return OperatorBalances(as_of=_iso(backend.clock()) or "", currencies=currencies)


# ----------------------------------------------------------------------------- volume


def check_days(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise ClientError(400, "parameter_invalid", f"days is an integer from 1 to {MAX_DAYS}", "days")
    return int(raw)


def window(now: datetime, days: int) -> list[date]:
    """The UTC days ending today, oldest first."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def gross(transaction) -> dict[str, int]:
    """A posting's gross per currency: its posted debits (= its posted credits: it balances)."""
    out: dict[str, int] = defaultdict(int)
    for e in transaction.entries:
        if e.direction == "debit" and e.phase == "posted":
            out[e.currency] += e.amount
    return out


def bucket_volume(transactions, days: list[date]) -> list[DayVolume]:
    """Partner-event postings (kind post, a registered partner) by UTC day of recording, partner, currency."""
    cells: dict[date, dict[tuple[str, str], list[int]]] = {d: defaultdict(lambda: [0, 0]) for d in days}
    for t in transactions:
        if t.kind != "post" or t.partner not in PARTNERS:
            continue
        day = t.recorded_at.astimezone(UTC).date()
        if day not in cells:
            continue
        for currency, amount in gross(t).items():
            cell = cells[day][(t.partner, currency)]
            cell[0] += 1
            cell[1] += amount
    series = []
    for day in days:
        rows = [
            PartnerVolume(partner=p, currency=c, count=v[0], gross=v[1]) for (p, c), v in sorted(cells[day].items())
        ]
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            totals[r.currency][0] += r.count
            totals[r.currency][1] += r.gross
        series.append(
            DayVolume(
                date=day.isoformat(),
                partners=rows,
                totals=[
                    PartnerVolume(partner="*", currency=c, count=v[0], gross=v[1]) for c, v in sorted(totals.items())
                ],
            )
        )
    return series


def volume(backend: Backend, days_raw: str | None) -> OperatorVolume:
    days = window(backend.clock(), check_days(days_raw))
    rows = backend.store.rows_since(ledger_rows.TRANSACTION, "recorded_at", _start(days[0]), MAX_TRANSACTIONS)
    transactions = [ledger_rows.transaction(name, row) for name, row in rows]
    return OperatorVolume(
        days=len(days),
        source="datastore",
        truncated=len(rows) >= MAX_TRANSACTIONS,
        series=bucket_volume(transactions, days),
    )


# ----------------------------------------------------------------------------- health


def age_bucket(age_days: int) -> str:
    for label, low, high in AGE_BUCKETS:
        if age_days >= low and (high is None or age_days < high):
            return label
    return AGE_BUCKETS[0][0]  # a break opened "in the future" (a clock skew) counts as new


def ageing(breaks: dict[str, dict], today: date) -> list[AgeingRow]:
    rows = {s: AgeingRow(severity=s) for s in SEVERITIES}
    for brk in breaks.values():
        if brk.get("status") != "open":
            continue
        opened = brk.get("opened_on")
        age = (today - date.fromisoformat(opened)).days if isinstance(opened, str) and opened else 0
        severity = brk.get("severity") if brk.get("severity") in rows else "low"
        row = rows[severity]
        label = age_bucket(age)
        setattr(row, label, getattr(row, label) + 1)
    return list(rows.values())


def delivered(attempt: dict) -> bool:
    status = attempt.get("status_code")
    return isinstance(status, int) and 200 <= status < 300


def webhook_health(attempts: list[dict], now: datetime, days: list[date], truncated: bool) -> WebhookHealth:
    per_day = {d: [0, 0] for d in days}
    since = now - timedelta(hours=24)
    last = [0, 0]
    for a in attempts:
        at = a["at"].astimezone(UTC)
        ok = delivered(a)
        if at.date() in per_day:
            per_day[at.date()][0] += 1
            per_day[at.date()][1] += ok
        if at >= since:
            last[0] += 1
            last[1] += ok
    return WebhookHealth(
        last_24h_attempts=last[0],
        last_24h_succeeded=last[1],
        days=[DeliveryDay(date=d.isoformat(), attempts=v[0], succeeded=v[1]) for d, v in per_day.items()],
        truncated=truncated,
    )


def payout_health(payouts: list, now: datetime) -> PayoutHealth:
    """Open payouts (shared.domain.payments.payouts.Payout): stuck by the janitor's rule, unknown at a partner."""
    return PayoutHealth(
        open=len(payouts),
        stuck=sum(janitor.quiet(p, now) for p in payouts),
        unknown=sum(any(a.state == "unknown" for a in p.attempts) for p in payouts),
        stuck_after_seconds=int(janitor.STALE_AFTER.total_seconds()),
    )


def health(backend: Backend, days_raw: str | None) -> OperatorHealth:
    now = backend.clock()
    days = window(now, check_days(days_raw))
    store = backend.store
    breaks = store.query(BREAK, "status", "open")
    since = min(_start(days[0]), now - timedelta(hours=24))
    attempts = store.rows_since(ATTEMPT, "at", since, MAX_ATTEMPTS)
    # the row codec alone (not the payouts service, which needs the payments keys: read-only here)
    payouts = [
        decoded.payout
        for status in janitor.OPEN_PAYOUTS
        for name, row in store.query(PAYOUT, "status", status).items()
        if (decoded := payout_rows.payout(name, row)).payout.status in janitor.OPEN_PAYOUTS
    ]
    return OperatorHealth(
        as_of=_iso(now) or "",
        break_ageing=ageing(breaks, now.astimezone(UTC).date()),
        webhooks=webhook_health([r for _, r in attempts], now, days, len(attempts) >= MAX_ATTEMPTS),
        payouts=payout_health(payouts, now),
    )
