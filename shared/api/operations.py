"""The operator API of issue 19 (docs/operations.md): breaks (list, work, bulk), manual matches,
maker-checker requests, reversals, the audit log. Every route is `operator` scope; every write is by
the person the operator key names (Principal.operator), so a key naming nobody can read but not act.

Errors: a refused workflow step is 409 (the break's or the request's state) or 422 (what was asked
cannot be done: an unbalanced entry, a customer's wallet, a break a write-off cannot correct); a
self-approval is 403 `self_approval`; an unknown break, request or match 404."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from shared.api import models
from shared.api.service import Backend, _iso, _not_found, parse_time
from shared.domain.operations.approvals import ApprovalError, Request
from shared.domain.operations.workflow import Work, WorkflowError
from shared.errors import ClientError
from shared.operations import movements
from shared.operations.breaks import InvalidCursor

CONFLICTS = frozenset(
    {
        "illegal_transition",
        "break_closed",
        "break_changed",
        "request_decided",
        "request_expired",
        "request_pending",
        "already_executed",
        "already_posted",
        "approval_required",
        "match_exists",
        "match_undone",
        "payout_in_flight",
        "ledger_conflict",
    }
)


def actor(principal) -> str:
    """The person acting: an operator key names them; a key that names nobody cannot act."""
    if not principal.operator:
        raise ClientError(
            403,
            "operator_identity_required",
            "this operator key names no person: create one with --operator to act (docs/operations.md)",
            "Authorization",
            "permission_error",
        )
    return principal.operator


def refused(exc: WorkflowError | ApprovalError, param: str | None = None) -> ClientError:
    if exc.code == "self_approval":
        return ClientError(403, exc.code, str(exc), "Authorization", "permission_error")
    status = 409 if exc.code in CONFLICTS else 422
    return ClientError(status, exc.code, str(exc), param)


def _ops(backend: Backend):
    return backend.operations()


def _guard(call, kind: str, name: str, param: str | None = None):
    try:
        return call()
    except LookupError:
        raise _not_found(kind, name) from None
    except (WorkflowError, ApprovalError) as exc:
        raise refused(exc, param) from None


# ----------------------------------------------------------------------------- views


def _step(s) -> models.BreakStep:
    return models.BreakStep(
        at=_iso(s.at), actor=s.actor, action=s.action, state=s.state, reason=s.reason, reference=s.reference
    )


def break_view(brk: dict, work: Work, today: date) -> models.BreakWork:
    opened = brk.get("opened_on")
    age = (today - date.fromisoformat(opened)).days if isinstance(opened, str) and opened else None
    ints = {k: brk.get(k) if isinstance(brk.get(k), int) and not isinstance(brk.get(k), bool) else None
            for k in ("amount", "difference")}  # fmt: skip
    return models.BreakWork(
        id=work.break_id,
        state=work.state,
        assignee=work.assignee,
        partner=brk.get("partner"),
        leg=brk.get("leg"),
        reason_code=brk.get("reason_code") or brk.get("reason"),
        severity=brk.get("severity"),
        side=brk.get("side"),
        reference=brk.get("reference"),
        currency=brk.get("currency"),
        opened_on=opened if isinstance(opened, str) else None,
        age_days=age,
        run_status=brk.get("status"),
        accepted_until=_iso(work.accepted_until),
        history=[_step(s) for s in work.history],
        notes=[_step(s) for s in work.notes],
        **ints,
    )


def request_view(req: Request, record: dict) -> models.OperatorRequest:
    outcome = json.loads(record["outcome"]) if record.get("outcome") else {}
    return models.OperatorRequest(
        id=req.request_id,
        kind=req.kind,
        status=req.status,
        maker=req.maker,
        checker=req.checker,
        reason=req.reason,
        decision_reason=req.decision_reason,
        target=record.get("target") or "",
        amounts=dict(req.amounts) if req.amounts else None,
        created_at=_iso(req.created_at),
        expires_at=_iso(req.expires_at),
        decided_at=_iso(req.decided_at),
        transactions=list(outcome.get("transactions") or []),
    )


def match_view(match: dict) -> models.ManualMatch:
    return models.ManualMatch(
        id=match["id"],
        status=match["status"],
        break_id=match["break_id"],
        partner=match.get("partner"),
        leg=match["leg"],
        left=match["left"],
        right=match["right"],
        reason=match.get("reason") or "",
        history=match.get("history") or [],
    )


def entry_view(e) -> models.AuditEntry:
    return models.AuditEntry(
        seq=e.seq,
        at=_iso(e.at),
        actor=e.actor,
        action=e.action,
        reason=e.reason,
        target=e.target,
        request_id=e.request_id,
        approved_by=e.approved_by,
        before=e.before,
        after=e.after,
        transactions=list(e.transactions),
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def identity(principal) -> models.OperatorIdentity:
    """Who this operator key is: what a console compares a request's maker with before offering to approve."""
    scopes = sorted(principal.scopes)
    return models.OperatorIdentity(
        key_id=principal.key_id, operator=principal.operator, scopes=scopes, authentication=principal.authentication
    )


