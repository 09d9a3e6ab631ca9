"""The receivers: named endpoints, their secrets and behaviour, and the record of every request they got.
No HTTP here: `server.py` turns requests into calls of `Receivers` and `Decision`s into responses. Every
method that depends on time takes `now` (seconds, a float clock) so tests drive it; one lock guards all
state (the server is threaded).

Rules (docs/webhook_receiver.md is this module as tables):
- a request to a receiver is verified first, with the Standard Webhooks package, against each of the
  receiver's secrets in order (`secret_index`: the first that verifies); the package allows a timestamp
  5 minutes either side of the real clock;
- then it is answered, the first rule that applies: a body over the server's limit 413; unconfigured
  name 404; down (`down_for_s`, from the
  moment the behaviour was set): no answer (the connection is dropped); a forced `status`; a draw below
  `fail_rate` (the receiver's own RNG, seeded by `seed` each time the behaviour is set): `fail_status`;
  secrets configured and none verified: 401; else 200. A non-2xx answer carries `Retry-After:
  <retry_after>` when set. `delay_s` is waited before any answer;
- every request is recorded on arrival, with what it was answered: a per-receiver `seq` (from 1; a
  forgotten receiver starts again) and a process-wide `global_seq` (never reused, also across resets).
"""

from __future__ import annotations

import random
import re
import threading
from bisect import bisect_right
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypedDict

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
MAX_SECRETS = 10
MAX_RECORDS = 200_000  # beyond, the oldest records are forgotten (`forgotten_records` counts them)
MAX_DELAY_S = 300.0
MAX_DOWN_S = 86_400.0


