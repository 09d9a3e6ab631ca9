"""Run localstripe (PyPI 1.15.10) for one local stack, with the corrections that make it answer as Stripe's
test mode does where ledgerline depends on it (docs/localstripe.md lists each gap and why):

1. its store in a file of this stack (`--store`), or in memory only (no `--store`): localstripe itself
   writes every change to the fixed path /tmp/localstripe.pickle, which every stack on the machine (dev,
   each test offset) would share and reload;
2. it listens on 127.0.0.1 only (localstripe binds every interface, IPv6 included);
3. a PaymentIntent is exported with `amount_received` and `latest_charge` as an id (unless expanded),
   as Stripe does: localstripe omits the first and inlines the charge, so intake refused its webhooks;
4. Stripe's "decline on charge" test cards decline when charged, with Stripe's error and decline code
   (`pm_card_visa_chargeDeclined` = 4000000000000002 -> 402 card_declined / generic_decline, …):
   localstripe declines them only when attached to a customer;
5. a refund sends `charge.refunded` (the charge, with previous_attributes.amount_refunded) and
   `refund.created`, as Stripe does: localstripe sends no refund webhook at all;
6. the PaymentIntent list takes Stripe's `created` filter (gt/gte/lt/lte): localstripe refuses it (400);
7. `Idempotency-Key` on a POST is honoured as Stripe does: the same key (per API key) with the same
   parameters replays the first answer (`Idempotent-Replayed: true`; no second object, no second
   webhook); with other parameters it is a 400 `idempotency_error`. Saved: 2xx answers and 402 declines
   (Stripe saves no result for a request that failed validation or a 5xx); kept for the process's life,
   not 24 h. localstripe itself ignores the header and creates a second object.

Runs in .venv-localstripe (standard library + localstripe only: no import of the project).

    .venv-localstripe/bin/python -m emulators.localstripe_server --port 8420 [--store FILE]
"""

from __future__ import annotations

import argparse
import logging
import operator
import os
import pickle
import sys
import tempfile
from pathlib import Path

import localstripe
from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.webhooks import schedule_webhook

PINNED = "1.15.10"  # the patches below are written against this version's internals

