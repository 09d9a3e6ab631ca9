"""Where webhooks may go (shared/domain/webhooks/urls.py): the URL rules and their codes, the Pub/Sub
destination form, and the address guard, by examples and by properties against the standard library's
own view of which addresses are global."""

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.webhooks.urls import (
    CODES,
    MAX_URL_LENGTH,
    REFUSED_V4,
    REFUSED_V6,
    address_allowed,
    embedded_ipv4,
    http_url,
    is_pubsub,
    pubsub_topic,
    url_problem,
)


def code(url: str, local: bool = False) -> str | None:
    problem = url_problem(url, local=local)
    return None if problem is None else problem[0]


# ------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.tenant.example/ledgerline",
        "https://HOOKS.Tenant.Example:8443/in?token=abc&x=1",
        "https://hooks.tenant.example",
        "https://hooks.tenant.example?only=query",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]:443/hook",
        "https://xn--bcher-kva.example/hook",
        "https://a-b.c-d.example/p%20q",
        "https://[::ffff:8.8.8.8]/mapped-public",
    ],
)
def test_acceptable_everywhere(url):
    assert url_problem(url, local=False) is None
    assert url_problem(url, local=True) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "url_invalid"),
        ("hooks.tenant.example/x", "url_invalid"),
        ("/relative/path", "url_invalid"),
        ("https:hooks.tenant.example", "url_invalid"),
        ("https://", "url_invalid"),
        ("https:///path", "url_invalid"),
        ("https://:8443/path", "url_invalid"),
        ("https://hooks.tenant.example/#frag", "url_invalid"),
        ("https://hooks.tenant.example/#", "url_invalid"),
        ("https://hooks.tenant.example/a b", "url_invalid"),
        ("https://hooks.tenant.example/\n", "url_invalid"),
        ("https://hooks.tenant.example\\@evil.example/", "url_invalid"),
        ("https://bücher.example/", "url_invalid"),
        ("https://hooks.tenant.example/%zz", "url_invalid"),
        ("https://hooks%2etenant.example/", "url_invalid"),
        ("https://hooks.tenant.example./", "url_invalid"),
        ("https://-bad.example/", "url_invalid"),
        ("https://under_score.example/", "url_invalid"),
        ("https://" + "a" * 64 + ".example/", "url_invalid"),
        ("https://hooks.tenant.example:0/", "url_invalid"),
        ("https://hooks.tenant.example:65536/", "url_invalid"),
        ("https://hooks.tenant.example:/", "url_invalid"),
        ("https://hooks.tenant.example:80:81/", "url_invalid"),
        ("https://hooks.tenant.example:+80/", "url_invalid"),
        ("https://[fe80::1%25eth0]/", "url_invalid"),
        ("https://[not-ipv6]/", "url_invalid"),
        ("https://[::1/", "url_invalid"),
        ("https://127.1/", "url_invalid"),
        ("https://2130706433/", "url_invalid"),
        ("https://0x7f.0.0.1/", "url_invalid"),
        ("https://010.0.0.1/", "url_invalid"),
        ("https://1.2.3.4.5/", "url_invalid"),
        ("http://hooks.tenant.example/", "url_scheme"),
        ("ftp://hooks.tenant.example/", "url_scheme"),
        ("file://hooks.tenant.example/etc/passwd", "url_scheme"),
        ("gopher://hooks.tenant.example/", "url_scheme"),
        ("http://127.0.0.1/", "url_scheme"),
        ("https://user:pass@hooks.tenant.example/", "url_credentials"),
        ("https://user@hooks.tenant.example/", "url_credentials"),
        ("https://:@hooks.tenant.example/", "url_credentials"),
        ("https://10.0.0.5/", "url_host_refused"),
        ("https://169.254.169.254/computeMetadata/v1/", "url_host_refused"),
        ("https://127.0.0.1/", "url_host_refused"),
        ("https://0.0.0.0/", "url_host_refused"),
        ("https://[::1]/", "url_host_refused"),
        ("https://[fd20:ce::254]/", "url_host_refused"),
        ("https://[::ffff:169.254.169.254]/", "url_host_refused"),
        ("https://localhost/", "url_host_refused"),
        ("https://LOCALHOST:8443/", "url_host_refused"),
        ("https://metadata/", "url_host_refused"),
        ("https://metadata.google.internal/computeMetadata/v1/", "url_host_refused"),
        ("https://db.c.my-project.internal/", "url_host_refused"),
        ("https://printer.local/", "url_host_refused"),
        ("https://app.localhost/", "url_host_refused"),
    ],
)
def test_refused_in_the_cloud(url, expected):
    problem = url_problem(url, local=False)
    assert problem is not None and problem[0] == expected
    assert problem[1]  # a human message


