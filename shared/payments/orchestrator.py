"""Payouts through partners: one step at a time, each step a Cloud Tasks task of the payments function
(`payout-step`, key = payout id), run by shared.recovery.service.run_task. A step reads the payout,
decides (shared.domain.payments.routing.next_route), records what it is about to do BEFORE calling the
partner, calls it, and records what came back (shared.domain.payments.outcomes.classify) — the
pre-call / call / post-call phases of Airbnb's Orpheus. It then asks to run again when there is more to
do (`Reschedule`: no attempt used) or ends.

The rules it keeps (docs/payments.md, with the proof sketch):
- a `submit` is recorded (the attempt `in_flight`, its idempotency key fixed) before the create call;
  a step that finds an attempt `in_flight` or `unknown` never creates: it queries the partner's status
  for that key, and only a "not found" after NOT_FOUND_AFTER lets a new attempt start (P4);
- a retried step re-sends nothing it has not recorded: the create call of attempt n always carries
  attempt n's key, so even two steps racing on one payout create at most one transfer at the partner;
- a partner whose breaker is open is skipped for new attempts (next_route's open_breakers);
- the partner's answers move the payout here; its webhooks move it through `on_transfer_event`
  (the same events: whichever comes first applies, the second is a no-op).

What stays unresolved past its deadline raises PermanentError: run_task records a dead letter for an
operator (the existing store) and the hold stays until the operator resolves it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shared.domain.payments.destinations import Destination
from shared.domain.payments.errors import PaymentError
from shared.domain.payments.ids import parse_partner_idempotency_key
from shared.domain.payments.outcomes import OUR_CONFIGURATION, Outcome, PartnerCall, classify
from shared.domain.payments.payouts import NOT_FOUND_AFTER, Attempt, PayoutEvent
from shared.domain.payments.routing import next_route, partners_for
from shared.errors import PermanentError
from shared.payments.service import Payouts
from shared.payments.store import StoredPayout
from shared.recovery.policies import CircuitBreaker
from shared.recovery.service import Reschedule

log = logging.getLogger("ledgerline.payments")

# PaymentError codes that mean "the payout moved meanwhile" (a webhook, a racing step, a cancel)
MOVED = ("attempt_resolved", "illegal_transition", "already_final", "attempt_unresolved", "attempt_out_of_order")
# The longest a step may take between recording a submit and sending it: far under NOT_FOUND_AFTER, so
# a send can never reach the partner after a status query has counted its "not found".
SEND_BUDGET = timedelta(seconds=30)
assert SEND_BUDGET * 3 <= NOT_FOUND_AFTER

# what a found transfer's status means (the bank's words, normalised by the adapter)
SETTLED_STATUSES = frozenset({"settled", "completed"})
RETURNED_STATUSES = frozenset({"returned"})
REJECTED_STATUSES = frozenset({"rejected", "canceled", "declined", "failed"})


class TransferCall(Protocol):
    """What one call to a bank's transfer API returned: the call as classify reads it, and, when the
    bank answered with a transfer, its reference, its status and an ACH return code."""

    @property
    def call(self) -> PartnerCall: ...
    @property
    def reference(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def return_code(self) -> str | None: ...


class BankTransfers(Protocol):
    """A bank's transfer API (shared.adapters.column_api). Never raises for what the bank answered or
    for a network failure: it describes them in the TransferCall."""

    def create_transfer(
        self, idempotency_key: str, amount: int, currency: str, destination: Destination, description: str
    ) -> TransferCall: ...
    def find_transfer(self, idempotency_key: str) -> TransferCall: ...


@dataclass(frozen=True)
class Timing:
    """When a step comes back. first_query: the first status query after an unknown outcome (doubling
    up to max_query); retry_later: after a 429 without Retry-After or a failed connect; settle_poll /
    max_settle_poll: when a submitted payout's status is asked again (its webhook normally comes first):
    as long after as it has been submitted, from settle_poll up to max_settle_poll (an ACH transfer
    settles in hours to days: a few dozen polls, not thousands); unknown_deadline /
    settle_deadline: past them, an operator decides (dead letter)."""

    first_query: timedelta = timedelta(seconds=2)
    max_query: timedelta = timedelta(minutes=5)
    retry_later: timedelta = timedelta(seconds=5)
    settle_poll: timedelta = timedelta(seconds=5)
    max_settle_poll: timedelta = timedelta(hours=1)
    unknown_deadline: timedelta = timedelta(hours=24)
    settle_deadline: timedelta = timedelta(days=5)


@dataclass(frozen=True)
class TransferEvent:
    """A bank's webhook about one of our transfers (through intake and Pub/Sub): the attempt's key it
    echoes, what happened (`settled`, `returned`, `rejected`), the bank's reference, an R-code."""

    idempotency_key: str
    what: str
    at: datetime
    reference: str | None = None
    return_code: str | None = None