class ControlError(Exception):
    """A refused control request: status, machine code, the field at fault."""

    def __init__(self, status: int, code: str, message: str, field_path: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field_path

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class Record(TypedDict):
    """One request a receiver got, as GET /_control/…/received lists it."""

    seq: int  # per receiver, from 1
    global_seq: int  # process-wide, never reused
    receiver: str
    configured: bool
    received_at: str  # ISO 8601, UTC, milliseconds
    headers: dict[str, str | None]  # webhook-id, webhook-timestamp, webhook-signature
    body: str  # the raw body as text (UTF-8, undecodable bytes replaced)
    verified: bool
    secret_index: int | None  # which configured secret verified it
    verify_error: str | None  # why it did not verify (None when verified or no secret is configured)
    status: int | None  # what it was answered; None: dropped without an answer
    outcome: str  # "answered" | "dropped"
    delay_s: float


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ControlError(400, "invalid_behaviour", f"{name} is a number within [{low:g}, {high:g}]", name)
    return float(value)


def _integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(400, "invalid_behaviour", f"{name} is an integer within [{low}, {high}]", name)
    return value


@dataclass(frozen=True)
class Behaviour:
    """How a receiver answers (docs/webhook_receiver.md "Behaviour"); PUT replaces it whole."""

    fail_rate: float = 0.0
    fail_status: int = 500
    delay_s: float = 0.0
    status: int | None = None  # forces every answer (410, 429, 200 for an unverified request, ...)
    retry_after: int | None = None  # seconds, sent on every non-2xx answer when set
    down_for_s: float = 0.0  # from the moment the behaviour is set
    seed: int = 0

    @classmethod
    def parse(cls, body: object) -> Behaviour:
        if not isinstance(body, dict):
            raise ControlError(400, "invalid_behaviour", "the behaviour is a JSON object")
        known = {f.name for f in fields(cls)}
        for name in body:
            if name not in known:
                raise ControlError(400, "unknown_field", f"no behaviour named {name!r}", str(name))
        values: dict[str, Any] = {}
        if "fail_rate" in body:
            values["fail_rate"] = _number("fail_rate", body["fail_rate"], 0, 1)
        if "fail_status" in body:
            values["fail_status"] = _integer("fail_status", body["fail_status"], 200, 599)
        if "delay_s" in body:
            values["delay_s"] = _number("delay_s", body["delay_s"], 0, MAX_DELAY_S)
        if body.get("status") is not None:
            values["status"] = _integer("status", body["status"], 200, 599)
        if body.get("retry_after") is not None:
            values["retry_after"] = _integer("retry_after", body["retry_after"], 0, 86_400)
        if "down_for_s" in body:
            values["down_for_s"] = _number("down_for_s", body["down_for_s"], 0, MAX_DOWN_S)
        if "seed" in body:
            values["seed"] = _integer("seed", body["seed"], -(2**63), 2**63 - 1)
        return cls(**values)


@dataclass
class Receiver:
    name: str
    secrets: tuple[str, ...] = field(repr=False)
    behaviour: Behaviour = field(default_factory=Behaviour)
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - faults, not crypto
    down_until: float = 0.0

    def public(self, now: float) -> dict:
        """The receiver's configuration, never its secrets (only how many)."""
        return {
            "receiver": self.name,
            "secrets": len(self.secrets),
            "behaviour": asdict(self.behaviour),
            "down_remaining_s": round(max(0.0, self.down_until - now), 3),
        }


@dataclass(frozen=True)
class Decision:
    """What the server does with one request: answer `status` after `delay_s`, or drop the connection."""

    status: int | None  # None: drop
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    record: Record | None = None


def verify(secrets: tuple[str, ...], body: bytes, headers: dict[str, str | None]) -> tuple[int | None, str | None]:
    """(index of the first secret that verifies, None) or (None, why not) — (None, None) without secrets."""
    if not secrets:
        return None, None
    plain = {name: value for name, value in headers.items() if value is not None}
    reason = "no secret verified the signature"
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, plain, json_parse=False)
            return index, None
        except WebhookVerificationError as exc:
            reason = str(exc)
        except ValueError:  # the package's own parse errors: a malformed header, a body that is not UTF-8
            reason = "malformed signature header or body"
    return None, reason


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_secrets(body: object) -> tuple[str, ...]:
    if not isinstance(body, dict) or set(body) - {"secrets"}:
        raise ControlError(400, "invalid_request", 'the body is {"secrets": ["whsec_…", …]}')
    secrets = body.get("secrets", [])
    if not isinstance(secrets, list) or len(secrets) > MAX_SECRETS:
        raise ControlError(400, "invalid_secret", f"secrets is a list of at most {MAX_SECRETS}", "secrets")
    for index, secret in enumerate(secrets):
        try:
            if not isinstance(secret, str):
                raise TypeError
            Webhook(secret)
        except (TypeError, ValueError, EmptyWebhookSecretError):
            # the message names the position, never the value
            raise ControlError(400, "invalid_secret", "a secret is whsec_<base64>", f"secrets.{index}") from None
    return tuple(secrets)


