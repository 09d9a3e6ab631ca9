"""The webhook receiver (emulators/webhook_receiver) through its Flask app's test client on a clock the
test drives: Standard Webhooks verification with one and with two secrets (a rotation), the behaviours
(seeded failures, a forced 410, Retry-After, a delay, down), the records and the control API; then served
for real on 127.0.0.1, with ledgerline's own sender (a dropped connection is no answer) and the client."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server

from emulators.webhook_receiver.client import ReceiverClient, ReceiverError
from emulators.webhook_receiver.receivers import MAX_RECORDS, Receivers
from emulators.webhook_receiver.server import create_app
from shared.adapters.webhook_http import post
from shared.logs import CloudLoggingFormatter

OLD = "whsec_b2xkLXNlY3JldC1vZi10aGUtdGVuYW50LTAwMQ=="
NEW = "whsec_bmV3LXNlY3JldC1vZi10aGUtdGVuYW50LTAwMg=="
OTHER = "whsec_c29tZWJvZHktZWxzZXMtc2VjcmV0LTAwMDAwMw=="


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env():
    clock, slept = Clock(), []
    receivers = Receivers()
    client = create_app(receivers, clock, sleep=slept.append).test_client()
    return client, clock, slept, receivers


def signed(body: bytes, *secrets: str, msg_id: str = "msg_1", at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers; several secrets make several space-separated signatures (a rotation)."""
    at = at or datetime.now(UTC)
    signatures = " ".join(Webhook(s).sign(msg_id, at, body.decode()) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def configure(client, name: str, *secrets: str):
    response = client.put(f"/_control/receivers/{name}", json={"secrets": list(secrets)})
    assert response.status_code == 200, response.json
    return response.json


def behave(client, name: str, **behaviour):
    response = client.put(f"/_control/receivers/{name}/behaviour", json=behaviour)
    assert response.status_code == 200, response.json
    return response.json


def received(client, name: str, since_seq: int = 0) -> list[dict]:
    return client.get(f"/_control/receivers/{name}/received?since_seq={since_seq}").json["received"]


BODY = json.dumps({"type": "payout.paid", "data": {"id": "po_1"}}).encode()


# ---------------------------------------------------------------------------------- verification


def test_one_secret_verifies_and_the_request_is_recorded(env):
    client, *_ = env
    assert configure(client, "acme", NEW) == {
        "receiver": "acme",
        "secrets": 1,  # how many, never the values
        "behaviour": {
            "fail_rate": 0.0,
            "fail_status": 500,
            "delay_s": 0.0,
            "status": None,
            "retry_after": None,
            "down_for_s": 0.0,
            "seed": 0,
        },
        "down_remaining_s": 0.0,
    }
    headers = signed(BODY, NEW)
    response = client.post("/r/acme", data=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json == {"receiver": "acme", "seq": 1, "status": 200}
    (record,) = received(client, "acme")
    assert record == {
        "seq": 1,
        "global_seq": 1,
        "receiver": "acme",
        "configured": True,
        "received_at": "2027-01-15T08:00:00.000Z",
        "headers": {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")},
        "body": BODY.decode(),
        "verified": True,
        "secret_index": 0,
        "verify_error": None,
        "status": 200,
        "outcome": "answered",
        "delay_s": 0.0,
    }


def test_a_wrong_secret_is_401_and_recorded_unverified(env):
    client, *_ = env
    configure(client, "acme", NEW)
    response = client.post("/r/acme", data=BODY, headers=signed(BODY, OTHER))
    assert response.status_code == 401
    (record,) = received(client, "acme")
    assert (record["verified"], record["secret_index"], record["status"]) == (False, None, 401)
    assert record["verify_error"] == "No matching signature found"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "Missing required headers"),
        ({"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}, "Message timestamp too old"),
        ({"webhook-id": "m", "webhook-timestamp": "now", "webhook-signature": "nocomma"}, "malformed"),
    ],
)
def test_unverifiable_requests(env, headers, error):
    client, *_ = env
    configure(client, "acme", NEW)
    if headers.get("webhook-timestamp") == "now":  # the time the test runs, not when it was collected
        headers = {**headers, "webhook-timestamp": str(int(time.time()))}
    assert client.post("/r/acme", data=BODY, headers=headers).status_code == 401
    assert error in received(client, "acme")[0]["verify_error"]


def test_a_tampered_body_does_not_verify(env):
    client, *_ = env
    configure(client, "acme", NEW)
    assert client.post("/r/acme", data=BODY + b" ", headers=signed(BODY, NEW)).status_code == 401


def test_two_secrets_the_index_says_which_verified(env):
    client, *_ = env
    configure(client, "acme", OTHER, NEW)  # the tenant accepts either while it rotates
    client.post("/r/acme", data=BODY, headers=signed(BODY, NEW, msg_id="msg_new"))
    client.post("/r/acme", data=BODY, headers=signed(BODY, OTHER, msg_id="msg_other"))
    first, second = received(client, "acme")
    assert (first["verified"], first["secret_index"], first["status"]) == (True, 1, 200)
    assert (second["verified"], second["secret_index"]) == (True, 0)


def test_a_rotation_header_with_two_signatures_verifies_with_either_secret(env):
    client, *_ = env
    headers = signed(BODY, OLD, NEW)  # ledgerline during an overlap: "v1,<old> v1,<new>"
    assert len(headers["webhook-signature"].split(" ")) == 2
    configure(client, "before", OLD)
    configure(client, "after", NEW)
    configure(client, "neither", OTHER)
    for name in ("before", "after", "neither"):
        client.post(f"/r/{name}", data=BODY, headers=headers)
    assert received(client, "before")[0]["secret_index"] == 0
    assert received(client, "after")[0]["secret_index"] == 0
    assert received(client, "neither")[0]["verified"] is False


def test_a_receiver_without_secrets_takes_everything_unverified(env):
    client, *_ = env
    configure(client, "open")
    assert client.post("/r/open", data=b"not json", headers={}).status_code == 200
    (record,) = received(client, "open")
    assert (record["verified"], record["secret_index"], record["verify_error"]) == (False, None, None)


def test_an_unconfigured_receiver_is_404_and_recorded(env):
    client, *_ = env
    response = client.post("/r/nobody", data=BODY, headers=signed(BODY, NEW))
    assert response.status_code == 404
    answer = client.get("/_control/receivers/nobody/received").json
    assert answer["configured"] is False
    (record,) = answer["received"]
    assert (record["status"], record["configured"], record["verified"]) == (404, False, False)


# ------------------------------------------------------------------------------------ behaviour


def test_fail_rate_is_deterministic_given_the_seed(env):
    client, *_ = env
    configure(client, "flaky", NEW)
    behave(client, "flaky", fail_rate=0.3, fail_status=503, seed=1)
    statuses = [client.post("/r/flaky", data=BODY, headers=signed(BODY, NEW)).status_code for _ in range(40)]
    rng = random.Random(1)
    assert statuses == [503 if rng.random() < 0.3 else 200 for _ in range(40)]
    assert 0 < statuses.count(503) < 40
    behave(client, "flaky", fail_rate=0.3, fail_status=503, seed=1)  # the same seed again: the same draws
    again = [client.post("/r/flaky", data=BODY, headers=signed(BODY, NEW)).status_code for _ in range(40)]
    assert again == statuses
    assert [r["status"] for r in received(client, "flaky")] == statuses + again


def test_a_forced_410_and_retry_after(env):
    client, *_ = env
    configure(client, "gone", NEW)
    behave(client, "gone", status=410)
    response = client.post("/r/gone", data=BODY, headers=signed(BODY, NEW))
    assert response.status_code == 410 and "Retry-After" not in response.headers
    assert received(client, "gone")[0]["verified"] is True  # verified, and answered what it was told

    behave(client, "gone", status=429, retry_after=30)
    response = client.post("/r/gone", data=BODY, headers=signed(BODY, NEW))
    assert (response.status_code, response.headers["Retry-After"]) == (429, "30")
    behave(client, "gone", retry_after=30)  # no forced status: a 200 carries no Retry-After
    assert "Retry-After" not in client.post("/r/gone", data=BODY, headers=signed(BODY, NEW)).headers


def test_delay_is_waited_before_the_answer(env):
    client, _, slept, _ = env
    configure(client, "slow", NEW)
    behave(client, "slow", delay_s=2.5)
    assert client.post("/r/slow", data=BODY, headers=signed(BODY, NEW)).status_code == 200
    assert slept == [2.5]
    assert received(client, "slow")[0]["delay_s"] == 2.5


def test_down_for_a_while_then_up(env):
    client, clock, _, _ = env
    configure(client, "down", NEW)
    assert behave(client, "down", down_for_s=60)["down_remaining_s"] == 60
    # the test client has no socket to drop: the fallback answer is 503 (served, the connection is dropped)
    assert client.post("/r/down", data=BODY, headers=signed(BODY, NEW)).status_code == 503
    clock.now += 59.9
    assert client.post("/r/down", data=BODY, headers=signed(BODY, NEW)).status_code == 503
    clock.now += 0.1
    assert client.post("/r/down", data=BODY, headers=signed(BODY, NEW)).status_code == 200
    assert [r["status"] for r in received(client, "down")] == [503, 503, 200]


def test_behaviour_is_checked(env):
    client, *_ = env
    configure(client, "acme", NEW)
    for body, code in (
        ({"fail_rate": 1.5}, "invalid_behaviour"),
        ({"fail_rate": True}, "invalid_behaviour"),
        ({"status": 99}, "invalid_behaviour"),
        ({"delay_s": -1}, "invalid_behaviour"),
        ({"retry_after": "soon"}, "invalid_behaviour"),
        ({"explode": True}, "unknown_field"),
        ([], "invalid_behaviour"),
    ):
        response = client.put("/_control/receivers/acme/behaviour", json=body)
        assert (response.status_code, response.json["error"]["code"]) == (400, code), body
    response = client.put("/_control/receivers/nobody/behaviour", json={})
    assert (response.status_code, response.json["error"]["code"]) == (404, "receiver_not_found")


def test_secrets_and_names_are_checked(env):
    client, *_ = env
    for body in ({"secrets": [NEW, "whsec_%%%%"]}, {"secrets": [42]}, {"secrets": "whsec_x"}, {"other": 1}):
        response = client.put("/_control/receivers/acme", json=body)
        assert (response.status_code, response.json["error"]["code"]) in (
            (400, "invalid_secret"),
            (400, "invalid_request"),
        )
        assert "%%%%" not in json.dumps(response.json) and NEW not in json.dumps(response.json)  # never echoed
    response = client.put("/_control/receivers/bad name!", json={"secrets": []})
    assert response.status_code == 400
    assert client.put("/_control/receivers/acme", data=b"{", content_type="application/json").status_code == 400


def test_a_body_over_the_limit_is_413_and_recorded(env):
    client, *_ = env
    configure(client, "acme", NEW)
    assert client.post("/r/acme", data=b"x" * ((1 << 20) + 1)).status_code == 413
    assert received(client, "acme")[0]["status"] == 413


# -------------------------------------------------------------------------------------- records


def test_records_sequences_since_forget_and_reset(env):
    client, *_ = env
    configure(client, "a", NEW)
    configure(client, "b", NEW)
    for name in ("a", "b", "a", "nobody", "a"):
        client.post(f"/r/{name}", data=BODY, headers=signed(BODY, NEW))
    assert [r["seq"] for r in received(client, "a")] == [1, 2, 3]
    assert [r["seq"] for r in received(client, "a", since_seq=1)] == [2, 3]
    everything = client.get("/_control/received").json
    assert [(r["receiver"], r["global_seq"]) for r in everything["received"]] == [
        ("a", 1),
        ("b", 2),
        ("a", 3),
        ("nobody", 4),
        ("a", 5),
    ]
    assert everything["last_seq"] == 5
    assert [r["global_seq"] for r in client.get("/_control/received?since_seq=3").json["received"]] == [4, 5]
    assert client.get("/_control/received?since_seq=x").status_code == 400

    configure(client, "a", OTHER)  # new secrets: records and sequence stay
    client.post("/r/a", data=BODY, headers=signed(BODY, OTHER))
    assert [r["seq"] for r in received(client, "a")] == [1, 2, 3, 4]

    assert client.delete("/_control/receivers/a").json == {"receiver": "a", "forgotten": True}
    assert received(client, "a") == []
    assert client.post("/r/a", data=BODY).status_code == 404  # forgotten: unconfigured again
    assert received(client, "a")[0]["seq"] == 1  # its sequence starts again
    assert client.delete("/_control/receivers/never").json["forgotten"] is False

    assert client.delete("/_control/received").json == {"reset": True}
    after = client.get("/_control/received").json
    assert after["received"] == [] and after["last_seq"] == 7
    assert client.get("/_control/receivers").json == {"receivers": []}
    configure(client, "b", NEW)
    client.post("/r/b", data=BODY, headers=signed(BODY, NEW))
    (record,) = client.get("/_control/received?since_seq=7").json["received"]
    assert (record["seq"], record["global_seq"]) == (1, 8)  # global_seq is never reused


def test_the_oldest_records_go_beyond_the_cap(monkeypatch):
    from emulators.webhook_receiver import receivers as module

    monkeypatch.setattr(module, "MAX_RECORDS", 3)
    receivers = Receivers()
    for _ in range(5):
        receivers.receive("x", {}, b"", 0.0)
    records, last = receivers.received_all()
    assert ([r["global_seq"] for r in records], last, receivers.forgotten_records) == ([3, 4, 5], 5, 2)
    assert MAX_RECORDS >= 100_000


def test_concurrent_requests_get_distinct_sequences(env):
    _, _, _, receivers = env
    receivers.configure("acme", {"secrets": [NEW]}, 0.0)
    headers = signed(BODY, NEW)

    def hammer():
        for _ in range(50):
            receivers.receive("acme", headers, BODY, 0.0)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, records = receivers.received("acme")
    assert sorted(r["seq"] for r in records) == list(range(1, 401))
    assert all(r["verified"] for r in records)


def test_only_loopback_clients(env):
    client, *_ = env
    response = client.get("/healthz", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 403
    assert client.get("/healthz").json == {"status": "ok", "receivers": 0}


def test_logs_name_no_secret_no_signature_no_body(env, caplog):
    client, *_ = env
    caplog.set_level(logging.INFO, logger="ledgerline.webhook_receiver")
    configure(client, "acme", OLD, NEW)
    behave(client, "acme", fail_rate=0.5, seed=3)
    headers = signed(BODY, NEW)
    client.post("/r/acme", data=BODY, headers=headers)
    formatter = CloudLoggingFormatter("test")
    lines = [formatter.format(r) for r in caplog.records]
    assert any('"webhook received"' in line and '"msg_1"' in line for line in lines)
    text = "\n".join(lines)
    for secret in (OLD, NEW, OLD.removeprefix("whsec_"), NEW.removeprefix("whsec_")):
        assert secret not in text
    assert headers["webhook-signature"].split(",", 1)[1] not in text
    assert "payout.paid" not in text


# ------------------------------------------------------------------------------ served for real


@pytest.fixture
def served():
    receivers = Receivers()
    server = make_server("127.0.0.1", 0, create_app(receivers), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield ReceiverClient(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


def test_ledgerlines_sender_against_the_receiver(served):
    url = served.configure("acme", [OLD, NEW])
    assert url.endswith("/r/acme")
    answer = post(url, BODY, signed(BODY, NEW), local=True)
    assert (answer.status, answer.error) == (200, None)
    served.behave("acme", status=429, retry_after=7)
    answer = post(url, BODY, signed(BODY, NEW), local=True)
    assert (answer.status, answer.headers.get("retry-after")) == (429, "7")
    served.behave("acme", down_for_s=30)
    answer = post(url, BODY, signed(BODY, NEW), local=True)
    assert answer.status is None and answer.error in ("connection_closed", "connection_reset")
    records = served.received("acme")
    assert [(r["status"], r["outcome"], r["secret_index"]) for r in records] == [
        (200, "answered", 1),
        (429, "answered", 1),
        (None, "dropped", 1),
    ]
    all_records, last = served.received_all(since_seq=1)
    assert [r["global_seq"] for r in all_records] == [2, 3] and last == 3
    with pytest.raises(ReceiverError) as info:
        served.behave("nobody", status=500)
    assert (info.value.status, info.value.code) == (404, "receiver_not_found")
    assert served.forget("acme") is True
    served.reset()
    assert served.received_all() == ([], 3)


def test_the_stack_starts_it_on_its_port_with_a_health_probe():
    from emulators import ctl
    from shared.config import CLOUD_SOURCES, settings_from

    (service,) = [s for s in ctl.services(settings_from({"LEDGERLINE_ENV": "local"})) if s.name == "webhook-receiver"]
    assert service.group == "emulator"
    assert service.argv[-2:] == ["-m", "emulators.webhook_receiver"]
    assert service.health == "ok:http://127.0.0.1:8092/healthz"
    assert CLOUD_SOURCES["WEBHOOK_RECEIVER_PORT"] == "local"
    shifted = settings_from(
        {"LEDGERLINE_ENV": "local", **ctl.isolated_environ({"LEDGERLINE_TEST_PORT_OFFSET": "15000"})}
    )
    assert shifted.port("webhook_receiver") == 23092
