"""The break desk: what operators do with reconciliation breaks (the pure workflow is
shared.domain.operations.workflow) and what a run does to their work.

Each break's work is a `BreakWork` record beside its `ReconBreak` (same id; the run rewrites the
ReconBreak, never the work). Steps that move no money — acknowledge, note, accept, manual match and
its undo — are one transaction each: the work and its audit entry. A write-off or an adjusting entry
is a request (shared.operations.requests): approved where it must be, then posted through the ledger
with the work's step and the audit entry in the posting's own transaction; its transaction id derives
from (break, action, round), so it posts once.

A manual match (`ManualMatch`) pairs the break's row with the counterpart the operator names; every
later run of the partner applies the active ones first (matching stage m) and counts them in its
run id; undone, it stays as history (status `undone`) and the break it resolved is open again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from shared.domain.ledger.model import Leg
from shared.domain.ledger.operations import ADJUSTMENT_RULE, WRITE_OFF_RULE, adjustment
from shared.domain.operations import adjustments, workflow
from shared.domain.operations.approvals import Request
from shared.domain.operations.matches import LEG_SIDES, ManualPair
from shared.domain.operations.workflow import Finding, Work, WorkflowError
from shared.operations import audit
from shared.operations.records import (
    CORRECTION,
    MATCH,
    WORK,
    WORK_UNINDEXED,
    work_from_record,
    work_json,
    work_record,
)
from shared.operations.requests import Plan, Requests, Submission

BREAK = "ReconBreak"


class InvalidCursor(ValueError):
    """starting_after names no break."""


BULK_ACTIONS = ("acknowledge", "note", "accept", "write_off")
MAX_BULK = 100


def finding_of(brk: dict) -> Finding:
    """What a run says about a break: its reason and, for a paired one, the difference (the partner's
    amount can stay while the difference changes), else the row's amount."""
    difference = brk.get("difference")
    return Finding(
        brk.get("reason_code") or brk.get("reason"), difference if difference is not None else brk.get("amount")
    )


def _key(brk: dict) -> str:
    return brk.get("reference") if brk.get("reference") is not None else brk.get("row_ref")