class Receivers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receivers: dict[str, Receiver] = {}
        self._records: list[Record] = []  # in global_seq order
        self._seq: dict[str, int] = {}
        self._global_seq = 0
        self.forgotten_records = 0

    # ------------------------------------------------------------------------------- control

    def configure(self, name: str, body: object, now: float) -> dict:
        """Create a receiver, or give an existing one new secrets (its behaviour and records stay)."""
        if not NAME.fullmatch(name):
            raise ControlError(400, "invalid_name", "a receiver name is 1-100 of A-Z a-z 0-9 . _ -", "name")
        secrets = check_secrets(body)
        with self._lock:
            receiver = self._receivers.get(name)
            if receiver is None:
                receiver = self._receivers[name] = Receiver(name, secrets)
            else:
                receiver.secrets = secrets
            return receiver.public(now)

    def behave(self, name: str, body: object, now: float) -> dict:
        behaviour = Behaviour.parse(body)
        with self._lock:
            receiver = self._get(name)
            receiver.behaviour = behaviour
            receiver.rng = random.Random(behaviour.seed)  # noqa: S311 - faults, not crypto
            receiver.down_until = now + behaviour.down_for_s
            return receiver.public(now)

    def describe(self, now: float) -> list[dict]:
        with self._lock:
            return [r.public(now) for r in self._receivers.values()]

    def forget(self, name: str) -> bool:
        """Forget a receiver: its secrets, behaviour, records and sequence."""
        with self._lock:
            known = self._receivers.pop(name, None) is not None or name in self._seq
            self._records = [r for r in self._records if r["receiver"] != name]
            self._seq.pop(name, None)
            return known

    def reset(self) -> None:
        """Forget every receiver and record; global_seq goes on (a poller's since_seq stays valid)."""
        with self._lock:
            self._receivers.clear()
            self._records.clear()
            self._seq.clear()

    def _get(self, name: str) -> Receiver:
        receiver = self._receivers.get(name)
        if receiver is None:
            raise ControlError(404, "receiver_not_found", f"no receiver {name!r}: PUT /_control/receivers/{name}")
        return receiver

    # ------------------------------------------------------------------------------- requests

    def receive(
        self,
        name: str,
        headers: dict[str, str | None],
        body: bytes,
        now: float,
        can_drop: bool = True,
        too_large: bool = False,
    ) -> Decision:
        """Verify, decide the answer (module docstring) and record the request. `can_drop`: the server can
        drop the connection; where it cannot (a test client) a down receiver answers 503 instead.
        `too_large`: the body was over the server's limit (not read): 413, whatever the behaviour."""
        with self._lock:
            receiver = self._receivers.get(name)
            secrets = receiver.secrets if receiver else ()
        index, reason = verify(secrets, body, headers)
        with self._lock:
            receiver = self._receivers.get(name)  # it may have changed meanwhile: decide on what it is now
            decision = Decision(413) if too_large else self._decide(receiver, index, reason, now, can_drop)
            record = self._record(name, receiver is not None, headers, body, index, reason, decision, now)
        return Decision(decision.status, decision.delay_s, decision.headers, record)

    def _decide(
        self, receiver: Receiver | None, index: int | None, reason: str | None, now: float, can_drop: bool
    ) -> Decision:
        if receiver is None:
            return Decision(404)
        b = receiver.behaviour
        if now < receiver.down_until:
            return Decision(None if can_drop else 503, b.delay_s)
        if b.status is not None:
            status = b.status
        elif receiver.rng.random() < b.fail_rate:
            status = b.fail_status
        elif receiver.secrets and index is None:
            status = 401
        else:
            status = 200
        headers = {"Retry-After": str(b.retry_after)} if b.retry_after is not None and status >= 300 else {}
        return Decision(status, b.delay_s, headers)

    def _record(
        self,
        name: str,
        configured: bool,
        headers: dict[str, str | None],
        body: bytes,
        index: int | None,
        reason: str | None,
        decision: Decision,
        now: float,
    ) -> Record:
        self._global_seq += 1
        self._seq[name] = self._seq.get(name, 0) + 1
        record = Record(
            seq=self._seq[name],
            global_seq=self._global_seq,
            receiver=name,
            configured=configured,
            received_at=_iso(now),
            headers={h: headers.get(h) for h in SIGNATURE_HEADERS},
            body=body.decode("utf-8", errors="replace"),
            verified=index is not None,
            secret_index=index,
            verify_error=reason,
            status=decision.status,
            outcome="dropped" if decision.status is None else "answered",
            delay_s=decision.delay_s,
        )
        self._records.append(record)
        if len(self._records) > MAX_RECORDS:
            excess = len(self._records) - MAX_RECORDS
            del self._records[:excess]
            self.forgotten_records += excess
        return record

    def received(self, name: str, since_seq: int = 0) -> tuple[bool, list[Record]]:
        """(configured?, the receiver's records with seq > since_seq, in arrival order)."""
        with self._lock:
            mine = [r for r in self._records if r["receiver"] == name and r["seq"] > since_seq]
            return name in self._receivers, mine

    def received_all(self, since_seq: int = 0) -> tuple[list[Record], int]:
        """(every record with global_seq > since_seq, in arrival order; the last global_seq given out)."""
        with self._lock:
            start = bisect_right(self._records, since_seq, key=lambda r: r["global_seq"])
            return self._records[start:], self._global_seq
