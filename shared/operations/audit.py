"""The operator audit log over the store: entries appended inside the transaction of the change they
record (so a change without its entry, or an entry without its change, cannot exist), chained by
hash (shared.domain.operations.audit_log), streamed to BigQuery (`operator_audit`, insertId = seq)
after the commit, and checked by `verify`.

Records: `AuditEntry` (name: the zero-padded seq; never rewritten) and one `AuditHead` (the newest
seq and hash: every append reads and writes it, so appends are serialised — operator actions come
at a person's pace — and a removed newest entry is found). `AuditStream` holds the seq up to which
every entry reached BigQuery: the sweep (`restream`, and each append's own stream) moves it forward.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from shared.domain.operations import audit_log
from shared.domain.operations.audit_log import Entry

log = logging.getLogger("ledgerline.operations")

ENTRY, HEAD, STREAM = "AuditEntry", "AuditHead", "AuditStream"
HEAD_NAME = "operator"
TABLE = "operator_audit"
UNINDEXED = ("before", "after", "reason", "prev_hash", "hash")
STREAM_GRACE = timedelta(minutes=2)

Stream = Callable[[str, list[dict], list[str]], None]


def name(seq: int) -> str:
    return f"{seq:012d}"


def append(
    tx,
    now: datetime,
    *,
    actor: str,
    action: str,
    reason: str,
    target: str,
    request_id: str | None = None,
    approved_by: str | None = None,
    before: dict | None = None,
    after: dict | None = None,
    transactions: Iterable[str] = (),
) -> Entry:
    """Append one entry in the caller's transaction `tx` and move the head."""
    head = tx.get(HEAD, HEAD_NAME)
    last = (head["seq"], head["hash"]) if head else None
    # the log's time never goes back along its seq (a writer's clock behind the head's is lifted to it), so
    # a time range of the log is a range of seqs (page: since / until)
    at = now.astimezone(UTC)
    if head and head.get("at"):
        h = head["at"].astimezone(UTC)  # a plain datetime (the store may hand back a subclass)
        at = max(at, datetime(h.year, h.month, h.day, h.hour, h.minute, h.second, h.microsecond, tzinfo=UTC))
    entry = audit_log.append(
        last,
        Entry(
            0,
            at,
            actor,
            action,
            reason,
            target,
            request_id=request_id,
            approved_by=approved_by,
            before=before,
            after=after,
            transactions=tuple(transactions),
        ),
    )
    tx.put(ENTRY, name(entry.seq), to_record(entry), unindexed=UNINDEXED)
    tx.put(HEAD, HEAD_NAME, {"seq": entry.seq, "hash": entry.hash, "at": at})
    return entry


def record_change(store, now: datetime, **fields) -> Entry:
    """An audit entry of its own transaction, for a change the caller already committed (an API key or
    a tenant made by the CLI): appended right after it."""
    return store.transact(lambda tx: append(tx, now, **fields))


def to_record(e: Entry) -> dict:
    return {**row(e), "recorded_at": e.at}  # "at": the hashed ISO form, exactly; recorded_at: for people


