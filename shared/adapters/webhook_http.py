"""Webhooks out over HTTP(S), SSRF-safe: `post` makes one attempt to a tenant's endpoint and returns what
came back as an `Answer`. It never raises for anything the network or the endpoint does.

One attempt, in this order:
1. the URL is judged by shared.domain.webhooks.urls.url_problem (refused: "url_refused: <code>"; a
   pubsub:// destination is not HTTP: "url_refused: destination_unsupported");
2. its host is resolved ONCE, with `resolve` (socket.getaddrinfo), within the deadline. If ANY address
   fails address_allowed the attempt is refused ("address_refused: <ip>"), whichever address would have
   been used: a name that points both outside and inside is refused;
3. the connection is made to a checked address itself (in the resolver's order until one connects),
   never to the name again: DNS rebinding (a second lookup that answers an inside address) has no second
   lookup to rebind;
4. TLS: SNI and certificate verification use the URL's host name (ssl's own check: check_hostname
   against server_hostname, CA bundle certifi's via requests.certs unless `ca_certs`), TLS 1.2 at least;
   the Host header is the URL's host[:port];
5. one total deadline, `timeout_s` from the call, covers resolution, connect, TLS handshake, sending and
   reading: every socket operation gets the time left, and a watchdog shuts the socket down at the
   deadline, so a server that trickles a byte a second (each read within the per-read timeout) is cut
   there. Whatever the deadline cuts, headers or body, is "timeout" (no answer);
6. redirects are never followed: a 3xx is an answer like any other. The body is read up to `body_cap`
   bytes, then the connection is closed: the rest is never downloaded (and never decompressed: the
   request asks for identity encoding);
7. a fresh connection per call (`Connection: close`): nothing is pooled or shared between endpoints.
Nothing is logged (bodies and headers carry signatures).

`error` when there is no answer: "url_refused: <code>", "dns: <reason>", "address_refused: <ip>",
"timeout", "connection_refused", "unreachable", "connection_reset", "connection_closed" (closed before
an answer), "tls: <reason>", "protocol: <reason>" (not HTTP), "os: <reason>". An answer whose body is
cut short by the server (fewer bytes than its Content-Length) keeps its status and the bytes received.

Why the standard library's socket / ssl / http.client and not urllib3's connection pool: urllib3 is
built on http.client, and its pool would do the same TLS check (server_hostname + assert_hostname), but
the total deadline needs the socket itself from the moment it connects, to shut it down from the
watchdog, which urllib3 only exposes through private methods. tests/unit/test_webhook_http.py checks the
pinning and the TLS rules against servers on 127.0.0.1 (a certificate made in the test for a made-up
name: the SNI the server sees, the Host header, a wrong name and an unknown CA refused).
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address

from shared.domain.webhooks.urls import address_allowed, http_url, is_pubsub, url_problem

RESPONSE_HEADERS = ("retry-after", "content-type", "content-length")  # the only ones kept, lower-cased
DEFAULT_PORTS = {"https": 443, "http": 80}
USER_AGENT = "ledgerline-webhooks/1"  # unless the caller sends its own
# Set by the sender, never by the caller: where the request goes and how the connection is framed.
_OURS = frozenset({"host", "content-length", "connection", "transfer-encoding", "accept-encoding"})

Resolve = Callable[..., list]  # socket.getaddrinfo's signature and result


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timeout, reset, TLS error, refused address)
    headers: dict[str, str] = field(default_factory=dict)  # RESPONSE_HEADERS present, lower-cased names
    body: bytes = b""  # at most body_cap bytes of the response body
    elapsed_ms: int = 0
    error: str | None = None  # when status is None: what happened (module docstring)


class _NoAnswer(Exception):
    """The attempt ended without an HTTP answer; the message is Answer.error."""


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float = 15.0,
    body_cap: int = 4096,
    local: bool = False,
    resolve: Resolve = socket.getaddrinfo,
    ca_certs: str | None = None,
) -> Answer:
    """POST `body` to `url` once (module docstring: the rules). `ca_certs`: a CA bundle file instead of
    certifi's (tests). `local`: the emulators' rules (loopback allowed, http to loopback). Raises only for
    a caller's bug, never for the network: ValueError when a header it built is malformed (CR/LF)."""
    started = time.monotonic()
    try:
        status, kept, data = _attempt(url, body, headers, started + timeout_s, body_cap, local, resolve, ca_certs)
    except _NoAnswer as exc:
        return Answer(None, {}, b"", _elapsed_ms(started), str(exc))
    return Answer(status, kept, data, _elapsed_ms(started), None)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _attempt(url, body, headers, deadline, body_cap, local, resolve, ca_certs) -> tuple[int, dict[str, str], bytes]:
    problem = url_problem(url, local=local)
    if problem is None and is_pubsub(url):
        problem = ("destination_unsupported", "a Pub/Sub destination is not sent over HTTP")
    if problem is not None:
        raise _NoAnswer(f"url_refused: {problem[0]}")
    parts = http_url(url)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    addresses = [parts.ip] if parts.ip is not None else _resolve(resolve, parts.host, port, deadline)
    for ip in addresses:
        if not address_allowed(ip, local=local):
            raise _NoAnswer(f"address_refused: {ip}")
    raw = _connect(addresses, port, deadline)
    watchdog = _Watchdog(raw, deadline)
    sock: socket.socket = raw
    response: http.client.HTTPResponse | None = None
    try:
        if parts.scheme == "https":
            sock = _tls_context(ca_certs).wrap_socket(raw, server_hostname=parts.host, do_handshake_on_connect=False)
            watchdog.watch(sock)  # wrap_socket took over raw's descriptor
            sock.settimeout(_left(deadline))
            sock.do_handshake()
        conn = http.client.HTTPConnection(parts.host, port)
        conn.auto_open = 0  # never connects by itself: it writes to our socket, to the checked address
        conn.sock = sock
        sock.settimeout(_left(deadline))
        conn.request("POST", parts.target, body=body, headers=_request_headers(headers, parts.host_header))
        response = conn.getresponse()
        data = _read(response, body_cap)
        kept = {name: value for name in RESPONSE_HEADERS if (value := response.getheader(name)) is not None}
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watchdog.stop():
            raise _NoAnswer("timeout") from None
        if isinstance(exc, ValueError) and not isinstance(exc, OSError):  # (a certificate error is both)
            raise  # not the network: a header the caller built is malformed
        raise _NoAnswer(_describe(exc)) from None
    finally:
        fired = watchdog.stop()
        if response is not None:
            response.close()  # its file holds the descriptor open past the socket's close
        _close(sock)
    if fired:  # the answer may have been cut by the shutdown (a short read looks like the end)
        raise _NoAnswer("timeout")
    return status, kept, data


