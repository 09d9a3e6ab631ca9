"""The Column-style bank transfer API (`POST /transfers/ach`, `GET /transfers/ach/<id>`,
`GET /transfers/ach?idempotency_key=`), playing shared.payments.partners `BankTransfers`: one
`ColumnApi` per bank (column, lakeside; locally our bank sandbox, emulators/bank_sandbox).

Each call is described exactly as shared.domain.payments.outcomes expects (`PartnerCall`):
- an HTTP answer: its status, the body's `code` (an error) or the transfer's `status` (lower-cased),
  Retry-After in seconds;
- no answer: `connect_failed` when nothing was sent (refused, DNS, TLS handshake, connect timeout),
  `timeout` when the request was sent and no answer came in time (read timeout), `connection_reset`
  when the connection broke after sending (closed, reset, a truncated answer). When the cause is not
  certain it is `connection_reset` (unknown: only a status query decides), never `connect_failed`;
- the status query by key: the bank lists the transfers made with that key; an empty list is the
  bank's confirmed "not found", described as a 404 of the status call (`body_code` `not_found`).

Timeouts are explicit (connect, read). The account number goes into the request body only: it is never
logged, never in an exception, never in a TransferCall. The API key is never logged.
"""

from __future__ import annotations

import logging
import ssl
import time
from datetime import UTC, datetime

import requests
import urllib3.exceptions

from shared.domain.payments.destinations import Destination
from shared.domain.payments.outcomes import PartnerCall
from shared.payments.partners import TransferCall
from shared.recovery.policies import retry_after_value

log = logging.getLogger("ledgerline.payments.bank")
# urllib3 reasons that prove nothing was sent: the connection was never made.
_NOT_CONNECTED = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.NameResolutionError,
)


def failure_of(exc: requests.RequestException) -> str:
    """The CallFailure of a requests exception (see the module docstring); anything else re-raises."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect_failed"
    if isinstance(exc, requests.ReadTimeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        # Only a certificate the handshake refused proves nothing was sent; a TLS error may also break
        # the answer after the request was written (a bad record, a truncated stream): unknown.
        return "connect_failed" if _cert_refused(exc) else "connection_reset"
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
        return "connect_failed" if isinstance(reason, _NOT_CONNECTED) else "connection_reset"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "connection_reset"  # the answer broke off: the bank may have committed
    raise exc


def _cert_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: object = exc
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        nested = current.args[0] if current.args else None
        current = getattr(nested, "reason", nested) if isinstance(nested, BaseException) else current.__cause__
    return False


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now` (a Unix time): shared.recovery.policies.retry_after_value."""
    return retry_after_value(value, datetime.fromtimestamp(now, tz=UTC))


class ColumnApi:
    """One bank's transfer API. `base_url` is the API root (locally `http://127.0.0.1:8090/column`),
    `timeout_s` the read timeout of every call, `connect_timeout_s` the connect timeout (default: the
    smaller of 3 s and timeout_s)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str,
        timeout_s: float,
        connect_timeout_s: float | None = None,
        session: requests.Session | None = None,
    ):
        if not timeout_s or timeout_s <= 0:
            raise ValueError("timeout_s must be a positive number of seconds")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = (connect_timeout_s or min(3.0, timeout_s), timeout_s)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"ColumnApi({self.name!r}, {self.base_url!r})"  # never the key

    # ---------------------------------------------------------------- the port

    def create_transfer(
        self, idempotency_key: str, amount: int, currency: str, destination: Destination, description: str
    ) -> TransferCall:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount is a positive int of minor units")
        body = {
            "amount": amount,
            "currency_code": currency.upper(),
            "type": "CREDIT",
            "description": description,
            "counterparty": {
                "routing_number": destination.routing_number,
                "account_number": destination.reveal_account_number(),
                "account_holder": destination.account_holder,
            },
        }
        return self._call(
            "create",
            "POST",
            "/transfers/ach",
            idempotency_key,
            json_body=body,
            headers={"Idempotency-Key": idempotency_key},
        )

    def find_transfer(self, idempotency_key: str) -> TransferCall:
        return self._call(
            "status", "GET", "/transfers/ach", idempotency_key, params={"idempotency_key": idempotency_key}
        )

    def get_transfer(self, reference: str) -> TransferCall:
        return self._call("status", "GET", f"/transfers/ach/{reference}", reference)

    # ---------------------------------------------------------------- one call

    def _call(
        self, call: str, method: str, path: str, subject: str, *, json_body=None, params=None, headers=None
    ) -> TransferCall:
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=json_body,
                params=params,
                headers={"Authorization": f"Bearer {self._api_key}", **(headers or {})},
                timeout=self.timeout,
                # never: a redirect would re-send the body (the account number) to another host, and
                # its answer is not the bank's; a 3xx is classified unknown
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            result = TransferCall(PartnerCall(call, failure=failure_of(exc)))
            self._log(call, subject, result, started, error=type(exc).__name__)
            return result
        result = self._describe(call, path, response, params)
        self._log(call, subject, result, started)
        return result

    def _describe(self, call: str, path: str, response: requests.Response, params=None) -> TransferCall:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        wait = retry_after(response.headers.get("Retry-After"), time.time())
        if not 200 <= status < 300:
            code = body.get("code") if isinstance(body, dict) else None
            code = code.lower() if isinstance(code, str) else None
            return TransferCall(PartnerCall(call, status=status, body_code=code, retry_after_s=wait))
        if isinstance(body, dict) and isinstance(body.get("transfers"), list):  # the list by key
            key = (params or {}).get("idempotency_key")
            mine = [t for t in body["transfers"] if isinstance(t, dict) and t.get("idempotency_key") == key]
            if len(mine) != len(body["transfers"]):  # the bank ignored the filter: trust nothing it listed
                return TransferCall(PartnerCall(call, failure="connection_reset", body_code="unfiltered_list"))
            if not mine:
                return TransferCall(PartnerCall(call, status=404, body_code="not_found"))
            body = mine[-1]  # newest first: the last is the first the key created
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            # a 2xx that is not a transfer (a proxy's page, a truncated body): nothing is confirmed
            return TransferCall(PartnerCall(call, failure="connection_reset", body_code="unreadable_response"))
        transfer_status = body.get("status").lower() if isinstance(body.get("status"), str) else None
        returns = body.get("return_details") or []
        return_code = returns[0].get("return_code") if returns and isinstance(returns[0], dict) else None
        reference = body.get("id") if isinstance(body.get("id"), str) else None
        return TransferCall(
            PartnerCall(call, status=status, body_code=transfer_status, retry_after_s=wait),
            reference=reference,
            status=transfer_status,
            return_code=return_code,
        )

    def _log(self, call: str, subject: str, result: TransferCall, started: float, error: str | None = None) -> None:
        c = result.call
        log.info(
            "bank call",
            extra={
                "bank": self.name,
                "call": call,
                "subject": subject,  # the idempotency key or the reference: never an account number
                "http_status": c.status,
                "failure": c.failure,
                "body_code": c.body_code,
                "error": error,
                "reference": result.reference,
                "outcome": result.outcome.kind,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
