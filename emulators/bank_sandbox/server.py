"""The bank sandbox over HTTP: the Column-style transfer API of each bank under `/<bank>/…`, the control
endpoint under `/_control/…`, a clock thread (settlements, returns) and a webhook thread (signed events
to intake, retried with backoff). docs/bank_sandbox.md lists every route."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import flask
import requests
from werkzeug.serving import make_server

from emulators.bank_sandbox.bank import BANK_NAMES, Answer, Delivery, Sandbox, SandboxError
from shared import logs
from shared.config import Settings, settings
from shared.partners import plugin
from shared.partners.column import sign

log = logging.getLogger("ledgerline.bank_sandbox")
API_KEY_ENV = {name: f"{name.upper()}_API_KEY" for name in BANK_NAMES}  # dev values in emulators/dev.env
WEBHOOK_TIMEOUT_S = 5.0
MAX_LIST = 100


def _respond(answer: Answer, hang_seconds: float = 0.0) -> flask.Response:
    """The answer as a response; for "hang" only after hang_seconds (long past any sane client timeout),
    for "close" never: the connection is shut without a byte of answer."""
    if answer.after == "hang":
        time.sleep(hang_seconds)
        return flask.Response(b"", status=504)
    if answer.after == "close":
        sock = flask.request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return flask.Response(b"", status=500)  # never reaches the client: the socket is shut
    response = flask.Response(json.dumps(answer.body), status=answer.status, mimetype="application/json")
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


def create_app(sandbox: Sandbox, clock: Callable[[], float] = time.time) -> flask.Flask:
    app = flask.Flask("bank_sandbox")

    def faults_of(bank: str):
        return sandbox.bank(bank).faults

    def latency(bank: str) -> None:
        delay = faults_of(bank).latency_ms / 1000
        if delay:
            time.sleep(delay)

    @app.errorhandler(SandboxError)
    def _sandbox_error(exc: SandboxError):
        return _respond(exc.answer())

    def body_json() -> object:
        try:
            return json.loads(flask.request.get_data() or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SandboxError(400, "malformed_json", "the body is not JSON") from None

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "banks": list(BANK_NAMES)}

    @app.post("/<bank>/transfers/ach")
    def create_transfer(bank: str):
        sandbox.bank(bank)
        latency(bank)
        try:
            body = json.loads(flask.request.get_data() or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None  # validated (400) after the gate
        headers = flask.request.headers
        answer = sandbox.create(bank, headers.get("Authorization"), headers.get("Idempotency-Key"), body, clock())
        return _respond(answer, faults_of(bank).hang_seconds)

    @app.get("/<bank>/transfers/ach/<transfer_id>")
    def get_transfer(bank: str, transfer_id: str):
        sandbox.bank(bank)
        latency(bank)
        return _respond(sandbox.get(bank, flask.request.headers.get("Authorization"), transfer_id, clock()))

    @app.get("/<bank>/transfers/ach")
    def list_transfers(bank: str):
        sandbox.bank(bank)
        latency(bank)
        key = flask.request.args.get("idempotency_key")
        try:
            limit = min(MAX_LIST, max(1, int(flask.request.args.get("limit", MAX_LIST))))
        except ValueError:
            raise SandboxError(400, "invalid_request", "limit is an integer", "limit") from None
        return _respond(sandbox.list(bank, flask.request.headers.get("Authorization"), key, limit, clock()))

    # ---------------------------------------------------------------- control (no auth: local only)

    @app.post("/_control/<bank>/faults")
    def set_faults(bank: str):
        return {"bank": bank, "faults": sandbox.set_faults(bank, body_json(), clock())}

    @app.delete("/_control/<bank>/faults")
    def reset_faults(bank: str):
        return {"bank": bank, "faults": sandbox.reset_faults(bank, clock())}

    @app.get("/_control/<bank>/faults")
    def get_faults(bank: str):
        return {"bank": bank, "faults": sandbox.bank(bank).faults.public(clock())}

    @app.post("/_control/<bank>/clock")
    def set_clock(bank: str):
        return {"bank": bank, **sandbox.set_clock(bank, body_json())}

    @app.post("/_control/<bank>/settle")
    def settle(bank: str):
        return {"bank": bank, "settled": sandbox.settle_now(bank, clock())}

    @app.post("/_control/<bank>/return/<transfer_id>")
    def force_return(bank: str, transfer_id: str):
        body = body_json()
        code = body.get("code") if isinstance(body, dict) else None
        return sandbox.force_return(bank, transfer_id, code, clock())

    @app.get("/_control/<bank>/executed")
    def executed(bank: str):
        return sandbox.executed(bank)

    @app.get("/_control/<bank>/webhooks")
    def webhooks(bank: str):
        return {"bank": bank, "deliveries": sandbox.webhooks(bank)}

    @app.get("/_control/executed")
    def executed_all():
        return sandbox.executed_all()

    @app.post("/_control/reset")
    def reset():
        sandbox.reset()
        return {"reset": True}

    return app


# -------------------------------------------------------------------- webhooks and the clock


class WebhookSender:
    """Posts a delivery to intake `POST {intake}/webhooks/<bank>`, signed `Column-Signature` (hex
    HMAC-SHA256 of the raw body) with the bank's first active webhook secret from settings."""

    def __init__(self, cfg: Settings, session: requests.Session | None = None):
        self.intake = cfg.function_urls["intake"]
        self.secrets = {name: cfg.secret(plugin(name).WEBHOOK_SECRETS) for name in BANK_NAMES}
        self.headers = {name: plugin(name).SCHEME.signature_header for name in BANK_NAMES}
        self.session = session or requests.Session()

    def __call__(self, delivery: Delivery) -> int | str:
        secrets = self.secrets[delivery.bank]
        if not secrets:
            return "no_webhook_secret"
        headers = {"Content-Type": "application/json", self.headers[delivery.bank]: sign(delivery.body, secrets[0])}
        try:
            response = self.session.post(
                f"{self.intake}/webhooks/{delivery.bank}",
                data=delivery.body,
                headers=headers,
                timeout=WEBHOOK_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            return type(exc).__name__
        return response.status_code


def run_background(
    sandbox: Sandbox,
    send: Callable[[Delivery], int | str],
    stop: threading.Event,
    period: float = 0.1,
    workers: int = 8,
) -> None:
    """The clock and the webhook deliveries: tick, then hand what is due to a pool of senders (each
    delivery is claimed once; the events of one transfer are due at different times, so stay in order)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            now = time.time()
            sandbox.tick(now)
            for delivery in sandbox.due_deliveries(now):
                pool.submit(_deliver, sandbox, send, delivery)
            stop.wait(period)


def _deliver(sandbox: Sandbox, send: Callable[[Delivery], int | str], delivery: Delivery) -> None:
    status = send(delivery)
    sandbox.delivered(delivery, status, time.time())
    log.info(
        "webhook delivered" if isinstance(status, int) and 200 <= status < 300 else "webhook not accepted",
        extra={
            "bank": delivery.bank,
            "event_id": delivery.event_id,
            "type": delivery.event_type,
            "attempt": delivery.attempts,
            "status": status,
        },
    )


def local_api(bank: str, cfg: Settings | None = None, environ=None) -> tuple[str, str]:
    """(base URL, API key) of one bank of the local sandbox, as the payments adapter is given them."""
    import os

    cfg = cfg or settings()
    environ = os.environ if environ is None else environ
    return f"http://127.0.0.1:{cfg.port('bank_sandbox')}/{bank}", environ.get(API_KEY_ENV[bank], "")


def api_keys(environ) -> dict[str, str]:
    keys = {name: environ.get(env, "") for name, env in API_KEY_ENV.items()}
    missing = [API_KEY_ENV[n] for n, k in keys.items() if not k]
    if missing:
        raise SystemExit(f"bank sandbox: set {', '.join(missing)} (dev values in emulators/dev.env)")
    return keys


def serve(host: str, port: int, settle_after: float, return_after: float) -> None:
    import os

    cfg = settings()  # loads emulators/dev.env for what the environment does not set
    logs.configure(cfg.project)
    sandbox = Sandbox(api_keys(os.environ), settle_after=settle_after, return_after=return_after)
    stop = threading.Event()
    worker = threading.Thread(target=run_background, args=(sandbox, WebhookSender(cfg), stop), daemon=True)
    worker.start()
    server = make_server(host, port, create_app(sandbox), threaded=True)
    log.info(
        "bank sandbox listening",
        extra={"host": host, "port": port, "banks": list(BANK_NAMES), "intake": cfg.function_urls["intake"]},
    )
    try:
        server.serve_forever()
    finally:
        stop.set()
