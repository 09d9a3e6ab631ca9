"""Reconciliation service: one run for a partner and a day, over injected adapters (the ledger store,
the inbox's canonical events, BigQuery streaming). The matching itself is pure (shared.reconciliation).

A run: parse the partner report (and the bank statement, if any) -> build the ledger side for the
window the report covers (plus a look-back; with a statement, also the ledger's ACH postings on the
bank accounts, `bank_postings`) -> match (cascade) -> carry the partner's open breaks
forward (close what this run resolved, with its run id) -> drift check per currency -> persist the run
and its breaks (Datastore, then BigQuery with insertIds) -> render the Markdown report.

Idempotent: the run id is a hash of the inputs (report bytes, ledger snapshot, parameters); a run whose
id is already recorded as done is returned as it was, nothing is written twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from shared.domain.events import CanonicalEvent
from shared.domain.ledger.errors import Conflict
from shared.domain.ledger.model import Operation
from shared.domain.ledger.operations import FEE_BOOKING_RULE, REVERSAL_RULE, fee_booking
from shared.ledger.balances import balance_as_of
from shared.ledger.store import aware
from shared.partners import PARTNERS
from shared.reconciliation import (
    Break,
    ManualPair,
    MatchParams,
    balance_drift,
    breaks_from_frame,
    carry_forward,
    digest,
    frame_digest,
    ledger_frame,
    partner_balance,
    reconcile,
    render_markdown,
    run_identity,
)
from shared.reconciliation.fees import FeeBooking, fee_bookings, fold_bookings
from shared.reconciliation.formats import FORMATS, statement_format
from shared.reconciliation.ledger_side import BANK_LEDGER_KINDS, apply_corrections, bank_ledger_frame

log = logging.getLogger("ledgerline.reconciliation")

# The partners whose settlement report is reconciled, and the parser of its format (from the partner
# registry: a format a partner names that does not exist fails here, at import).
PARTNER_PARSERS = {name: FORMATS[p.REPORT_FORMAT].parse for name, p in PARTNERS.items() if p.REPORT_FORMAT}
# Every partner's fees are checked: what its webhooks do not carry, a run books from its report
# (shared.reconciliation.fees). A partner that needs other matching parameters gets an entry here.
PARAMS: dict[str, MatchParams] = {}
LOOKBACK_DAYS = 10  # the ledger window starts this many days before the report's first row
_BREAK_DATES = ("date", "opened_on", "closed_on")
MAX_STORED_REPORT = 500_000  # characters of Markdown kept in the ReconRun entity (1 MiB entity limit)


# The ledger bank accounts a statement's non-payout lines are reconciled against: the banks of the
# partners that post ACH (each such partner module names its BANK, e.g. column).
ACH_BANKS = tuple(sorted({p.BANK for p in PARTNERS.values() if p.BANK}))


class UnsupportedPartner(ValueError):
    pass


def bank_parser(name: str):
    """The parser of a bank statement file, chosen by its name (shared.reconciliation.formats)."""
    return statement_format(name).parse


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    partner: str
    as_of: date
    status: str  # done (new run) | replayed (same inputs as a recorded run)
    summary: dict
    opened: int
    still_open: int
    closed: int
    drift: list[dict]
    report: str

    def answer(self, written: str) -> dict:
        """What the reconciliation function and `recon run --json` answer: the run, its breaks, what it
        booked and where its Markdown report was written."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "breaks": self.summary.get("breaks", {}),
            "fees_booked": self.summary.get("fees_booked", 0),
            "opened": self.opened,
            "open": self.still_open,
            "closed": self.closed,
            "drift": self.drift,
            "report": written,
        }


def _posting_row(name: str, event: CanonicalEvent) -> dict:
    """One posted transaction `name` with the fields of its canonical event (ledger_side's input row)."""
    return {
        "transaction_id": name,
        "event_id": event.event_id,
        "partner": event.partner,
        "kind": event.kind,
        "reference": event.reference,
        "payment_reference": event.payment_reference,
        "amount": event.amount,
        "fee": event.fee,
        "currency": event.currency,
        "effective_at": event.occurred_at,
    }