# ----------------------------------------------------------------------------- breaks


def list_breaks(backend: Backend, query: dict, limit: int) -> models.BreakWorkList:
    min_age = query.get("min_age_days")
    try:
        rows, more = _list_breaks(backend, query, limit, min_age)
    except InvalidCursor as exc:
        raise ClientError(400, "invalid_cursor", str(exc), "starting_after") from None
    today = backend.clock().date()
    return models.BreakWorkList(data=[break_view(b, w, today) for b, w in rows], has_more=more)


def _list_breaks(backend: Backend, query: dict, limit: int, min_age):
    return _ops(backend).desk.list(
        state=query.get("state"),
        severity=query.get("severity"),
        partner=query.get("partner"),
        currency=query.get("currency"),
        assignee=query.get("assignee"),
        reason_code=query.get("reason_code"),
        min_age_days=int(min_age) if min_age is not None else None,
        limit=limit,
        starting_after=query.get("starting_after"),
    )


def get_break(backend: Backend, break_id: str) -> models.BreakWork:
    brk, work = _guard(lambda: _ops(backend).desk.get(break_id), "break", break_id)
    return break_view(brk, work, backend.clock().date())


def acknowledge(backend: Backend, principal, break_id: str, body: models.AcknowledgeRequest) -> models.BreakWork:
    who = actor(principal)
    _guard(lambda: _ops(backend).desk.acknowledge(break_id, who, body.reason), "break", break_id)
    return get_break(backend, break_id)


def note(backend: Backend, principal, break_id: str, body: models.NoteRequest) -> models.BreakWork:
    who = actor(principal)
    _guard(lambda: _ops(backend).desk.note(break_id, who, body.text, body.reference), "break", break_id, "text")
    return get_break(backend, break_id)


def accept(backend: Backend, principal, break_id: str, body: models.AcceptRequest) -> models.BreakWork:
    who = actor(principal)
    until = parse_time(body.until, "until")
    _guard(lambda: _ops(backend).desk.accept(break_id, who, body.reason, until), "break", break_id, "until")
    return get_break(backend, break_id)


def write_off(backend: Backend, principal, break_id: str, body: models.WriteOffRequest) -> models.OperatorRequest:
    who = actor(principal)
    req, record = _guard(lambda: _ops(backend).desk.write_off(break_id, who, body.reason), "break", break_id)
    return request_view(req, record)


def adjust(backend: Backend, principal, break_id: str, body: models.AdjustRequest) -> models.OperatorRequest:
    who = actor(principal)
    legs = [leg.model_dump() for leg in body.legs]
    req, record = _guard(
        lambda: _ops(backend).desk.adjust(break_id, who, body.reason, legs, body.resolve), "break", break_id, "legs"
    )
    return request_view(req, record)