def from_record(r: dict) -> Entry:
    return Entry(
        r["seq"],
        datetime.fromisoformat(r["at"]),
        r["actor"],
        r["action"],
        r["reason"],
        r["target"],
        request_id=r.get("request_id"),
        approved_by=r.get("approved_by"),
        before=json.loads(r["before"]) if r.get("before") else None,
        after=json.loads(r["after"]) if r.get("after") else None,
        transactions=tuple(r.get("transactions") or ()),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


def row(e: Entry) -> dict:
    """The BigQuery row (topology/bigquery/operator_audit.json)."""
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "reason": e.reason,
        "target": e.target,
        "request_id": e.request_id,
        "approved_by": e.approved_by,
        "before": json.dumps(e.before, sort_keys=True, default=str) if e.before is not None else None,
        "after": json.dumps(e.after, sort_keys=True, default=str) if e.after is not None else None,
        "transactions": list(e.transactions),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


class AuditLog:
    """Reads, streaming and the chain check of the operator audit log."""

    def __init__(self, store, stream: Stream | None = None, request_sweep: Callable[[], None] | None = None):
        self.store, self.stream = store, stream
        # asks the retries function for an operations-sweep (which streams), so a request never waits on
        # BigQuery; without it (tests, the CLI without a queue) the entries are streamed inline
        self.request_sweep = request_sweep

    def head(self) -> tuple[int, str]:
        head = self.store.get(HEAD, HEAD_NAME)
        return (head["seq"], head["hash"]) if head else (0, audit_log.GENESIS)

    def entries(self, first: int = 1, last: int | None = None) -> list[Entry]:
        """Entries first..last (default: to the head), in seq order."""
        top = self.head()[0] if last is None else last
        names = [name(seq) for seq in range(first, top + 1)]
        found: dict[str, dict] = {}
        for i in range(0, len(names), 500):
            found |= self.store.get_multi(ENTRY, names[i : i + 500])
        return [from_record(found[n]) for n in names if n in found]

    def page(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before_seq: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> tuple[list[Entry], bool]:
        """Newest first, filtered; `before_seq`: the cursor (the last seq seen); `since` / `until`: at or
        after / at or before (inclusive). Time rises with seq (append), so `until` is a seq bound found by
        a binary search (about log2(n) reads) and a walk down stops at `since`."""
        if until is not None:
            bound = self._first_after(until)
            before_seq = bound if before_seq is None else min(before_seq, bound)
        if actor or action or target:
            prop, value = ("actor", actor) if actor else ("action", action) if action else ("target", target)
            rows = [from_record(r) for r in self.store.query(ENTRY, prop, value).values()]
        else:
            top = self.head()[0] if before_seq is None else before_seq - 1
            rows = self.entries(max(1, top - 4 * limit), top)
        rows = [
            e
            for e in rows
            if (actor is None or e.actor == actor)
            and (action is None or e.action == action)
            and (target is None or e.target == target)
            and (before_seq is None or e.seq < before_seq)
            and (since is None or e.at >= since)
            and (until is None or e.at <= until)
        ]
        rows.sort(key=lambda e: e.seq, reverse=True)
        return rows[:limit], len(rows) > limit

    def _first_after(self, moment: datetime) -> int:
        """The lowest seq whose entry is later than `moment` (head + 1 when none is): a binary search over
        the seqs, as time rises with them. A missing entry (which verify reports) is stepped over."""
        low, high = 1, self.head()[0] + 1  # the answer is in [low, high]
        while low < high:
            mid = (low + high) // 2
            probe = next(iter(self.entries(mid, min(mid + 8, high - 1))), None)
            if probe is None or probe.at > moment:
                high = mid
            else:
                low = probe.seq + 1
        return low

    def problems(self) -> list[str]:
        """The chain's problems (verify): every entry from 1 to the head, linked, unedited."""
        seq, head_hash = self.head()
        entries = self.entries(1, seq)
        problems = audit_log.verify_chain(entries, head=head_hash)
        if len(entries) != seq:
            problems.append(f"{seq - len(entries)} audit entries below the head are missing")
        return problems

    def streamed_through(self) -> int:
        record = self.store.get(STREAM, HEAD_NAME)
        return record["seq"] if record else 0

    def stream_pending(self, limit: int = 500) -> int:
        """Stream the entries not yet in BigQuery (insertId = seq: a repeat is deduplicated) and move
        the stream mark; returns how many were sent."""
        if self.stream is None:
            return 0
        done, top = self.streamed_through(), self.head()[0]
        if done >= top:
            return 0
        chosen = self.entries(done + 1, min(top, done + limit))
        if not chosen:
            return 0
        self.stream(TABLE, [row(e) for e in chosen], [str(e.seq) for e in chosen])
        through = chosen[-1].seq

        def advance(tx):
            record = tx.get(STREAM, HEAD_NAME)
            if record is None or record["seq"] < through:
                tx.put(STREAM, HEAD_NAME, {"seq": through, "at": datetime.now(tz=UTC)})

        self.store.transact(advance)
        return len(chosen)

    def after_commit(self) -> None:
        """Have what the commit appended streamed: an operations-sweep task asked for (one a second),
        else inline; a failure is logged and left to the sweeps (every 5 minutes, `restream`)."""
        if self.request_sweep is not None:
            try:
                self.request_sweep()
                return
            except Exception as exc:
                log.warning("operations sweep not enqueued; streaming audit entries inline", extra={"error": f"{exc}"})
        try:
            self.stream_pending()
        except Exception:  # the entries are durable in Datastore; the sweep streams them later
            log.exception("operator audit entries not streamed yet (the sweep retries)")