def ledger_postings(
    store, partner: str, start: date, end: date, canonical_of: Callable[[list[str]], dict[str, CanonicalEvent]]
) -> list[dict]:
    """One dict per posted transaction that moved the partner's clearing account in [start, end]
    (effective date), with the fields of its canonical event (from the inbox), and the run's fee
    bookings folded in (shared.reconciliation.fees.fold_bookings)."""
    txns = {t.id: t for t in store.transactions_of_account(f"partner:{partner}:clearing")}
    in_window = {n: t for n, t in txns.items() if start <= t.effective_at.date() <= end}
    chosen = {n: t for n, t in in_window.items() if (t.event_id or "").startswith(f"{partner}:")}
    # A transaction ledgerline itself reversed (an operator's correction, a superseded legacy dispute
    # posting) and its reversal net to nothing at the partner: neither is a row. A partner's own
    # reversal (a failed payout) stays, as the partner reports it.
    reversals = store.get_multi("Reversal", sorted(chosen)) if chosen else {}
    for name, link in reversals.items():
        reversal = txns.get(link["reversal_id"])
        if reversal is not None and reversal.rule == REVERSAL_RULE:
            chosen.pop(name, None)
    events = canonical_of(sorted({t.event_id for t in chosen.values()}))
    rows = []
    for name, t in sorted(chosen.items()):
        event = events.get(t.event_id)
        if event is None:  # a system operation (e.g. an expiry) or an event no longer in the inbox
            continue
        rows.append(_posting_row(name, event))
    # A booking that corrects a transaction follows it whatever its own date; a fee-only one is a row
    # of its own date.
    booked = sorted(n for n, t in txns.items() if t.rule == FEE_BOOKING_RULE)
    records = store.get_multi("FeeBooking", booked) if booked else {}
    bookings = [
        {**records[n], "transaction_id": n, "effective_at": txns[n].effective_at}
        for n in booked
        if n in records and (records[n].get("ledger_transaction") or n in in_window)
    ]
    return fold_bookings(rows, bookings)


def book_fees(book: Callable[[Operation, dict], object], partner: str, bookings: list[FeeBooking]) -> list[dict]:
    """Post each fee booking through the ledger (idempotent: same key, same transaction); returns what
    was booked, for the run record. A booking refused as a conflict (another run booked a different
    correction under the same number at the same moment) is left: its break stays, the next run
    books what is still missing."""
    booked = []
    for b in bookings:
        op = fee_booking(partner, b.key, b.amount, b.currency, datetime.combine(b.booked_on, time(), tzinfo=UTC))
        fields = {"partner": partner, "transaction_id": op.op_id, "break_id": b.break_id, "currency": b.currency}
        try:
            result = book(op, b.record(partner))
        except Conflict:
            log.warning("fee booking refused: conflict", extra={**fields, "amount": b.amount})
            continue
        booked.append({"transaction_id": op.op_id, "break_id": b.break_id, "amount": b.amount, "currency": b.currency})
        log.info(
            "fee booked from the partner's report",
            extra={**fields, "amount": b.amount, "status": getattr(result, "status", None)},
        )
    return booked


def bank_postings(
    store, start: date, end: date, canonical_of: Callable[[list[str]], dict[str, CanonicalEvent]]
) -> list[dict]:
    """The ledger side of the bank ↔ ledger leg: one dict (as ledger_postings) per posted ACH
    transaction that moved `bank:<b>:operating` (b in ACH_BANKS) in [start, end] (effective date)."""
    chosen = {}
    for bank in ACH_BANKS:
        for t in store.transactions_of_account(f"bank:{bank}:operating"):
            if start <= t.effective_at.date() <= end and t.event_id:
                chosen[t.id] = t
    events = canonical_of(sorted({t.event_id for t in chosen.values()}))
    rows = []
    for name, t in sorted(chosen.items()):
        event = events.get(t.event_id)
        if event is None or event.kind not in BANK_LEDGER_KINDS:
            continue  # payouts are reconciled through the partner's report; system operations move no ACH
        rows.append(_posting_row(name, event))
    return rows


