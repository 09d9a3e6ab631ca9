"""Pay-ins and refunds through the card processor, one step at a time (tasks `payment-step` and
`refund-step` of the payments function), with the rules of the payout runner where they apply
(docs/payments.md "Pay-ins"):

- the processor runs the attempt (one PaymentIntent / Refund per record, created with the record's
  idempotency key `<id>-1` and our id in its metadata); a step never creates before a lookup by our id
  confirms there is nothing (the unknown-outcome rule), and a create the processor may have executed is
  never repeated with another key;
- the wallet moves on the processor's webhook (`processor.*` kinds, `on_outcome`), which applies the
  record's outcome and books its effect (credit for a pay-in, debit for a refund); a declined create
  fails the record at once (nothing moved); a succeeded object the webhook has not reported past
  `webhook_grace` is applied from the lookup (a lost webhook; Stripe retries for days, localstripe
  never), so nothing stays in processing;
- what stays unknown past `unknown_deadline` becomes a dead letter (PermanentError) for an operator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.payments.ids import partner_idempotency_key
from shared.domain.payments.payins import ProcessorEvent
from shared.errors import PermanentError
from shared.payments.processor import CardProcessor, ProcessorCall
from shared.recovery.service import Reschedule

log = logging.getLogger("ledgerline.payments")

SUCCEEDED = frozenset({"succeeded"})
FAILED = frozenset({"failed", "canceled", "requires_payment_method"})  # the last: a declined PaymentIntent
# a PaymentIntent waiting for the customer (3-D Secure, a confirmation): ledgerline has no flow to bring
# the customer back, so nothing will move; the pay-in fails with this status as its reason (a later
# success at the processor would contradict it: a dead letter for an operator, never a silent credit)
NEEDS_THE_CUSTOMER = frozenset({"requires_action", "requires_confirmation"})


@dataclass(frozen=True)
class PayinTiming:
    poll: timedelta = timedelta(seconds=3)  # the first lookup again; then as long after as it has waited
    max_poll: timedelta = timedelta(minutes=10)
    retry_later: timedelta = timedelta(seconds=5)
    webhook_grace: timedelta = timedelta(minutes=10)  # a succeeded object the webhook has not reported
    unknown_deadline: timedelta = timedelta(hours=24)


class PayinRunner:
    """payment-step / refund-step over the pay-ins service (shared.payments.payins.Payments), the card
    processor (shared.payments.processor.CardProcessor) and a clock."""

    def __init__(self, payments, processor: CardProcessor, clock: Callable[[], datetime], timing=PayinTiming()):
        self.payments = payments
        self.processor = processor
        self.clock = clock
        self.timing = timing

    # ------------------------------------------------------------------ pay-ins

    def payment_step(self, payment_id: str) -> str:
        stored = self.payments.get(payment_id)
        if stored is None:
            raise PermanentError(f"no payment {payment_id}")
        p = stored.payment
        if p.status != "processing":
            return f"{p.status}: nothing to do"
        found = self.processor.find_payment(payment_id, p.requested_at, p.processor_reference)
        if found.outcome.kind == "not_found":
            created = self.processor.create_payment(
                partner_idempotency_key(payment_id, 1), payment_id, p.customer, p.amount, p.currency, p.payment_method
            )
            return self._payment_outcome(payment_id, p.requested_at, created, created_now=True)
        return self._payment_outcome(payment_id, p.requested_at, found, created_now=False)

    def _payment_outcome(self, payment_id: str, requested_at: datetime, call: ProcessorCall, created_now: bool) -> str:
        now = self.clock()
        kind = call.outcome.kind
        if kind in ("declined", "invalid") or (kind == "accepted" and call.status in FAILED | NEEDS_THE_CUSTOMER):
            reason = call.decline_code or call.call.body_code or call.status or kind
            if call.status in NEEDS_THE_CUSTOMER:
                reason = call.status
            self.payments.apply(payment_id, ProcessorEvent("failed", now, call.reference, reason))
            return f"failed: {reason}"
        if kind == "accepted" and call.status in SUCCEEDED:
            if not created_now and now - requested_at > self.timing.webhook_grace:
                self.payments.apply(payment_id, ProcessorEvent("succeeded", now, call.reference))
                log.warning("pay-in applied from the lookup: no webhook", extra={"payment_id": payment_id})
                return "succeeded (from the lookup)"
            raise Reschedule(
                now + self._delay(requested_at, now),
                f"succeeded at the processor ({call.reference}): its webhook credits",
            )
        if now - requested_at > self.timing.unknown_deadline:  # processing, unknown or throttled for too long
            raise PermanentError(f"{payment_id}: no outcome from the processor since {requested_at.isoformat()}")
        if kind == "accepted":
            raise Reschedule(now + self._delay(requested_at, now), f"{call.reference} {call.status}")
        if kind == "retry_later":
            delay = (
                timedelta(seconds=call.outcome.retry_after_s) if call.outcome.retry_after_s else self.timing.retry_later
            )
            raise Reschedule(now + delay, f"processor asked to retry later ({call.outcome.reason})")
        raise Reschedule(
            now + self._delay(requested_at, now), f"outcome unknown ({call.outcome.reason}): looked up next"
        )

    def _delay(self, since: datetime, now: datetime) -> timedelta:
        return min(max(now - since, self.timing.poll), self.timing.max_poll)

    # ------------------------------------------------------------------ refunds

    def refund_step(self, refund_id: str) -> str:
        stored = self.payments.get_refund(refund_id)
        if stored is None:
            raise PermanentError(f"no refund {refund_id}")
        r = stored.refund
        if r.status != "processing":
            return f"{r.status}: nothing to do"
        payment_reference = r.payment.processor_reference
        if payment_reference is None:
            raise PermanentError(f"{refund_id}: its payment {r.payment.payment_id} has no processor reference")
        found = self.processor.find_refund(refund_id, payment_reference)
        created_now = False
        if found.outcome.kind == "not_found":
            found = self.processor.create_refund(
                partner_idempotency_key(refund_id, 1), refund_id, payment_reference, r.amount, r.payment.currency
            )
            created_now = True
        now = self.clock()
        kind = found.outcome.kind
        if kind in ("declined", "invalid") or (kind == "accepted" and found.status in ("failed", "canceled")):
            reason = found.call.body_code or found.status or kind
            self.payments.apply_refund(refund_id, ProcessorEvent("failed", now, found.reference, reason))
            return f"failed: {reason}"
        if kind == "accepted" and found.status in SUCCEEDED:
            if not created_now and now - r.requested_at > self.timing.webhook_grace:
                self.payments.apply_refund(refund_id, ProcessorEvent("succeeded", now, found.reference))
                return "succeeded (from the lookup)"
            raise Reschedule(
                now + self._delay(r.requested_at, now), f"refund {found.reference} succeeded: its webhook debits"
            )
        if now - r.requested_at <= self.timing.unknown_deadline:  # pending, throttled or unknown: ask again
            raise Reschedule(
                now + self._delay(r.requested_at, now),
                f"refund {found.reference or '?'}: {found.status or found.outcome.reason}",
            )
        raise PermanentError(f"{refund_id}: no outcome from the processor since {r.requested_at.isoformat()}")

    # ------------------------------------------------------------------ webhooks

    def on_charge_refunded(self, payment_id: str, total_refunded: int) -> str:
        """The processor says our pay-in's charge has `total_refunded` refunded in all. Our refunds that
        may have succeeded (processing or succeeded) account for part of it; more than that is a refund
        made outside ledgerline, which moved no wallet here: an operator books it (PermanentError: a
        dead letter), never a silent difference."""
        stored = self.payments.get(payment_id)
        if stored is None:
            raise PermanentError(f"the processor reports a refund of {payment_id}, which we do not have")
        ours = sum(line.amount for line in stored.refunds if line.status != "failed")
        if total_refunded > ours:
            raise PermanentError(
                f"{payment_id}: {total_refunded} refunded at the processor, {ours} by ledgerline: a refund "
                f"of {total_refunded - ours} was made outside ledgerline and is not on the wallet"
            )
        return f"charge refunded {total_refunded}: covered by our refunds ({ours})"

    def on_outcome(self, kind: str, our_reference: str, at: datetime, reference: str | None, code: str | None) -> str:
        """A processor webhook about a pay-in or a refund of ours (kinds processor.*)."""
        name = "succeeded" if kind.endswith("_succeeded") else "failed"
        event = ProcessorEvent(name, at, reference, code if name == "failed" else None)
        if kind.startswith("processor.payment_"):
            if self.payments.get(our_reference) is None:
                raise PermanentError(f"the processor reports {kind} for {our_reference}, which we do not have")
            applied = self.payments.apply(our_reference, event)
        else:
            if self.payments.get_refund(our_reference) is None:
                raise PermanentError(f"the processor reports {kind} for {our_reference}, which we do not have")
            applied = self.payments.apply_refund(our_reference, event)
        return f"{name}{'' if applied.changed else ' (replay)'}"
