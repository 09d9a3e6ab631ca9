"""The customer API through the running api function on the emulators: keys made by the operator CLI,
money in through signed webhooks (intake -> ledger), then balances, entries, transfers, holds, tenant
isolation, idempotency races, bad input, operators, and no secret in the function's logs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from shared.config import REPO_ROOT
from shared.demo import Delivery, send
from tests.log_secrets import remember_api_key

from .conftest import posted, wait_for


def cli(*args: str) -> dict | list:
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--json", *args], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    made = json.loads(out.stdout)
    if args[:2] == ("api-keys", "create"):
        remember_api_key(made["api_key"], " ".join(args[2:4]))  # for the session's log scan (conftest)
    return made


class Tenant:
    def __init__(
        self, api_url: str, name: str, customers: list[str], scopes: str = "read,write", operator: str | None = None
    ):
        self.url, self.name, self.customers = api_url, name, customers
        cli("tenants", "create", name)
        if customers:
            cli("tenants", "add-customer", name, *customers)
        person = ("--operator", operator) if operator else ()
        made = cli("api-keys", "create", "--tenant", name, "--scopes", scopes, "--label", "integration", *person)
        self.key, self.key_id = made["api_key"], made["key_id"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.key}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, body=None, idem: str | None = "auto", **kwargs) -> requests.Response:
        """POST as a careful client does: a fresh Idempotency-Key per call unless `idem` names one (the
        same key: a retry) or is None (no key: what the idempotency_key_missing tests send)."""
        idem = f"auto-{uuid.uuid4().hex}" if idem == "auto" else idem
        headers = {"Idempotency-Key": idem} if idem else {}
        return self.session.post(self.url + path, json=body, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def api_url(cfg):
    url = cfg.function_urls["api"]
    assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
    return url


@pytest.fixture(scope="module")
def acme(api_url):
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"acme-{run}", [f"cus_acme{run}_{i}" for i in range(4)])


@pytest.fixture(scope="module")
def globex(api_url):
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"globex-{run}", [f"cus_globex{run}_0"])


@pytest.fixture(scope="module")
def operator(api_url):
    cli("tenants", "create", "internal")
    return Tenant(api_url, "internal", [], scopes="operator", operator="ana@ledgerline.test")


@pytest.fixture(scope="module")
def fund(db, intake, secret, payment):
    def pay(customer: str, amount: int, currency: str = "usd") -> None:
        p = payment(amount=amount, currency=currency, customer=customer)
        assert send(intake, Delivery("fund", p["body"], secret, 200, "accepted")).status_code == 200
        posted(db, p["key"])

    return pay


@pytest.fixture(scope="module")
def payment():  # module-scoped twin of conftest's
    from shared.demo import encode, payment_intent_succeeded

    def make(amount, currency, customer):
        evt, pi = f"evt_api{uuid.uuid4().hex[:16]}", f"pi_api{uuid.uuid4().hex[:16]}"
        body = encode(payment_intent_succeeded(evt, pi, amount, currency, customer))
        return {"body": body, "key": f"stripe:{evt}"}

    return make


def transfer(source: str, to: str, amount: int, currency: str = "USD") -> dict:
    return {"from_account": source, "to_account": to, "amount": amount, "currency": currency}


def available(tenant: Tenant, customer: str, currency: str = "USD") -> int:
    rows = tenant.get(f"/v1/accounts/{customer}/balance").json()["balances"]
    return next((b["available"] for b in rows if b["currency"] == currency), 0)


def test_funded_by_a_webhook_then_read_through_the_api(acme, fund):
    a = acme.customers[0]
    fund(a, 5000)
    account = acme.get(f"/v1/accounts/{a}").json()
    assert account["ledger_account"] == f"customer:{a}:wallet" and account["currencies"] == ["USD"]
    balance = acme.get(f"/v1/accounts/{a}/balance").json()["balances"]
    assert balance == [{"currency": "USD", "posted": 5000, "pending_in": 0, "pending_out": 0, "available": 5000}]
    entries = acme.get(f"/v1/accounts/{a}/entries").json()
    assert [e["amount"] for e in entries["data"]] == [5000] and not entries["has_more"]
    txn = acme.get(f"/v1/transactions/{entries['data'][0]['transaction']}").json()
    assert [e["account"] for e in txn["entries"]] == [a]  # the partner clearing leg is not the tenant's


def test_transfer_entries_pagination_and_as_of(acme, fund):
    a, b = acme.customers[1], acme.customers[2]
    fund(a, 1000)
    ids = []
    for amount in (10, 20, 30, 40, 50):
        resp = acme.post("/v1/transfers", transfer(a, b, amount), idem=f"t-{uuid.uuid4()}")
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()["id"])
    assert available(acme, a) == 850 and available(acme, b) == 150
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = acme.get(f"/v1/accounts/{a}/entries", params=params).json()
        seen += page["data"]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert [e["amount"] for e in seen] == [1000, 10, 20, 30, 40, 50]
    assert [e["transaction"] for e in seen[1:]] == ids
    assert [e["posted_after"] for e in seen] == [1000, 990, 970, 940, 900, 850]
    middle = seen[3]["recorded_at"]
    window = acme.get(f"/v1/accounts/{a}/entries", params={"from": seen[2]["recorded_at"], "to": middle}).json()
    assert [e["id"] for e in window["data"]] == [seen[2]["id"], seen[3]["id"]]
    past = acme.get(f"/v1/accounts/{a}/balance", params={"as_of": middle}).json()["balances"]
    assert past[0]["posted"] == 940


def test_insufficient_funds_is_422_nothing_moves(acme, fund):
    a, b = acme.customers[3], acme.customers[2]
    fund(a, 100)
    before = available(acme, b)
    resp = acme.post("/v1/transfers", transfer(a, b, 101), idem=f"nsf-{uuid.uuid4()}")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "insufficient_funds"
    assert available(acme, a) == 100 and available(acme, b) == before


def test_tenant_isolation_is_404(acme, globex, fund):
    g = globex.customers[0]
    fund(g, 300)
    a = acme.customers[0]
    for path in (f"/v1/accounts/{g}", f"/v1/accounts/{g}/balance", f"/v1/accounts/{g}/entries"):
        assert acme.get(path).status_code == 404
        assert acme.get(path).json()["error"]["code"] == "account_not_found"
    stolen = acme.post("/v1/transfers", transfer(g, a, 100), idem=f"steal-{uuid.uuid4()}")
    assert stolen.status_code == 404 and stolen.json()["error"]["param"] == "from_account"
    txn = globex.get(f"/v1/accounts/{g}/entries").json()["data"][0]["transaction"]
    assert acme.get(f"/v1/transactions/{txn}").status_code == 404
    assert globex.get(f"/v1/transactions/{txn}").status_code == 200
    assert available(globex, g) == 300


def test_concurrent_identical_requests_make_one_transfer(acme, fund):
    a, b = acme.customers[0], acme.customers[1]
    before_a, before_b = available(acme, a), available(acme, b)
    key, body = f"race-{uuid.uuid4()}", transfer(a, b, 7)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: acme.post("/v1/transfers", body, idem=key), range(8)))
    ok = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 409]
    assert ok and len(ok) + len(busy) == 8, [r.text for r in answers]
    assert all(r.json()["error"]["code"] == "idempotency_in_flight" and r.headers["Retry-After"] for r in busy)
    assert len({r.json()["id"] for r in ok}) == 1
    final = wait_for(lambda: (r := acme.post("/v1/transfers", body, idem=key)).status_code == 200 and r, what="done")
    assert final.json() == ok[0].json() and final.headers.get("Idempotent-Replayed") == "true"
    assert available(acme, a) == before_a - 7 and available(acme, b) == before_b + 7
    reuse = acme.post("/v1/transfers", transfer(a, b, 8), idem=key)
    assert reuse.status_code == 409 and reuse.json()["error"]["code"] == "idempotency_key_reuse"


def test_hold_capture_void_on_the_emulators(acme):
    a, b = acme.customers[0], acme.customers[1]
    start_a, start_b = available(acme, a), available(acme, b)
    hold = acme.post("/v1/holds", transfer(a, b, 500), idem=f"h-{uuid.uuid4()}").json()
    assert hold["status"] == "open" and available(acme, a) == start_a - 500
    cap = acme.post(f"/v1/holds/{hold['id']}/capture", {"amount": 200}, idem=f"c-{uuid.uuid4()}").json()
    assert (cap["captured"], cap["remaining"]) == (200, 300)
    assert acme.post(f"/v1/holds/{hold['id']}/capture", {"amount": 301}).json()["error"]["code"] == (
        "amount_exceeds_hold"
    )
    void = acme.post(f"/v1/holds/{hold['id']}/void").json()
    assert void["status"] == "voided" and void["released"] == 500
    assert available(acme, a) == start_a - 200 and available(acme, b) == start_b + 200


JSON, TEXT = {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("post", "/v1/transfers", {"data": b"{nope", "headers": JSON}, 400, "malformed_json"),
        ("post", "/v1/transfers", {"json": {**transfer("a", "b", 1), "amount": "1"}}, 400, "parameter_invalid"),
        ("post", "/v1/transfers", {"json": {**transfer("a", "b", 1), "amount": 1.0}}, 400, "parameter_invalid"),
        ("post", "/v1/transfers", {"json": {**transfer("a", "b", 1), "currency": "ZZZ"}}, 400, "parameter_invalid"),
        ("post", "/v1/transfers", {"json": {**transfer("a", "b", 1), "memo": "x"}}, 400, "parameter_unknown"),
        ("post", "/v1/transfers", {"json": {"amount": 1}}, 400, "parameter_missing"),
        ("post", "/v1/transfers", {"json": [1]}, 400, "parameter_invalid"),
        ("post", "/v1/transfers", {"data": b"a=1", "headers": TEXT}, 415, "unsupported_media_type"),
        ("post", "/v1/transfers", {"data": b" " * 70000, "headers": JSON}, 413, "payload_too_large"),
        ("post", "/v1/transfers", {"json": transfer("a", "b", 1), "headers": {"Idempotency-Key": "k" * 300}}, 400,
         "idempotency_key_invalid"),
        ("get", "/v1/accounts/x/entries?limit=1000", {}, 400, "parameter_invalid"),
        ("get", "/v1/accounts/x/entries?colour=red", {}, 400, "parameter_unknown"),
        ("get", "/v1/accounts/x/balance?as_of=noon", {}, 400, "parameter_invalid"),
        ("get", "/v1/nowhere", {}, 404, "route_not_found"),
        ("delete", "/v1/transfers", {}, 405, "method_not_allowed"),
        ("get", "/v1/dead-letters", {}, 403, "insufficient_scope"),
    ],
)  # fmt: skip
def test_bad_input_of_every_kind(acme, method, path, kwargs, status, code):
    resp = getattr(acme.session, method)(acme.url + path, timeout=30, **kwargs)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert set(resp.json()["error"]) == {"type", "code", "message", "param"}


def test_auth_failures_and_revocation(api_url, globex):
    assert requests.get(api_url + "/v1/accounts/x", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer " + globex.key[:-2] + "xx"}
    assert requests.get(api_url + f"/v1/accounts/{globex.customers[0]}", headers=bad, timeout=10).status_code == 401
    spare = Tenant(api_url, globex.name, [], scopes="read")
    assert spare.get(f"/v1/accounts/{globex.customers[0]}").status_code == 200
    assert cli("api-keys", "revoke", spare.key_id)["revoked"] is True
    assert spare.get(f"/v1/accounts/{globex.customers[0]}").status_code == 401


def test_operator_endpoints(operator, acme):
    listing = operator.get("/v1/dead-letters", params={"limit": 5})
    assert listing.status_code == 200 and set(listing.json()) == {"object", "data", "has_more"}
    assert operator.get("/v1/dead-letters", params={"status": "replayed"}).status_code == 200
    assert operator.post("/v1/dead-letters/nope:none/replay", {"dry_run": True, "reason": "x"}).status_code == 404
    for path in ("/v1/reconciliation/runs", "/v1/reconciliation/breaks"):
        assert operator.get(path).status_code == 200
    assert acme.get("/v1/reconciliation/runs").status_code == 403
    assert operator.get(f"/v1/accounts/{acme.customers[0]}").status_code == 403


def test_the_api_never_logs_a_key(cfg, acme, globex, operator):
    # `make test` on a fresh stack runs it under <run dir>/test: read the log the running api writes.
    candidates = [d / "logs" / "api.log" for d in (cfg.run_dir, cfg.run_dir / "test")]
    running = [p for p in candidates if (p.parent.parent / "pids" / "api.json").exists()]
    log = max(running or [p for p in candidates if p.exists()], key=lambda p: p.stat().st_mtime)
    log = log.read_text(errors="replace")
    assert "api request" in log
    for tenant in (acme, globex, operator):
        secret = tenant.key.split("_", 3)[3]
        assert secret not in log and tenant.key not in log


def test_customers_are_self_service_on_datastore_and_stay_with_their_tenant(acme, globex):
    """POST/GET/PATCH /v1/customers through the running api on the Datastore emulator: the listing is
    the composite query of topology/datastore_indexes.json (customers-of-tenant), newest first."""
    run = uuid.uuid4().hex[:8]
    made = []
    for i in range(3):
        created = acme.post("/v1/customers", {"id": f"cus_self{run}_{i}", "metadata": {"batch": run, "i": str(i)}})
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
    generated = acme.post("/v1/customers", {"metadata": {"batch": run}}, idem=f"gen-{run}")
    again = acme.post("/v1/customers", {"metadata": {"batch": run}}, idem=f"gen-{run}")
    assert generated.status_code == again.status_code == 201 and generated.json()["id"] == again.json()["id"]
    listed = acme.get(f"/v1/customers?limit=2&metadata=batch:{run}").json()
    assert [c["id"] for c in listed["data"]] == [generated.json()["id"], made[2]] and listed["has_more"]
    rest = acme.get(f"/v1/customers?limit=10&metadata=batch:{run}&starting_after={made[2]}").json()
    assert [c["id"] for c in rest["data"]] == [made[1], made[0]] and not rest["has_more"]
    patched = acme.session.patch(f"{acme.url}/v1/customers/{made[0]}", json={"metadata": {"i": ""}}, timeout=30)
    assert patched.status_code == 200 and patched.json()["metadata"] == {"batch": run}
    assert globex.get(f"/v1/customers/{made[0]}").status_code == 404
    assert globex.post("/v1/customers", {"id": made[0]}).json()["error"]["code"] == "customer_exists"
    assert all(c["id"] not in made for c in globex.get("/v1/customers?limit=100").json()["data"])


def test_transfers_and_holds_are_listed_on_datastore_per_tenant_and_customer(acme, globex, fund):
    """GET /v1/transfers and /v1/holds through the running api: the composite queries of
    topology/datastore_indexes.json (api-transfers-of-*, api-holds-of-*) on the Datastore emulator."""
    a, b, c = acme.customers[:3]
    fund(a, 5_000)
    made = [acme.post("/v1/transfers", transfer(a, b if i % 2 else c, 10 + i)).json()["id"] for i in range(3)]
    hold = acme.post("/v1/holds", transfer(a, b, 50)).json()["id"]
    mine = [t["id"] for t in acme.get("/v1/transfers?limit=100").json()["data"]]
    assert [t for t in mine if t in made] == list(reversed(made))
    page = acme.get("/v1/transfers?limit=1").json()
    rest = acme.get(f"/v1/transfers?limit=100&starting_after={page['data'][0]['id']}").json()
    assert page["has_more"] and page["data"][0]["id"] not in [t["id"] for t in rest["data"]]
    to_b = [t["id"] for t in acme.get(f"/v1/transfers?customer={b}&limit=100").json()["data"]]
    assert made[1] in to_b and made[0] not in to_b and made[2] not in to_b
    assert acme.get(f"/v1/transfers/{made[0]}").json()["amount"] == 10
    open_holds = acme.get(f"/v1/holds?status=open&customer={a}&limit=100").json()["data"]
    assert hold in [h["id"] for h in open_holds]
    assert globex.get(f"/v1/transfers/{made[0]}").status_code == 404
    assert all(t["id"] not in made for t in globex.get("/v1/transfers?limit=100").json()["data"])


def test_dated_versions_on_the_running_api(acme, fund, api_url):
    """A key pinned to 2026-11-01 (the CLI's --api-version) keeps the old contract, a new key gets the
    newest (an Idempotency-Key on every POST that moves money), a header asks for either, and two POSTs
    with the same key move money once."""
    a, b = acme.customers[:2]
    fund(a, 1_000)
    made = cli("api-keys", "create", "--tenant", acme.name, "--scopes", "read,write", "--api-version", "2026-11-01")
    assert made["api_version"] == "2026-11-01"
    old = requests.Session()
    old.headers["Authorization"] = f"Bearer {made['api_key']}"
    before = available(acme, a)
    legacy = old.post(f"{api_url}/v1/transfers", json=transfer(a, b, 10), timeout=30)
    assert legacy.status_code == 200 and legacy.headers["Ledgerline-Version"] == "2026-11-01", legacy.text
    newest = old.post(f"{api_url}/v1/transfers", json=transfer(a, b, 10), headers={"Ledgerline-Version": "2026-12-02"},
                      timeout=30)  # fmt: skip
    assert newest.status_code == 400 and newest.json()["error"]["code"] == "idempotency_key_missing"
    missing = acme.post("/v1/transfers", transfer(a, b, 10), idem=None)  # the fixture's key: the newest version
    assert missing.status_code == 400 and missing.headers["Ledgerline-Version"] == "2026-12-02"
    key = f"twice-{uuid.uuid4()}"
    first, again = (acme.post("/v1/transfers", transfer(a, b, 10), idem=key) for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.json()["id"] == again.json()["id"]
    assert available(acme, a) == before - 20  # the legacy transfer and the keyed one, once
    cli("api-keys", "revoke", made["key_id"])
