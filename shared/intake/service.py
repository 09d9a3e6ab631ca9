"""Webhook intake: verify -> store raw event (inbox) -> publish canonical event. Adapters are passed
in, so the order of effects is visible here and testable.

Guarantees:
  - nothing is stored for a request that fails verification or parsing (401/400/404/413);
  - the raw event is durable in the inbox BEFORE any 2xx is answered;
  - a duplicate delivery is recorded (deliveries counter); once the event is published it is not
    published again (concurrent duplicates may both publish: the ledger replays the second);
  - if publishing fails the event stays in the inbox unpublished and a republish task is enqueued:
    202 (we own the event now). If the enqueue fails too, 503 so the partner retries. `verify` lists
    inbox events never published.

The ports: the Inbox (shared.intake.inbox), a publisher of canonical events to the bus and a
scheduler of retries tasks (Publish and Schedule, as the recovery service has them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.config import Settings
from shared.domain.kinds import BY_NAME
from shared.domain.ledger.errors import InvariantViolation, NoPostingRule, UnknownAccount
from shared.domain.ledger.ids import event_hash
from shared.domain.ledger.operations import journal_for, operation_for
from shared.errors import ClientError, Receipt
from shared.intake.inbox import Inbox, InboxEvent, InboxRecord
from shared.partners import plugin
from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task, first_retry_at
from shared.recovery.service import Publish, Schedule

# What the payments function writes once it has applied (or dead-lettered) a partner outcome event
# (shared.payments.consumer): the stale re-drive sends an accepted payments event again until it is there.
PAYMENTS_HANDLED = "PaymentsEventHandled"

log = logging.getLogger("ledgerline.intake")

# Headers worth keeping with the raw body (for audit and re-verification). Signatures are not secrets.
KEPT_HEADERS = ("Content-Type", "User-Agent")  # plus each partner's signature headers


class Unavailable(RuntimeError):
    """A downstream is failing and nothing else will finish the job: 503 so the partner retries."""


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


STALE_WINDOW = timedelta(minutes=30)  # beyond the threshold; each 5-min run sees an event 6 times; older: verify


@dataclass(frozen=True)
class Intake:
    """The intake service over its ports: the inbox, the canonical-events publisher, the retries
    scheduler (for an event whose publish failed). `clock` dates that retry."""

    cfg: Settings
    inbox: Inbox
    publish: Publish
    schedule: Schedule
    clock: Callable[[], datetime] = field(default=_utcnow)

    def receive(
        self, partner: str, headers: Mapping[str, str], body: bytes, *, now: datetime, trace: str | None = None
    ) -> Receipt:
        """Verify and parse the whole request first (a batch is all or nothing: nothing is stored for a
        request with one bad item), then store, dedupe and publish each event it carries. The body is
        bounded by the entry point (functions/intake/main.py) before it gets here."""
        cfg = self.cfg
        scheme = plugin(partner)
        scheme.verify(headers, body, cfg, now=int(now.timestamp()))
        items = scheme.parse(body, received_at=now, cfg=cfg, headers=headers)
        for parsed in items:
            if parsed.canonical is not None:
                try:  # refuse now what the ledger could never post (it would only end in dead letters)
                    journal_for(parsed.canonical)  # builds (and so validates) every leg
                except (UnknownAccount, InvariantViolation, NoPostingRule) as exc:
                    raise ClientError(400, "invalid_event", f"event cannot be posted: {exc}") from None
        kept = {h: headers[h] for h in (*KEPT_HEADERS, *scheme.KEPT_HEADERS) if headers.get(h)}
        return scheme.acknowledge([self._accept(partner, parsed, body, kept, now, trace) for parsed in items])

    def _accept(self, partner, parsed, body, kept, now, trace) -> dict:
        """Store one event (durably, before any 2xx), dedupe it, publish it. Returns its outcome."""
        record = InboxRecord(
            partner=partner,
            partner_event_id=parsed.partner_event_id,
            partner_event_type=parsed.partner_event_type,
            verdict=parsed.verdict,
            reason=parsed.reason,
            body=body,
            headers=kept,
            received_at=now,
            canonical=parsed.canonical.to_message() if parsed.canonical else None,
            trace=trace,
            # Only what an event says about money is compared across redeliveries; stored-not-posted events
            # (ignored) may legitimately differ byte for byte (Stripe's pending_webhooks, Adyen batches).
            content_hash=event_hash(parsed.canonical) if parsed.canonical else "",
            equivalent_hashes=_legacy_hashes(partner, parsed),
            customer=parsed.canonical.customer if parsed.canonical else None,
            our_reference=parsed.our_reference,
        )
        created, stored = self.inbox.put_if_absent(record)
        ids = {"partner": partner, "partner_event_id": parsed.partner_event_id}
        if not created and record.conflicts_with(stored.content_hash):
            # "conflict recorded": the line the conflicts alert counts (terraform/modules/monitoring)
            log.error(
                "conflict recorded",
                extra={**ids, "conflict_kind": "inbox", "detail": "same event id, different content; first kept"},
            )
            return {"http": 200, "status": "conflict", **ids}
        if not created and record.content_hash and stored.content_hash != record.content_hash:
            # An earlier parser's version of this very event: kept (it is what the ledger posted), not a conflict.
            log.info("redelivery of an event stored under earlier parsing rules; stored version kept", extra=ids)
            if stored.accepted and stored.published:
                return {"http": 200, "status": "duplicate", "stored_as": "legacy", **ids}
        if not stored.accepted:
            log.info("webhook stored, not posted", extra={**ids, "reason": stored.reason, "first_delivery": created})
            return {"http": 200, "status": "ignored", "reason": stored.reason, **ids}
        if not created and stored.published:
            log.info("duplicate webhook", extra={**ids, "deliveries": stored.deliveries})
            return {"http": 200, "status": "duplicate", **ids}
        attributes = _attributes(f"{partner}:{parsed.partner_event_id}", stored, trace)
        try:
            message_id = self.publish(stored.canonical, attributes)
        except Exception:
            log.exception("publish failed; event kept in inbox", extra=ids)
            try:
                self._schedule_republish(record.key_name)
            except Exception:
                # Nothing will move the event on its own: make the partner retry (the inbox dedupes).
                log.exception("enqueue of republish failed too; answering 503 so the partner retries", extra=ids)
                raise Unavailable("event stored but not yet published; retry") from None
            return {"http": 202, "status": "accepted", "published": False, **ids}
        self.inbox.mark_published(record.key_name, message_id)
        log.info("webhook accepted", extra={**ids, "message_id": message_id, "first_delivery": created})
        return {"http": 200, "status": "accepted", "published": True, **ids}

    def _schedule_republish(self, key: str) -> None:
        """The first retry of the publish that just failed inline (the inline call was attempt 0)."""
        self.schedule(Task("republish", key), first_retry_at("republish", self.clock()))

    def republish(self, inbox_key: str, *, force: bool = False) -> str:
        """Publish an inbox event that has not reached Pub/Sub yet (force: publish again, e.g. to re-drive
        an event that was dead-lettered while parked). Safe: the ledger replays what it already posted."""
        event = self.inbox.get(inbox_key)
        if event is None:
            return "missing"
        if not event.accepted or (event.published and not force):
            return "nothing_to_do"
        attributes = _attributes(inbox_key, event, event.trace)
        message_id = self.publish(event.canonical, attributes)
        self.inbox.mark_published(inbox_key, message_id)
        return "published"

    def redrive_stale(self, *, ledger, now: datetime, limit=None) -> list[str]:
        """Safety net for "every acknowledged event reaches the ledger" (and the payments function, for
        the kinds it acts on: until it recorded one as handled): accepted inbox events received 15-45
        min ago (LEDGERLINE_STALE_AFTER_SECONDS, then 30 min) whose transaction does not exist, and that
        are neither parked, rejected nor waiting in an open dead letter, are published again (the ledger
        posts each once; a replay is a no-op). Pub/Sub does not lose acknowledged publishes, but a push that
        keeps failing backs off for up to 10 minutes per message (and the local emulator was seen to stop
        redelivering after a subscriber crash)."""
        stale_after = timedelta(seconds=self.cfg.stale_after_seconds)
        received = self.inbox.received_between(now - stale_after - STALE_WINDOW, now - stale_after, limit)
        items: list[InboxEvent] = [i for i in received if i.accepted and i.canonical]
        wanted = {}
        for_payments = []  # events the payments function acts on: done once it recorded them
        for item in items:
            event = item.event()
            if BY_NAME[event.kind].consumer == "payments":
                for_payments.append(item.key)
                continue
            op = operation_for(event)
            if op is not None:
                wanted[item.key] = op.op_id
        handled = set(ledger.get_multi(PAYMENTS_HANDLED, for_payments)) if for_payments else set()
        wanted |= {key: key for key in for_payments if key not in handled}
        if not wanted:
            return []
        ops = sorted(set(wanted.values()))
        done = set(ledger.transactions(ops)) | set(ledger.get_multi("Rejection", ops))
        parked = set(ledger.get_multi("Parked", sorted(wanted)))
        # Open dead letters wait for an operator (fix the cause, then replay): not re-driven behind their back.
        letters = [
            dead_letter_id(source, kind, k)
            for k in wanted
            for source, kind in (("pubsub", "canonical-event"), ("task", "republish"), ("parked", ""))
        ]
        dead = {r["key"] for r in ledger.get_multi("DeadLetter", letters).values() if r.get("status") == "open"}
        stale = [k for k, op_id in sorted(wanted.items()) if op_id not in done and k not in parked and k not in dead]
        for key in stale:
            self.republish(key, force=True)
        if stale:
            log.warning(
                "stale inbox events re-driven", extra={"count": len(stale), "events": stale[:20], "scanned": len(items)}
            )
        return stale


def _attributes(event_id: str, event: InboxEvent, trace: str | None) -> dict[str, str]:
    """The Pub/Sub attributes of a canonical event: its id, partner, trace, and who acts on it
    (`consumer`, from the kind registry: the payments function's subscription filters on it)."""
    attributes = {"event_id": event_id, "partner": event.partner, "consumer": BY_NAME[event.event().kind].consumer}
    if trace:
        attributes["trace"] = trace
    return attributes


def _legacy_hashes(partner: str, parsed) -> tuple[str, ...]:
    """Content hashes an earlier version of the partner's parser gave this event (see InboxRecord)."""
    versions = getattr(plugin(partner), "legacy_versions", None)
    if versions is None or parsed.canonical is None:
        return ()
    return tuple(sorted({event_hash(v) if v is not None else "" for v in versions(parsed.canonical)}))
