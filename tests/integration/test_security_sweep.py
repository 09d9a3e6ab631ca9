"""Bad input and security sweep (issue 9): signature attacks on every partner the intake supports, sent
to the running intake function over raw HTTP/1.1 sockets (the bytes are exactly what an attacker sends:
CR/LF, duplicated and overlong headers, chunked bodies; `requests` would refuse most of them).

Every attack in ATTACKS must be
  - refused with its 4xx status and machine-readable error code (`{"error": {"code": …}}`);
  - logged: the intake log gets a "webhook rejected" JSON line with that code, found by the request's
    own trace id (`traceparent` header -> `logging.googleapis.com/trace`);
  - stored NOWHERE: no Inbox record, body chunk or published marker under the event's inbox key, and no
    message for it on the canonical-events topic (a pull subscription made for this module sees all).
A few attacks never reach the function: gunicorn (the functions-framework server; in the cloud, Google's
front end) refuses header bytes HTTP forbids (bare CR or LF, obsolete line folding) with 400 and fields
over 8 KiB with 431, as plain HTML. Those cells check the status and that nothing was stored.

Controls make the checks able to fail: the same event builders, validly signed, ARE stored under the
inbox key the attacks check and published to the subscription the attacks check.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from standardwebhooks.webhooks import Webhook

from shared.demo import encode, payment_intent_succeeded
from shared.partners import adyen, column, stripe
from tests.factories import adyen_item, adyen_notification, column_event, generic_message
from tests.log_secrets import known_secrets, log_files, scan, stack_run_dir

from .conftest import unique, wait_for

TOLERANCE = 300  # Stripe: cfg.signature_tolerance_seconds; Standard Webhooks: the library's 5 minutes
OUTSIDE = TOLERANCE + 60  # a captured signature just past the window, in the past or the future
AMOUNT = 4321  # distinctive in every body: the tamper attack rewrites it after signing
SERVER_FIELD_LIMIT = 8190  # gunicorn's limit_request_field_size: longer header lines never reach the function

ATTACKED: list[str] = []  # inbox keys of every attack sent: none may ever be published
CONTROLS: list[str] = []  # inbox keys of the valid deliveries: each must be published
CREDENTIALS_SENT: dict[str, str] = {}  # credential header values attackers presented: never logged either


def neighbour(secret: str) -> str:
    """The secret with its last character changed: as close to the real one as a wrong secret gets."""
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


def generic_neighbour(secret: str) -> str:
    """A Standard Webhooks secret one bit away from `secret` (still a well-formed whsec_<base64>)."""
    key = bytearray(base64.b64decode(secret.removeprefix("whsec_")))
    key[-1] ^= 1
    return "whsec_" + base64.b64encode(bytes(key)).decode()


# --------------------------------------------------------------------------------------------- wire


@dataclass
class Request:
    partner: str
    key: str  # the inbox key a stored event would have (partner:partner event id)
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)  # in order; duplicates allowed
    chunked: bool = False


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    trace: str

    def error(self) -> dict | None:
        try:
            return json.loads(self.body)["error"]
        except (ValueError, KeyError, TypeError):
            return None


def send(url: str, request: Request) -> Reply:
    """POST /webhooks/<partner> as raw bytes on a fresh connection; the reply is read until close."""
    where = urlsplit(url)
    trace = uuid.uuid4().hex
    lines = [
        f"POST /webhooks/{request.partner} HTTP/1.1",
        f"Host: {where.netloc}",
        "Connection: close",
        "Content-Type: application/json",
        f"traceparent: 00-{trace}-{uuid.uuid4().hex[:16]}-01",
        *(f"{name}: {value}" for name, value in request.headers),
    ]
    if request.chunked:
        lines.append("Transfer-Encoding: chunked")
        step = 64 << 10
        chunks = [request.body[i : i + step] for i in range(0, len(request.body), step)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(request.body)}")
        payload = request.body
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((where.hostname, where.port), timeout=30) as conn:
        try:
            conn.sendall(head + payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413) and close before reading everything: read its answer
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    status_line, _, rest = answer.partition(b"\r\n")
    head_bytes, _, body = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _dechunk(body)
    return Reply(int(status_line.split()[1]), body, trace)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


# ---------------------------------------------------------------------------------------- partners
# Each builds a valid event (body, inbox key) and the headers that authenticate a body; attacks are
# made from those. `value(...)` is one credential header value, `join` puts two into one header the
# way the scheme lists several, and `smuggle` is the scheme's own trick for extra values.


class Stripe:
    name, header, timestamped = "stripe", "Stripe-Signature", True

    def __init__(self, cfg):
        self.secret = cfg.webhook_secrets("stripe")[0]

    def event(self, pad: int = 0) -> tuple[bytes, str]:
        evt = unique("evt")
        payload = payment_intent_succeeded(evt, unique("pi"), AMOUNT, "usd", unique("cus"))
        if pad:
            payload["padding"] = "x" * pad
        return encode(payload), f"stripe:{evt}"

    def value(self, body: bytes, secret: str | None = None, ts: int | None = None) -> str:
        return stripe.sign(body, secret or self.secret, ts or int(time.time()))

    def headers(self, body: bytes, secret: str | None = None, ts: int | None = None) -> list[tuple[str, str]]:
        return [(self.header, self.value(body, secret, ts))]

    def forged(self, body: bytes) -> str:
        return self.value(body, neighbour(self.secret))

    def join(self, first: str, second: str) -> str:  # t=…,v1=<first>,v1=<second>: several v1 are allowed
        return first + "," + second.split(",", 1)[1]

    def smuggle(self, body: bytes) -> str:
        """Timestamp confusion: a signature captured at an old t, a fresh t for the tolerance check."""
        old = int(time.time()) - OUTSIDE
        return f"t={int(time.time())},{self.value(body, ts=old).split(',', 1)[1]},t={old}"

    def overlong(self, body: bytes) -> str:
        forged = self.forged(body).split(",", 1)[1]
        return f"t={int(time.time())}," + ",".join([forged] * 100)  # ~6.8 KB, under the server limit


class Generic:
    name, header, timestamped = "generic", "webhook-signature", True

    def __init__(self, cfg):
        self.secret = cfg.webhook_secrets("generic")[0]
        self.ids: dict[bytes, str] = {}

    def event(self, pad: int = 0) -> tuple[bytes, str]:
        msg_id = unique("msg")
        payload = generic_message(
            "payment.captured",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            amount=AMOUNT,
            currency="EUR",
            customer=unique("c"),
            reference=unique("pay"),
        )
        if pad:
            payload["padding"] = "x" * pad
        body = encode(payload)
        self.ids[body] = msg_id
        return body, f"generic:{msg_id}"

    def value(self, body: bytes, secret: str | None = None, ts: int | None = None, msg_id: str | None = None) -> str:
        moment = datetime.fromtimestamp(ts or int(time.time()), tz=UTC)
        return Webhook(secret or self.secret).sign(msg_id or self.ids[body], moment, body.decode())

    def headers(self, body: bytes, secret: str | None = None, ts: int | None = None) -> list[tuple[str, str]]:
        moment = ts or int(time.time())
        return [
            ("webhook-id", self.ids[body]),
            ("webhook-timestamp", str(moment)),
            (self.header, self.value(body, secret, moment)),
        ]

    def forged(self, body: bytes) -> str:
        return self.value(body, generic_neighbour(self.secret))

    def join(self, first: str, second: str) -> str:  # the spec lists signatures separated by spaces
        return f"{first} {second}"

    def smuggle(self, body: bytes) -> str:
        """A real signature of this very body, but for another message id (replay under a new id)."""
        return f"{self.forged(body)} v1a,{'A' * 43}= {self.value(body, msg_id=unique('msg'))}"

    def overlong(self, body: bytes) -> str:
        return " ".join([self.forged(body)] * 140)  # ~7.4 KB


class Column:
    # The Column-style scheme signs the body only: no timestamp, so no replay window to attack (a
    # replay is a harmless duplicate, deduplicated by event id; shared/partners/column.py).
    name, header, timestamped = "column", "Column-Signature", False

    def __init__(self, cfg):
        self.secret = cfg.webhook_secrets("column")[0]

    def event(self, pad: int = 0) -> tuple[bytes, str]:
        evnt = unique("evnt")
        payload = column_event(evnt, "ach.incoming_transfer.completed", unique("acht"), AMOUNT, unique("acno"))
        if pad:
            payload["padding"] = "x" * pad
        return encode(payload), f"column:{evnt}"

    def value(self, body: bytes, secret: str | None = None, ts: int | None = None) -> str:
        return column.sign(body, secret or self.secret)

    def headers(self, body: bytes, secret: str | None = None, ts: int | None = None) -> list[tuple[str, str]]:
        return [(self.header, self.value(body, secret))]

    def forged(self, body: bytes) -> str:
        return self.value(body, neighbour(self.secret))

    def join(self, first: str, second: str) -> str:
        return f"{first},{second}"

    def smuggle(self, body: bytes) -> str:
        return f"{self.forged(body)} {self.forged(body + b' ')}"

    def overlong(self, body: bytes) -> str:
        return self.forged(body) * 120  # 7.7 KB of hex


class Adyen:
    # Adyen's item HMAC covers no timestamp (eventDate is not among the signed fields): nothing to
    # replay outside a window; a replayed item is a duplicate, deduplicated by its event code + PSP
    # reference. The request credential is HTTP Basic auth, so the header attacks target Authorization.
    name, header, timestamped = "adyen", "Authorization", False

    def __init__(self, cfg):
        self.hmac_key = cfg.secret(adyen.HMAC_KEYS)[0]
        self.user, self.password = cfg.secret(adyen.BASIC_AUTH)[0].split(":", 1)

    def item(self, hmac_key: str | None = None) -> tuple[dict, str]:
        psp = unique("PSP")
        item = adyen_item("AUTHORISATION", psp, AMOUNT, "EUR", hmac_key or self.hmac_key, shopper=unique("shopper"))
        return item, f"adyen:AUTHORISATION-{psp}-true"

    def event(self, pad: int = 0, hmac_key: str | None = None) -> tuple[bytes, str]:
        item, key = self.item(hmac_key)
        payload = adyen_notification(item)
        if pad:
            payload["padding"] = "x" * pad
        return encode(payload), key

    def value(self, body: bytes, secret: str | None = None, ts: int | None = None) -> str:
        return adyen.basic_auth(self.user, secret or self.password)

    def headers(self, body: bytes, secret: str | None = None, ts: int | None = None) -> list[tuple[str, str]]:
        return [(self.header, self.value(body, secret))]

    def forged(self, body: bytes) -> str:
        return self.value(body, neighbour(self.password))

    # No join: Adyen's appended-signature attack targets the item HMAC in the body (build()).

    def smuggle(self, body: bytes) -> str:
        """A password with the real one inside it: `user:<neighbour>:<real password>`."""
        return adyen.basic_auth(self.user, f"{neighbour(self.password)}:{self.password}")

    def overlong(self, body: bytes) -> str:
        return adyen.basic_auth(self.user, "p" * 5500)  # ~7.3 KB of base64


SCHEMES = {"stripe": Stripe, "adyen": Adyen, "generic": Generic, "column": Column}


# ----------------------------------------------------------------------------------------- attacks


def build(cfg, partner: str, attack: str) -> Request:
    """One attack on one partner, as bytes to send. The event itself is always valid and fresh."""
    scheme = SCHEMES[partner](cfg)
    if partner == "adyen" and attack == "wrong_secret":  # the body carries the HMAC: sign with a neighbour key
        body, key = scheme.event(hmac_key=neighbour(scheme.hmac_key))
        return Request(partner, key, body, scheme.headers(body))
    if partner == "adyen" and attack == "missing_item_hmac":
        item, key = scheme.item()
        del item["NotificationRequestItem"]["additionalData"]["hmacSignature"]
        body = encode(adyen_notification(item))
        return Request(partner, key, body, scheme.headers(body))
    if partner == "adyen" and attack == "appended_other_body_signature":
        # The item signature of THIS item, forged, with the valid signature of another item appended.
        item, key = scheme.item()
        other, _ = scheme.item()
        fields = item["NotificationRequestItem"]
        forged = adyen.sign(fields, neighbour(scheme.hmac_key))
        fields["additionalData"]["hmacSignature"] = (
            forged + other["NotificationRequestItem"]["additionalData"]["hmacSignature"]
        )
        body = encode(adyen_notification(item))
        return Request(partner, key, body, scheme.headers(body))
    if attack in ("oversize_body", "oversize_body_chunked"):
        body, key = scheme.event(pad=cfg.max_body_bytes)  # validly signed: only its size is wrong
        return Request(partner, key, body, scheme.headers(body), chunked=attack == "oversize_body_chunked")
    body, key = scheme.event()
    other_body, _ = scheme.event()  # another valid event (never sent): its signature is the "captured" one
    header = scheme.header
    valid = scheme.headers(body)
    rest = [(n, v) for n, v in valid if n != header]  # generic: webhook-id and webhook-timestamp
    forged = scheme.forged(body)  # signed with a neighbour of the real secret (Adyen: of the password)
    # A value valid for another body (Basic auth is not bound to a body: Adyen gets another wrong one).
    other = scheme.value(other_body) if partner != "adyen" else adyen.basic_auth(scheme.user, "not-" + scheme.user)
    if attack in ("wrong_secret", "wrong_basic_auth"):
        return Request(partner, key, body, [*rest, (header, forged)])
    if attack == "tampered_body":
        tampered = body.replace(str(AMOUNT).encode(), str(AMOUNT * 1000).encode())
        assert tampered != body
        return Request(partner, key, tampered, valid)
    if attack in ("replayed_old_timestamp", "future_timestamp"):
        ts = int(time.time()) + (OUTSIDE if attack == "future_timestamp" else -OUTSIDE)
        return Request(partner, key, body, scheme.headers(body, ts=ts))  # the real secret, the wrong time
    if attack == "crlf_smuggled_header":
        # CR LF inside the value, then a second signature header: on the wire, a duplicated header.
        return Request(partner, key, body, [*rest, (header, f"{forged}\r\n{header}: {other}")])
    if attack == "duplicated_header":
        # Adyen: a wrong and the REAL credential; ambiguous credentials are refused, never resolved.
        second = scheme.value(body) if partner == "adyen" else forged
        return Request(partner, key, body, [*rest, (header, other), (header, second)])
    if attack == "bare_cr_in_header":
        return Request(partner, key, body, [*rest, (header, f"{forged}\r{other}")])
    if attack == "bare_lf_in_header":
        return Request(partner, key, body, [*rest, (header, f"{forged}\n{header}: {other}")])
    if attack == "obs_fold_header":
        return Request(partner, key, body, [*rest, (header, f"{forged}\r\n {other}")])
    if attack == "extra_values":
        return Request(partner, key, body, [*rest, (header, scheme.smuggle(body))])
    if attack == "appended_other_body_signature":
        return Request(partner, key, body, [*rest, (header, scheme.join(forged, other))])
    if attack == "overlong_header":
        value = scheme.overlong(body)
        assert 6000 < len(header) + 2 + len(value) < SERVER_FIELD_LIMIT
        return Request(partner, key, body, [*rest, (header, value)])
    if attack == "header_beyond_server_limit":
        return Request(partner, key, body, [*rest, (header, forged + "," + "0" * (64 << 10))])
    if attack == "missing_signature":
        return Request(partner, key, body, rest)
    raise AssertionError(f"unknown attack {attack}")


# attack -> {partner: (status, error code)}; code None: refused by the HTTP server before the function
# (no JSON body, no function log line). gunicorn joins duplicated headers with "," (WSGI), so a second
# Stripe-Signature brings a second t= (malformed) and a second Column-Signature breaks the hex format.
INVALID, MALFORMED, MISSING = "signature_invalid", "signature_malformed", "signature_missing"
STALE = "timestamp_out_of_tolerance"
EVERY = ("stripe", "adyen", "generic", "column")
ATTACKS: dict[str, dict[str, tuple[int, str | None]]] = {
    "wrong_secret": dict.fromkeys(EVERY, (401, INVALID)),
    "wrong_basic_auth": {"adyen": (401, "basic_auth_invalid")},
    "tampered_body": dict.fromkeys(EVERY, (401, INVALID)),
    "replayed_old_timestamp": {"stripe": (401, STALE), "generic": (401, STALE)},
    "future_timestamp": {"stripe": (401, STALE), "generic": (401, STALE)},
    "crlf_smuggled_header": {
        "stripe": (401, MALFORMED),
        "adyen": (401, "basic_auth_invalid"),
        "generic": (401, INVALID),
        "column": (401, MALFORMED),
    },
    "duplicated_header": {
        "stripe": (401, MALFORMED),
        "adyen": (401, "basic_auth_invalid"),
        "generic": (401, INVALID),
        "column": (401, MALFORMED),
    },
    "bare_cr_in_header": dict.fromkeys(EVERY, (400, None)),
    "bare_lf_in_header": dict.fromkeys(EVERY, (400, None)),
    "obs_fold_header": dict.fromkeys(EVERY, (400, None)),
    "extra_values": {
        "stripe": (401, MALFORMED),
        "adyen": (401, "basic_auth_invalid"),
        "generic": (401, INVALID),
        "column": (401, MALFORMED),
    },
    "appended_other_body_signature": {
        "stripe": (401, INVALID),
        "adyen": (401, INVALID),
        "generic": (401, INVALID),
        "column": (401, MALFORMED),
    },
    "overlong_header": {
        "stripe": (401, INVALID),
        "adyen": (401, "basic_auth_invalid"),
        "generic": (401, INVALID),
        "column": (401, MALFORMED),
    },
    "header_beyond_server_limit": dict.fromkeys(EVERY, (431, None)),
    "missing_signature": {
        "stripe": (401, MISSING),
        "adyen": (401, "basic_auth_missing"),
        "generic": (401, MISSING),
        "column": (401, MISSING),
    },
    "missing_item_hmac": {"adyen": (401, INVALID)},
    "oversize_body": dict.fromkeys(EVERY, (413, "payload_too_large")),
    "oversize_body_chunked": dict.fromkeys(EVERY, (413, "payload_too_large")),
}
TIMESTAMP_ATTACKS = ("replayed_old_timestamp", "future_timestamp")


def table():
    """Every (partner, attack) cell; a timestamp attack on a partner whose scheme has no timestamp is
    listed as an explicit skip (and only there: the scheme class must say it is untimestamped)."""
    for attack, expected in ATTACKS.items():
        for partner in EVERY:
            cell = f"{partner}-{attack}"
            if partner in expected:
                yield pytest.param(partner, attack, *expected[partner], id=cell)
            elif attack in TIMESTAMP_ATTACKS:
                assert not SCHEMES[partner].timestamped, cell
                reason = f"{partner}: the signature covers no timestamp, nothing to replay outside a window"
                yield pytest.param(partner, attack, 0, None, id=cell, marks=pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def intake_log(cfg):
    run_dir = stack_run_dir(cfg)
    assert run_dir is not None, f"no logs of a running stack under {cfg.run_dir}"
    return run_dir / "logs" / "intake.log"


@pytest.fixture(scope="module")
def canonical_events(cfg):
    """A pull subscription on canonical-events made before any attack: it receives every publish."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(cfg.project, f"security-sweep-{uuid.uuid4().hex[:12]}")
    subscriber.create_subscription(request={"name": path, "topic": f"projects/{cfg.project}/topics/canonical-events"})
    yield subscriber, path
    subscriber.delete_subscription(request={"subscription": path})
    subscriber.close()