# Stripe's test cards that are declined when charged (https://docs.stripe.com/testing#declined-payments):
# payment-method id -> (card number, error code, decline code).
CHARGE_DECLINES = {
    "pm_card_visa_chargeDeclined": ("4000000000000002", "card_declined", "generic_decline"),
    "pm_card_visa_chargeDeclinedInsufficientFunds": ("4000000000009995", "card_declined", "insufficient_funds"),
    "pm_card_visa_chargeDeclinedLostCard": ("4000000000009987", "card_declined", "lost_card"),
    "pm_card_visa_chargeDeclinedStolenCard": ("4000000000009979", "card_declined", "stolen_card"),
    "pm_card_chargeDeclinedExpiredCard": ("4000000000000069", "expired_card", "expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    "pm_card_chargeDeclinedProcessingError": ("4000000000000119", "processing_error", "processing_error"),
}
_BY_NUMBER = {number: (code, decline) for number, code, decline in CHARGE_DECLINES.values()}


def _store_in(path: Path | None) -> None:
    """Correction 1: the store lives in `path` (written whole, atomically) or in memory only."""

    def load(self):
        if path is None or not path.exists():
            return
        with open(path, "rb") as f:
            old = pickle.load(f)  # noqa: S301 - the file this stack's own localstripe wrote
        self.clear()
        self.update(old)

    def dump(self):
        if path is None:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".store-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


def _stripe_shaped_payment_intents() -> None:
    """Correction 3, and the decline code on last_payment_error (correction 4)."""
    original = resources.PaymentIntent._export

    def export(self, expand=None):
        obj = original(self, expand=expand)
        expanded = any(p == "latest_charge" or p.startswith("latest_charge.") for p in expand or ())
        if isinstance(obj.get("latest_charge"), dict) and not expanded:
            obj["latest_charge"] = obj["latest_charge"]["id"]
        obj["amount_received"] = self.amount if self.status == "succeeded" else 0
        error = obj.get("last_payment_error")
        if error and self.latest_charge is not None and getattr(self.latest_charge, "_decline_code", None):
            error["decline_code"] = self.latest_charge._decline_code
        return obj

    resources.PaymentIntent._export = export


def _charge_declines() -> None:
    """Correction 4: the cards of CHARGE_DECLINES are declined when charged, with Stripe's codes."""
    canonical = resources.PaymentMethod._try_get_canonical_test_article.__func__
    declined_when_charged = resources.PaymentMethod._charging_is_declined

    def test_article(cls, id):
        if id in CHARGE_DECLINES:
            number = CHARGE_DECLINES[id][0]
            return resources.PaymentMethod(
                type="card", card={"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
            )
        return canonical(cls, id)

    def charging_is_declined(self):
        return declined_when_charged(self) or (self.type == "card" and self._card_number in _BY_NUMBER)

    def set_auth_failure(self):
        pm = resources.PaymentMethod._api_retrieve(self.payment_method)
        code, decline = _BY_NUMBER.get(getattr(pm, "_card_number", None), ("card_declined", "generic_decline"))
        self.status, self.failure_code, self._decline_code = "failed", code, decline
        self.failure_message = "Your card was declined."

    def raise_failure(self):
        body = {"code": self.failure_code, "decline_code": self._decline_code, "charge": self.id}
        if self.payment_intent:
            body["payment_intent"] = resources.PaymentIntent._api_retrieve(self.payment_intent)._export()
        declined = UserError(402, self.failure_message, body)
        declined.body["error"]["type"] = "card_error"  # localstripe says invalid_request_error
        raise declined

    resources.PaymentMethod._try_get_canonical_test_article = classmethod(test_article)
    resources.PaymentMethod._charging_is_declined = charging_is_declined
    resources.Charge._set_auth_failure = set_auth_failure
    resources.Charge._raise_failure = raise_failure


def _refund_webhooks() -> None:
    """Correction 5: charge.refunded (with what was refunded before) and refund.created."""
    original = resources.Refund.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        charge = resources.Charge._api_retrieve(self.charge)
        refunded = resources.Event("charge.refunded", charge)
        refunded.data["previous_attributes"] = {"amount_refunded": charge.amount_refunded - self.amount}
        schedule_webhook(refunded)
        schedule_webhook(resources.Event("refund.created", self))

    resources.Refund.__init__ = init


def _payment_intent_listing() -> None:
    """Correction 6: `created[gte]=…` (and gt, lt, lte, or an exact value) on GET /v1/payment_intents."""
    listing = resources.StripeObject._api_list_all.__func__
    compare = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}

    def list_all(cls, url, created=None, limit=None, starting_after=None, **kwargs):
        page = listing(cls, url, limit=limit, starting_after=starting_after, **kwargs)
        if created is None:
            return page
        bounds = created if isinstance(created, dict) else {"eq": created}
        try:
            checks = [(operator.eq if op == "eq" else compare[op], int(value)) for op, value in bounds.items()]
        except (KeyError, TypeError, ValueError):
            raise UserError(400, "Bad request") from None
        page._list = [obj for obj in page._list if all(check(obj.created, value) for check, value in checks)]
        return page

    resources.PaymentIntent._api_list_all = classmethod(list_all)


IDEMPOTENCY_ERROR = "Keys for idempotent requests can only be used with the same parameters they were first used with."


def _idempotency() -> None:
    """Correction 7: a middleware inside localstripe's auth check (so the API key is known)."""
    saved: dict[tuple[str, str], tuple[bytes, int, bytes]] = {}

    @web.middleware
    async def idempotent(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        owner = (server.get_api_key(request) or "", key)
        params = request.path.encode() + b"?" + await request.read()
        if owner in saved:
            first, status, body = saved[owner]
            if first != params:
                error = {"type": "idempotency_error", "message": IDEMPOTENCY_ERROR}
                return web.json_response({"error": error}, status=400)
            return web.Response(
                body=body, status=status, content_type="application/json", headers={"Idempotent-Replayed": "true"}
            )
        try:
            response = await handler(request)
        except UserError as exc:
            response = exc.to_response()
        if 200 <= response.status < 300 or response.status == 402:
            saved[owner] = (params, response.status, response.body)
        return response

    server.app.middlewares.append(idempotent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--store", type=Path, help="file of this stack's Stripe data (absent: memory only)")
    args = parser.parse_args(argv)
    if localstripe.__version__ != PINNED:
        print(f"error: localstripe {localstripe.__version__} is not {PINNED}, which these patches fit", file=sys.stderr)
        return 2
    if args.store is not None:
        args.store.parent.mkdir(parents=True, exist_ok=True)
    _store_in(args.store)
    _stripe_shaped_payment_intents()
    _charge_declines()
    _refund_webhooks()
    _payment_intent_listing()
    _idempotency()
    server.store.try_load_from_disk()
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler())
    web.run_app(server.app, host="127.0.0.1", port=args.port, access_log=access, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
