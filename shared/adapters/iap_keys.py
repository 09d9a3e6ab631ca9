"""IAP's public signing keys over HTTPS (https://www.gstatic.com/iap/verify/public_key): a JSON object of
key id -> PEM public key (shared/api/iap.py caches and uses them). The standard library's urllib: one
GET with a timeout, no dependency of its own."""

from __future__ import annotations

import json
import urllib.request

TIMEOUT_SECONDS = 5.0


def fetcher(url: str):
    """A function that reads the keys at `url` (ValueError if the answer is not key id -> PEM)."""

    def fetch() -> dict[str, str]:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
            keys = json.loads(answer.read())
        if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
            raise ValueError("IAP keys: expected a JSON object of key id -> PEM")
        return keys

    return fetch