def run(
    store,
    *,
    partner: str,
    as_of: date,
    report: tuple[str, bytes],
    bank: tuple[str, bytes] | None = None,
    canonical_of: Callable[[list[str]], dict[str, CanonicalEvent]],
    now: datetime,
    stream: Callable[[str, list[dict], list[str]], None] | None = None,
    book: Callable[[Operation, dict], object] | None = None,
    manual: tuple[ManualPair, ...] = (),
    on_breaks: Callable[[list[dict], list[dict], str], object] | None = None,
    corrections: tuple[dict, ...] = (),
) -> RunOutcome:
    """`book(operation, fee_booking_record)` posts a fee booking through the ledger (with its
    FeeBooking record in the same transaction); without it the run books nothing and reports fee
    differences as fee_variance breaks. `manual`: the partner's active manual matches (applied first,
    part of the run id); `on_breaks(found, closed, run_id)`: after the breaks are written, the break
    desk's update of their work (shared.operations.breaks.BreakDesk.on_run); `corrections`: the
    partner's write-offs, applied to the ledger side (ledger_side.apply_corrections)."""
    if partner not in PARTNER_PARSERS:
        raise UnsupportedPartner(f"no report parser for {partner!r}; supported: {', '.join(PARTNER_PARSERS)}")
    params = PARAMS.get(partner, MatchParams())
    partner_frame = PARTNER_PARSERS[partner](report[1], report[0])
    bank_frame = bank_parser(bank[0])(bank[1], bank[0]) if bank else None
    first = partner_frame["date"].min() if partner_frame.height else as_of
    start = min(first, as_of) - timedelta(days=LOOKBACK_DAYS)
    ledger = apply_corrections(
        ledger_frame(ledger_postings(store, partner, start, as_of, canonical_of), partner=partner),
        corrections,
        (start, as_of),
    )
    bank_ledger = bank_ledger_frame(bank_postings(store, start, as_of, canonical_of)) if bank else None
    result = reconcile(
        partner_frame, ledger, bank_frame, as_of=as_of, params=params, bank_ledger=bank_ledger, manual=manual
    )
    booked = []
    if book is not None:
        bookings = fee_bookings(
            result.breaks, partner_frame, lambda txn: len(store.query("FeeBooking", "ledger_transaction", txn))
        )
        if bookings:
            booked = book_fees(book, partner, bookings)
            ledger = apply_corrections(
                ledger_frame(ledger_postings(store, partner, start, as_of, canonical_of), partner=partner),
                corrections,
                (start, as_of),
            )
            result = reconcile(
                partner_frame, ledger, bank_frame, as_of=as_of, params=params, bank_ledger=bank_ledger, manual=manual
            )
    inputs = {report[0]: digest(report[1])} | ({bank[0]: digest(bank[1])} if bank else {})
    # Identity after the fee bookings: a rerun over the same report finds them booked, the same ledger,
    # the same id, and is replayed.
    ledger_digest = frame_digest(ledger)
    if bank_ledger is not None:  # the ledger's ACH postings are an input of the run too
        ledger_digest = digest(f"{ledger_digest}|{frame_digest(bank_ledger)}".encode())
    run_id = run_identity(partner, as_of, inputs, ledger_digest, params, manual)

    recorded = store.get("ReconRun", run_id)
    if recorded is not None and recorded.get("status") == "done":
        log.info("reconciliation replayed: same inputs as a recorded run", extra={"run_id": run_id})
        return RunOutcome(
            run_id,
            partner,
            as_of,
            "replayed",
            json.loads(recorded["summary"]),
            recorded["breaks_opened"],
            recorded["breaks_open"],
            recorded["breaks_closed"],
            json.loads(recorded["drift"]),
            recorded["report"],
        )

    result = replace(result, run_id=run_id)
    result.summary["fees_booked"] = len(booked)
    previous = [break_from_record(r) for r in store.query("ReconBreak", "partner_status", f"{partner}:open").values()]
    cycle = carry_forward(previous, breaks_from_frame(result.breaks), run_id, run_date=as_of, window=(start, as_of))
    drift = balance_drift(_net_by_currency(ledger), _net_by_currency(partner_frame))
    reported = partner_balance_after(store, partner, as_of, partner_frame)
    balance_at = datetime.now(tz=UTC)  # after the fee bookings: what verify counts as posted since
    day_end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC) - timedelta(microseconds=1)
    clearing = {
        c: b.posted for c, b in balance_as_of(store, f"partner:{partner}:clearing", day_end, clock="effective").items()
    }
    report_md = render_markdown(
        run_id=run_id,
        partner=partner,
        as_of=as_of,
        summary=result.summary,
        breaks=result.breaks,
        drift=drift,
        inputs=inputs | {"ledger": ledger_digest},
    )
    written = [*cycle.opened, *cycle.still_open, *cycle.closed]
    for b in written:
        store.record("ReconBreak", b.break_id, break_record(b, partner, run_id, now))
    if on_breaks is not None:  # before the run is marked done: a crash re-runs it, and on_run is idempotent
        on_breaks(
            [break_record(b, partner, run_id, now) for b in (*cycle.opened, *cycle.still_open)],
            [break_record(b, partner, run_id, now) for b in cycle.closed],
            run_id,
        )
    for b in cycle.opened:
        log.warning(
            "reconciliation break",
            extra={
                "partner": partner,
                "break_id": b.break_id,
                "reason_code": b.reason,
                "severity_level": b.severity,
                "amount": b.amount,
                "currency": b.currency,
            },
        )
    run_record = {
        "run_id": run_id,
        "partner": partner,
        "as_of": as_of.isoformat(),
        "window_start": start.isoformat(),
        "window_end": as_of.isoformat(),
        "inputs": json.dumps(inputs, sort_keys=True),
        "summary": json.dumps(result.summary, sort_keys=True),
        "drift": json.dumps(drift, sort_keys=True),
        "breaks_opened": len(cycle.opened),
        "breaks_open": len(cycle.opened) + len(cycle.still_open),
        "breaks_closed": len(cycle.closed),
        "fees_booked": json.dumps(booked, sort_keys=True),
        "report": report_md[:MAX_STORED_REPORT],  # the whole report is also written to a file / GCS
        "status": "done",  # written last: a crash before this line re-runs the whole (idempotent) run
        "recorded_at": now,
    }
    if stream is not None:  # before the run is marked done: a failed stream re-runs it (insertIds dedupe)
        stream_run(stream, run_record, written, partner_frame.height, ledger.height, now)
    # The partner's balance as this run leaves it, and the ledger's clearing account for the same period
    # (effective up to as_of, as recorded by balance_at): `verify` checks that these agree, every later or
    # later-recorded clearing entry being "posted since". A record of its own, small, so the next run's
    # chain and verify read balances without the runs' reports. Before the run record (the commit
    # marker): a rerun after a crash writes the same balance again.
    store.record(
        "ReconBalance",
        run_id,
        {
            "run_id": run_id,
            "partner": partner,
            "as_of": as_of.isoformat(),
            "partner_balance": json.dumps(reported, sort_keys=True),
            "clearing_balance": json.dumps(clearing, sort_keys=True),
            "balance_at": balance_at,
        },
    )
    store.record("ReconRun", run_id, run_record)
    log.info(
        "reconciliation run",
        extra={
            "run_id": run_id,
            "partner": partner,
            "breaks_open": run_record["breaks_open"],
            "drift_ok": all(d["ok"] for d in drift),
        },
    )
    return RunOutcome(
        run_id,
        partner,
        as_of,
        "done",
        result.summary,
        len(cycle.opened),
        len(cycle.opened) + len(cycle.still_open),
        len(cycle.closed),
        drift,
        report_md,
    )


