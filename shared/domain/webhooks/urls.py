"""Where ledgerline may deliver a tenant's webhooks (pure: no DNS, no I/O).

`url_problem` judges an endpoint URL when a tenant configures it; `address_allowed` judges every address
its host resolves to, at each attempt, before anything connects (shared.adapters.webhook_http): together
they are the SSRF guard. A URL that passes here can still be refused at send time, when its name resolves
to an address that is not allowed (a name that points inside is only known by resolving it).

A URL is judged by these rules, in this order of precedence (the first that applies is the answer):

  url_invalid             not an absolute URL; over MAX_URL_LENGTH characters; a character outside
                          RFC 3986's printable ASCII set (spaces, controls, backslashes, non-ASCII: an
                          international name is written in its xn-- form); a malformed %-escape; a
                          fragment; no host; a host that is neither a DNS name (LDH labels, no trailing
                          dot), a dotted-quad IPv4 address nor a bracketed IPv6 address (no zone); a port
                          outside 1-65535
  url_scheme              not https; locally (`local=True`) http is allowed to a loopback host only:
                          127.0.0.1, [::1] or localhost
  url_credentials         a user or password in the URL (user:pass@host)
  url_host_refused        an IP-literal host that `address_allowed` refuses; in the cloud also the names
                          of the machine itself and of its private network: localhost, metadata,
                          metadata.google.internal and any name ending in .internal, .local or .localhost
  pubsub_invalid          pubsub://projects/<project>/topics/<topic> whose ids break GCP's naming rules
  destination_unsupported a pubsub:// destination locally (the emulators deliver over HTTP only)

A Pub/Sub destination (`is_pubsub`) is `pubsub://projects/<project>/topics/<topic>` exactly: no query,
no fragment, no trailing slash; `pubsub_topic` gives its resource name, "projects/<p>/topics/<t>".

Addresses (`address_allowed`): in the cloud only public unicast addresses are allowed, refusing every
range of REFUSED_V4 / REFUSED_V6 and, for IPv6, anything outside the global unicast block 2000::/3. An
IPv6 address that embeds an IPv4 one (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is
judged by the IPv4 address it embeds. Locally (`local=True`) loopback is allowed too (127.0.0.0/8, ::1),
and nothing else more: a private address is refused locally as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Literal, get_args

Code = Literal[
    "url_invalid",
    "url_scheme",
    "url_credentials",
    "url_host_refused",
    "pubsub_invalid",
    "destination_unsupported",
]
CODES: tuple[Code, ...] = get_args(Code)  # in order of precedence, as in the docstring

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})  # the only hosts http may name, locally
REFUSED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
REFUSED_SUFFIXES = (".internal", ".local", ".localhost")
PUBSUB_PREFIX = "pubsub://"

# RFC 3986: unreserved, reserved and "%" (escapes are checked separately); anything else is refused.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # a last label like this makes the host an IPv4 form
_PORT = re.compile(r"[0-9]{1,5}")
_PUBSUB = re.compile(r"pubsub://projects/(?P<project>[^/?#]*)/topics/(?P<topic>[^/?#]*)")
# GCP: a project id is 6-30 lowercase letters, digits or hyphens, starting with a letter, not ending with a
# hyphen; a topic id is 3-255 letters, digits or - _ . ~ + %, starting with a letter, not with "goog".
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_TOPIC_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")


@dataclass(frozen=True)
class Refused:
    """An address range no webhook may be delivered to, and why."""

    network: IPv4Network | IPv6Network
    why: str


def _table(rows: tuple[tuple[str, str], ...]) -> tuple[Refused, ...]:
    return tuple(Refused(ip_network(network), why) for network, why in rows)


REFUSED_V4 = _table(
    (
        ("0.0.0.0/8", "this network (0.0.0.0 reaches the host itself)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space, carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local, incl. the metadata server 169.254.169.254"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved, incl. the broadcast address 255.255.255.255"),
    )
)
REFUSED_V6 = _table(
    (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments: Teredo, benchmarking, ORCHID"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
        ("fc00::/7", "unique local, incl. the metadata servers fd20:ce::254 (GCE) and fd00:ec2::254"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
GLOBAL_UNICAST_V6 = ip_network("2000::/3")  # outside it, IPv6 is reserved or one of the rows above
LOOPBACK_V4 = ip_network("127.0.0.0/8")
LOOPBACK_V6 = IPv6Address("::1")
_MAPPED = ip_network("::ffff:0:0/96")
_NAT64 = ip_network("64:ff9b::/96")


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address carries, else None."""
    if ip in _MAPPED:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour  # 2002::/16, else None


def address_allowed(ip: IPv4Address | IPv6Address, *, local: bool) -> bool:
    """May a webhook be delivered to `ip`? In the cloud: public unicast only. Locally: loopback too."""
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return address_allowed(inner, local=local)
        if local and ip == LOOPBACK_V6:
            return True
        return ip in GLOBAL_UNICAST_V6 and not any(ip in row.network for row in REFUSED_V6)
    if local and ip in LOOPBACK_V4:
        return True
    return not any(ip in row.network for row in REFUSED_V4)


# ---------------------------------------------------------------------------------------- URLs


def is_pubsub(url: str) -> bool:
    """Does `url` name a Pub/Sub destination (whether valid or not)?"""
    return url[: len(PUBSUB_PREFIX)].lower() == PUBSUB_PREFIX


def pubsub_topic(url: str) -> str:
    """The topic's resource name ("projects/<p>/topics/<t>") of a valid Pub/Sub destination."""
    match = _PUBSUB.fullmatch(url)
    if match is None or _pubsub_problem(match) is not None:
        raise ValueError("not a valid pubsub://projects/<project>/topics/<topic> destination")
    return f"projects/{match['project']}/topics/{match['topic']}"