def manual_match(backend: Backend, principal, break_id: str, body: models.ManualMatchRequest) -> models.ManualMatch:
    who = actor(principal)
    match = _guard(
        lambda: _ops(backend).desk.manual_match(break_id, who, body.counterpart, body.reason),
        "break",
        break_id,
        "counterpart",
    )
    return match_view(match)


def unmatch(backend: Backend, principal, match_id: str, body: models.UnmatchRequest) -> models.ManualMatch:
    who = actor(principal)
    return match_view(_guard(lambda: _ops(backend).desk.unmatch(match_id, who, body.reason), "manual_match", match_id))


def bulk(backend: Backend, principal, body: models.BulkBreaksRequest) -> models.BulkResult:
    who = actor(principal)
    if body.action == "accept" and body.until is None:
        raise ClientError(400, "parameter_missing", "accept needs until", "until")
    until = parse_time(body.until, "until") if body.until else None
    outcomes = _guard(
        lambda: _ops(backend).desk.bulk(
            body.action, body.break_ids, who, reason=body.reason, until=until, dry_run=body.dry_run
        ),
        "break",
        "",
    )
    return models.BulkResult(dry_run=body.dry_run, data=[models.BulkOutcome(**o) for o in outcomes])


# ----------------------------------------------------------------------------- requests


def list_requests(
    backend: Backend, status: str | None, limit: int, starting_after: str | None = None
) -> models.OperatorRequestList:
    try:
        rows = _ops(backend).requests.list(status, limit=limit + 1, starting_after=starting_after)
    except KeyError:
        raise ClientError(400, "invalid_cursor", "starting_after is not a request", "starting_after") from None
    return models.OperatorRequestList(data=[request_view(q, r) for q, r in rows[:limit]], has_more=len(rows) > limit)


def get_request(backend: Backend, request_id: str) -> models.OperatorRequest:
    found = _ops(backend).requests.get(request_id)
    if found is None:
        raise _not_found("operator_request", request_id)
    return request_view(*found)


def approve(backend: Backend, principal, request_id: str, body: models.ApproveRequest) -> models.OperatorRequest:
    who = actor(principal)
    return request_view(
        *_guard(lambda: _ops(backend).requests.approve(request_id, who, body.reason), "operator_request", request_id)
    )


def reject(backend: Backend, principal, request_id: str, body: models.RejectRequest) -> models.OperatorRequest:
    who = actor(principal)
    return request_view(
        *_guard(lambda: _ops(backend).requests.reject(request_id, who, body.reason), "operator_request", request_id)
    )


def reverse(backend: Backend, principal, transaction_id: str, body: models.ReverseRequest) -> models.OperatorRequest:
    who = actor(principal)
    ops = _ops(backend)

    def submit():
        return ops.requests.submit(movements.reverse_submission(backend.store, transaction_id), who, body.reason)

    return request_view(*_guard(submit, "transaction", transaction_id))


def replay_dead_letter(backend: Backend, principal, name: str, body: models.ReplayRequest) -> models.Replay:
    """A dead letter's replay, through maker-checker (a canonical event above the threshold waits for a
    second operator); a dry run says what it would do and asks nothing."""
    from shared.recovery.dead_letters import replay_plan

    who = actor(principal)
    record = backend.store.get("DeadLetter", name) if len(name) <= 1500 else None
    if record is None:
        raise _not_found("dead_letter", name)
    plan = replay_plan(record)
    detail = {k: v for k, v in plan.items() if k not in ("action",)}
    if body.dry_run:
        return models.Replay(dead_letter=name, action=plan["action"], dry_run=True, detail=detail)
    ops = _ops(backend)
    req, stored = _guard(
        lambda: ops.requests.submit(movements.replay_submission(backend.store, name, ops.inbox), who, body.reason),
        "dead_letter",
        name,
    )
    return models.Replay(
        dead_letter=name, action=plan["action"], dry_run=False, detail=detail, request=request_view(req, stored)
    )


