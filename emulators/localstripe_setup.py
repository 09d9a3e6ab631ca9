"""Point localstripe's webhooks at intake: `register_stripe_webhooks(cfg)`, run by `ctl up` once localstripe
is healthy. localstripe keeps its webhook endpoints in memory under an id we choose (POST
/_config/webhooks/{id}: url, secret, optional events), and a second POST with the same id replaces the
first: registering under one fixed id is idempotent, and a restarted localstripe (which forgets its
endpoints) gets it back on the next `up`."""

from __future__ import annotations

import json
import urllib.request

from shared.config import ConfigError, Settings

WEBHOOK_ID = "ledgerline-intake"


def register_stripe_webhooks(cfg: Settings, timeout: float = 5.0) -> str:
    """Register intake's Stripe endpoint (all events) with the first active STRIPE_WEBHOOK_SECRET; returns
    the endpoint URL. localstripe signs each event with that secret, as Stripe signs with the endpoint's."""
    secrets = cfg.webhook_secrets("stripe")
    if not secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set: localstripe could not sign its webhooks")
    if not cfg.stripe_api_base:
        raise ConfigError("STRIPE_API_BASE is not set and not derived: is this a local stack?")
    url = f"{cfg.function_urls['intake']}/webhooks/stripe"
    request = urllib.request.Request(
        f"{cfg.stripe_api_base}/_config/webhooks/{WEBHOOK_ID}",
        data=json.dumps({"url": url, "secret": secrets[0]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
    return url