@dataclass
class BreakDesk:
    store: object
    requests: Requests
    clock: Callable[[], datetime]

    # ------------------------------------------------------------------ reads

    def get(self, break_id: str) -> tuple[dict, Work]:
        brk = self.store.get(BREAK, break_id)
        if brk is None:
            raise LookupError(break_id)
        record = self.store.get(WORK, break_id)
        return brk, work_from_record(record) if record else self._first(break_id, brk)

    def _first(self, break_id: str, brk: dict) -> Work:
        """The work of a break no operator or run has touched since work records exist."""
        opened_on = brk.get("opened_on")
        at = datetime.fromisoformat(f"{opened_on}T00:00:00+00:00") if opened_on else self.clock()
        work = workflow.opened(break_id, finding_of(brk), at)
        return work if brk.get("status") == "open" else workflow.on_run(work, None, at, brk.get("closed_run") or "")

    def list(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        partner: str | None = None,
        currency: str | None = None,
        assignee: str | None = None,
        reason_code: str | None = None,
        min_age_days: int | None = None,
        limit: int = 50,
        starting_after: str | None = None,
    ) -> tuple[list[tuple[dict, Work]], bool]:
        """Breaks with their work, oldest first (the day's queue), filtered. The most selective filter
        is a Datastore query (partner, else severity); the rest are applied to what it returns, with each
        break's work read by key (a break no one touched yet is `open`)."""
        if partner:
            breaks = self.store.query(BREAK, "partner", partner)
        elif severity:
            breaks = self.store.query(BREAK, "severity", severity)
        else:
            breaks = self.store.snapshot((BREAK,))[BREAK]
        stored = self._works(sorted(breaks))
        today = self.clock().date()
        rows = []
        for name, brk in breaks.items():
            work = stored.get(name) or self._first(name, brk)
            age = (today - date.fromisoformat(brk["opened_on"])).days if brk.get("opened_on") else 0
            if (
                (state is None or work.state == state)
                and (severity is None or brk.get("severity") == severity)
                and (partner is None or brk.get("partner") == partner)
                and (currency is None or (brk.get("currency") or "").upper() == currency.upper())
                and (assignee is None or work.assignee == assignee)
                and (reason_code is None or brk.get("reason_code") == reason_code)
                and (min_age_days is None or age >= min_age_days)
            ):
                rows.append((brk.get("opened_on") or "", name, brk, work))
        rows.sort(key=lambda r: (r[0], r[1]))
        if starting_after:  # the last break id seen: the rows after it in (opened_on, id) order
            seen = self.store.get(BREAK, starting_after)
            if seen is None:
                raise InvalidCursor(f"starting_after {starting_after!r} is not a break")
            cursor = (seen.get("opened_on") or "", starting_after)
            rows = [r for r in rows if (r[0], r[1]) > cursor]
        page = rows[:limit]
        return [({**brk, "break_id": name}, work) for _, name, brk, work in page], len(rows) > limit

    def _works(self, names: list[str]) -> dict[str, Work]:
        found: dict[str, Work] = {}
        for i in range(0, len(names), 500):
            for name, record in self.store.get_multi(WORK, names[i : i + 500]).items():
                found[name] = work_from_record(record)
        return found

    # ------------------------------------------------------------------ steps that move no money

    def _step(
        self, break_id: str, operator: str, action: str, reason: str, change: Callable[[Work, datetime], Work]
    ) -> Work:
        brk = self.store.get(BREAK, break_id)
        if brk is None:
            raise LookupError(break_id)
        now = self.clock()

        def work(tx):
            record = tx.get(WORK, break_id)
            before = work_from_record(record) if record else self._first(break_id, brk)
            after = change(before, now)
            tx.put(WORK, break_id, work_record(after, brk), unindexed=WORK_UNINDEXED)
            audit.append(
                tx, now, actor=operator, action=action, reason=reason, target=break_id,
                before=_summary(before), after=_summary(after),
            )  # fmt: skip
            return after

        done = self.store.transact(work)
        self.requests._streamed()
        return done

    def acknowledge(self, break_id: str, operator: str, reason: str | None = None) -> Work:
        return self._step(
            break_id, operator, "acknowledge", reason or "taken", lambda w, at: workflow.acknowledge(w, operator, at)
        )

    def note(self, break_id: str, operator: str, text: str, reference: str | None = None) -> Work:
        return self._step(
            break_id, operator, "note", text, lambda w, at: workflow.note(w, operator, text, at, reference)
        )

    def accept(self, break_id: str, operator: str, reason: str, until: datetime) -> Work:
        return self._step(
            break_id, operator, "accept", reason, lambda w, at: workflow.accept(w, operator, reason, until, at)
        )

    # ------------------------------------------------------------------ manual matches

    def manual_match(self, break_id: str, operator: str, counterpart: str, reason: str) -> dict:
        """Pair the break's row with `counterpart` (a ledger transaction id for a partner's or bank's
        row; the partner's / bank's reference for a ledger row) and resolve the break by it."""
        brk, _ = self.get(break_id)
        side, leg = brk.get("side"), brk.get("leg")
        if brk.get("reason_code") not in ("missing_in_ledger", "missing_at_partner", "missing_at_bank", "ambiguous"):
            raise WorkflowError(
                "not_matchable", f"a {brk.get('reason_code')} break is already paired; correct it with an entry"
            )
        left_side, right_side = _sides(leg)
        own = brk.get("row_ref") if side == "ledger" else _key(brk)
        left, right = (own, counterpart) if side == left_side else (counterpart, own)
        if not counterpart or left is None or right is None:
            raise WorkflowError("invalid_counterpart", "name the row to pair the break's row with")
        match_id = "mm_" + hashlib.sha256(f"{leg}|{left}|{right}".encode()).hexdigest()[:20]
        now = self.clock()

        def work(tx):
            existing = tx.get(MATCH, match_id)
            if existing is not None and existing["status"] == "active":
                raise WorkflowError("match_exists", f"{match_id} already pairs these rows")
            record = tx.get(WORK, break_id)
            before = work_from_record(record) if record else self._first(break_id, brk)
            taken = before if before.state == "acknowledged" else workflow.acknowledge(before, operator, now)
            after = workflow.resolve(taken, operator, "manual_match", reason, now, match_id)
            history = [*(existing or {}).get("history", []), {"at": now.isoformat(), "by": operator, "did": "matched"}]
            match = {
                "partner": brk.get("partner"),
                "leg": leg,
                "left": left,
                "right": right,
                "left_side": left_side,
                "right_side": right_side,
                "break_id": break_id,
                "status": "active",
                "matched_by": operator,
                "matched_at": now,
                "reason": reason,
                "history": history,
            }
            tx.put(MATCH, match_id, match, unindexed=("history", "reason"))
            tx.put(WORK, break_id, work_record(after, brk), unindexed=WORK_UNINDEXED)
            audit.append(
                tx, now, actor=operator, action="manual_match", reason=reason, target=break_id,
                before=_summary(before), after={**_summary(after), "match": match_id, "left": left, "right": right},
            )  # fmt: skip
            return {"id": match_id, **match}

        done = self.store.transact(work)
        self.requests._streamed()
        return done

    def unmatch(self, match_id: str, operator: str, reason: str) -> dict:
        """Undo a manual match: kept as history; the break it resolved is open again, and the next run
        reconciles its rows by the cascade."""
        now = self.clock()

        def work(tx):
            match = tx.get(MATCH, match_id)
            if match is None:
                raise LookupError(match_id)
            if match["status"] != "active":
                raise WorkflowError("match_undone", f"{match_id} was undone already")
            break_id = match["break_id"]
            brk = tx.get(BREAK, break_id) or {}
            record = tx.get(WORK, break_id)
            before = work_from_record(record) if record else self._first(break_id, brk)
            after = (
                workflow.unmatch(before, operator, reason, now, match_id)
                if before.state == "resolved" and before.history and before.history[-1].reference == match_id
                else before
            )
            history = [*match.get("history", []), {"at": now.isoformat(), "by": operator, "did": "undone"}]
            undone = {**match, "status": "undone", "undone_by": operator, "undone_at": now, "history": history}
            tx.put(MATCH, match_id, undone, unindexed=("history", "reason"))
            tx.put(WORK, break_id, work_record(after, brk), unindexed=WORK_UNINDEXED)
            audit.append(
                tx, now, actor=operator, action="unmatch", reason=reason, target=break_id,
                before={**_summary(before), "match": match_id}, after=_summary(after),
            )  # fmt: skip
            return {"id": match_id, **undone}

        done = self.store.transact(work)
        self.requests._streamed()
        return done

    def corrections(self, partner: str) -> tuple[dict, ...]:
        """The partner's write-offs' corrections of the ledger side, for its runs (oldest first); a
        reversed write-off's no longer applies."""
        found = self.store.query(CORRECTION, "partner", partner)
        return tuple(found[n] for n in sorted(found) if not found[n].get("retired_by"))

    def on_reversal(self, tx, target: str, reversal: str, actor: str, reason: str, now: datetime) -> dict | None:
        """In a reversal's transaction: if `target` is an operator's entry for a break (a write-off, an
        adjusting entry), its correction of the ledger side is retired and the break it closed is open
        again. Returns what it changed (for the audit entry), or None."""
        posted = tx.get("JournalTransaction", target) or {}
        event = posted.get("event_id") or ""
        if posted.get("rule") not in (WRITE_OFF_RULE, ADJUSTMENT_RULE) or not event.startswith("ledgerline:adjust:"):
            return None
        break_id = event.removeprefix("ledgerline:adjust:").split(":")[0]
        correction = tx.get(CORRECTION, target)
        if correction is not None:
            tx.put(CORRECTION, target, {**correction, "retired_by": reversal, "retired_at": now})
        brk = tx.get(BREAK, break_id) or {}
        record = tx.get(WORK, break_id)
        work = work_from_record(record) if record else None
        last = work.history[-1] if work and work.history else None
        reopened = bool(last and last.reference == target and work.state in workflow.TERMINAL)
        if reopened:
            tx.put(
                WORK,
                break_id,
                work_record(workflow.undo(work, actor, reason, now, target), brk),
                unindexed=WORK_UNINDEXED,
            )
        return {"break": break_id, "correction_retired": correction is not None, "break_reopened": reopened}

    def manual_pairs(self, partner: str) -> tuple[ManualPair, ...]:
        """The partner's active manual matches, for its runs (matching stage m; part of the run id)."""
        found = self.store.query(MATCH, "partner", partner)
        return tuple(
            sorted(
                (ManualPair(n, m["leg"], m["left"], m["right"]) for n, m in found.items() if m["status"] == "active"),
                key=lambda p: p.match_id,
            )
        )

    # ------------------------------------------------------------------ money: requests

    def write_off(self, break_id: str, operator: str, reason: str) -> tuple[Request, dict]:
        """Ask to write the break's difference off (always approved by a second operator)."""
        brk, work = self.get(break_id)
        workflow.write_off(work, operator, reason, self.clock(), "check")  # refuses now what would fail later
        legs, correction = adjustments.write_off({**brk, "break_id": break_id})
        payload = {
            "break_id": break_id,
            "key": adjustments.key(break_id, "write_off", work),
            "finding": [work.finding.reason, work.finding.amount],
            "legs": [_leg(leg) for leg in legs],
            "rule": WRITE_OFF_RULE,
            "correction": correction,
        }
        sub = Submission("write_off", break_id, payload, adjustments.amounts_of(legs))
        return self.requests.submit(sub, operator, reason)

    def adjust(self, break_id: str, operator: str, reason: str, legs: list[dict], resolve: bool = True):
        """Ask for an adjusting entry with the operator's own legs (a missing fee, a move to suspense…);
        `resolve`: it resolves the break once posted."""
        _brk, work = self.get(break_id)
        checked, amounts = adjustments.check_legs(legs)
        if resolve:
            workflow.resolve(work, operator, "adjusting_entry", reason, self.clock(), "check")
        else:
            workflow.note(work, operator, reason, self.clock())
        payload = {  # its key: the break and the request (plan), so each adjusting entry posts once
            "break_id": break_id,
            "finding": [work.finding.reason, work.finding.amount],
            "legs": [_leg(leg) for leg in checked],
            "resolve": resolve,
        }
        return self.requests.submit(Submission("adjusting_entry", break_id, payload, amounts), operator, reason)

    def plan(self, req: Request, payload: dict) -> Plan:
        """The planner of write_off and adjusting_entry requests (registered with Requests)."""
        break_id = payload["break_id"]
        legs = tuple(Leg(x["account"], x["direction"], x["amount"], x["currency"]) for x in payload["legs"])
        rule = payload.get("rule") or ADJUSTMENT_RULE
        key = payload.get("key") or f"{break_id}:adjust:{req.request_id}"
        op = adjustment(key, legs, self.clock(), rule=rule)
        expected = Finding(*payload["finding"])

        def within(tx, result, now):
            brk = tx.get(BREAK, break_id) or {}
            record = tx.get(WORK, break_id)
            before = work_from_record(record) if record else self._first(break_id, brk)
            if before.finding != expected:
                raise WorkflowError(
                    "break_changed", f"{break_id} is now {before.finding.reason} {before.finding.amount}: ask again"
                )
            if req.kind == "write_off":
                after = workflow.write_off(before, req.maker, req.reason, now, result.transaction_id)
                correction = {
                    **payload["correction"],
                    "partner": brk.get("partner"),
                    "transaction_id": result.transaction_id,
                }
                tx.put(CORRECTION, result.transaction_id, correction)  # every later run applies it
            elif payload.get("resolve"):
                after = workflow.resolve(before, req.maker, "adjusting_entry", req.reason, now, result.transaction_id)
            else:
                after = workflow.note(before, req.maker, req.reason, now, result.transaction_id)
            tx.put(WORK, break_id, work_record(after, brk), unindexed=WORK_UNINDEXED)
            return {**_summary(after), "transaction": result.transaction_id}

        return Plan(operation=op, within=within, before={"break": break_id, "legs": payload["legs"]})

    # ------------------------------------------------------------------ what a run does

    def on_run(self, found: Iterable[dict], gone: Iterable[dict], run_id: str) -> int:
        """After a run wrote its breaks: `found` (opened or still open: their finding), `gone` (closed
        by it). Each work changes by workflow.on_run; only changed ones are written, 100 a transaction
        (each re-read inside it, so an operator's step in between is kept). Returns how many changed."""
        now = self.clock()
        wanted = {b["break_id"]: (b, finding_of(b)) for b in found}
        wanted |= {b["break_id"]: (b, None) for b in gone}
        names = sorted(wanted)
        stored = self._works(names)
        changed = []
        for name in names:
            _brk, finding = wanted[name]
            before = stored.get(name)
            if before is None:
                if finding is None:
                    continue  # closed before anyone looked at it: its ReconBreak says so
                changed.append(name)
            elif workflow.on_run(before, finding, now, run_id) != before:
                changed.append(name)

        def write(chunk):
            def work(tx):
                current = tx.get_multi(WORK, chunk)
                for name in chunk:
                    brk, finding = wanted[name]
                    before = work_from_record(current[name]) if name in current else None
                    if before is None:
                        after = workflow.opened(name, finding, now)
                    else:
                        after = workflow.on_run(before, finding, now, run_id)
                    if after != before:
                        tx.put(WORK, name, work_record(after, brk), unindexed=WORK_UNINDEXED)
                    if before is not None and after.state != before.state:  # a run moved a worked break
                        step = after.history[-1]
                        audit.append(
                            tx, now, actor=workflow.SYSTEM, action=step.action, reason=step.reason or f"run {run_id}",
                            target=name, before=_summary(before), after=_summary(after),
                        )  # fmt: skip

            self.store.transact(work)

        for i in range(0, len(changed), 100):
            write(changed[i : i + 100])
        if changed:
            self.requests._streamed()
        return len(changed)

    # ------------------------------------------------------------------ many at once

    def bulk(self, action: str, break_ids: list[str], operator: str, *, reason: str, until=None, dry_run: bool):
        """One action on many breaks; each break on its own (one failing does not stop the others).
        dry_run: what each would do, nothing written."""
        if action not in BULK_ACTIONS:
            raise WorkflowError("invalid_action", f"bulk actions: {', '.join(BULK_ACTIONS)}")
        if not 1 <= len(break_ids) <= MAX_BULK:
            raise WorkflowError("invalid_selection", f"1 to {MAX_BULK} breaks at a time")
        out = []
        for break_id in dict.fromkeys(break_ids):
            try:
                out.append({"break_id": break_id, **self._one(action, break_id, operator, reason, until, dry_run)})
            except LookupError:
                out.append({"break_id": break_id, "outcome": "error", "code": "break_not_found"})
            except (WorkflowError, ValueError) as exc:
                out.append({"break_id": break_id, "outcome": "error", "code": getattr(exc, "code", "invalid")})
        return out

    def _one(self, action, break_id, operator, reason, until, dry_run) -> dict:
        brk, work = self.get(break_id)
        now = self.clock()
        if dry_run:
            if action == "acknowledge":
                after = workflow.acknowledge(work, operator, now)
            elif action == "note":
                after = workflow.note(work, operator, reason, now)
            elif action == "accept":
                after = workflow.accept(work, operator, reason, until, now)
            else:
                after = workflow.write_off(work, operator, reason, now, "dry-run")
                adjustments.write_off({**brk, "break_id": break_id})
            return {"outcome": "would_succeed", "state": after.state if action != "write_off" else "requested"}
        if action == "acknowledge":
            return {"outcome": "done", "state": self.acknowledge(break_id, operator, reason).state}
        if action == "note":
            return {"outcome": "done", "state": self.note(break_id, operator, reason).state}
        if action == "accept":
            return {"outcome": "done", "state": self.accept(break_id, operator, reason, until).state}
        req, _ = self.write_off(break_id, operator, reason)
        return {"outcome": "requested" if req.status == "pending" else req.status, "request_id": req.request_id}


def _sides(leg: str | None) -> tuple[str, str]:
    if leg not in LEG_SIDES:
        raise WorkflowError("not_matchable", f"breaks of the {leg} leg are not matched by hand")
    return LEG_SIDES[leg]


def _leg(leg) -> dict:
    return {"account": leg.account, "direction": leg.direction, "amount": leg.amount, "currency": leg.currency}


def _summary(w: Work) -> dict:
    """What an audit entry keeps of a work: its state, assignee, acceptance and finding."""
    data = work_json(w)
    return {k: data[k] for k in ("state", "assignee", "accepted_until", "finding")}