def replay_dead_letters(backend: Backend, principal, body: models.BulkReplayRequest) -> models.BulkReplay:
    """Replay a filtered set of open dead letters (newest first, at most `limit`), each through its own
    operator request exactly as one replay is. A dry run lists them with a digest; the replay must send
    that digest back, so what is replayed is what the operator saw (409 selection_changed otherwise).
    A dead letter that cannot be replayed (e.g. replayed meanwhile) is reported refused, not skipped."""
    from shared.recovery.dead_letters import Filter, replay_plan

    since = parse_time(body.since, "since") if body.since is not None else None
    if not body.dry_run and body.selection is None:
        raise ClientError(
            400, "parameter_missing", "selection: dry-run first and send its selection back to replay", "selection"
        )
    selection = Filter(
        status="open",
        source=body.source,
        kind=body.kind,
        reason_code=body.reason_code,
        partner=body.partner,
        since=since,
    )
    chosen: list[tuple[str, dict]] = []
    for name, record in backend.dead_letters("open", None):  # newest first
        if since is not None and record["created_at"] < since:
            break
        if selection.matches(record):
            chosen.append((name, record))
            if len(chosen) > body.limit:
                break
    more, chosen = len(chosen) > body.limit, chosen[: body.limit]
    digest = hashlib.sha256(json.dumps(sorted(n for n, _ in chosen)).encode()).hexdigest()
    if not body.dry_run and body.selection != digest:
        raise ClientError(
            409,
            "selection_changed",
            "the dead letters this filter selects changed since the dry run: dry-run again",
            "selection",
        )
    items: list[models.BulkReplayItem] = []
    ops = None if body.dry_run else _ops(backend)
    who = actor(principal)
    for name, record in chosen:
        action = replay_plan(record)["action"]
        if ops is None:
            items.append(models.BulkReplayItem(dead_letter=name, action=action))
            continue
        try:
            req, stored = ops.requests.submit(
                movements.replay_submission(backend.store, name, ops.inbox), who, body.reason
            )
        except (WorkflowError, ApprovalError) as exc:
            items.append(models.BulkReplayItem(dead_letter=name, action=action, status=f"refused: {exc.code}"))
            continue
        view = request_view(req, stored)
        items.append(models.BulkReplayItem(dead_letter=name, action=action, request=view.id, status=view.status))
    return models.BulkReplay(dry_run=body.dry_run, matched=len(chosen), has_more=more, selection=digest, data=items)


def manual_transfer(backend: Backend, principal, body: models.ManualTransferRequest) -> models.OperatorRequest:
    """Move money between what we owe (wallets, suspense), approved above the threshold."""
    who = actor(principal)
    ops = _ops(backend)
    sub = _guard(
        lambda: movements.transfer_submission(
            backend.store, body.from_account, body.to_account, body.amount, body.currency
        ),
        "account",
        body.from_account,
        "from_account",
    )
    return request_view(*_guard(lambda: ops.requests.submit(sub, who, body.reason), "account", body.from_account))


def erase_customer(backend: Backend, principal, customer: str, body: models.ErasureRequest) -> models.OperatorRequest:
    """Ask to erase a customer's personal data (the books stay): always approved by a second operator."""
    who = actor(principal)
    ops = _ops(backend)

    def submit():
        return ops.requests.submit(ops.retention.erasure_submission(customer), who, body.reason)

    return request_view(*_guard(submit, "customer", customer))


# ----------------------------------------------------------------------------- audit log


def audit_log(backend: Backend, query: dict, limit: int) -> models.AuditEntryList:
    after = query.get("starting_after")  # the route's pattern: 1 to 12 ASCII digits
    rows, more = _ops(backend).audit.page(
        actor=query.get("actor"),
        action=query.get("action"),
        target=query.get("target"),
        before_seq=int(after) if after is not None else None,
        since=parse_time(query["from"], "from") if query.get("from") else None,
        until=parse_time(query["to"], "to") if query.get("to") else None,
        limit=limit,
    )
    return models.AuditEntryList(data=[entry_view(e) for e in rows], has_more=more)