def partner_balance_after(store, partner: str, as_of: date, partner_frame: pl.DataFrame) -> dict[str, int]:
    """The partner's balance per currency after this report, chained like a bank statement: the latest
    earlier run's balance plus the net of this report's rows dated after that run's day (reports that
    look back do not count a row twice). The first run opens at the ledger's own clearing balance
    before the report's first day (the books at go-live), since no report states an opening balance."""
    earlier = [r for r in store.query("ReconBalance", "partner", partner).values() if r["as_of"] < as_of.isoformat()]
    previous = max(earlier, key=lambda r: (r["as_of"], aware(r["balance_at"])), default=None)
    if previous is not None:
        since = date.fromisoformat(previous["as_of"])
        return partner_balance(partner_frame.filter(pl.col("date") > since), json.loads(previous["partner_balance"]))
    first = partner_frame["date"].min() if partner_frame.height else as_of
    before = datetime.combine(first, time(), tzinfo=UTC) - timedelta(microseconds=1)
    books = balance_as_of(store, f"partner:{partner}:clearing", before, clock="effective")
    return partner_balance(partner_frame, {c: b.posted for c, b in books.items() if b.posted})


def _net_by_currency(frame: pl.DataFrame) -> dict[str, int]:
    """Window drift: the net movement the partner reports vs the net movement the ledger booked."""
    return {c: int(n) for c, n in frame.group_by("currency").agg(pl.col("net").sum()).iter_rows()}