def test_longest_url_is_accepted_and_one_more_is_not():
    base = "https://hooks.tenant.example/"
    assert code(base + "a" * (MAX_URL_LENGTH - len(base))) is None
    assert code(base + "a" * (MAX_URL_LENGTH - len(base) + 1)) == "url_invalid"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8092/r/tenant", None),
        ("http://localhost:8092/r/tenant", None),
        ("http://[::1]:8092/r/tenant", None),
        ("https://localhost:8443/", None),
        ("https://metadata.google.internal/", None),  # names are not refused locally
        ("https://127.0.0.1/", None),
        ("http://127.0.0.2:8092/", "url_scheme"),  # loopback, but not one of the three hosts
        ("http://tenant.example/", "url_scheme"),
        ("http://10.0.0.5/", "url_scheme"),
        ("https://10.0.0.5/", "url_host_refused"),  # an IP literal must still be allowed locally
        ("https://169.254.169.254/", "url_host_refused"),
        ("http://user:pw@127.0.0.1:8092/", "url_credentials"),
        ("pubsub://projects/my-project/topics/hooks", "destination_unsupported"),
        ("pubsub://nonsense", "destination_unsupported"),
    ],
)
def test_local_mode(url, expected):
    assert code(url, local=True) == expected


def test_precedence_follows_the_code_list():
    assert CODES[:4] == ("url_invalid", "url_scheme", "url_credentials", "url_host_refused")
    assert code("http://u:p@10.0.0.1/#x") == "url_invalid"
    assert code("http://u:p@10.0.0.1/") == "url_scheme"
    assert code("https://u:p@10.0.0.1/") == "url_credentials"


# -------------------------------------------------------------------------------------- Pub/Sub


@pytest.mark.parametrize(
    ("url", "topic"),
    [
        ("pubsub://projects/my-project/topics/hooks", "projects/my-project/topics/hooks"),
        (
            "pubsub://projects/tenant-42-prod/topics/Ledger.Events_v1~a+b%c",
            "projects/tenant-42-prod/topics/Ledger.Events_v1~a+b%c",
        ),
        ("pubsub://projects/abcdef/topics/" + "t" * 255, "projects/abcdef/topics/" + "t" * 255),
    ],
)
def test_pubsub_destination(url, topic):
    assert is_pubsub(url)
    assert url_problem(url, local=False) is None
    assert pubsub_topic(url) == topic


@pytest.mark.parametrize(
    "url",
    [
        "pubsub://projects/p/topics/t",  # project id shorter than 6
        "pubsub://projects/My-Project/topics/hooks",  # upper case
        "pubsub://projects/1project/topics/hooks",  # starts with a digit
        "pubsub://projects/my-project-/topics/hooks",  # trailing hyphen
        "pubsub://projects/" + "a" * 31 + "/topics/hooks",
        "pubsub://projects/my-project/topics/ab",  # topic shorter than 3
        "pubsub://projects/my-project/topics/1hooks",
        "pubsub://projects/my-project/topics/goog-hooks",
        "pubsub://projects/my-project/topics/" + "t" * 256,
        "pubsub://projects/my-project/topics/hooks/",
        "pubsub://projects/my-project/topics/hooks?x=1",
        "pubsub://projects/my-project/topics/hooks#x",
        "pubsub://projects/my-project/subscriptions/hooks",
        "pubsub://my-project/hooks",
        "PUBSUB://projects/my-project/topics/hooks",
    ],
)
def test_pubsub_invalid(url):
    assert is_pubsub(url)
    assert code(url) == "pubsub_invalid"
    with pytest.raises(ValueError):
        pubsub_topic(url)


def test_https_is_not_pubsub():
    assert not is_pubsub("https://hooks.tenant.example/")
    with pytest.raises(ValueError):
        pubsub_topic("https://hooks.tenant.example/")