def _failed_call(call: PartnerCall) -> bool:
    """The partner did not answer usefully (the breaker counts it): no answer, a 5xx / 429, or a refusal
    of our credentials (an open breaker then stops routing to it until an operator fixes them)."""
    return call.failure is not None or (
        call.status is not None and (call.status >= 500 or call.status in (429, *OUR_CONFIGURATION))
    )


class PayoutRunner:
    """Runs payout steps over the Payouts service, the banks (by partner name), the routing table
    ({(rail, currency): partners}), one circuit breaker per partner and a clock."""

    def __init__(
        self,
        payouts: Payouts,
        banks: Mapping[str, BankTransfers],
        routes: dict[tuple[str, str], tuple[str, ...]],
        breaker: Callable[[str], CircuitBreaker],
        clock: Callable[[], datetime],
        timing: Timing = Timing(),
    ):
        self.payouts = payouts
        self.banks = banks
        self.routes = routes
        self.breaker = breaker
        self.clock = clock
        self.timing = timing

    # ------------------------------------------------------------------ the step

    def step(self, payout_id: str) -> str:
        """Advance the payout as far as it can go now; Reschedule when it must come back later."""
        stored = self._get(payout_id)
        p = stored.payout
        if p.status in ("paid", "failed", "returned", "canceled"):
            return f"{p.status}: nothing to do"  # a return after paid arrives by webhook
        if p.status == "submitted":
            return self._poll_settlement(stored)
        routes = partners_for(self.routes, p.destination.rail, p.currency)
        now = self.clock()
        open_breakers = {name for name in routes if self.breaker(name).state(now) == "open"}
        choice = next_route(routes, p.attempts, open_breakers)
        if choice.action == "wait" and choice.reason == "attempt_unresolved":
            assert choice.attempt is not None
            return self._query(stored, p.attempt(choice.attempt))
        if choice.action == "wait":
            at = min(self.breaker(name).retry_at(now) for name in routes)
            raise Reschedule(at, f"every partner's breaker is open ({', '.join(routes)})")
        if choice.action == "fail":
            self.payouts.apply(payout_id, PayoutEvent("fail", now, reason=choice.reason))
            log.warning("payout failed", extra={"payout_id": payout_id, "reason": choice.reason})
            return f"failed: {choice.reason}"
        if choice.action == "stop":  # accepted but not yet submitted cannot be: the table moves both at once
            return self._poll_settlement(stored)
        assert choice.partner is not None and choice.attempt is not None
        return self._submit(stored, choice.attempt, choice.partner, choice.reason)

    def _get(self, payout_id: str) -> StoredPayout:
        stored = self.payouts.get(payout_id)
        if stored is None:
            raise PermanentError(f"no payout {payout_id}")
        return stored

    def _submit(self, stored: StoredPayout, number: int, partner: str, why: str) -> str:
        """Record the attempt, then send it: only the step whose write recorded the submit sends (a
        replayed submit, from a duplicate task or a racing step, sends nothing: the attempt has one
        sender, so an answer to its one create call speaks for every request made under its key)."""
        p = stored.payout
        destination = self.payouts.destination(stored)  # before the attempt exists: a failure sends nothing
        try:
            applied = self.payouts.apply(
                p.payout_id, PayoutEvent("submit", self.clock(), attempt=number, partner=partner)
            )
        except PaymentError as exc:
            if exc.code not in MOVED:
                raise
            raise Reschedule(self.clock(), f"{p.payout_id} moved before the submit ({exc.code})") from None
        attempt = applied.payout.payout.attempt(number)
        if not applied.changed:
            raise Reschedule(self.clock(), f"attempt {number} was submitted by another step: it sends, not this one")
        if self.clock() - attempt.started_at > SEND_BUDGET:  # this step stalled after recording it
            raise Reschedule(self.clock(), f"attempt {number} not sent in time: its status decides")
        call = self.banks[partner].create_transfer(
            attempt.idempotency_key, p.amount, p.currency, destination, description=p.payout_id
        )
        self._count(partner, call.call)
        outcome = classify(call.call)
        log.info(
            "payout attempt submitted",
            extra={"payout_id": p.payout_id, "attempt": number, "partner": partner, "route": why,
                   "outcome": outcome.kind, "detail": outcome.reason},
        )  # fmt: skip
        return self._record(p.payout_id, attempt, outcome, call)

    def _query(self, stored: StoredPayout, attempt: Attempt) -> str:
        """The status query of an attempt that may have executed (in flight when its step died, or an
        unknown outcome)."""
        p = stored.payout
        now = self.clock()
        if now - attempt.started_at > self.timing.unknown_deadline:
            raise PermanentError(
                f"{p.payout_id} attempt {attempt.number} at {attempt.partner} unresolved since "
                f"{attempt.started_at.isoformat()}: an operator must find out whether it executed"
            )
        call = self.banks[attempt.partner].find_transfer(attempt.idempotency_key)
        self._count(attempt.partner, call.call)
        outcome = classify(call.call)
        return self._record(p.payout_id, attempt, outcome, call)

    def _record(self, payout_id: str, attempt: Attempt, outcome: Outcome, call: TransferCall) -> str:
        """Apply what a create or status call said about the attempt, and say when to come back. When the
        payout moved meanwhile (its webhook arrived during the call), the step goes on from there."""
        try:
            return self._apply_outcome(payout_id, attempt, outcome, call)
        except PaymentError as exc:
            if exc.code not in MOVED:
                raise
            now_recorded = self._get(payout_id).payout.attempt(attempt.number)
            if outcome.may_have_executed and now_recorded.state in ("declined", "not_executed"):
                # the partner has (or may have) this attempt's transfer, recorded as never executed: the
                # case the proof rests on is broken; nothing more may be routed without an operator
                raise PermanentError(
                    f"{payout_id}: attempt {attempt.number} answered {outcome.kind} but was recorded "
                    f"{now_recorded.state}: an operator must reconcile it before anything else is sent"
                ) from None
            raise Reschedule(
                self.clock(), f"{payout_id} moved during the call ({exc.code}): go on from there"
            ) from None

    def _apply_outcome(self, payout_id: str, attempt: Attempt, outcome: Outcome, call: TransferCall) -> str:
        now = self.clock()
        n = attempt.number
        if outcome.kind == "accepted":
            if call.reference is None:
                raise PaymentError("conflicting_event", f"{payout_id}: accepted without a reference")
            self.payouts.apply(payout_id, PayoutEvent("accepted", now, attempt=n, partner_reference=call.reference))
            done = self._follow_status(payout_id, call.status, call.return_code, now)
            if done:
                return done
            raise Reschedule(now + self.timing.settle_poll, f"attempt {n} accepted: {call.reference}")  # first poll
        if outcome.kind in ("declined", "invalid"):
            reason = call.call.body_code or outcome.reason
            self.payouts.apply(payout_id, PayoutEvent("declined", now, attempt=n, reason=reason))
            if outcome.kind == "invalid":  # no partner would take it
                self.payouts.apply(payout_id, PayoutEvent("fail", now, reason=f"invalid: {reason}"))
                return f"failed: invalid ({reason})"
            raise Reschedule(now, f"attempt {n} declined ({reason}): next route")
        if outcome.kind == "not_found":
            if now < attempt.started_at + NOT_FOUND_AFTER:
                at = attempt.started_at + NOT_FOUND_AFTER
                if attempt.state == "in_flight":
                    self.payouts.apply(payout_id, PayoutEvent("unknown", now, attempt=n, reason="not found yet"))
                raise Reschedule(at, f"attempt {n} not found yet: asked again once it cannot be in flight")
            self.payouts.apply(payout_id, PayoutEvent("not_executed", now, attempt=n, reason="not_found"))
            raise Reschedule(now, f"attempt {n} confirmed not executed: next attempt")
        if outcome.kind == "retry_later" and call.call.call == "create" and attempt.state == "in_flight":
            # refused unprocessed (429, our configuration) or never sent, as far as this request knows;
            # another request under the same key may still have executed (a duplicate task, a stalled
            # process), so the attempt stays unresolved until its status query says "not found"
            # (NOT_FOUND_AFTER): a new key never follows an answer to one request
            why = "throttled" if call.call.status == 429 else "not_sent" if call.call.failure else outcome.reason
            self.payouts.apply(payout_id, PayoutEvent("unknown", now, attempt=n, reason=why))
            delay = timedelta(seconds=outcome.retry_after_s) if outcome.retry_after_s else self.timing.retry_later
            raise Reschedule(now + max(delay, self.timing.first_query), f"attempt {n} {why}: its status decides")
        # unknown (or a status query that could not be made): it may have executed; query again later
        if attempt.state == "in_flight":
            self.payouts.apply(payout_id, PayoutEvent("unknown", now, attempt=n, reason=outcome.reason))
        raise Reschedule(now + self._query_delay(attempt, now, outcome), f"attempt {n} unknown: {outcome.reason}")

    def _query_delay(self, attempt: Attempt, now: datetime, outcome: Outcome) -> timedelta:
        waited = max(now - attempt.started_at, self.timing.first_query)
        delay = min(waited, self.timing.max_query)  # doubling: the next query after as long again
        if outcome.retry_after_s:
            delay = max(delay, timedelta(seconds=outcome.retry_after_s))
        return delay

    def _poll_settlement(self, stored: StoredPayout) -> str:
        p = stored.payout
        accepted = next(a for a in p.attempts if a.state == "accepted")
        now = self.clock()
        if now - accepted.updated_at > self.timing.settle_deadline:
            raise PermanentError(
                f"{p.payout_id} submitted at {accepted.partner} and not settled since {accepted.updated_at}"
            )
        call = self.banks[accepted.partner].find_transfer(accepted.idempotency_key)
        self._count(accepted.partner, call.call)
        outcome = classify(call.call)
        if outcome.kind == "accepted":
            done = self._follow_status(p.payout_id, call.status, call.return_code, now)
            if done:
                return done
        elif outcome.kind == "declined":  # found, and the bank rejected it after accepting
            return self._follow_status(p.payout_id, call.status, None, now) or "rejected"
        raise Reschedule(
            now + self._settle_delay(accepted, now), f"submitted at {accepted.partner}: {call.status or outcome.reason}"
        )

    def _settle_delay(self, accepted: Attempt, now: datetime) -> timedelta:
        return min(max(now - accepted.updated_at, self.timing.settle_poll), self.timing.max_settle_poll)

    def _follow_status(self, payout_id: str, status: str | None, return_code: str | None, at: datetime) -> str | None:
        """Apply a found transfer's status to an accepted payout; None while it is still on its way."""
        if status in SETTLED_STATUSES or status in RETURNED_STATUSES:
            self.payouts.apply(payout_id, PayoutEvent("settled", at))
            if status in RETURNED_STATUSES:
                self.payouts.apply(payout_id, PayoutEvent("returned", at, reason=return_code or "unknown_return"))
                return f"returned ({return_code})"
            return "paid"
        if status in REJECTED_STATUSES:
            self.payouts.apply(payout_id, PayoutEvent("rejected", at, reason=status))
            return f"failed: rejected by the bank ({status})"
        return None

    def _count(self, partner: str, call: PartnerCall) -> None:
        breaker, now = self.breaker(partner), self.clock()
        if _failed_call(call):
            breaker.failure(now)
        else:
            breaker.success()

    # ------------------------------------------------------------------ webhooks

    def on_transfer_event(self, event: TransferEvent) -> str:
        """A bank's webhook about one of our transfers. The attempt is accepted first if the webhook
        beat the answer or the status query; a return implies the payout was paid. Replays are no-ops.
        An event about an attempt recorded as not executed is the one case the proof's assumption broke:
        PermanentError, for an operator."""
        found = parse_partner_idempotency_key(event.idempotency_key)
        if found is None:
            raise PermanentError(f"{event.idempotency_key!r} is not one of our payout attempt keys")
        payout_id, number = found
        stored = self._get(payout_id)
        attempt = stored.payout.attempt(number)
        if attempt.state in ("declined", "not_executed"):
            raise PermanentError(
                f"{payout_id}: the bank reports attempt {number} {event.what} but it was recorded "
                f"{attempt.state}: an operator must reconcile it"
            )
        if attempt.state in ("in_flight", "unknown"):
            if event.reference is None:
                raise PermanentError(f"{payout_id}: a {event.what} webhook without the transfer's reference")
            self.payouts.apply(
                payout_id, PayoutEvent("accepted", event.at, attempt=number, partner_reference=event.reference)
            )
        status = {"settled": "settled", "returned": "returned", "rejected": "rejected"}.get(event.what)
        if status is None:
            return f"{event.what}: nothing to apply"
        return self._follow_status(payout_id, status, event.return_code, event.at) or status
