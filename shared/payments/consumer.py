"""The payments function's Pub/Sub side: a partner's outcome webhook (verified, stored and deduplicated
by intake, published as a canonical event of consumer "payments") advances the payout it is about,
through the same events the status query applies (shared.payments.orchestrator), or the pay-in or
refund the card processor reports on (shared.payments.payin_runner): whichever arrives first moves the
record, the other is a no-op.

Answers: {"status": "applied" | "not_mine" | "dead_letter", ...}. A message for another consumer is
acknowledged untouched (the emulator does not apply subscription filters; in the cloud none arrives).
An event that contradicts what we recorded (PermanentError, or a PaymentError: a transfer reported
settled for a payout already failed) is kept as a dead letter for an operator and acknowledged; a
failure of our own storage raises (5xx: Pub/Sub redelivers, then dead-letters)."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from shared.domain.events import CanonicalEvent
from shared.domain.kinds import BY_NAME
from shared.domain.payments.errors import PaymentError
from shared.errors import ClientError, PermanentError
from shared.payments.orchestrator import PayoutRunner, TransferEvent
from shared.payments.payin_runner import PayinRunner
from shared.recovery.service import Handler, Schedule, record_dead_letter

log = logging.getLogger("ledgerline.payments")

# what each bank outcome kind says about our transfer (TransferEvent.what)
TRANSFER_OUTCOMES = {
    "bank.transfer_settled": "settled",
    "bank.transfer_returned": "returned",
    "bank.transfer_rejected": "rejected",
}


@dataclass(frozen=True)
class PaymentsPorts:
    """What the payments function runs on (shared.bootstrap.payments builds it)."""

    runner: PayoutRunner
    payins: PayinRunner
    handlers: dict[str, Handler]  # task kind -> handler (payout-step, payments-janitor, …)
    schedule: Schedule  # the payments queue
    store: object  # the ledger store (dead letters)
    clock: Callable[[], datetime]


def on_push(ports: PaymentsPorts, push: dict) -> dict:
    message = push.get("message") or {}
    attributes = dict(message.get("attributes") or {})
    event_id = attributes.get("event_id") or message.get("messageId") or "unknown"
    if attributes.get("consumer") != "payments":
        return {"status": "not_mine", "event_id": event_id}
    try:
        raw = base64.b64decode(message.get("data") or b"", validate=True)
        event = CanonicalEvent.model_validate_json(raw)
    except (binascii.Error, ValidationError) as exc:
        raise ClientError(
            400, "invalid_event", f"not a canonical event: {type(exc).__name__}", "message.data"
        ) from None
    if BY_NAME[event.kind].consumer != "payments":
        return {"status": "not_mine", "event_id": event_id}
    try:
        detail = apply_event(ports, event)
        _handled(ports, event, "applied", detail)
    except (PermanentError, PaymentError) as exc:
        name = record_dead_letter(
            ports.store,
            source="pubsub",
            kind="payments-event",
            key=event.event_id,
            now=ports.clock(),
            payload=event.model_dump_json(),
            reason_code="contradicts_records",
            reason=str(exc),
            attempts=1,
            first_error=str(exc),
            last_error=str(exc),
            first_attempt_at=ports.clock(),
            attributes=attributes,
        )
        _handled(ports, event, "dead_letter", name)
        return {"status": "dead_letter", "event_id": event.event_id, "dead_letter": name}
    log.info("partner outcome applied", extra={"event_id": event.event_id, "kind": event.kind, "detail": detail})
    return {"status": "applied", "event_id": event.event_id, "detail": detail}


def _handled(ports: PaymentsPorts, event: CanonicalEvent, outcome: str, detail: str) -> None:
    """The marker intake's stale re-drive looks for (shared.intake.service PAYMENTS_HANDLED): without it,
    an accepted payments event is published again (a push lost with a killed instance is not lost)."""
    from shared.intake.service import PAYMENTS_HANDLED

    ports.store.record(
        PAYMENTS_HANDLED, event.event_id, {"outcome": outcome, "detail": detail[:500], "at": ports.clock()}
    )


def apply_event(ports: PaymentsPorts, event: CanonicalEvent) -> str:
    what = TRANSFER_OUTCOMES.get(event.kind)
    if what is not None:
        assert event.our_reference is not None  # the kind requires it
        return ports.runner.on_transfer_event(
            TransferEvent(event.our_reference, what, event.occurred_at, event.reference, event.outcome_code)
        )
    assert event.kind.startswith("processor.") and event.our_reference is not None
    if event.kind == "processor.charge_refunded":
        return ports.payins.on_charge_refunded(event.our_reference, event.amount)
    return ports.payins.on_outcome(
        event.kind, event.our_reference, event.occurred_at, event.reference, event.outcome_code
    )
