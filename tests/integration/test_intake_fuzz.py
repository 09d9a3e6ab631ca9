"""Fuzz the intake function (in-process, real adapters behind it): whatever arrives, never a 5xx, and
nothing is stored from a rejected (4xx) request. Bodies are often signed with the real secrets, so
parsing and validation are exercised, not just the signature check."""

import json
import time
import uuid

from functions_framework import create_app
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.adapters import datastore_store
from shared.config import REPO_ROOT
from shared.config import settings as ledgerline_settings
from shared.partners import adyen, column, stripe
from tests.factories import generic_headers

DB = datastore_store.client(ledgerline_settings())
APP = create_app("intake", str(REPO_ROOT / "functions" / "intake" / "main.py"), "http").test_client()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
stripe_like = st.fixed_dictionaries(
    {
        # replaced by a fresh id per request: hypothesis replays examples (shrinking), and an accepted
        # fuzz event must never meet a different body under the same id (that is a real conflict)
        "id": st.sampled_from(["evt_fzUNIQUE", "evt_", "x"]),
        "object": st.sampled_from(["event", "charge"]),
        "type": st.sampled_from([*stripe.EVENT_TYPES, "other.thing"]),
        "created": st.integers(-5, 2**40),
        "livemode": st.booleans(),
        "data": st.fixed_dictionaries({"object": json_values}),
    }
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    stripe_like.map(lambda v: json.dumps(v).encode()),
)


def headers_for(partner: str, body: bytes, sign: bool, junk: str) -> dict:
    cfg = ledgerline_settings()
    headers = {"Content-Type": "application/json"}
    if partner == "stripe":
        headers["Stripe-Signature"] = (
            stripe.sign(body, cfg.webhook_secrets("stripe")[0], int(time.time())) if sign else junk
        )
    elif partner == "adyen":
        user, password = cfg.secret(adyen.BASIC_AUTH)[0].split(":", 1)
        headers["Authorization"] = adyen.basic_auth(user, password) if sign else junk
    elif partner == "generic" and sign:
        try:
            headers.update(generic_headers(f"msg_fz{uuid.uuid4().hex}", body, cfg.webhook_secrets("generic")[0]))
        except UnicodeDecodeError:
            headers["webhook-signature"] = junk
    elif partner == "column":
        headers["Column-Signature"] = column.sign(body, cfg.webhook_secrets("column")[0]) if sign else junk
    return headers


def inbox_keys(partner: str, body: bytes, headers: dict) -> list[str]:
    """The inbox keys the request names (each partner's dedupe key), as far as its body says."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return []
    keys = []
    if partner == "generic" and headers.get("webhook-id"):
        keys.append(f"generic:{headers['webhook-id']}")
    elif partner in ("stripe", "column") and isinstance(payload, dict) and isinstance(payload.get("id"), str):
        keys.append(f"{partner}:{payload['id']}")
    elif partner == "adyen" and isinstance(payload, dict) and isinstance(payload.get("notificationItems"), list):
        for wrapper in payload["notificationItems"]:
            item = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
            if isinstance(item, dict):
                keys.append(f"adyen:{item.get('eventCode')}-{item.get('pspReference')}-{item.get('success')}")
    return [k for k in keys if len(k.encode()) <= 1500]  # a longer name could not be a Datastore key


def existing(keys: list[str]) -> set[str]:
    return {e.key.name for e in DB.get_multi([DB.key("Inbox", k) for k in keys])} if keys else set()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["stripe", "adyen", "generic", "column", "paypal"]),
    bodies,
    st.booleans(),
    st.text(max_size=80).filter(lambda t: "\n" not in t and "\r" not in t),
)
# A signed, well-formed Stripe envelope whose object is invalid: a 400 that must leave no inbox record.
@example("stripe", b'{"id":"evt_fzUNIQUE","object":"event","type":"payment_intent.succeeded","created":1,'
         b'"livemode":false,"data":{"object":{"amount_received":"1"}}}', True, "")  # fmt: skip
def test_intake_never_answers_5xx_and_stores_nothing_it_rejects(partner, body, sign, junk):
    body = body.replace(b"evt_fzUNIQUE", f"evt_fz{uuid.uuid4().hex}".encode())
    try:
        headers = headers_for(partner, body, sign, junk)
    except ValueError:  # a header value the HTTP layer itself refuses to send
        return
    keys = inbox_keys(partner, body, headers)
    before = existing(keys)
    resp = APP.post(f"/webhooks/{partner}", data=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    if 400 <= resp.status_code < 500:
        assert existing(keys) - before == set(), (resp.status_code, resp.get_data()[:300])
