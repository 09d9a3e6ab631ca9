"""Operators signed in by Identity-Aware Proxy (shared/api/iap.py): IAP's signed header verified with
google-auth against keys made here (ES256, P-256, as IAP signs), every way an assertion can be wrong
refused with a 401, the CSRF guard on changes, the key cache, and maker-checker between two Google
identities through the in-process api."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

from shared.api import iap, keys
from shared.api.ratelimit import RateLimiter
from shared.api.routes import Api
from shared.domain.ledger.model import Leg, Operation
from shared.errors import ClientError
from shared.ledger import transactions
from tests.unit.test_api import World

AUDIENCE = "/projects/123456789012/global/backendServices/4242424242"


def _key_pair():
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


PRIVATE, PUBLIC = _key_pair()
OTHER_PRIVATE, OTHER_PUBLIC = _key_pair()
KEYS = {"kid-1": PUBLIC}


def assertion(email="Ana@Example.com", sub="accounts.google.com:111", private=PRIVATE, kid="kid-1", **claims):
    now = int(time.time())
    payload = {"iss": iap.ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "email": email, "sub": sub}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(crypt.ES256Signer.from_string(private, kid), payload).decode()


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def refused(token: str, keys_: dict | None = None) -> ClientError:
    with pytest.raises(ClientError) as caught:
        iap.verify(token, KEYS if keys_ is None else keys_, AUDIENCE)
    assert (caught.value.status, caught.value.code, caught.value.param) == (401, "invalid_iap_assertion", iap.HEADER)
    return caught.value


def test_a_good_assertion_is_an_operator_of_the_internal_tenant_named_by_email():
    identity = iap.verify(assertion(), KEYS, AUDIENCE)
    assert identity == iap.Identity("accounts.google.com:111", "ana@example.com")
    principal = iap.principal(identity)
    assert principal.tenant == "internal" and principal.scopes == frozenset({"operator"})
    assert principal.operator == "ana@example.com" and principal.authentication == "iap"
    assert principal.key_id == "iap:accounts.google.com:111"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(assertion(aud="/projects/123456789012/global/backendServices/1"), id="another backend"),
        pytest.param(assertion(aud=None), id="no audience"),
        pytest.param(assertion(iss="https://accounts.google.com"), id="another issuer"),
        pytest.param(assertion(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), id="expired"),
        pytest.param(assertion(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200), id="not yet valid"),
        pytest.param(assertion(private=OTHER_PRIVATE), id="signed by another key under the same kid"),
        pytest.param(assertion(email=None), id="no email"),
        pytest.param(assertion(email="not an email <x>"), id="a malformed email"),
        pytest.param(assertion(sub=None), id="no subject"),
        pytest.param(assertion(kid="kid-2", private=OTHER_PRIVATE), id="an unknown key id"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_every_wrong_assertion_is_a_401(token):
    refused(token)


def test_the_algorithm_is_ES256_whatever_the_header_says():
    good = assertion()
    _, payload, signature = good.split(".")
    for alg in ("none", "RS256", "HS256"):
        forged = ".".join((_b64({"alg": alg, "kid": "kid-1", "typ": "JWT"}), payload, signature))
        assert "ES256" in refused(forged).message
    tampered_payload = _b64({**json.loads(base64.urlsafe_b64decode(payload + "==")), "email": "eve@example.com"})
    refused(".".join((good.split(".")[0], tampered_payload, signature)))


class FlakyKeys:
    def __init__(self):
        self.calls, self.keys, self.fail = 0, dict(KEYS), False

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise OSError("gstatic.com unreachable")
        return dict(self.keys)


def test_keys_are_cached_an_hour_and_read_again_early_for_an_unknown_key_at_most_once_a_minute():
    source, clock = FlakyKeys(), [0.0]
    cache = iap.Keys(source, clock=lambda: clock[0])
    assert cache.for_key("kid-1") == KEYS and cache.for_key("kid-1") == KEYS and source.calls == 1
    source.keys["kid-2"] = OTHER_PUBLIC  # IAP rotated
    clock[0] = 30.0
    assert "kid-2" not in cache.for_key("kid-2") and source.calls == 1  # asked again within a minute: no read
    clock[0] = 61.0
    assert "kid-2" in cache.for_key("kid-2") and source.calls == 2
    clock[0] = 61.0 + iap.KEYS_TTL_SECONDS
    source.fail = True
    assert cache.for_key("kid-1")["kid-1"] == PUBLIC and source.calls == 3  # unreachable: keep what we have
    clock[0] += 30
    cache.for_key("kid-1")
    assert source.calls == 3  # and try again a minute later, not on every request
    clock[0] += 31
    cache.for_key("kid-1")
    assert source.calls == 4


def test_keys_never_read_are_a_503_not_a_client_error_and_retried_once_a_minute():
    source, clock = FlakyKeys(), [0.0]
    source.fail = True
    cache = iap.Keys(source, clock=lambda: clock[0])
    for at in (0.0, 1.0, 30.0):
        clock[0] = at
        with pytest.raises(ClientError) as caught:
            cache.for_key("kid-1")
        assert (caught.value.status, caught.value.code) == (503, "iap_keys_unavailable")
    assert source.calls == 1  # a cold start during an outage reads once a minute, not per request
    clock[0], source.fail = 61.0, False
    assert "kid-1" in cache.for_key("kid-1") and source.calls == 2


def test_made_up_key_ids_while_the_key_server_fails_cost_one_read_a_minute():
    source, clock = FlakyKeys(), [0.0]
    cache = iap.Keys(source, clock=lambda: clock[0])
    cache.for_key("kid-1")
    source.fail = True
    for second in range(60, 120):
        clock[0] = float(second)
        assert "kid-1" in cache.for_key(f"bogus-{second}")
    assert source.calls == 2


@pytest.mark.parametrize("part", [0, 1])
def test_a_deeply_nested_assertion_is_a_401_not_a_500(part):
    parts = assertion().split(".")
    parts[part] = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    if part == 1:  # a header that passes the algorithm and key checks, then a payload nested too deep
        parts[0] = _b64({"alg": "ES256", "kid": "kid-1", "typ": "JWT"})
    refused(".".join(parts))


class IapWorld(World):
    """test_api's world, its api signing operators in by IAP with KEYS and AUDIENCE (its test client
    reaches `self.api` on every request)."""

    def __init__(self):
        super().__init__()
        self.api = Api(
            lambda: self.backend,
            livemode=False,
            limiter=RateLimiter(0),
            iap=iap.Verifier(AUDIENCE, iap.Keys(lambda: KEYS)),
        )


def signed(token: str, console: bool = True, **extra) -> dict:
    return {iap.HEADER: token, **({iap.CONSOLE_HEADER: "1"} if console else {}), **extra}


def test_through_the_api_iap_identifies_the_operator_and_a_bad_assertion_wins_over_a_good_key():
    w = IapWorld()
    me = w.client.get("/v1/operator/me", headers=signed(assertion(), console=False))
    assert me.status_code == 200, me.json
    assert me.json["operator"] == "ana@example.com" and me.json["authentication"] == "iap"
    assert me.json["scopes"] == ["operator"]
    by_key = w.client.get("/v1/operator/me", headers={"Authorization": f"Bearer {w.operator}"})
    assert by_key.json["authentication"] == "api_key" and by_key.json["operator"] == "ana@ledgerline.test"
    bad = w.client.get(
        "/v1/operator/me", headers=signed(assertion(private=OTHER_PRIVATE), Authorization=f"Bearer {w.operator}")
    )
    assert (bad.status_code, bad.json["error"]["code"]) == (401, "invalid_iap_assertion")
    customer = w.client.get("/v1/accounts/cus_a/balance", headers=signed(assertion()))
    assert (customer.status_code, customer.json["error"]["code"]) == (403, "insufficient_scope")


def test_without_an_audience_the_header_is_ignored():
    w = World()  # IAP off: what runs locally
    answer = w.client.get("/v1/operator/me", headers=signed(assertion()))
    assert (answer.status_code, answer.json["error"]["code"]) == (401, "invalid_api_key")


def _pending_transfer(w, headers) -> str:
    fund = Operation(
        "fund_suspense", "post", "test_funding.v1", "fund_suspense", "test", "fund_suspense", w.clock(),
        legs=(Leg("bank:test:operating", "debit", 10_000, "USD"), Leg("suspense", "credit", 10_000, "USD")),
    )  # fmt: skip
    assert transactions.execute(w.store, fund, w.clock).status == "posted"
    body = {"from_account": "suspense", "to_account": "customer:cus_a:wallet", "amount": 2_500, "currency": "usd",
            "reason": "pi_1 had no customer"}  # fmt: skip
    made = w.client.post("/v1/operator/transfers", json=body, headers={**headers, "Idempotency-Key": "iap-transfer-1"})
    assert made.status_code == 201 and made.json["status"] == "pending", made.json
    return made.json["id"]


def test_two_google_identities_are_maker_and_checker_and_changes_need_the_console_header():
    w = IapWorld()
    ana = signed(assertion())
    request_id = _pending_transfer(w, ana)
    no_header = w.client.post(f"/v1/operator/requests/{request_id}/approve", json={}, headers=signed(
        assertion(email="bo@example.com", sub="accounts.google.com:222"), console=False
    ))  # fmt: skip
    assert (no_header.status_code, no_header.json["error"]["code"]) == (403, "console_header_missing")
    assert no_header.json["error"]["param"] == iap.CONSOLE_HEADER
    own = w.client.post(f"/v1/operator/requests/{request_id}/approve", json={}, headers=ana)
    assert own.status_code == 403, own.json  # never one's own
    assert w.available("cus_a") == 0
    bo = signed(assertion(email="bo@example.com", sub="accounts.google.com:222"))
    done = w.client.post(f"/v1/operator/requests/{request_id}/approve", json={}, headers=bo)
    assert done.status_code == 200 and done.json["status"] == "executed", done.json
    assert (done.json["maker"], done.json["checker"]) == ("ana@example.com", "bo@example.com")
    assert w.available("cus_a") == 2_500
    executed = w.client.get("/v1/audit-log", headers=ana).json["data"][0]
    assert (executed["action"], executed["actor"], executed["approved_by"]) == (
        "manual_transfer", "ana@example.com", "bo@example.com"
    )  # fmt: skip


def test_an_iap_principal_is_not_an_api_key():
    principal = iap.principal(iap.Identity("s", "x@example.com"))
    assert principal.key_id.startswith("iap:") and not keys.KEY_ID.match(principal.key_id)


def test_a_cold_starts_concurrent_requests_wait_for_the_one_read_in_flight():
    import threading

    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return dict(KEYS)

    cache, got = iap.Keys(slow), []
    first = threading.Thread(target=lambda: got.append(cache.for_key("kid-1")))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: got.append(cache.for_key("kid-1")))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert got == [KEYS, KEYS] and len(calls) == 1
