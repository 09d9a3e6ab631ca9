"""A typed client of the webhook receiver's control API, for tests, the chaos scenario and the demo.

receiver = ReceiverClient()                      # the local stack's (WEBHOOK_RECEIVER_PORT)
receiver.reset()
url = receiver.configure("acme", ["whsec_…"])    # the endpoint URL to register with ledgerline
receiver.behave("acme", fail_rate=0.3, seed=1)
...
[r["status"] for r in receiver.received("acme")]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from emulators.webhook_receiver.receivers import Record
from shared.config import settings


class ReceiverError(RuntimeError):
    """The control API refused a call (its status and error code)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class ReceiverClient:
    def __init__(self, base_url: str | None = None, session: requests.Session | None = None, timeout_s: float = 10.0):
        self.base_url = (base_url or f"http://127.0.0.1:{settings().port('webhook_receiver')}").rstrip("/")
        self.session = session or requests.Session()
        self.timeout_s = timeout_s

    def url(self, name: str) -> str:
        """The endpoint URL of receiver `name` (what a tenant registers)."""
        return f"{self.base_url}/r/{name}"

    def configure(self, name: str, secrets: Sequence[str] = ()) -> str:
        """Create receiver `name` (or give it new secrets; behaviour and records stay); returns its URL."""
        self._call("PUT", f"/_control/receivers/{name}", {"secrets": list(secrets)})
        return self.url(name)

    def behave(
        self,
        name: str,
        *,
        fail_rate: float = 0.0,
        fail_status: int = 500,
        delay_s: float = 0.0,
        status: int | None = None,
        retry_after: int | None = None,
        down_for_s: float = 0.0,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Replace the behaviour of `name` (docs/webhook_receiver.md "Behaviour"); returns its configuration."""
        body = {
            "fail_rate": fail_rate,
            "fail_status": fail_status,
            "delay_s": delay_s,
            "status": status,
            "retry_after": retry_after,
            "down_for_s": down_for_s,
            "seed": seed,
        }
        return self._call("PUT", f"/_control/receivers/{name}/behaviour", body)

    def received(self, name: str, since_seq: int = 0) -> list[Record]:
        """Every request `name` got with seq > since_seq, in arrival order."""
        return self._call("GET", f"/_control/receivers/{name}/received", params={"since_seq": since_seq})["received"]

    def received_all(self, since_seq: int = 0) -> tuple[list[Record], int]:
        """(every request of every receiver with global_seq > since_seq, the last global_seq given out)."""
        answer = self._call("GET", "/_control/received", params={"since_seq": since_seq})
        return answer["received"], answer["last_seq"]

    def forget(self, name: str) -> bool:
        return self._call("DELETE", f"/_control/receivers/{name}")["forgotten"]

    def reset(self) -> None:
        """Forget every receiver and record."""
        self._call("DELETE", "/_control/received")

    def _call(self, method: str, path: str, body: object = None, params: dict | None = None) -> dict[str, Any]:
        response = self.session.request(method, self.base_url + path, json=body, params=params, timeout=self.timeout_s)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", response.text[:200]
            raise ReceiverError(response.status_code, code, message)
        return response.json()