def rejected_lines(log_path, offset: int, trace: str) -> list[dict]:
    """The "webhook rejected" lines the intake logged for the request with this trace id."""
    with log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("logging.googleapis.com/trace", "")).endswith("/" + trace):
            found.append(entry)
    return [e for e in found if e.get("message") == "webhook rejected"]


def stored(db, key: str) -> list[str]:
    """What the datastore holds for an inbox key: the record, its first body chunk, its published marker."""
    keys = [db.key("Inbox", key), db.key("InboxBody", f"{key}#0"), db.key("InboxPublished", key)]
    return [f"{e.key.kind}:{e.key.name}" for e in db.get_multi(keys)]


# ------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("partner", EVERY)
def test_control_a_valid_delivery_is_stored(cfg, db, intake, canonical_events, partner):
    """The builders the attacks use make events that ARE stored (under the key the attacks check)."""
    scheme = SCHEMES[partner](cfg)
    body, key = scheme.event()
    reply = send(intake, Request(partner, key, body, scheme.headers(body)))
    assert reply.status == 200, reply.body[:300]
    assert f"Inbox:{key}" in stored(db, key)
    CONTROLS.append(key)


@pytest.mark.parametrize(("partner", "attack", "status", "code"), list(table()))
def test_signature_attack_is_refused_logged_and_stores_nothing(
    cfg, db, intake, intake_log, canonical_events, partner, attack, status, code
):
    request = build(cfg, partner, attack)
    for name, value in request.headers:
        if name == "Authorization":
            CREDENTIALS_SENT[f"{partner}-{attack} Authorization"] = value.split()[-1]
    offset = intake_log.stat().st_size
    ATTACKED.append(request.key)
    reply = send(intake, request)
    assert reply.status == status, reply.body[:300]
    if code is None:  # the HTTP server refused the bytes: the function never ran
        assert reply.error() is None and rejected_lines(intake_log, offset, reply.trace) == []
    else:
        assert reply.error() is not None and reply.error()["code"] == code, reply.body[:300]
        lines = wait_for(lambda: rejected_lines(intake_log, offset, reply.trace), timeout=5, what="rejection logged")
        assert [(e["code"], e["status"], e["partner"]) for e in lines] == [(code, status, partner)]
    assert stored(db, request.key) == []


