"""The banks of the sandbox: their transfers, rules, faults, webhook events and the oracle. No HTTP here:
`server.py` turns requests into calls of `Sandbox` and its `Answer`s into responses. Every method takes
`now` (seconds, a float clock) so tests drive time; one lock guards all state (the server is threaded).

Rules (docs/bank_sandbox.md is this module as tables):
- a create is refused, in this order: 401 bad API key; 503 outage; 429 rate limit; 500 before commit;
  400 validation (`invalid_amount`, `invalid_routing_number`, `invalid_account_number`, `account_closed`,
  `invalid_request` with its field); then the Idempotency-Key: the same key with the same parameters
  answers the transfer it created (200, `Idempotent-Replayed: true`, nothing executed again), with other
  parameters 409 `idempotency_key_conflict`; then 422 `transfer_declined` (magic account or decline
  rate); then it commits (201), and only then may it fail: 500 after commit, or no answer (a hang
  past the client's timeout, or a closed connection);
- a transfer is SUBMITTED at once, SETTLED `settle_after` seconds later (or REJECTED / CANCELED before
  settling for the magic accounts that say so), RETURNED with its R-code `return_after` seconds after
  settling for the magic accounts that say so (or when forced); each change is one webhook event;
- the oracle counts executions per idempotency key truthfully (a bank told not to honour keys executes
  a replay again, and the count shows 2).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from shared.domain.money import MAX_AMOUNT
from shared.domain.payments.destinations import aba_valid, mask

BANK_NAMES = ("column", "lakeside")
MAX_KEY_LENGTH = 255  # Column's limit for Idempotency-Key
WEBHOOK_ATTEMPTS = 5  # first delivery + 4 retries, backoff 0.25 s doubling, capped at 4 s
NOT_EXECUTED = frozenset({"REJECTED", "CANCELED"})
RETURN_CODES = {
    "R01": "Insufficient funds",
    "R02": "Account closed",
    "R03": "No account / unable to locate account",
    "R04": "Invalid account number structure",
    "R10": "Customer advises not authorized",
    "R16": "Account frozen",
}


@dataclass(frozen=True)
class Scenario:
    """What a magic counterparty account number makes the bank do (like Stripe's test numbers)."""

    outcome: str  # "return" (after settling), "reject" / "cancel" (before settling), "decline" (422), "invalid" (400)
    code: str | None = None
    meaning: str = ""


MAGIC_ACCOUNTS: dict[str, Scenario] = {
    "1111111111": Scenario("return", "R01", "settles, then is returned R01 (insufficient funds)"),
    "2222222222": Scenario("return", "R02", "settles, then is returned R02 (account closed)"),
    "3333333333": Scenario("return", "R03", "settles, then is returned R03 (no account)"),
    "4444444444": Scenario("return", "R04", "settles, then is returned R04 (invalid account number)"),
    "5555555555": Scenario("reject", None, "accepted, then REJECTED by the bank before settling"),
    "6666666666": Scenario("cancel", None, "accepted, then CANCELED before settling"),
    "7777777777": Scenario("decline", "transfer_declined", "create refused: 422 transfer_declined"),
    "8888888888": Scenario("invalid", "account_closed", "create refused: 400 account_closed"),
}


class SandboxError(Exception):
    """A refused control request: status, machine code, field."""

    def __init__(self, status: int, code: str, message: str, field_path: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field_path

    def answer(self) -> Answer:
        return error(self.status, self.code, self.message, self.field)


@dataclass(frozen=True)
class Answer:
    """What the server sends: status, JSON body, headers; `after` "hang" / "close": send nothing (the
    transfer is committed; the client sees a timeout, or a connection closed without an answer)."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    after: str = "answer"


def error(status: int, code: str, message: str, field_path: str | None = None, **headers: str) -> Answer:
    kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status)
    kind = kind or ("api_error" if status >= 500 else "invalid_request_error")
    return Answer(status, {"type": kind, "code": code, "message": message, "field": field_path}, dict(headers))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:27]


@dataclass
class Faults:
    """What the control endpoint injects into one bank (docs/bank_sandbox.md "Faults"). Rates are
    probabilities in [0, 1], drawn deterministically from (seed, bank, fault, request key, call number)."""

    latency_ms: int = 0
    error_before_commit_rate: float = 0.0
    error_after_commit_rate: float = 0.0
    timeout_after_commit_rate: float = 0.0
    decline_rate: float = 0.0
    rate_limit_rate: float = 0.0
    duplicate_webhooks: bool = False
    out_of_order_webhooks: bool = False
    outage_seconds: float = 0.0
    seed: int = 0
    # how the no-answer fault behaves: "hang" for hang_seconds (past the client's timeout), or "close"
    timeout_mode: str = "hang"
    hang_seconds: float = 30.0
    # False: a broken bank that ignores Idempotency-Key (every create executes); the oracle shows it
    honour_idempotency: bool = True
    outage_until: float = 0.0  # derived: now + outage_seconds when set

    @classmethod
    def parse(cls, body: object, now: float) -> Faults:
        if not isinstance(body, dict):
            raise SandboxError(400, "invalid_request", "faults must be a JSON object")
        known = {f.name: f for f in fields(cls) if f.name != "outage_until"}
        values: dict = {}
        for name, value in body.items():
            spec = known.get(name)
            if spec is None:
                raise SandboxError(400, "unknown_field", f"no fault named {name!r}", name)
            kind = {"int": int, "float": float, "bool": bool, "str": str}[str(spec.type)]
            ok = isinstance(value, bool) if kind is bool else not isinstance(value, bool)
            ok = ok and (isinstance(value, (int, float)) if kind is float else isinstance(value, kind))
            if not ok:
                raise SandboxError(400, "invalid_fault", f"{name} must be a {kind.__name__}", name)
            if name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise SandboxError(400, "invalid_fault", f"{name} must be within [0, 1]", name)
            if kind in (int, float) and name != "seed" and value < 0:
                raise SandboxError(400, "invalid_fault", f"{name} must not be negative", name)
            if name == "timeout_mode" and value not in ("hang", "close"):
                raise SandboxError(400, "invalid_fault", "timeout_mode is hang or close", name)
            values[name] = float(value) if kind is float else value
        faults = cls(**values)
        faults.outage_until = now + faults.outage_seconds if faults.outage_seconds else 0.0
        return faults

    def public(self, now: float) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "outage_until"}
        out["outage_remaining_seconds"] = max(0.0, round(self.outage_until - now, 3))
        return out


@dataclass
class Transfer:
    id: str
    bank: str
    idempotency_key: str
    params: dict  # the request's parameters, account number included: never leaves this process
    fingerprint: str
    scenario: Scenario | None
    status: str
    created_at: float
    updated_at: float
    settle_at: float
    trace_number: str
    return_at: float | None = None
    return_code: str | None = None
    settled_at: float | None = None
    returned_at: float | None = None
    finished_at: float | None = None  # rejected / canceled

    def public(self) -> dict:
        """The transfer object as the API and the webhooks show it: the account number masked."""
        counterparty = self.params["counterparty"]
        out = {
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "type": "CREDIT",
            "status": self.status,
            "amount": self.params["amount"],
            "currency_code": self.params["currency_code"],
            "description": self.params.get("description") or "",
            "account_number_id": f"acno_{self.bank}operating",
            "bank_account_id": f"bacc_{self.bank}ledgerline",
            "counterparty": {
                "routing_number": counterparty["routing_number"],
                "account_number": mask(counterparty["account_number"]),
                "account_holder": counterparty["account_holder"],
            },
            "trace_number": self.trace_number,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "settled_at": iso(self.settled_at) if self.settled_at else None,
            "returned_at": iso(self.returned_at) if self.returned_at else None,
            "return_details": [],
        }
        if self.return_code:
            out["return_details"] = [
                {"return_code": self.return_code, "description": RETURN_CODES.get(self.return_code, "")}
            ]
        return out


@dataclass(eq=False)
class Delivery:
    """One webhook event to deliver to intake (a duplicate is a second Delivery of the same event)."""

    bank: str
    event_id: str
    event_type: str
    transfer_id: str
    body: bytes
    due_at: float
    attempts: int = 0
    statuses: list = field(default_factory=list)  # each attempt: HTTP status, or the error's class name
    state: str = "pending"  # pending | sending (claimed by a sender) | delivered | gave_up

    def public(self) -> dict:
        return {
            "event_id": self.event_id,
            "type": self.event_type,
            "transfer_id": self.transfer_id,
            "attempts": self.attempts,
            "statuses": list(self.statuses),
            "state": self.state,
        }


@dataclass
class Bank:
    name: str
    api_key: str
    settle_after: float
    return_after: float
    faults: Faults = field(default_factory=Faults)
    transfers: dict[str, Transfer] = field(default_factory=dict)  # by id, in creation order
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> transfer id (the first)
    executions: dict[str, int] = field(default_factory=dict)  # idempotency key -> times executed
    calls: dict[str, int] = field(default_factory=dict)  # request key -> calls seen (for the draws)
    deliveries: list[Delivery] = field(default_factory=list)  # every one, for the control endpoint
    pending: set[Delivery] = field(default_factory=set)  # not delivered or given up yet
    active: set[str] = field(default_factory=set)  # transfer ids the clock may still change
    sequence: int = 0


def _fingerprint(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def validate_transfer(body: object) -> dict:
    """The create request's parameters, or a SandboxError naming the code and the field."""
    if not isinstance(body, dict):
        raise SandboxError(400, "invalid_request", "the body must be a JSON object")
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise SandboxError(400, "invalid_amount", "amount is a positive integer of minor units (cents)", "amount")
    if body.get("currency_code") != "USD":
        raise SandboxError(400, "invalid_request", "ACH transfers are in USD", "currency_code")
    if body.get("type") != "CREDIT":
        raise SandboxError(400, "invalid_request", "type must be CREDIT (outgoing credit transfers only)", "type")
    counterparty = body.get("counterparty")
    if not isinstance(counterparty, dict):
        raise SandboxError(400, "invalid_request", "counterparty is an object", "counterparty")
    routing = counterparty.get("routing_number")
    if not isinstance(routing, str) or not aba_valid(routing):
        raise SandboxError(400, "invalid_routing_number", "not an ABA routing number", "counterparty.routing_number")
    account = counterparty.get("account_number")
    if not isinstance(account, str) or not re.fullmatch(r"[0-9]{5,17}", account):
        raise SandboxError(400, "invalid_account_number", "5 to 17 digits", "counterparty.account_number")
    holder = counterparty.get("account_holder", counterparty.get("name"))
    if not isinstance(holder, str) or not 0 < len(holder.strip()) <= 140 or not holder.isprintable():
        raise SandboxError(400, "invalid_request", "1 to 140 printable characters", "counterparty.account_holder")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 255:
        raise SandboxError(400, "invalid_request", "at most 255 characters", "description")
    scenario = MAGIC_ACCOUNTS.get(account)
    if scenario and scenario.outcome == "invalid":
        raise SandboxError(400, "account_closed", "the account is closed", "counterparty.account_number")
    return {
        "amount": amount,
        "currency_code": "USD",
        "type": "CREDIT",
        "description": description,
        "counterparty": {"routing_number": routing, "account_number": account, "account_holder": holder.strip()},
    }


class Sandbox:
    """Both banks. Thread-safe: every public method holds the one lock."""

    def __init__(self, api_keys: dict[str, str], settle_after: float = 2.0, return_after: float = 1.0):
        self._lock = threading.RLock()
        self.settle_after, self.return_after = settle_after, return_after
        self.banks = {name: Bank(name, api_keys[name], settle_after, return_after) for name in BANK_NAMES}

    # ------------------------------------------------------------------ helpers (lock held by callers)

    def bank(self, name: str) -> Bank:
        try:
            return self.banks[name]
        except KeyError:
            raise SandboxError(404, "unknown_bank", f"no bank {name!r} (banks: {', '.join(BANK_NAMES)})") from None

    def _draw(self, bank: Bank, fault: str, request_key: str) -> bool:
        rate = getattr(bank.faults, fault)
        if rate <= 0.0:
            return False
        n = bank.calls.get(request_key, 0)
        digest = hashlib.sha256(f"{bank.faults.seed}|{bank.name}|{fault}|{request_key}|{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate

    def _gate(self, bank: Bank, authorization: str | None, request_key: str, now: float) -> Answer | None:
        """What refuses any API call before it is processed: auth, outage, rate limit, 5xx before commit."""
        expected = f"Bearer {bank.api_key}"
        if not authorization or not _equal(authorization, expected):
            return error(401, "unauthorized", "a valid API key is required (Authorization: Bearer …)")
        bank.calls[request_key] = bank.calls.get(request_key, 0) + 1
        if now < bank.faults.outage_until:
            return error(503, "service_unavailable", "the bank is down (sandbox outage)", None, **{"Retry-After": "1"})
        if self._draw(bank, "rate_limit_rate", request_key):
            return error(429, "rate_limited", "too many requests", None, **{"Retry-After": "1"})
        if self._draw(bank, "error_before_commit_rate", request_key):
            return error(500, "internal_error", "the bank failed before processing the request")
        return None

    def _event(self, bank: Bank, transfer: Transfer, kind: str, now: float, delay: float = 0.0) -> None:
        event_id = new_id("evnt_")
        body = json.dumps(
            {
                "id": event_id,
                "created_at": iso(now),
                "type": f"ach.outgoing_transfer.{kind}",
                "data": transfer.public(),
            },
            separators=(",", ":"),
        ).encode()
        copies = 2 if bank.faults.duplicate_webhooks else 1
        for _ in range(copies):
            delivery = Delivery(bank.name, event_id, f"ach.outgoing_transfer.{kind}", transfer.id, body, now + delay)
            bank.deliveries.append(delivery)
            bank.pending.add(delivery)

    # ------------------------------------------------------------------ the transfer API

    def create(self, bank_name: str, authorization: str | None, key: str | None, body: object, now: float) -> Answer:
        with self._lock:
            bank = self.bank(bank_name)
            gate = self._gate(bank, authorization, f"create {key}", now)
            if gate:
                return gate
            if not key:
                return error(400, "idempotency_key_missing", "Idempotency-Key is required", "Idempotency-Key")
            if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
                return error(400, "invalid_idempotency_key", "at most 255 printable ASCII", "Idempotency-Key")
            try:
                params = validate_transfer(body)
            except SandboxError as exc:
                return exc.answer()
            fingerprint = _fingerprint(params)
            existing = bank.transfers.get(bank.by_key.get(key, ""))
            if existing is not None and bank.faults.honour_idempotency:
                if existing.fingerprint != fingerprint:
                    return error(
                        409,
                        "idempotency_key_conflict",
                        "this Idempotency-Key was used with other parameters",
                        "Idempotency-Key",
                    )
                return Answer(200, existing.public(), {"Idempotent-Replayed": "true"})
            scenario = MAGIC_ACCOUNTS.get(params["counterparty"]["account_number"])
            if (scenario and scenario.outcome == "decline") or self._draw(bank, "decline_rate", f"create {key}"):
                return error(422, "transfer_declined", "the bank declined the transfer", None)
            transfer = self._commit(bank, key, params, fingerprint, scenario, now)
            if self._draw(bank, "error_after_commit_rate", f"create {key}"):
                return error(500, "internal_error", "the bank failed after processing the request")
            if self._draw(bank, "timeout_after_commit_rate", f"create {key}"):
                return Answer(201, transfer.public(), after=bank.faults.timeout_mode)
            return Answer(201, transfer.public())

    def _commit(self, bank: Bank, key: str, params: dict, fingerprint: str, scenario, now: float) -> Transfer:
        bank.sequence += 1
        transfer = Transfer(
            id=new_id("acht_"),
            bank=bank.name,
            idempotency_key=key,
            params=params,
            fingerprint=fingerprint,
            scenario=scenario,
            status="SUBMITTED",
            created_at=now,
            updated_at=now,
            settle_at=now + bank.settle_after,
            trace_number=f"{'12100035' if bank.name == 'column' else '09100001'}{bank.sequence:07d}",
        )
        bank.transfers[transfer.id] = transfer
        bank.active.add(transfer.id)
        bank.by_key.setdefault(key, transfer.id)
        bank.executions[key] = bank.executions.get(key, 0) + 1
        # out of order: the submitted event is held until after the settled one has gone
        delay = bank.settle_after + 0.5 if bank.faults.out_of_order_webhooks else 0.0
        self._event(bank, transfer, "submitted", now, delay)
        return transfer

    def get(self, bank_name: str, authorization: str | None, transfer_id: str, now: float) -> Answer:
        with self._lock:
            bank = self.bank(bank_name)
            gate = self._gate(bank, authorization, f"get {transfer_id}", now)
            if gate:
                return gate
            transfer = bank.transfers.get(transfer_id)
            if transfer is None:
                return error(404, "not_found", f"no ACH transfer {transfer_id}", "id")
            return Answer(200, transfer.public())

    def list(self, bank_name: str, authorization: str | None, key: str | None, limit: int, now: float) -> Answer:
        with self._lock:
            bank = self.bank(bank_name)
            gate = self._gate(bank, authorization, f"list {key}", now)
            if gate:
                return gate
            found = [t for t in bank.transfers.values() if key is None or t.idempotency_key == key]
            found.sort(key=lambda t: t.created_at, reverse=True)
            return Answer(200, {"transfers": [t.public() for t in found[:limit]], "has_more": len(found) > limit})

    # ------------------------------------------------------------------ the clock

    def tick(self, now: float) -> None:
        """Advance every transfer whose time has come (settle, reject/cancel, return)."""
        with self._lock:
            for bank in self.banks.values():
                for transfer_id in list(bank.active):
                    self._advance(bank, bank.transfers[transfer_id], now)

    def _advance(self, bank: Bank, t: Transfer, now: float) -> None:
        if t.status == "SUBMITTED" and t.settle_at <= now:
            outcome = t.scenario.outcome if t.scenario else None
            if outcome in ("reject", "cancel"):
                t.status = "REJECTED" if outcome == "reject" else "CANCELED"
                t.finished_at = t.updated_at = now
                self._event(bank, t, "rejected" if outcome == "reject" else "canceled", now)
                bank.active.discard(t.id)
                return
            t.status, t.settled_at, t.updated_at = "SETTLED", now, now
            if outcome == "return":
                t.return_at, t.return_code = now + bank.return_after, t.scenario.code
            self._event(bank, t, "settled", now)
        if t.status == "SETTLED" and t.return_at is not None and t.return_at <= now:
            t.status, t.returned_at, t.updated_at = "RETURNED", now, now
            self._event(bank, t, "returned", now)
        if t.status != "SUBMITTED" and not (t.status == "SETTLED" and t.return_at is not None):
            bank.active.discard(t.id)

    def settle_now(self, bank_name: str, now: float) -> list[str]:
        """Settle (or reject/cancel) every submitted transfer of the bank now; returns their ids."""
        with self._lock:
            bank = self.bank(bank_name)
            due = [t for t in bank.transfers.values() if t.status == "SUBMITTED"]
            for t in due:
                t.settle_at = now
                self._advance(bank, t, now)
            return [t.id for t in due]

    def force_return(self, bank_name: str, transfer_id: str, code: object, now: float) -> dict:
        with self._lock:
            bank = self.bank(bank_name)
            t = bank.transfers.get(transfer_id)
            if t is None:
                raise SandboxError(404, "not_found", f"no ACH transfer {transfer_id}", "id")
            if not isinstance(code, str) or code not in RETURN_CODES:
                raise SandboxError(400, "invalid_return_code", f"code is one of {', '.join(RETURN_CODES)}", "code")
            if t.status != "SETTLED":
                raise SandboxError(409, "transfer_not_settled", f"only a SETTLED transfer is returned ({t.status})")
            t.return_code, t.return_at = code, now
            bank.active.add(t.id)
            self._advance(bank, t, now)
            return t.public()

    # ------------------------------------------------------------------ webhooks

    def due_deliveries(self, now: float) -> list[Delivery]:
        """The deliveries due now, claimed ("sending") so that no other sender picks them up meanwhile."""
        with self._lock:
            due = [d for b in self.banks.values() for d in b.pending if d.state == "pending" and d.due_at <= now]
            for delivery in due:
                delivery.state = "sending"
            return due

    def delivered(self, delivery: Delivery, status: int | str, now: float) -> None:
        """Record one delivery attempt: a 2xx ends it; anything else is retried with backoff, a few times."""
        with self._lock:
            delivery.attempts += 1
            delivery.statuses.append(status)
            if isinstance(status, int) and 200 <= status < 300:
                delivery.state = "delivered"
            elif delivery.attempts >= WEBHOOK_ATTEMPTS:
                delivery.state = "gave_up"
            else:
                delivery.state = "pending"
                delivery.due_at = now + min(4.0, 0.25 * 2 ** (delivery.attempts - 1))
            if delivery.state != "pending":
                self.banks[delivery.bank].pending.discard(delivery)

    # ------------------------------------------------------------------ control

    def set_faults(self, bank_name: str, body: object, now: float) -> dict:
        faults = Faults.parse(body, now)
        with self._lock:
            bank = self.bank(bank_name)
            bank.faults = faults
            return faults.public(now)

    def reset_faults(self, bank_name: str, now: float) -> dict:
        with self._lock:
            bank = self.bank(bank_name)
            bank.faults = Faults()
            return bank.faults.public(now)

    def set_clock(self, bank_name: str, body: object) -> dict:
        if not isinstance(body, dict) or set(body) - {"settle_after_seconds", "return_after_seconds"}:
            raise SandboxError(400, "invalid_request", "settle_after_seconds and/or return_after_seconds")
        for name, value in body.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise SandboxError(400, "invalid_request", f"{name} is a number of seconds >= 0", name)
        with self._lock:
            bank = self.bank(bank_name)
            bank.settle_after = float(body.get("settle_after_seconds", bank.settle_after))
            bank.return_after = float(body.get("return_after_seconds", bank.return_after))
            return {"settle_after_seconds": bank.settle_after, "return_after_seconds": bank.return_after}

    def reset(self) -> None:
        """Forget everything (transfers, faults, deliveries) of both banks."""
        with self._lock:
            self.banks = {
                name: Bank(name, b.api_key, self.settle_after, self.return_after) for name, b in self.banks.items()
            }

    def webhooks(self, bank_name: str) -> list[dict]:
        with self._lock:
            return [d.public() for d in self.bank(bank_name).deliveries]

    def executed(self, bank_name: str) -> dict:
        """The oracle: every transfer the bank executed, how often each idempotency key was executed, totals."""
        with self._lock:
            bank = self.bank(bank_name)
            transfers = list(bank.transfers.values())
            by_status: dict[str, dict[str, int]] = {}
            for t in transfers:
                row = by_status.setdefault(t.status, {"count": 0, "amount": 0})
                row["count"] += 1
                row["amount"] += t.params["amount"]
            moved = [t for t in transfers if t.status not in NOT_EXECUTED]
            return {
                "bank": bank.name,
                "transfers": [
                    {
                        "id": t.id,
                        "idempotency_key": t.idempotency_key,
                        "status": t.status,
                        "amount": t.params["amount"],
                        "currency_code": t.params["currency_code"],
                        "return_code": t.return_code,
                    }
                    for t in transfers
                ],
                "executions": dict(bank.executions),
                "max_executions_per_key": max(bank.executions.values(), default=0),
                "totals": {
                    "created": len(transfers),
                    "executed": len(moved),  # not rejected / canceled: money left the bank
                    "executed_amount": sum(t.params["amount"] for t in moved),
                    "by_status": by_status,
                },
            }

    def executed_all(self) -> dict:
        """Both banks' oracles, and per payout (the idempotency key without its `-<attempt>`) how many
        transfers executed across the banks: `executed_twice` must stay empty."""
        with self._lock:
            per_bank = {name: self.executed(name) for name in self.banks}
            payouts: dict[str, dict] = {}
            for bank in self.banks.values():
                for t in bank.transfers.values():
                    if t.status in NOT_EXECUTED:
                        continue
                    record = t.idempotency_key.rpartition("-")[0] or t.idempotency_key
                    row = payouts.setdefault(record, {"executed": 0, "banks": []})
                    row["executed"] += 1
                    row["banks"].append(bank.name)
            return {
                "banks": per_bank,
                "payouts": payouts,
                "executed_twice": sorted(k for k, v in payouts.items() if v["executed"] > 1),
            }


def _equal(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())
