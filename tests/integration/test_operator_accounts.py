"""Operator accounts and transactions against the emulators: a real Stripe payment through intake, then
its customer's wallet (balance, entries with running balances), the clearing account, the transaction
with all its entries and its raw partner event (no signature header), and the search that finds them."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from shared.demo import Delivery, send

from .conftest import posted
from .test_api import Tenant


def test_an_operator_reads_a_posted_payment_from_account_to_raw_event(cfg, db, intake, secret, payment):
    api = cfg.function_urls["api"]
    paid = payment(amount=123_456, currency="usd")
    tenant = Tenant(api, f"acc-{uuid.uuid4().hex[:6]}", [paid["customer"]])
    operator = Tenant(api, "internal", [], scopes="operator", operator=f"acc-{uuid.uuid4().hex[:6]}@ops.test")
    assert send(intake, Delivery("accounts", paid["body"], secret, 200, "accepted")).status_code == 200
    txn = posted(db, paid["key"])[0].key.name

    account = operator.get(f"/v1/operator/accounts/{paid['customer']}")
    assert account.status_code == 200, account.text
    body = account.json()
    assert (body["id"], body["tenant"], body["type"]) == (
        f"customer:{paid['customer']}:wallet",
        tenant.name,
        "liability",
    )
    usd = next(b for b in body["balances"] if b["currency"] == "USD")
    assert usd["posted"] > 0 and isinstance(usd["posted"], int)

    entries = operator.get(f"/v1/operator/accounts/{paid['customer']}/entries").json()["data"]
    assert [e["transaction"] for e in entries] == [txn] and entries[0]["posted_after"] == usd["posted"]
    clearing = operator.get(f"/v1/operator/accounts/{quote('partner:stripe:clearing', safe='')}")
    assert clearing.status_code == 200 and clearing.json()["sharded"] is True

    t = operator.get(f"/v1/operator/transactions/{txn}")
    assert t.status_code == 200, t.text
    shown = t.json()
    assert f"customer:{paid['customer']}:wallet" in {e["account"] for e in shown["entries"]}
    assert len({e["account"] for e in shown["entries"]}) >= 2  # every account, not only the wallet
    raw = shown["raw_event"]
    assert (raw["partner"], raw["partner_event_id"]) == ("stripe", paid["event_id"])
    assert json.loads(raw["body"]) == json.loads(paid["body"]) and not raw["truncated"]
    assert not any("signature" in h.lower() for h in raw["headers"])

    hits = operator.get("/v1/operator/search", params={"q": paid["customer"]}).json()["data"]
    assert [(h["kind"], h["id"]) for h in hits] == [("customer", paid["customer"])]
    by_event = operator.get("/v1/operator/search", params={"q": paid["key"]}).json()["data"]
    assert ("partner_event", txn) in [(h["kind"], h["id"]) for h in by_event]
    assert operator.get("/v1/operator/accounts/nobody_here").status_code == 404
    assert tenant.get(f"/v1/operator/transactions/{txn}").status_code == 403  # a customer key: no
