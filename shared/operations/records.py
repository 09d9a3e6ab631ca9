"""Stored forms of the operations records: a break's work (`BreakWork`, beside its `ReconBreak`, named
by the same break id and kept across runs), an operator request (`OperatorRequest`) and a manual
match (`ManualMatch`), and a write-off's correction of the reconciliation's ledger side (`BreakCorrection`, named
by the write-off's transaction id). The indexed fields are what the operator API filters on; the whole work
(history, notes) is one unindexed JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.domain.operations.approvals import Request
from shared.domain.operations.workflow import Finding, Step, Work

WORK, REQUEST, MATCH, CORRECTION = "BreakWork", "OperatorRequest", "ManualMatch", "BreakCorrection"
WORK_UNINDEXED = ("work",)
REQUEST_UNINDEXED = ("payload", "reason", "decision_reason", "outcome")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _finding(f: Finding | None) -> dict | None:
    return None if f is None else {"reason": f.reason, "amount": f.amount}


def _step(s: Step) -> dict:
    return {
        "at": s.at.isoformat(),
        "actor": s.actor,
        "action": s.action,
        "state": s.state,
        "reason": s.reason,
        "reference": s.reference,
    }


def work_json(w: Work) -> dict:
    return {
        "break_id": w.break_id,
        "state": w.state,
        "finding": _finding(w.finding),
        "assignee": w.assignee,
        "accepted_until": w.accepted_until.isoformat() if w.accepted_until else None,
        "accepted_finding": _finding(w.accepted_finding),
        "covered": _finding(w.covered),
        "history": [_step(s) for s in w.history],
        "notes": [_step(s) for s in w.notes],
    }


def work_record(w: Work, brk: dict) -> dict:
    """The BreakWork entity: the work, and the break's fields the operator API filters on."""
    return {
        "state": w.state,
        "assignee": w.assignee,
        "partner": brk.get("partner"),
        "currency": brk.get("currency"),
        "severity": brk.get("severity"),
        "reason_code": brk.get("reason_code") or brk.get("reason"),
        "opened_on": brk.get("opened_on"),
        "amount": w.finding.amount,
        "updated_at": w.history[-1].at if w.history else None,
        "work": json.dumps(work_json(w), sort_keys=True),
    }


def work_from_record(record: dict) -> Work:
    data = json.loads(record["work"])

    def finding(f):
        return None if f is None else Finding(f["reason"], f["amount"])

    def step(s):
        return Step(_at(s["at"]), s["actor"], s["action"], s["state"], s.get("reason"), s.get("reference"))

    return Work(
        data["break_id"],
        data["state"],
        finding(data["finding"]),
        assignee=data.get("assignee"),
        accepted_until=_at(data.get("accepted_until")),
        accepted_finding=finding(data.get("accepted_finding")),
        covered=finding(data.get("covered")),
        history=tuple(step(s) for s in data["history"]),
        notes=tuple(step(s) for s in data.get("notes", ())),
    )


def request_record(r: Request, payload: dict, target: str, outcome: dict | None = None) -> dict:
    return {
        "kind": r.kind,
        "maker": r.maker,
        "reason": r.reason,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "amounts": json.dumps(r.amounts, sort_keys=True) if r.amounts else None,
        "status": r.status,
        "checker": r.checker,
        "decided_at": r.decided_at,
        "decision_reason": r.decision_reason,
        "target": target,
        "payload": json.dumps(payload, sort_keys=True),
        "outcome": json.dumps(outcome, sort_keys=True) if outcome is not None else None,
    }


def request_from_record(request_id: str, record: dict) -> Request:
    def aware(value):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    return Request(
        request_id,
        record["kind"],
        record["maker"],
        record["reason"],
        aware(record["created_at"]),
        aware(record["expires_at"]),
        json.loads(record["amounts"]) if record.get("amounts") else None,
        record["status"],
        record.get("checker"),
        aware(record.get("decided_at")),
        record.get("decision_reason"),
    )
