"""Webhooks out through the running stack: a partner's payment webhook and API holds commit ledger
changes whose customer events (written in the same Datastore transaction) the webhooks function fans
out and POSTs, signed, to the tenant's endpoint: the webhook receiver emulator, which verifies every
signature with the standardwebhooks package. The receiver fails half the attempts; the events still
arrive, in order per key; a 410 disables an endpoint and its tenant's other endpoint is told."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from emulators.webhook_receiver.client import ReceiverClient
from shared import bootstrap

from .conftest import wait_for
from .test_api import Tenant, api_url, fund, payment, transfer  # noqa: F401 - fixtures shared with test_api


@pytest.fixture(scope="module")
def shop(api_url):  # noqa: F811
    run = uuid.uuid4().hex[:8]
    return Tenant(api_url, f"hooks-{run}", [f"cus_hooks{run}_{i}" for i in range(2)])


@pytest.fixture(scope="module")
def endpoints(cfg):
    return bootstrap.webhook_endpoints(bootstrap.root(cfg))


@pytest.fixture(scope="module")
def receiver():
    return ReceiverClient()


def successes(receiver: ReceiverClient, name: str) -> list[dict]:
    return [r for r in receiver.received(name) if r["status"] == 200]


def test_events_reach_the_endpoint_signed_in_order_despite_failures(shop, fund, endpoints, receiver):  # noqa: F811
    a, b = shop.customers
    name = f"hooks-{uuid.uuid4().hex[:8]}"
    ep = endpoints.create(
        shop.name, receiver.url(name), types=["transfer.posted", "hold.created", "hold.captured", "hold.voided"]
    )
    receiver.configure(name, [ep.secrets[0].value])
    receiver.behave(name, fail_rate=0.5, seed=11)
    fund(a, 10_000)
    hold = shop.post("/v1/holds", transfer(a, b, 500), idem=f"h-{uuid.uuid4()}").json()
    shop.post(f"/v1/holds/{hold['id']}/capture", {"amount": 200}, idem=f"c-{uuid.uuid4()}")
    shop.post(f"/v1/holds/{hold['id']}/void")
    expected = {"transfer.posted", "hold.created", "hold.captured", "hold.voided"}

    def arrived():
        types = {json.loads(r["body"])["type"] for r in successes(receiver, name)}
        return types >= expected

    wait_for(arrived, timeout=90, what="every event delivered through the failures")
    records = receiver.received(name)
    assert any(r["status"] == 500 for r in records)  # the receiver failed some attempts: they were retried
    assert all(r["verified"] for r in records), [r["verify_error"] for r in records if not r["verified"]]
    lane = [json.loads(r["body"]) for r in successes(receiver, name)]
    lane = [e for e in lane if e["ordering"]["key"] == hold["id"]]
    sequences = [e["ordering"]["sequence"] for e in lane]
    assert sequences == sorted(sequences) and sequences[0] == 1  # in order per key, each once delivered
    assert [e["type"] for e in lane][:3] == ["hold.created", "hold.captured", "hold.voided"]
    assert all(e["data"]["customer"] == a for e in lane)
    attempts, _ = endpoints.attempts(shop.name, ep.endpoint_id, 100)
    assert {x["status_code"] for x in attempts} >= {200, 500}


def test_a_410_disables_the_endpoint_and_the_tenants_other_endpoint_is_told(shop, fund, endpoints, receiver):  # noqa: F811
    gone, ok = f"gone-{uuid.uuid4().hex[:8]}", f"ok-{uuid.uuid4().hex[:8]}"
    first = endpoints.create(shop.name, receiver.url(gone), types=["transfer.posted"])
    other = endpoints.create(shop.name, receiver.url(ok), types=["webhook_endpoint.disabled"])
    receiver.configure(gone, [first.secrets[0].value])
    receiver.configure(ok, [other.secrets[0].value])
    receiver.behave(gone, status=410)
    fund(shop.customers[1], 300)
    wait_for(lambda: not endpoints.get(shop.name, first.endpoint_id).enabled, timeout=60, what="the endpoint disabled")
    assert endpoints.get(shop.name, first.endpoint_id).disabled_reason == "gone"

    def told():
        bodies = [json.loads(r["body"]) for r in successes(receiver, ok)]
        return [e for e in bodies if e["data"]["id"] == first.endpoint_id]

    (event,) = wait_for(told, timeout=60, what="the other endpoint told")
    assert event["type"] == "webhook_endpoint.disabled" and event["data"]["disabled_reason"] == "gone"
    assert all(r["verified"] for r in receiver.received(ok))


def test_a_pubsub_destination_gets_the_body_the_headers_as_attributes_and_the_ordering_key(cfg):
    """The cloud-only destination's adapter against the Pub/Sub emulator (the URL rules refuse such an
    endpoint locally; here the adapter is called as the webhooks function calls it in the cloud)."""
    from google.cloud import pubsub_v1

    from shared.adapters import pubsub_destination
    from shared.domain.webhooks import urls

    run = uuid.uuid4().hex[:8]
    url = f"pubsub://projects/{cfg.project}/topics/tenant-hooks-{run}"
    assert urls.url_problem(url, local=False) is None
    topic = urls.pubsub_topic(url)
    subscriber = pubsub_v1.SubscriberClient()
    pubsub_destination.publisher().create_topic(name=topic)
    subscription = subscriber.subscription_path(cfg.project, f"tenant-hooks-{run}")
    subscriber.create_subscription(request={"name": subscription, "topic": topic, "enable_message_ordering": True})
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": "1",
        "webhook-signature": "v1,x",
        "content-type": "application/json",
    }
    for n in range(3):
        answer = pubsub_destination.publish(topic, json.dumps({"n": n}).encode(), headers, "po_1")
        assert answer.status == 200 and answer.error is None
    missing = pubsub_destination.publish(f"projects/{cfg.project}/topics/nothing-{run}", b"{}", headers, "po_2")
    assert (missing.status, missing.error) == (None, "pubsub: topic_not_found")
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        pulled = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
        for m in pulled.received_messages:
            got.append(m.message)
        if pulled.received_messages:
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in pulled.received_messages])
    assert [json.loads(m.data)["n"] for m in got] == [0, 1, 2]  # in order: one ordering key
    assert {m.ordering_key for m in got} == {"po_1"}
    assert dict(got[0].attributes) == {k: v for k, v in headers.items() if k.startswith("webhook-")}


def test_events_page_one_by_one_on_datastore_through_ties(shop, fund, endpoints):  # noqa: F811
    """A posting's events share one instant: a cursor must follow Datastore's own order of ties."""
    fund(shop.customers[0], 50)
    fund(shop.customers[1], 60)
    everything, more = endpoints.events(shop.name, None, 100)
    assert not more and len(everything) >= 4
    seen, cursor = [], None
    while True:
        page, more = endpoints.events(shop.name, None, 1, starting_after=cursor)
        seen += [e["id"] for e in page]
        if not more:
            break
        cursor = page[-1]["id"]
    assert seen == [e["id"] for e in everything]  # each once, in the same order