def test_nothing_published_for_any_attack(cfg, db, intake, canonical_events):
    """After the attacks, a last valid delivery; once it (and every control) came through the
    subscription, nothing an attacker sent may have come through it."""
    subscriber, path = canonical_events
    scheme = Stripe(cfg)
    body, key = scheme.event()
    assert send(intake, Request("stripe", key, body, scheme.headers(body))).status == 200
    expected = {*CONTROLS, key}
    seen: set[str] = set()

    def drained():
        try:
            response = subscriber.pull(request={"subscription": path, "max_messages": 500}, timeout=10)
        except gexc.DeadlineExceeded:
            return False
        if response.received_messages:
            seen.update(m.message.attributes.get("event_id", "") for m in response.received_messages)
            subscriber.acknowledge(
                request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
        return expected <= seen

    wait_for(drained, timeout=60, interval=0.5, what="the control deliveries on canonical-events")
    assert ATTACKED, "run with the attacks: nothing to check"
    assert sorted(seen & set(ATTACKED)) == []
    assert all(stored(db, k) == [] for k in ATTACKED)  # and nothing arrived late in the inbox either


def test_no_secret_in_any_log_after_the_attacks(cfg, intake_log):
    """The attacks sent near-miss secrets and (duplicated_header) the real Adyen credential: no log
    holds a secret, nor any credential an attacker presented."""
    files = log_files(intake_log.parent)
    assert intake_log in files and intake_log.stat().st_size > 0
    secrets = {**known_secrets(), **CREDENTIALS_SENT}
    assert scan(files, secrets) == []
