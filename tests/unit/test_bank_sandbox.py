"""The bank sandbox's rules (emulators/bank_sandbox), through its Flask app's test client on a clock the
test drives: authentication, validation codes, idempotency, the life cycle, faults, webhook events in
the format intake parses, and an oracle that counts truthfully."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from emulators.bank_sandbox.bank import MAGIC_ACCOUNTS, WEBHOOK_ATTEMPTS, Sandbox
from emulators.bank_sandbox.server import WebhookSender, create_app
from shared.config import settings_from
from shared.domain.kinds import BY_NAME
from shared.partners import column, lakeside

KEYS = {"column": "col_test_key_123", "lakeside": "lak_test_key_456"}
ACCOUNT = "000123456789"
PAYOUT_KEY = "po_3f9c0a1b2c3d4e5f60718293-1"
CFG = settings_from(
    {
        "LEDGERLINE_ENV": "local",
        "INTAKE_PORT": "18080",
        "COLUMN_WEBHOOK_SECRETS": "col_wh_secret_1",
        "LAKESIDE_WEBHOOK_SECRETS": "lak_wh_secret_1",
    }
)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env():
    clock = Clock()
    sandbox = Sandbox(KEYS, settle_after=2.0, return_after=1.0)
    client = create_app(sandbox, clock).test_client()
    return sandbox, client, clock


def transfer_body(account: str = ACCOUNT, amount: int = 1234, **extra) -> dict:
    body = {
        "amount": amount,
        "currency_code": "USD",
        "type": "CREDIT",
        "description": "payout",
        "counterparty": {"routing_number": "021000021", "account_number": account, "account_holder": "Ada Lovelace"},
    }
    return {**body, **extra}


def create(client, bank="column", key=PAYOUT_KEY, body=None, api_key=None):
    headers = {"Authorization": f"Bearer {api_key or KEYS[bank]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(f"/{bank}/transfers/ach", json=transfer_body() if body is None else body, headers=headers)


def oracle(client, bank="column") -> dict:
    return client.get(f"/_control/{bank}/executed").get_json()


def events(sandbox, bank="column") -> list[dict]:
    return [json.loads(d.body) for d in sandbox.banks[bank].deliveries]


def test_healthz(env):
    _, client, _ = env
    assert client.get("/healthz").get_json() == {"status": "ok", "banks": ["column", "lakeside"]}


@pytest.mark.parametrize("api_key", [None, "Bearer wrong", f"Bearer {KEYS['lakeside']}", KEYS["column"]])
def test_a_call_without_the_banks_own_key_is_401_and_creates_nothing(env, api_key):
    _, client, _ = env
    headers = {"Idempotency-Key": PAYOUT_KEY} | ({"Authorization": api_key} if api_key else {})
    answer = client.post("/column/transfers/ach", json=transfer_body(), headers=headers)
    assert (answer.status_code, answer.get_json()["code"]) == (401, "unauthorized")
    assert client.get("/column/transfers/ach/acht_x", headers=headers).status_code == 401
    assert oracle(client)["totals"]["created"] == 0


def test_create_answers_the_transfer_with_the_account_number_masked(env):
    _, client, _ = env
    answer = create(client)
    assert answer.status_code == 201
    transfer = answer.get_json()
    assert transfer["id"].startswith("acht_")
    assert (transfer["status"], transfer["amount"], transfer["currency_code"]) == ("SUBMITTED", 1234, "USD")
    assert transfer["idempotency_key"] == PAYOUT_KEY
    assert transfer["counterparty"]["account_number"] == "••••6789"
    assert ACCOUNT not in answer.get_data(as_text=True)


def test_the_same_key_and_parameters_answer_the_same_transfer_without_executing_again(env):
    _, client, _ = env
    first = create(client).get_json()
    again = create(client)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first["id"]
    assert oracle(client)["executions"] == {PAYOUT_KEY: 1}


def test_the_same_key_with_other_parameters_is_409_and_executes_nothing(env):
    _, client, _ = env
    create(client)
    other = create(client, body=transfer_body(amount=999))
    assert (other.status_code, other.get_json()["code"], other.get_json()["field"]) == (
        409,
        "idempotency_key_conflict",
        "Idempotency-Key",
    )
    assert oracle(client)["totals"]["created"] == 1


def test_keys_are_per_bank(env):
    _, client, _ = env
    a = create(client, "column").get_json()
    b = create(client, "lakeside").get_json()
    assert a["id"] != b["id"]
    assert oracle(client, "column")["executions"] == oracle(client, "lakeside")["executions"] == {PAYOUT_KEY: 1}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (transfer_body(amount=0), "invalid_amount", "amount"),
        (transfer_body(amount=-5), "invalid_amount", "amount"),
        (transfer_body(amount=12.5), "invalid_amount", "amount"),
        (transfer_body(amount="100"), "invalid_amount", "amount"),
        (transfer_body(amount=True), "invalid_amount", "amount"),
        (transfer_body(currency_code="EUR"), "invalid_request", "currency_code"),
        (transfer_body(type="DEBIT"), "invalid_request", "type"),
        (
            {**transfer_body(), "counterparty": {**transfer_body()["counterparty"], "routing_number": "021000022"}},
            "invalid_routing_number",
            "counterparty.routing_number",
        ),
        (transfer_body(account="12ab5"), "invalid_account_number", "counterparty.account_number"),
        (transfer_body(account="1234"), "invalid_account_number", "counterparty.account_number"),
        (transfer_body(account="8888888888"), "account_closed", "counterparty.account_number"),
        (
            {**transfer_body(), "counterparty": {**transfer_body()["counterparty"], "account_holder": " "}},
            "invalid_request",
            "counterparty.account_holder",
        ),
        ([1, 2], "invalid_request", None),
    ],
)
def test_validation_is_400_with_a_code_and_the_field(env, body, code, field):
    _, client, _ = env
    answer = create(client, body=body)
    assert (answer.status_code, answer.get_json()["code"], answer.get_json()["field"]) == (400, code, field)
    assert oracle(client)["totals"]["created"] == 0


def test_an_idempotency_key_is_required(env):
    _, client, _ = env
    answer = create(client, key=None)
    assert (answer.status_code, answer.get_json()["code"]) == (400, "idempotency_key_missing")


def test_a_malformed_body_is_400_not_a_crash(env):
    _, client, _ = env
    headers = {"Authorization": f"Bearer {KEYS['column']}", "Idempotency-Key": PAYOUT_KEY}
    answer = client.post("/column/transfers/ach", data=b"{not json", headers=headers)
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_request")


def test_the_magic_declined_account_is_422_and_executes_nothing(env):
    _, client, _ = env
    answer = create(client, body=transfer_body(account="7777777777"))
    assert (answer.status_code, answer.get_json()["code"]) == (422, "transfer_declined")
    assert oracle(client)["totals"]["created"] == 0


def test_an_unknown_bank_is_404(env):
    _, client, _ = env
    answer = client.post("/acme/transfers/ach", json=transfer_body(), headers={"Idempotency-Key": PAYOUT_KEY})
    assert (answer.status_code, answer.get_json()["code"]) == (404, "unknown_bank")


def test_get_and_list_by_key(env):
    _, client, _ = env
    auth = {"Authorization": f"Bearer {KEYS['column']}"}
    assert client.get(f"/column/transfers/ach?idempotency_key={PAYOUT_KEY}", headers=auth).get_json() == {
        "transfers": [],
        "has_more": False,
    }
    created = create(client).get_json()
    found = client.get(f"/column/transfers/ach?idempotency_key={PAYOUT_KEY}", headers=auth).get_json()
    assert [t["id"] for t in found["transfers"]] == [created["id"]]
    assert client.get(f"/column/transfers/ach/{created['id']}", headers=auth).get_json()["id"] == created["id"]
    missing = client.get("/column/transfers/ach/acht_nothere", headers=auth)
    assert (missing.status_code, missing.get_json()["code"]) == (404, "not_found")


def test_the_life_cycle_runs_on_the_clock_one_event_per_change(env):
    sandbox, client, clock = env
    transfer = create(client).get_json()
    clock.now += 1.9
    sandbox.tick(clock.now)
    assert sandbox.banks["column"].transfers[transfer["id"]].status == "SUBMITTED"
    clock.now += 0.2
    sandbox.tick(clock.now)
    assert sandbox.banks["column"].transfers[transfer["id"]].status == "SETTLED"
    sandbox.tick(clock.now + 100)  # nothing more happens to a plain account
    kinds = [(e["type"], e["data"]["status"]) for e in events(sandbox)]
    assert kinds == [("ach.outgoing_transfer.submitted", "SUBMITTED"), ("ach.outgoing_transfer.settled", "SETTLED")]


@pytest.mark.parametrize("account", [a for a, s in MAGIC_ACCOUNTS.items() if s.outcome == "return"])
def test_magic_accounts_settle_then_return_with_their_r_code(env, account):
    sandbox, client, clock = env
    transfer = create(client, body=transfer_body(account=account)).get_json()
    sandbox.tick(clock.now + 2)
    sandbox.tick(clock.now + 3)
    (returned,) = [e for e in events(sandbox) if e["type"] == "ach.outgoing_transfer.returned"]
    assert returned["data"]["id"] == transfer["id"] and returned["data"]["status"] == "RETURNED"
    assert returned["data"]["return_details"][0]["return_code"] == MAGIC_ACCOUNTS[account].code
    assert oracle(client)["transfers"][0]["return_code"] == MAGIC_ACCOUNTS[account].code


@pytest.mark.parametrize(
    ("account", "status", "kind"), [("5555555555", "REJECTED", "rejected"), ("6666666666", "CANCELED", "canceled")]
)
def test_magic_accounts_rejected_or_canceled_before_settling_are_not_executed(env, account, status, kind):
    sandbox, client, clock = env
    create(client, body=transfer_body(account=account))
    sandbox.tick(clock.now + 2)
    assert [e["type"] for e in events(sandbox)][-1] == f"ach.outgoing_transfer.{kind}"
    totals = oracle(client)["totals"]
    assert (totals["created"], totals["executed"], totals["by_status"][status]["count"]) == (1, 0, 1)


def test_settle_now_and_a_forced_return(env):
    sandbox, client, _ = env
    transfer = create(client).get_json()
    early = client.post(f"/_control/column/return/{transfer['id']}", json={"code": "R01"})
    assert (early.status_code, early.get_json()["code"]) == (409, "transfer_not_settled")
    assert client.post("/_control/column/settle").get_json()["settled"] == [transfer["id"]]
    bad = client.post(f"/_control/column/return/{transfer['id']}", json={"code": "R99"})
    assert (bad.status_code, bad.get_json()["code"]) == (400, "invalid_return_code")
    returned = client.post(f"/_control/column/return/{transfer['id']}", json={"code": "R03"}).get_json()
    assert returned["status"] == "RETURNED" and returned["return_details"][0]["return_code"] == "R03"
    assert [e["type"].rsplit(".", 1)[1] for e in events(sandbox)] == ["submitted", "settled", "returned"]


def test_webhook_events_are_signed_and_parsed_by_intakes_plugins(env):
    sandbox, client, clock = env
    create(client, "column")
    create(client, "lakeside")
    sent = []

    class Session:
        def post(self, url, data, headers, timeout):
            sent.append((url, data, headers))
            return type("R", (), {"status_code": 200})()

    sender = WebhookSender(CFG, Session())
    for delivery in sandbox.due_deliveries(clock.now):
        assert sender(delivery) == 200
    assert [url for url, _, _ in sent] == [
        "http://127.0.0.1:18080/webhooks/column",
        "http://127.0.0.1:18080/webhooks/lakeside",
    ]
    now = datetime.now(UTC)
    for (_, body, headers), plugin in zip(sent, (column, lakeside), strict=True):
        plugin.verify(headers, body, CFG, 0)  # raises unless signed with this bank's secret
        (parsed,) = plugin.parse(body, now, CFG, headers)
        assert parsed.partner_event_type == "ach.outgoing_transfer.submitted"
        assert parsed.canonical is None and "payout transfer" in parsed.reason  # not booked by the ledger
        assert json.loads(body)["data"]["idempotency_key"] == PAYOUT_KEY
        assert ACCOUNT.encode() not in body
    with pytest.raises(Exception, match="signature_invalid"):
        lakeside.verify(sent[0][2], sent[0][1], CFG, 0)  # column's signature is not lakeside's


def test_a_webhook_intake_did_not_accept_is_retried_with_backoff_then_given_up(env):
    sandbox, client, clock = env
    create(client)
    (delivery,) = sandbox.due_deliveries(clock.now)
    sandbox.delivered(delivery, 503, clock.now)
    assert sandbox.due_deliveries(clock.now) == [] and delivery.due_at == clock.now + 0.25
    sandbox.delivered(delivery, "ConnectionError", clock.now)
    assert delivery.due_at == clock.now + 0.5
    for _ in range(WEBHOOK_ATTEMPTS - 2):
        sandbox.delivered(delivery, 500, clock.now)
    assert delivery.state == "gave_up" and delivery.attempts == WEBHOOK_ATTEMPTS
    create(client, key=PAYOUT_KEY.replace("-1", "-2"))
    (fresh,) = sandbox.due_deliveries(clock.now)
    sandbox.delivered(fresh, 200, clock.now)
    assert fresh.state == "delivered"
    states = [d["state"] for d in client.get("/_control/column/webhooks").get_json()["deliveries"]]
    assert states == ["gave_up", "delivered"]


def set_faults(client, bank="column", **faults):
    answer = client.post(f"/_control/{bank}/faults", json=faults)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["faults"]


def test_error_before_commit_creates_nothing(env):
    _, client, _ = env
    set_faults(client, error_before_commit_rate=1.0)
    assert create(client).status_code == 500
    assert oracle(client)["totals"]["created"] == 0


def test_error_after_commit_has_executed_and_a_retry_finds_it(env):
    _, client, _ = env
    set_faults(client, error_after_commit_rate=1.0)
    assert create(client).status_code == 500
    assert oracle(client)["executions"] == {PAYOUT_KEY: 1}
    client.delete("/_control/column/faults")
    again = create(client)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert oracle(client)["executions"] == {PAYOUT_KEY: 1}


def test_rate_limit_outage_and_decline(env):
    _, client, clock = env
    set_faults(client, rate_limit_rate=1.0)
    limited = create(client)
    assert (limited.status_code, limited.headers["Retry-After"], limited.get_json()["code"]) == (
        429,
        "1",
        "rate_limited",
    )
    set_faults(client, outage_seconds=5)
    assert create(client).status_code == 503
    assert client.get("/_control/column/faults").get_json()["faults"]["outage_remaining_seconds"] == 5.0
    assert create(client, "lakeside").status_code == 201  # faults are per bank
    clock.now += 5
    assert create(client).status_code == 201
    set_faults(client, decline_rate=1.0)
    declined = create(client, key=PAYOUT_KEY.replace("-1", "-2"))
    assert (declined.status_code, declined.get_json()["code"]) == (422, "transfer_declined")
    assert oracle(client)["totals"]["created"] == 1


def test_timeout_after_commit_answers_nothing_but_executes(env):
    _, client, _ = env
    set_faults(client, timeout_after_commit_rate=1.0, hang_seconds=0.0)
    assert create(client).status_code == 504  # the test client waits; a real client has given up long before
    assert oracle(client)["executions"] == {PAYOUT_KEY: 1}


def test_rates_are_deterministic_given_the_seed():
    def outcomes(seed: int) -> list[int]:
        clock = Clock()
        sandbox = Sandbox(KEYS)
        client = create_app(sandbox, clock).test_client()
        set_faults(client, seed=seed, error_before_commit_rate=0.5)
        return [create(client, key=f"po_{i:024x}-1").status_code for i in range(40)]

    first = outcomes(7)
    assert first == outcomes(7)
    assert set(first) == {201, 500}
    assert first != outcomes(8)


def test_faults_are_validated(env):
    _, client, _ = env
    for body, code, field in [
        ({"latency": 5}, "unknown_field", "latency"),
        ({"decline_rate": 1.5}, "invalid_fault", "decline_rate"),
        ({"duplicate_webhooks": 1}, "invalid_fault", "duplicate_webhooks"),
        ({"timeout_mode": "explode"}, "invalid_fault", "timeout_mode"),
        ({"latency_ms": -1}, "invalid_fault", "latency_ms"),
    ]:
        answer = client.post("/_control/column/faults", json=body)
        assert (answer.status_code, answer.get_json()["code"], answer.get_json()["field"]) == (400, code, field)


def test_duplicate_and_out_of_order_webhooks(env):
    sandbox, client, clock = env
    set_faults(client, duplicate_webhooks=True)
    create(client)
    ids = [d.event_id for d in sandbox.due_deliveries(clock.now)]
    assert len(ids) == 2 and ids[0] == ids[1]
    client.post("/_control/reset")
    set_faults(client, out_of_order_webhooks=True)
    create(client)
    assert sandbox.due_deliveries(clock.now) == []  # submitted is held back
    sandbox.tick(clock.now + 2)
    order = [d.event_type for d in sandbox.due_deliveries(clock.now + 2)]
    assert order == ["ach.outgoing_transfer.settled"]
    order += [d.event_type for d in sandbox.due_deliveries(clock.now + 2.5) if d.event_type not in order]
    assert order == ["ach.outgoing_transfer.settled", "ach.outgoing_transfer.submitted"]


def test_the_oracle_counts_truthfully_a_bank_that_ignores_keys_shows_two(env):
    _, client, _ = env
    set_faults(client, honour_idempotency=False)
    create(client)
    create(client)
    assert oracle(client)["executions"] == {PAYOUT_KEY: 2}
    assert oracle(client)["max_executions_per_key"] == 2
    assert client.get("/_control/executed").get_json()["executed_twice"] == [PAYOUT_KEY.rsplit("-", 1)[0]]


def test_the_oracle_across_banks_catches_a_payout_executed_at_both(env):
    _, client, _ = env
    create(client, "column", key=PAYOUT_KEY)
    create(client, "lakeside", key=PAYOUT_KEY.replace("-1", "-2"))
    create(client, "lakeside", key="po_00000000000000000000000a-1", body=transfer_body(account="5555555555"))
    everything = client.get("/_control/executed").get_json()
    payout = PAYOUT_KEY.rsplit("-", 1)[0]
    assert everything["payouts"][payout] == {"executed": 2, "banks": ["column", "lakeside"]}
    assert everything["executed_twice"] == [payout]
    assert everything["banks"]["column"]["max_executions_per_key"] == 1


def test_only_payout_transfers_go_to_the_payments_function_instead_of_the_ledger():
    """Our payout transfers' events (keyed on the payout attempt's key) become the payments kinds, which
    the ledger does not post: a customer's outgoing transfer (no payout key) is still posted as before."""
    from tests.factories import column_event

    now = datetime.now(UTC)
    customer = column_event("evnt_c1", "ach.outgoing_transfer.completed", "acht_c1", 4_000, "acno_cust1")
    (parsed,) = column.parse(json.dumps(customer).encode(), now, CFG, {})
    assert parsed.canonical is not None and parsed.canonical.kind == "ach.debit.sent"
    payout = {**customer, "data": {**customer["data"], "idempotency_key": PAYOUT_KEY}}
    (outcome,) = column.parse(json.dumps(payout).encode(), now, CFG, {})
    assert outcome.canonical.kind == "bank.transfer_settled" and outcome.canonical.our_reference == PAYOUT_KEY
    assert BY_NAME[outcome.canonical.kind].consumer == "payments"
    returned = {**payout, "type": "ach.outgoing_transfer.returned"}
    returned["data"] = {**payout["data"], "return_details": [{"return_code": "R01", "description": "NSF"}]}
    (back,) = column.parse(json.dumps(returned).encode(), now, CFG, {})
    assert (back.canonical.kind, back.canonical.outcome_code) == ("bank.transfer_returned", "R01")
    submitted = {**payout, "type": "ach.outgoing_transfer.submitted"}
    (stored,) = column.parse(json.dumps(submitted).encode(), now, CFG, {})
    assert stored.canonical is None and "nothing to apply" in stored.reason
    other_key = {**customer, "data": {**customer["data"], "idempotency_key": "customer-chosen-key-1"}}
    (posted,) = column.parse(json.dumps(other_key).encode(), now, CFG, {})
    assert posted.canonical is not None


def test_the_background_thread_settles_and_delivers_each_event_once():
    import threading
    import time

    from emulators.bank_sandbox.server import run_background

    sandbox = Sandbox(KEYS, settle_after=0.05)
    client = create_app(sandbox).test_client()
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def send(delivery):
        with lock:
            seen.append((delivery.event_id, delivery.event_type))
        return 500 if len(seen) == 1 else 200  # the first attempt fails: retried once

    stop = threading.Event()
    worker = threading.Thread(target=run_background, args=(sandbox, send, stop, 0.01), daemon=True)
    worker.start()
    try:
        create(client)
        deadline = time.monotonic() + 5

        def done() -> bool:
            rows = sandbox.webhooks("column")
            return len(rows) == 2 and all(d["state"] == "delivered" for d in rows)

        while time.monotonic() < deadline and not done():
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(2)
    deliveries = sandbox.webhooks("column")
    assert [d["type"] for d in deliveries] == ["ach.outgoing_transfer.submitted", "ach.outgoing_transfer.settled"]
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    assert [d["statuses"] for d in deliveries] == [[500, 200], [200]]
    assert len(seen) == 3 and seen.count(seen[0]) == 2  # the retry is the same event (after settled: a retry reorders)