@lru_cache(maxsize=8)
def _tls_context(ca_certs: str | None) -> ssl.SSLContext:
    """One client context per CA bundle (loading a bundle costs ~25 ms; a context holds no connection
    and Python never resumes a TLS session unless asked, so nothing passes from one endpoint to another)."""
    from requests.certs import where  # certifi's bundle, as requests uses it

    context = ssl.create_default_context(cafile=ca_certs or where())  # CERT_REQUIRED, check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _NoAnswer("timeout")
    return left


def _resolve(resolve: Resolve, host: str, port: int, deadline: float) -> list[IPv4Address | IPv6Address]:
    """The host's addresses, in the resolver's order, without duplicates; within the deadline (a lookup
    has no timeout of its own: it runs in a daemon thread, abandoned at the deadline)."""
    box: dict[str, object] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            box["infos"] = resolve(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        except Exception as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="webhook-dns", daemon=True).start()
    if not done.wait(_left(deadline)):
        raise _NoAnswer("dns: timeout")
    if "error" in box:
        exc = box["error"]
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise _NoAnswer(f"dns: {reason}")
    addresses: list[IPv4Address | IPv6Address] = []
    for family, _type, _proto, _name, sockaddr in box["infos"]:  # type: ignore[attr-defined]
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            ip = ip_address(str(sockaddr[0]).split("%")[0])
        except ValueError:
            raise _NoAnswer(f"dns: unreadable address {sockaddr[0]!r}") from None
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise _NoAnswer("dns: no address")
    return addresses


def _connect(addresses: list[IPv4Address | IPv6Address], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first of `addresses` that accepts, each tried with the time left."""
    failure: OSError | None = None
    for ip in addresses:
        family = socket.AF_INET6 if isinstance(ip, IPv6Address) else socket.AF_INET
        sockaddr = (str(ip), port, 0, 0) if family == socket.AF_INET6 else (str(ip), port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_left(deadline))
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            failure = exc
            sock.close()
        except _NoAnswer:
            sock.close()
            raise
    assert failure is not None
    raise _NoAnswer(_describe(failure))


class _Watchdog:
    """Shuts the attempt's socket down at the deadline: whatever blocks on it (a handshake, a send, a
    read of a trickled answer) returns at once, and the attempt is a timeout."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._lock = threading.Lock()
        self._sock = sock
        self._fired = False
        self._stopped = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self._fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            _shutdown(self._sock)

    def stop(self) -> bool:
        """Stop watching; True when the deadline had already fired."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()
        return self._fired


def _shutdown(sock: socket.socket) -> None:
    try:
        # socket.socket's own shutdown, also for an SSLSocket: the descriptor is shut, the TLS state is
        # left alone (SSLSocket.shutdown would drop it under the feet of a thread reading it)
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _request_headers(headers: dict[str, str], host_header: str) -> dict[str, str]:
    out = {name: value for name, value in headers.items() if name.lower() not in _OURS}
    if not any(name.lower() == "user-agent" for name in out):
        out["User-Agent"] = USER_AGENT
    return {**out, "Host": host_header, "Connection": "close", "Accept-Encoding": "identity"}


def _read(response: http.client.HTTPResponse, cap: int) -> bytes:
    """At most `cap` bytes of the body; a body the server cut short keeps what arrived."""
    chunks: list[bytes] = []
    left = cap
    while left > 0:
        try:
            chunk = response.read(left)
        except http.client.IncompleteRead as exc:
            chunks.append(exc.partial[:left])
            break
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    """A short, machine-ish name for why there is no answer."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or type(exc).__name__}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection_closed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "connection_reset"
    if isinstance(exc, http.client.HTTPException):
        return f"protocol: {type(exc).__name__}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return "unreachable"
    if isinstance(exc, OSError):
        return f"os: {exc.strerror or type(exc).__name__}"
    return type(exc).__name__