def break_record(b: Break, partner: str, run_id: str, now: datetime) -> dict:
    record = b.record()
    return {
        **record,
        "partner": partner,
        "reason_code": b.reason,
        "partner_status": f"{partner}:{b.status}",
        "run_id": run_id,
        "recorded_at": now,
    }


def break_from_record(record: dict) -> Break:
    fields = {k: v for k, v in record.items() if k in Break.__dataclass_fields__}
    for name in _BREAK_DATES:
        if isinstance(fields.get(name), str):
            fields[name] = date.fromisoformat(fields[name])
    return Break(**fields)


def stream_run(stream, run_record: dict, breaks: Iterable[Break], report_rows: int, ledger_rows: int, now) -> None:
    """Run summary + breaks to BigQuery (recon_runs / recon_breaks, partitioned by run date)."""
    run_date = run_record["as_of"]
    stream(
        "recon_runs",
        [
            {
                "run_id": run_record["run_id"],
                "partner": run_record["partner"],
                "run_date": run_date,
                "window_start": f"{run_record['window_start']}T00:00:00+00:00",
                "window_end": f"{run_record['window_end']}T23:59:59+00:00",
                "status": "breaks" if run_record["breaks_open"] else "matched",
                "report_uri": None,
                "report_lines": report_rows,
                "ledger_entries": ledger_rows,
                "matched": sum(json.loads(run_record["summary"]).get("matches", {}).values()),
                "breaks_opened": run_record["breaks_opened"],
                "breaks_open": run_record["breaks_open"],
                "breaks_closed": run_record["breaks_closed"],
                "started_at": now.isoformat(),
                "finished_at": datetime.now(tz=UTC).isoformat(),
            }
        ],
        [run_record["run_id"]],
    )
    rows = [
        {
            "break_id": b.break_id,
            "run_id": run_record["run_id"],
            "partner": run_record["partner"],
            "run_date": run_date,
            "reason_code": b.reason,
            "severity": b.severity,
            "status": b.status,
            "amount": b.amount,
            "currency": b.currency,
            "partner_reference": b.reference if b.side != "ledger" else None,
            "ledger_reference": b.row_ref if b.side == "ledger" else b.counter_row_ref,
            "opened_run": b.opened_run or run_record["run_id"],
            "closed_run": b.closed_run,
            "recorded_at": now.isoformat(),
        }
        for b in breaks
    ]
    if rows:
        stream("recon_breaks", rows, [f"{r['break_id']}:{r['run_id']}" for r in rows])