# ------------------------------------------------------------------------------------- parsing


def test_http_url_parts_and_host_header():
    parts = http_url("https://Hooks.Tenant.Example:8443/in?x=1")
    assert (parts.scheme, parts.host, parts.port, parts.target) == ("https", "hooks.tenant.example", 8443, "/in?x=1")
    assert parts.host_header == "hooks.tenant.example:8443"
    assert http_url("https://hooks.tenant.example").target == "/"
    assert http_url("https://hooks.tenant.example?q").target == "/?q"
    assert http_url("https://hooks.tenant.example").host_header == "hooks.tenant.example"
    v6 = http_url("https://[2606:4700::1]:9443/x")
    assert (v6.host, v6.ip, v6.host_header) == ("2606:4700::1", IPv6Address("2606:4700::1"), "[2606:4700::1]:9443")
    with pytest.raises(ValueError, match="no host"):
        http_url("https:///x")


@given(st.text(max_size=80))
def test_url_problem_never_raises(text):
    for url in (text, "https://" + text, "pubsub://" + text):
        for local in (False, True):
            problem = url_problem(url, local=local)
            assert problem is None or (problem[0] in CODES and problem[1])


# ------------------------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",  # noqa: S104 (an address judged, not bound)
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "198.19.255.255",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "192.0.0.8",
        "192.88.99.1",
        "::",
        "::1",
        "::127.0.0.1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "fc00::1",
        "fd00::1",
        "fd00:ec2::254",
        "fd20:ce::254",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "2001::1",  # Teredo
        "2001:2::1",  # benchmarking
        "100::1",
        "64:ff9b:1::1",
        "5f00::1",
        "4000::1",  # outside 2000::/3
        "::ffff:10.0.0.5",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::10.0.0.5",
        "64:ff9b::a9fe:a9fe",
        "2002:0a00:0005::1",  # 6to4 of 10.0.0.5
        "2002:a9fe:a9fe::",  # 6to4 of the metadata server
        "2002:7f00:1::1",  # 6to4 of loopback
    ],
)
def test_refused_addresses(ip):
    assert not address_allowed(ip_address(ip), local=False)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "34.120.0.1",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.0",  # just above
        "172.15.255.255",
        "172.32.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001::1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:0808:0808::1",  # 6to4 of 8.8.8.8
    ],
)
def test_public_addresses_are_allowed(ip):
    assert address_allowed(ip_address(ip), local=False)
    assert address_allowed(ip_address(ip), local=True)


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("fe80::1", False),
        ("fd20:ce::254", False),
        ("100.64.0.1", False),
    ],
)
def test_local_allows_loopback_and_only_loopback(ip, allowed):
    assert address_allowed(ip_address(ip), local=True) is allowed


def test_embedded_ipv4():
    assert embedded_ipv4(IPv6Address("::ffff:10.0.0.5")) == IPv4Address("10.0.0.5")
    assert embedded_ipv4(IPv6Address("64:ff9b::a00:5")) == IPv4Address("10.0.0.5")
    assert embedded_ipv4(IPv6Address("2002:a00:5::")) == IPv4Address("10.0.0.5")
    assert embedded_ipv4(IPv6Address("2606:4700::1")) is None


def test_every_table_row_is_refused_at_both_ends():
    for row in (*REFUSED_V4, *REFUSED_V6):
        for ip in (row.network.network_address, row.network.broadcast_address):
            if embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None:
                continue
            assert not address_allowed(ip, local=False), (row, ip)
        assert row.why


def _is_loopback(ip) -> bool:
    inner = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None
    return (inner or ip).is_loopback


@given(st.ip_addresses())
def test_nothing_the_standard_library_calls_non_global_is_allowed(ip):
    judged = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None
    judged = judged or ip  # mapped/NAT64/6to4 are judged by the IPv4 address they carry
    if not judged.is_global or judged.is_multicast:
        assert not address_allowed(ip, local=False)


@given(st.ip_addresses())
def test_local_mode_adds_loopback_and_nothing_else(ip):
    cloud, local = address_allowed(ip, local=False), address_allowed(ip, local=True)
    assert local == (cloud or _is_loopback(ip))
