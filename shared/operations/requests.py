"""Maker-checker over the store: every manual money movement is an `OperatorRequest`, made by one
operator and — when shared.domain.operations.approvals says so (always for a write-off; else from
the currency's threshold) — approved by a different one, then executed once:

- a ledger movement (write-off, adjusting entry, reverse) executes in ONE Datastore transaction with
  its bookkeeping: the posting, the request marked executed, the break's work, the audit entry. A
  ledger rejection marks the request failed (nothing moved); a break that changed since the request
  (another amount, no longer acknowledged) fails it too;
- a side effect (a dead-letter replay) is claimed first (request executed + audit entry, one
  transaction), then done; the replay path is idempotent, so a crash between the two loses nothing
  a second request cannot redo.

A request that needs no approval executes at once (one audit entry, the maker's). One that does is
stored pending (audit entry `request:<kind>`) until approved (executes), rejected, or expired (past
its expiry it can no longer be approved; `expire_due` records it). What each kind does is a `Plan`
from the planner its service registers (shared.bootstrap.operations)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.ledger.engine import Result
from shared.domain.ledger.model import Operation
from shared.domain.operations import approvals
from shared.domain.operations.approvals import ApprovalError, Request
from shared.domain.operations.workflow import SYSTEM, WorkflowError
from shared.ledger import transactions
from shared.ledger.store import LedgerConflict
from shared.operations import audit
from shared.operations.records import REQUEST, REQUEST_UNINDEXED, request_from_record, request_record

log = logging.getLogger("ledgerline.operations")

# From this many minor units (per currency) a manual movement needs a second operator; a currency not
# named always does. LEDGERLINE_APPROVAL_THRESHOLDS replaces the whole table.
DEFAULT_THRESHOLDS = {"USD": 100_000, "EUR": 100_000, "GBP": 100_000}


def parse_thresholds(text: str | None) -> dict[str, int]:
    """LEDGERLINE_APPROVAL_THRESHOLDS: a JSON object currency -> non-negative int minor units."""
    from shared.domain.money import normalise_currency

    if not text:
        return dict(DEFAULT_THRESHOLDS)
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("LEDGERLINE_APPROVAL_THRESHOLDS is a JSON object: currency -> minor units")
    out = {}
    for currency, amount in data.items():
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"LEDGERLINE_APPROVAL_THRESHOLDS[{currency}] is a non-negative int of minor units")
        out[normalise_currency(currency)] = amount
    return out


@dataclass(frozen=True)
class Plan:
    """What executing a request does: a ledger `operation` (with `within(tx, result, now)`, more writes
    in its transaction, returning the `after` the audit entry records), or an `effect()` done once the
    request is claimed (returning its outcome)."""

    operation: Operation | None = None
    within: Callable[[object, Result, datetime], dict | None] | None = None
    effect: Callable[[], dict] | None = None
    before: dict | None = None


@dataclass(frozen=True)
class Submission:
    kind: str
    target: str  # what it acts on: a break, a transaction, a dead letter
    payload: dict  # the planner's input, stored with the request
    amounts: Mapping[str, int] | None = None
    always: bool = False  # a second operator approves whatever the amount (e.g. an amount we cannot read)


Planner = Callable[[Request, dict], Plan]


@dataclass
class Requests:
    store: object
    thresholds: Mapping[str, int]
    clock: Callable[[], datetime]
    after_commit: Callable[[str], None] = lambda transaction_id: None  # stream the posting to BigQuery
    audit_log: audit.AuditLog | None = None
    ttl: timedelta = approvals.DEFAULT_TTL
    planners: dict[str, Planner] = field(default_factory=dict)

    # ------------------------------------------------------------------ reads

    def get(self, request_id: str) -> tuple[Request, dict] | None:
        record = self.store.get(REQUEST, request_id)
        if record is None:
            return None
        return approvals.expire(request_from_record(request_id, record), self.clock()), record

    def list(
        self, status: str | None = None, limit: int = 50, starting_after: str | None = None
    ) -> list[tuple[Request, dict]]:
        """Newest first ((created_at, id) descending), in `status` if given, after the request
        `starting_after` (a cursor: KeyError if there is no such request)."""
        now = self.clock()
        anchor = None
        if starting_after is not None:
            found = self.get(starting_after)
            if found is None:
                raise KeyError(starting_after)
            anchor = (found[0].created_at, found[0].request_id)
        if status in ("pending", "expired"):  # an expired request may still be stored as pending
            rows = self.store.query(REQUEST, "status", "pending")
            if status == "expired":
                rows |= self.store.query(REQUEST, "status", "expired")
        elif status:
            rows = self.store.query(REQUEST, "status", status)
        else:
            rows = self.store.snapshot((REQUEST,))[REQUEST]
        out = [(approvals.expire(request_from_record(n, r), now), r) for n, r in rows.items()]
        out = [(q, r) for q, r in out if status is None or q.status == status]
        out.sort(key=lambda item: (item[0].created_at, item[0].request_id), reverse=True)
        if anchor is not None:
            out = [(q, r) for q, r in out if (q.created_at, q.request_id) < anchor]
        return out[:limit]

    # ------------------------------------------------------------------ writes

    def submit(self, sub: Submission, maker: str, reason: str) -> tuple[Request, dict]:
        """Make a request; executed at once when it needs no approval."""
        if sub.kind not in self.planners:
            raise ApprovalError("unknown_kind", f"nothing executes {sub.kind!r} requests")
        now = self.clock()
        req = approvals.request("req_" + secrets.token_hex(10), sub.kind, maker, reason, now, sub.amounts, self.ttl)
        if not (sub.always or approvals.needs_approval(sub.kind, sub.amounts, self.thresholds)):
            # at once, even beside a pending request for the same target (an emergency cut of limits
            # while a raise waits): whoever decides the pending one sees the change
            return self._execute(req, sub, checker=None)
        for other, record in self.list("pending", limit=1000):
            if other.kind == sub.kind and record.get("target") == sub.target:
                raise ApprovalError("request_pending", f"{other.request_id} already asks this; approve or reject it")

        def store_pending(tx):
            tx.put(REQUEST, req.request_id, request_record(req, sub.payload, sub.target), unindexed=REQUEST_UNINDEXED)
            audit.append(
                tx,
                now,
                actor=maker,
                action=f"request:{sub.kind}",
                reason=req.reason,
                target=sub.target,
                request_id=req.request_id,
                after={"amounts": dict(sub.amounts or {}), "expires_at": req.expires_at.isoformat()},
            )

        self.store.transact(store_pending)
        self._streamed()
        return self.get(req.request_id)

    def approve(self, request_id: str, checker: str, reason: str | None = None) -> tuple[Request, dict]:
        req, record = self._pending(request_id)
        approvals.approve(req, checker, self.clock(), reason)  # refuses self-approval before anything runs
        sub = Submission(req.kind, record["target"], _json(record["payload"]), req.amounts)
        return self._execute(req, sub, checker=checker, decision_reason=reason)

    def reject(self, request_id: str, checker: str, reason: str) -> tuple[Request, dict]:
        req, _ = self._pending(request_id)
        now = self.clock()
        rejected = approvals.reject(req, checker, now, reason)
        self._decide(rejected, checker, f"reject:{req.kind}", rejected.decision_reason)
        return self.get(request_id)

    def expire_due(self) -> list[str]:
        """Record the expiry of every pending request past its time (audited, as the system's)."""
        done = []
        for req, record in self.list("expired", limit=1000):
            if record["status"] == "pending":
                self._decide(req, SYSTEM, f"expire:{req.kind}", "not approved in time: nothing moved")
                done.append(req.request_id)
        return done

    # ------------------------------------------------------------------ internals

    def _pending(self, request_id: str) -> tuple[Request, dict]:
        found = self.get(request_id)
        if found is None:
            raise LookupError(request_id)
        req, record = found
        if req.status == "expired" and record["status"] == "pending":
            self._decide(req, SYSTEM, f"expire:{req.kind}", "not approved in time: nothing moved")
        if req.status != "pending":
            code = "request_expired" if req.status == "expired" else "request_decided"
            raise ApprovalError(code, f"{request_id} is {req.status}")
        return req, record

    def _decide(self, req: Request, actor: str, action: str, why: str | None) -> None:
        now = self.clock()

        def work(tx):
            fresh = tx.get(REQUEST, req.request_id)
            if fresh is None or fresh["status"] != "pending":
                raise ApprovalError("request_decided", f"{req.request_id} is {fresh and fresh['status']}")
            payload = _json(fresh["payload"])
            tx.put(REQUEST, req.request_id, request_record(req, payload, fresh["target"]), unindexed=REQUEST_UNINDEXED)
            audit.append(
                tx, now, actor=actor, action=action, reason=why or req.reason, target=fresh["target"],
                request_id=req.request_id,
            )  # fmt: skip

        self.store.transact(work)
        self._streamed()

    def _execute(
        self, req: Request, sub: Submission, *, checker: str | None, decision_reason: str | None = None
    ) -> tuple[Request, dict]:
        plan = self.planners[sub.kind](req, sub.payload)
        required = checker is not None
        outcome: dict = {}

        def claim(tx, now: datetime) -> Request:
            stored = tx.get(REQUEST, req.request_id)
            current = request_from_record(req.request_id, stored) if stored else req
            if checker is not None:
                current = approvals.approve(current, checker, now, decision_reason)
            return approvals.executable(current, now, required)

        def bookkeeping(tx, now: datetime, done: Request, transactions_: list[str], after: dict | None) -> None:
            outcome.update({"transactions": transactions_, "after": after})
            tx.put(
                REQUEST,
                req.request_id,
                request_record(done, sub.payload, sub.target, outcome),
                unindexed=REQUEST_UNINDEXED,
            )
            audit.append(
                tx, now, actor=req.maker, action=sub.kind, reason=req.reason, target=sub.target,
                request_id=req.request_id, approved_by=checker, before=plan.before, after=after,
                transactions=transactions_,
            )  # fmt: skip

        try:
            if plan.operation is not None:

                def within(tx, result: Result, now: datetime) -> None:
                    if result.status != "posted":  # posted before, by another request: not a second time
                        raise WorkflowError(
                            "already_posted", f"{result.transaction_id} was posted already: nothing moves twice"
                        )
                    done = claim(tx, now)
                    after = plan.within(tx, result, now) if plan.within else None
                    bookkeeping(tx, now, done, [result.transaction_id], after)

                try:
                    result = transactions.execute(self.store, plan.operation, clock=self.clock, within=within)
                except LedgerConflict as exc:  # the same transaction id with another body: nothing moved
                    raise WorkflowError("ledger_conflict", f"the ledger refused {sub.kind}: {exc}") from None
                if result.status == "rejected":
                    self._fail(req, sub, checker, f"the ledger refused it: {result.reason}")
                    raise WorkflowError("ledger_rejected", f"the ledger refused {sub.kind}: {result.reason}")
                self.after_commit(result.transaction_id)
            else:
                self.store.transact(lambda tx: bookkeeping(tx, self.clock(), claim(tx, self.clock()), [], None))
                try:
                    effect = plan.effect() if plan.effect else {}
                except WorkflowError as exc:
                    self._fail(req, sub, checker, f"{exc.code}: {exc}", after_claim=True)
                    exc.recorded = True
                    raise
                except Exception as exc:  # the claim is recorded: say it did not happen, then fail loudly
                    self._fail(req, sub, checker, f"{type(exc).__name__}: {exc}", after_claim=True)
                    raise
                outcome["effect"] = effect
                self.store.record(
                    REQUEST,
                    req.request_id,
                    {**self.store.get(REQUEST, req.request_id), "outcome": _dumps(outcome)},
                    unindexed=REQUEST_UNINDEXED,
                )
        except WorkflowError as exc:
            if exc.code != "ledger_rejected" and not getattr(exc, "recorded", False):
                self._fail(req, sub, checker, f"{exc.code}: {exc}")
            raise
        finally:
            self._streamed()
        log.info(
            "operator request executed",
            extra={"request_id": req.request_id, "kind": sub.kind, "maker": req.maker, "checker": checker},
        )
        return self.get(req.request_id)

    def _fail(self, req: Request, sub: Submission, checker: str | None, why: str, after_claim: bool = False) -> None:
        """The request failed: nothing moved (`after_claim`: its side effect failed after the request was
        recorded as executing — the audit log then says so too, in a `fail:` entry)."""
        now = self.clock()

        def work(tx):
            stored = tx.get(REQUEST, req.request_id)
            current = request_from_record(req.request_id, stored) if stored else req
            if current.status in approvals.DECIDED and not (after_claim and current.status == "executed"):
                return
            failed = approvals.failed(current, now, why)
            tx.put(
                REQUEST, req.request_id, request_record(failed, sub.payload, sub.target), unindexed=REQUEST_UNINDEXED
            )
            audit.append(
                tx, now, actor=checker or req.maker, action=f"fail:{sub.kind}", reason=why, target=sub.target,
                request_id=req.request_id,
            )  # fmt: skip

        self.store.transact(work)
        log.warning("operator request failed", extra={"request_id": req.request_id, "kind": sub.kind})

    def _streamed(self) -> None:
        if self.audit_log is not None:
            self.audit_log.after_commit()


def _json(text: str | None) -> dict:
    return json.loads(text) if text else {}


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)
