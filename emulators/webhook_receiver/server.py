"""The webhook receiver over HTTP: tenants' endpoints under `POST /r/<name>`, the control API under
`/_control/…`, the threaded server on loopback. docs/webhook_receiver.md lists every route."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable

import flask
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import make_server

from emulators.webhook_receiver.receivers import SIGNATURE_HEADERS, ControlError, Decision, Receivers
from shared import logs
from shared.config import settings

log = logging.getLogger("ledgerline.webhook_receiver")
MAX_BODY_BYTES = 1 << 20  # what ledgerline sends is far smaller; a larger body is answered 413 (recorded)


def _since(args) -> int:
    raw = args.get("since_seq", "0")
    try:
        return max(0, int(raw))
    except ValueError:
        raise ControlError(400, "invalid_request", "since_seq is an integer", "since_seq") from None


def _drop() -> bool:
    """Shut the connection without a byte of answer; False where there is no socket (a test client)."""
    sock = flask.request.environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return True


def create_app(
    receivers: Receivers,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> flask.Flask:
    app = flask.Flask("webhook_receiver")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(ControlError)
    def _control_error(exc: ControlError):
        return exc.body(), exc.status

    @app.before_request
    def _loopback_only():
        try:
            loopback = ipaddress.ip_address(flask.request.remote_addr or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return {"error": {"code": "forbidden", "message": "loopback only", "field": None}}, 403
        return None

    def body_json() -> object:
        try:
            return json.loads(flask.request.get_data() or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ControlError(400, "malformed_json", "the body is not JSON") from None

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "receivers": len(receivers.describe(clock()))}

    @app.post("/r/<name>")
    def receive(name: str):
        too_large = False
        try:
            body = flask.request.get_data()
        except RequestEntityTooLarge:
            body, too_large = b"", True
        headers = {h: flask.request.headers.get(h) for h in SIGNATURE_HEADERS}
        can_drop = flask.request.environ.get("werkzeug.socket") is not None
        decision = receivers.receive(name, headers, body, clock(), can_drop, too_large)
        _log(decision)
        if decision.delay_s:
            sleep(decision.delay_s)
        if decision.status is None and _drop():
            return flask.Response(b"", status=503)  # never reaches the client: the socket is shut
        status = decision.status or 503
        answer = {"receiver": name, "seq": decision.record["seq"] if decision.record else None, "status": status}
        return flask.Response(json.dumps(answer), status=status, headers=decision.headers, mimetype="application/json")

    # ---------------------------------------------------------------- control (no auth: loopback only)

    @app.get("/_control/receivers")
    def list_receivers():
        return {"receivers": receivers.describe(clock())}

    @app.put("/_control/receivers/<name>")
    def configure(name: str):
        answer = receivers.configure(name, body_json(), clock())
        log.info("receiver configured", extra={"receiver": name, "secrets": answer["secrets"]})
        return answer

    @app.put("/_control/receivers/<name>/behaviour")
    def behave(name: str):
        answer = receivers.behave(name, body_json(), clock())
        log.info("receiver behaviour", extra={"receiver": name, **answer["behaviour"]})
        return answer

    @app.get("/_control/receivers/<name>/received")
    def received(name: str):
        configured, records = receivers.received(name, _since(flask.request.args))
        return {"receiver": name, "configured": configured, "received": records}

    @app.delete("/_control/receivers/<name>")
    def forget(name: str):
        return {"receiver": name, "forgotten": receivers.forget(name)}

    @app.get("/_control/received")
    def received_all():
        records, last = receivers.received_all(_since(flask.request.args))
        return {"received": records, "last_seq": last, "forgotten_records": receivers.forgotten_records}

    @app.delete("/_control/received")
    def reset():
        receivers.reset()
        log.info("receivers reset")
        return {"reset": True}

    return app


def _log(decision: Decision) -> None:
    """One line per request: who, what answer, verified by which secret. Never a secret, a signature or a
    body (the webhook id is no secret: it is the event's dedupe key)."""
    record = decision.record
    if record is None:
        return
    log.info(
        "webhook received",
        extra={
            "receiver": record["receiver"],
            "seq": record["seq"],
            "webhook_id": record["headers"].get("webhook-id"),
            "status": decision.status,
            "outcome": record["outcome"],
            "verified": record["verified"],
            "secret_index": record["secret_index"],
        },
    )


def serve(host: str, port: int) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"webhook receiver: loopback only, not {host}")
    cfg = settings()  # loads emulators/dev.env for what the environment does not set
    logs.configure(cfg.project)
    server = make_server(host, port, create_app(Receivers()), threaded=True)
    log.info("webhook receiver listening", extra={"host": host, "port": port})
    server.serve_forever()