def _pubsub_problem(match: re.Match[str]) -> str | None:
    if not _PROJECT_ID.fullmatch(match["project"]):
        return "the project id is 6-30 lowercase letters, digits or hyphens, starting with a letter"
    topic = match["topic"]
    if not _TOPIC_ID.fullmatch(topic) or topic.lower().startswith("goog"):
        return "the topic id is 3-255 letters, digits or - _ . ~ + %, starting with a letter (not goog)"
    return None


@dataclass(frozen=True)
class HttpUrl:
    """The parts of an http(s) URL that decide where it connects (`http_url`)."""

    scheme: str  # lower-cased
    credentials: bool  # user or password present (url_credentials)
    host: str  # lower-cased; an IPv6 literal without its brackets
    ip: IPv4Address | IPv6Address | None  # the host, when it is an IP literal
    port: int | None  # as written; None: the scheme's default
    target: str  # path and query, "/" when the URL has no path

    @property
    def host_header(self) -> str:
        """host[:port] as a Host header names it (the port only when the URL gives one)."""
        host = f"[{self.host}]" if isinstance(self.ip, IPv6Address) else self.host
        return host if self.port is None else f"{host}:{self.port}"


def url_problem(url: str, *, local: bool) -> tuple[str, str] | None:
    """(code, message) of the first rule `url` breaks (module docstring), or None when it is acceptable."""
    if not isinstance(url, str) or not url:
        return "url_invalid", "the URL is empty"
    if len(url) > MAX_URL_LENGTH:
        return "url_invalid", f"the URL is longer than {MAX_URL_LENGTH} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "url_invalid", "the URL has spaces, control or non-ASCII characters (write names in xn-- form)"
    if is_pubsub(url):
        if local:
            return "destination_unsupported", "Pub/Sub destinations are not available locally"
        match = _PUBSUB.fullmatch(url)
        if match is None:
            return "pubsub_invalid", "a Pub/Sub destination is pubsub://projects/<project>/topics/<topic>"
        problem = _pubsub_problem(match)
        return None if problem is None else ("pubsub_invalid", problem)
    try:
        parsed = http_url(url)
    except ValueError as exc:
        return "url_invalid", str(exc)
    if parsed.scheme != "https":
        if parsed.scheme == "http" and local and parsed.host in LOOPBACK_HOSTS:
            pass
        elif parsed.scheme == "http" and local:
            return "url_scheme", "locally, http is allowed to 127.0.0.1, [::1] or localhost only; use https"
        else:
            return "url_scheme", "the URL must be https"
    if parsed.credentials:
        return "url_credentials", "the URL must not carry a user or password"
    if parsed.ip is not None:
        if not address_allowed(parsed.ip, local=local):
            return "url_host_refused", f"{parsed.host} is not a public address"
    elif not local and (parsed.host in REFUSED_NAMES or parsed.host.endswith(REFUSED_SUFFIXES)):
        return "url_host_refused", f"{parsed.host} names an internal host"
    return None


def http_url(url: str) -> HttpUrl:
    """The parts of an http(s) URL; ValueError (why, the url_invalid message) when it is malformed. The
    sender connects to what this returns for a URL `url_problem` accepted: one parser for both."""
    problem = _malformed(url)
    if isinstance(problem, str):
        raise ValueError(problem)
    return problem


def _malformed(url: str) -> HttpUrl | str:
    if not _URL_CHARS.fullmatch(url):
        return "the URL has a character outside RFC 3986 (escape it as %XX)"
    if _BAD_ESCAPE.search(url):
        return "the URL has a malformed %-escape"
    if "#" in url:
        return "the URL must not have a fragment (#...)"
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        return "the URL must be absolute: https://host/path"
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    _userinfo, at, hostport = authority.rpartition("@")
    if "%" in hostport:
        return "the host must not be %-escaped"
    if hostport.startswith("["):
        inside, bracket, after = hostport[1:].partition("]")
        if not bracket:
            return "an IPv6 host is written in brackets: [2001:db8::1]"
        try:
            ip: IPv4Address | IPv6Address | None = IPv6Address(inside)
        except ValueError:
            return f"[{inside}] is not an IPv6 address"
        host, port = inside.lower(), after
    else:
        host, _, tail = hostport.partition(":")
        host, port = host.lower(), f":{tail}" if tail or hostport.endswith(":") else ""
        ip = None
        if not host:
            return "the URL has no host"
        if len(host) > MAX_HOST_LENGTH:
            return f"the host is longer than {MAX_HOST_LENGTH} characters"
        labels = host.split(".")
        if _NUMERIC_LABEL.fullmatch(labels[-1]):
            try:
                ip = IPv4Address(host)  # strict dotted-quad: 127.1, 0x7f.0.0.1, 2130706433, 010.0.0.1 are not
            except ValueError:
                return f"{host} is not a dotted-quad IPv4 address"
        elif not all(_LABEL.fullmatch(label) for label in labels):
            return f"{host} is not a host name (letters, digits and hyphens; no trailing dot)"
    number = None
    if port:
        digits = port[1:]
        if not port.startswith(":") or not _PORT.fullmatch(digits) or not 1 <= int(digits) <= 65535:
            return "the port must be a number from 1 to 65535"
        number = int(digits)
    target = rest[len(authority) :] or "/"
    if not target.startswith("/"):
        target = "/" + target  # https://host?query
    return HttpUrl(scheme.lower(), bool(at), host, ip, number, target)
