"""The SSRF-safe sender of webhooks (shared/adapters/webhook_http.py) against real servers on 127.0.0.1
(http.server, in threads; TLS with a CA and a certificate for a made-up name generated here): answers
kept as they are (no redirect followed), the total deadline against trickling servers, the body cap,
refused URLs and addresses, the IP pinned after one lookup, and TLS checked against the URL's name."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.adapters.webhook_http import USER_AGENT, Answer, post

BIG = 1 << 20


@dataclass
class Seen:
    requests: list[dict] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: Seen

    def log_message(self, format, *args):  # quiet
        pass

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, data: bytes, every: float = 0.1) -> None:
        try:
            for i in range(len(data)):
                if self.seen.stop.wait(every):
                    return
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
        except OSError:
            pass  # the client cut it: that is the point

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.seen.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        self.close_connection = True
        path = self.path.split("?")[0]
        if path == "/ok":
            self.answer(200, b"ok", Content_Type="text/plain")
        elif path == "/fail":
            self.answer(500, b"boom")
        elif path == "/redirect":
            self.answer(302, b"", Location=f"http://127.0.0.1:{self.server.server_address[1]}/ok")
        elif path == "/gone":
            self.answer(410, b"gone")
        elif path == "/busy":
            self.answer(429, b"slow down", Retry_After="30", X_Other="dropped")
        elif path == "/big":
            try:
                self.answer(200, b"x" * BIG)
            except OSError:
                pass
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
        elif path == "/trickle-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            self.trickle(b"y" * 100)
        elif path == "/trickle-headers":
            self.trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"z" * 100 + b"\r\n\r\n")
        elif path == "/drop":
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.answer(404)


@dataclass
class Server:
    port: int
    seen: Seen

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def serve(context: ssl.SSLContext | None = None):
    seen = Seen()
    handler = type("BoundHandler", (Handler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: seen.sni.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, Server(server.server_address[1], seen)


@pytest.fixture
def http_server():
    server, handle = serve()
    yield handle
    handle.seen.stop.set()
    server.shutdown()
    server.server_close()


def resolver(*answers: str, calls: list | None = None):
    """A getaddrinfo stand-in: each call answers the next list of addresses (the last one repeats)."""
    answers_list = [a.split(",") for a in answers]

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if calls is not None:
            calls.append(host)
        ips = answers_list[min(len(calls or [None]) - 1, len(answers_list) - 1)]
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    return resolve


def no_resolver(*args, **kwargs):
    raise AssertionError("no lookup expected")


# ------------------------------------------------------------------------------ answers as they are


def test_a_200_answer_with_what_the_server_saw(http_server):
    answer = post(
        http_server.url("/ok?x=1"),
        b'{"type":"payout.paid"}',
        {"content-type": "application/json", "webhook-id": "msg_1", "Host": "evil.example", "Connection": "keep"},
        local=True,
        resolve=no_resolver,
    )
    assert answer == Answer(200, {"content-type": "text/plain", "content-length": "2"}, b"ok", answer.elapsed_ms)
    assert 0 <= answer.elapsed_ms < 5000
    (request,) = http_server.seen.requests
    assert request["path"] == "/ok?x=1"
    assert request["body"] == b'{"type":"payout.paid"}'
    headers = request["headers"]
    assert headers["host"] == f"127.0.0.1:{http_server.port}"  # never the caller's Host
    assert headers["connection"] == "close"
    assert headers["webhook-id"] == "msg_1"
    assert headers["user-agent"] == USER_AGENT
    assert headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(("path", "status"), [("/fail", 500), ("/gone", 410), ("/redirect", 302)])
def test_error_answers_are_answers(http_server, path, status):
    answer = post(http_server.url(path), b"{}", {"user-agent": "custom/1"}, local=True)
    assert (answer.status, answer.error) == (status, None)
    assert "location" not in answer.headers
    assert [r["path"] for r in http_server.seen.requests] == [path]  # a redirect is never followed
    assert http_server.seen.requests[0]["headers"]["user-agent"] == "custom/1"


def test_retry_after_is_kept_and_other_headers_are_not(http_server):
    answer = post(http_server.url("/busy"), b"{}", {}, local=True)
    assert answer.status == 429
    assert answer.headers == {"retry-after": "30", "content-length": "9"}
    assert answer.body == b"slow down"


def test_a_large_body_is_capped(http_server):
    started = time.monotonic()
    answer = post(http_server.url("/big"), b"{}", {}, local=True, body_cap=1000)
    assert answer.status == 200 and answer.body == b"x" * 1000
    assert answer.headers["content-length"] == str(BIG)
    assert time.monotonic() - started < 3


def test_a_body_cut_short_by_the_server_keeps_the_status(http_server):
    answer = post(http_server.url("/short"), b"{}", {}, local=True)
    assert (answer.status, answer.body, answer.error) == (200, b"0123456789", None)


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers"])
def test_a_trickling_server_is_cut_at_the_deadline(http_server, path):
    # every byte comes within any per-read timeout; only a total deadline stops it
    answer = post(http_server.url(path), b"{}", {}, local=True, timeout_s=0.6)
    assert (answer.status, answer.error) == (None, "timeout")
    assert 550 <= answer.elapsed_ms < 1500


def test_a_connection_dropped_without_an_answer(http_server):
    answer = post(http_server.url("/drop"), b"{}", {}, local=True)
    assert answer.status is None
    assert answer.error in ("connection_closed", "connection_reset")


def test_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = post(f"http://127.0.0.1:{port}/", b"{}", {}, local=True)
    assert (answer.status, answer.error) == (None, "connection_refused")


# ------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("url", "local", "error"),
    [
        ("http://hooks.tenant.example/", False, "url_refused: url_scheme"),
        ("http://hooks.tenant.example/", True, "url_refused: url_scheme"),
        ("https://u:p@hooks.tenant.example/", False, "url_refused: url_credentials"),
        ("https://10.0.0.5/", False, "url_refused: url_host_refused"),
        ("https://metadata.google.internal/computeMetadata/v1/", False, "url_refused: url_host_refused"),
        ("https://hooks.tenant.example/#x", False, "url_refused: url_invalid"),
        ("pubsub://projects/my-project/topics/hooks", False, "url_refused: destination_unsupported"),
        ("pubsub://projects/my-project/topics/hooks", True, "url_refused: destination_unsupported"),
    ],
)
def test_refused_urls_are_never_resolved(url, local, error):
    answer = post(url, b"{}", {}, local=local, resolve=no_resolver)
    assert (answer.status, answer.error) == (None, error)


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("fd20:ce::254", "fd20:ce::254"),
        ("::ffff:10.0.0.5", "::ffff:a00:5"),
        ("8.8.8.8,10.0.0.5", "10.0.0.5"),  # ANY address refused refuses the attempt
    ],
)
def test_refused_addresses_in_the_cloud(addresses, refused):
    answer = post("https://hooks.tenant.example/in", b"{}", {}, resolve=resolver(addresses))
    assert (answer.status, answer.error) == (None, f"address_refused: {refused}")


def test_private_addresses_are_refused_locally_too():
    answer = post("https://hooks.tenant.test/", b"{}", {}, local=True, resolve=resolver("192.168.1.10"))
    assert answer.error == "address_refused: 192.168.1.10"


def test_dns_failure_and_slowness():
    def fails(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert post("https://nowhere.tenant.example/", b"{}", {}, resolve=fails).error == "dns: Name or service not known"
    assert post("https://nowhere.tenant.example/", b"{}", {}, resolve=lambda *a: []).error == "dns: no address"

    def slow(*args, **kwargs):
        time.sleep(2)
        return []

    answer = post("https://slow.tenant.example/", b"{}", {}, resolve=slow, timeout_s=0.3)
    assert (answer.error, answer.elapsed_ms < 1000) == ("dns: timeout", True)


def test_loopback_name_locally_is_resolved_once_and_pinned(http_server):
    calls: list[str] = []
    answer = post(
        http_server.url("/ok", host="localhost"), b"{}", {}, local=True, resolve=resolver("127.0.0.1", calls=calls)
    )
    assert answer.status == 200
    assert calls == ["localhost"]
    assert http_server.seen.requests[0]["headers"]["host"] == f"localhost:{http_server.port}"


def test_the_next_address_is_tried_when_one_refuses(http_server):
    # ::1 has no listener (refused, or no IPv6 at all): the attempt goes on to 127.0.0.1
    answer = post(http_server.url("/ok", host="localhost"), b"{}", {}, local=True, resolve=resolver("::1,127.0.0.1"))
    assert answer.status == 200


# ------------------------------------------------------------------------------------------ TLS

NAME = "hooks.tenant.test"


@dataclass(frozen=True)
class Pki:
    ca_file: str
    cert_file: str
    key_file: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    """A CA and a server certificate for NAME only (not for 127.0.0.1), made for this test run."""
    out = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledgerline test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital signature, cert sign, CRL sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(str(out / "ca.pem"), str(out / "cert.pem"), str(out / "key.pem"))
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (out / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def https_server(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    server, handle = serve(context)
    yield handle
    handle.seen.stop.set()
    server.shutdown()
    server.server_close()


def test_https_connects_to_the_resolved_ip_with_the_url_name_as_sni_and_host(https_server, pki):
    calls: list[str] = []
    # the name resolves to 127.0.0.1 on the first lookup and to a private address on any later one: a
    # second lookup (DNS rebinding) would be refused, so the answer proves the checked IP was used
    resolve = resolver("127.0.0.1", "10.0.0.5", calls=calls)
    answer = post(
        https_server.url("/ok", host=NAME, scheme="https"), b"{}", {}, local=True, resolve=resolve, ca_certs=pki.ca_file
    )
    assert (answer.status, answer.body, answer.error) == (200, b"ok", None)
    assert calls == [NAME]
    assert https_server.seen.sni == [NAME]
    assert https_server.seen.requests[0]["headers"]["host"] == f"{NAME}:{https_server.port}"


def test_https_refuses_a_certificate_for_another_name(https_server, pki):
    url = https_server.url("/ok", host="other.tenant.test", scheme="https")
    answer = post(url, b"{}", {}, local=True, resolve=resolver("127.0.0.1"), ca_certs=pki.ca_file)
    assert answer.status is None and answer.error.startswith("tls: ")
    assert "other.tenant.test" in answer.error or "mismatch" in answer.error.lower()
    assert https_server.seen.requests == []


def test_https_refuses_an_unknown_ca(https_server):
    # certifi's bundle does not know the test CA
    answer = post(
        https_server.url("/ok", host=NAME, scheme="https"), b"{}", {}, local=True, resolve=resolver("127.0.0.1")
    )
    assert answer.status is None and answer.error.startswith("tls: ")
    assert https_server.seen.requests == []


def test_https_to_the_ip_itself_checks_the_ip_against_the_certificate(https_server, pki):
    # the certificate names NAME, not 127.0.0.1: connecting by IP checks the IP (and sends no SNI)
    answer = post(https_server.url("/ok", scheme="https"), b"{}", {}, local=True, ca_certs=pki.ca_file)
    assert answer.status is None and answer.error.startswith("tls: ")
    assert https_server.seen.sni == [None]


def test_a_tls_handshake_that_never_comes_is_cut_at_the_deadline():
    # a TCP server that accepts and says nothing: the handshake waits for a ServerHello that never comes
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        answer = post(f"https://{NAME}:{port}/", b"{}", {}, local=True, resolve=resolver("127.0.0.1"), timeout_s=0.5)
        assert (answer.status, answer.error) == (None, "timeout")
        assert answer.elapsed_ms < 1500
    finally:
        for sock in accepted:
            sock.close()
        listener.close()


def test_a_trickling_tls_server_is_cut_at_the_deadline(https_server, pki):
    url = https_server.url("/trickle-body", host=NAME, scheme="https")
    answer = post(url, b"{}", {}, local=True, resolve=resolver("127.0.0.1"), ca_certs=pki.ca_file, timeout_s=0.5)
    assert (answer.status, answer.error) == (None, "timeout")
    assert 450 <= answer.elapsed_ms < 1500


def test_a_malformed_header_is_the_callers_bug_and_raises(http_server):
    with pytest.raises(ValueError):
        post(http_server.url("/ok"), b"{}", {"webhook-id": "a\r\nInjected: 1"}, local=True)
    assert http_server.seen.requests == []
