"""scripts/smoke.py against a fake intake that verifies and parses with the real generic partner."""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scripts import smoke
from shared.config import settings_from
from shared.errors import ClientError
from shared.partners import generic

SECRET = "whsec_bGVkZ2VybGluZS1zbW9rZS10ZXN0LXNlY3JldA=="


def _intake(received: list):
    cfg = settings_from({"GENERIC_WEBHOOK_SECRETS": SECRET, "LEDGERLINE_ENV": "local"})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            try:
                generic.verify(hdrs, body, cfg, int(datetime.now(UTC).timestamp()))
                (parsed,) = generic.parse(body, datetime.now(UTC), cfg, hdrs)
                status, out = 200, {"status": parsed.verdict}
                received.append(parsed)
            except ClientError as exc:
                status, out = exc.status, {"error": {"code": exc.code}}
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_payment_and_its_refund_are_signed_accepted_and_net_zero():
    received: list = []
    server = _intake(received)
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks"
        polled = []
        problems = smoke.send(url, SECRET, "t1", lambda key: polled.append(key) or True)
    finally:
        server.shutdown()
    assert problems == []
    assert polled == ["generic:smoke_t1_pay", "generic:smoke_t1_refund"]
    payment, refund = (p.canonical for p in received)
    assert (payment.kind, refund.kind) == ("payment.captured", "payment.refunded")
    assert payment.amount == refund.amount and refund.payment_reference == payment.reference
    assert payment.customer == refund.customer == smoke.CUSTOMER


def test_a_wrong_secret_or_an_unposted_event_fails_the_smoke_test():
    server = _intake([])
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks"
        assert smoke.send(url, "whsec_d3Jvbmc=", "t2", lambda key: True)[0].startswith("smoke_t2_pay: 401")
        assert smoke.send(url, SECRET, "t3", lambda key: False) == ["smoke_t3_pay: accepted but not posted in time"]
    finally:
        server.shutdown()


def test_the_secret_comes_from_the_environment_first_value():
    assert smoke.secret_from("p", {"SMOKE_WEBHOOK_SECRET": "whsec_a,whsec_b"}) == "whsec_a"
