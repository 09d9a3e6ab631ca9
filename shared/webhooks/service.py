"""Fan-out and delivery (the webhooks function's tasks, docs/webhooks.md).

fan-out (`webhook-fanout`): every event still `fanout_pending`, in (tenant, key, number) order, in ONE
transaction per event: a WebhookDelivery per enabled endpoint of its tenant that subscribes to its
type, chained after that endpoint's previous delivery of the same key (DeliveryLane), the event
marked fanned out. An event whose predecessor in its lane is not fanned out yet waits for the next
sweep. Then a `webhook-deliver` task per delivery that may go at once.

deliver (`webhook-deliver`, key = delivery id): the ordering gate (the delivery before it must be
final), the endpoint's state, the per-endpoint rate, one signed POST, and in ONE transaction the
attempt, the delivery's new state and the endpoint's health (failing since, disabled). A final
delivery wakes the one after it. Cloud Tasks may run a task twice: a second run of a final delivery
does nothing, nor does a run before the delivery's next attempt is due (a second task: only its own
task keeps the retry schedule); a duplicate attempt is possible (at-least-once: receivers dedupe on
webhook-id)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.api.ratelimit import RateLimiter
from shared.domain.webhooks import delivery as policy
from shared.domain.webhooks import signing
from shared.domain.webhooks.catalogue import subscribed
from shared.domain.webhooks.endpoints import Endpoint, Secret
from shared.domain.webhooks.events import endpoint_disabled
from shared.errors import PermanentError
from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task, retry_after_value
from shared.recovery.service import Reschedule, Schedule, record_dead_letter
from shared.webhooks import outbox, records
from shared.webhooks.records import Delivery

log = logging.getLogger("ledgerline.webhooks")

FANOUT_BATCH = 500  # events per fan-out task; more: the task asks for the next fan-out
STALE_AFTER = timedelta(minutes=2)  # a pending delivery due this long ago lost its task: the sweep re-queues
EARLY_TOLERANCE = timedelta(seconds=1)  # a task this much before its delivery's next attempt is a duplicate
USER_AGENT = "ledgerline-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What the sender returns (shared.adapters.webhook_http.Answer has these fields)."""

    status: int | None
    headers: dict
    body: bytes
    elapsed_ms: int
    error: str | None = None


Send = Callable[[str, bytes, dict], Answer]  # (url, body, headers) -> answer; never raises for the network
OpenSecret = Callable[[str, str], str]  # (sealed value, endpoint id) -> the secret
DELIVER = "webhook-deliver"


class Deliveries:
    def __init__(
        self,
        store,
        schedule: Schedule,
        send: Send,
        open_secret: OpenSecret,
        clock: Callable[[], datetime],
        request_fanout: Callable[[], None],
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        retry_scale: float = 1.0,
    ):
        self.store = store
        self.schedule = schedule
        self.send = send
        self.open_secret = open_secret
        self.clock = clock
        self.request_fanout = request_fanout
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.limiter = limiter or RateLimiter(rate=50.0, burst=100.0)
        self.retry_scale = retry_scale  # local chaos runs compress the schedule (Settings.webhook_retry_scale)

    # ------------------------------------------------------------------------- endpoints

    def endpoint(self, endpoint_id: str, reader=None) -> Endpoint | None:
        row = (reader or self.store).get(records.ENDPOINT, endpoint_id)
        if row is None:
            return None
        opened = [
            Secret(self.open_secret(s["value"], endpoint_id), s["created_at"], s.get("expires_at"))
            for s in records.sealed_secrets_of(row)
        ]
        return records.endpoint(endpoint_id, row, opened)

    def _endpoints_of(self, tenant: str) -> list[tuple[str, dict]]:
        return sorted(self.store.query(records.ENDPOINT, "tenant", tenant).items())

    # ------------------------------------------------------------------------- fan-out

    def fanout(self) -> tuple[int, int]:
        """One fan-out pass. Returns (events fanned out, events left waiting)."""
        pending = self.store.query(outbox.EVENT, "fanout_pending", True)
        order = sorted(pending.items(), key=lambda item: (item[1]["tenant"], item[1]["key"], item[1]["seq"]))
        endpoints: dict[str, list[tuple[str, dict]]] = {}
        done = waiting = 0
        for event_id, row in order[:FANOUT_BATCH]:
            tenant = row["tenant"]
            if tenant not in endpoints:
                endpoints[tenant] = self._endpoints_of(tenant)
            targets = [
                name
                for name, ep in endpoints[tenant]
                if ep["enabled"] and subscribed(tuple(ep.get("types") or ()), row["type"])
            ]
            created = self.store.transact(lambda tx, e=event_id, t=targets: self._fan_one(tx, e, t))
            if created is None:
                waiting += 1
                continue
            done += 1
            for delivery_id, ready in created:
                if ready:
                    self._enqueue(Task(DELIVER, delivery_id), self.clock())
        if len(order) > FANOUT_BATCH or waiting:
            self.request_fanout()
        return done, waiting + max(0, len(order) - FANOUT_BATCH)

    def _fan_one(self, tx, event_id: str, targets: list[str]) -> list[tuple[str, bool]] | None:
        """In one transaction: the deliveries of one event. None: its lane predecessor is not fanned
        out yet. Returns [(delivery id, may go at once)]."""
        now = self.clock()
        event = tx.get(outbox.EVENT, event_id)
        if event is None or not event.get("fanout_pending"):
            return []
        lane_name = outbox.lane_name(event["tenant"], event["key"])
        lane = tx.get(records.DELIVERY_LANE, lane_name) or {"seq": 0, "tails": "{}"}
        if event["seq"] != lane["seq"] + 1:
            return None
        tails = json.loads(lane["tails"])
        created = []
        for endpoint_id in targets:
            did = records.delivery_id(endpoint_id, event_id)
            before = tails.get(endpoint_id)
            ready = True
            if before is not None:
                prev_row = tx.get(records.DELIVERY, before)
                if prev_row is not None:
                    prev = records.delivery(before, prev_row)
                    ready = prev.status in policy.FINAL
                    if prev.next is None:
                        tx.put(*records.delivery_row(replace(prev, next=did)))
            d = Delivery(
                did,
                event["tenant"],
                endpoint_id,
                event_id,
                event["key"],
                event["seq"],
                "pending",
                now,
                after=before,
                next_attempt_at=now,
            )
            tx.put(*records.delivery_row(d))
            tails[endpoint_id] = did
            created.append((did, ready))
        tx.put(records.DELIVERY_LANE, lane_name, {"seq": event["seq"], "tails": json.dumps(tails), "updated_at": now})
        tx.put(
            outbox.EVENT,
            event_id,
            {**event, "fanout_pending": False, "deliveries": len(created)},
            unindexed=("body", "key", "seq", "deliveries"),
        )
        return created

    # ------------------------------------------------------------------------- delivery

    def deliver(self, task_key: str) -> str:
        """Run one delivery (task key: the delivery id, or `<id>|after|<predecessor>` when woken)."""
        delivery_id = task_key.split("|", 1)[0]
        now = self.clock()
        row = self.store.get(records.DELIVERY, delivery_id)
        if row is None:
            raise PermanentError(f"no webhook delivery {delivery_id}")
        d = records.delivery(delivery_id, row)
        if d.status in policy.FINAL:
            if not self._replayed(d):
                return f"{delivery_id} already {d.status}"
            d = self.store.transact(lambda tx: self._restart(tx, d))
        early = EARLY_TOLERANCE * self.retry_scale  # (the scaled schedule's first delay is 0.1 s)
        if d.attempts and d.next_attempt_at is not None and d.next_attempt_at > now + early:
            # On its retry schedule, this task is a second one (a look-again or wake-up task left from
            # when it waited behind its predecessor, a re-run of a task): its own task is queued for
            # next_attempt_at. Sending now would start a second retry chain, off the schedule.
            return f"{delivery_id} not due before {d.next_attempt_at.isoformat()}: a duplicate task"
        if d.after is not None:
            prev_row = self.store.get(records.DELIVERY, d.after)
            prev = records.delivery(d.after, prev_row) if prev_row else None
            if prev is not None and not policy.may_send(prev.status):
                # woken by the predecessor when it is final; until then, look again after its next
                # attempt (noted on the delivery, so the sweep does not take it for a lost task)
                at = min(max(prev.next_attempt_at or now, now) + timedelta(seconds=30), now + timedelta(hours=1))
                self._note_next_look(d, at)
                raise Reschedule(at, f"waiting for {d.after}")
        ep = self.endpoint(d.endpoint)
        if ep is None or not ep.enabled:
            self._finish_without_sending(d, "skipped", "endpoint deleted" if ep is None else "endpoint disabled")
            return f"{delivery_id} skipped: endpoint {'deleted' if ep is None else 'disabled'}"
        wait = self.limiter.acquire(ep.endpoint_id)
        if wait > 0:
            raise Reschedule(now + timedelta(seconds=wait), "endpoint rate limit")
        event = self.store.get(outbox.EVENT, d.event)
        if event is None:
            raise PermanentError(f"no event {d.event} for delivery {delivery_id}")
        body = event["body"]
        headers = {
            **signing.headers(d.event, body, now, ep.signing_secrets(now)),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        answer = self.send(ep.url, body.encode(), headers)
        at = self.clock()
        verdict = policy.judge(
            answer.status,
            answer.error,
            d.attempts + 1,
            d.first_attempt_at or now,
            at,
            retry_after_value(answer.headers.get("retry-after"), at),
            self.rng,
            self.retry_scale,
        )
        recorded, disabled = self.store.transact(lambda tx: self._record(tx, d, ep, answer, verdict, now, at))
        if disabled:  # the tenant's other endpoints are told (a webhook_endpoint.disabled event)
            self.request_fanout()
        log.info(
            "webhook attempt",
            extra={
                "delivery": delivery_id,
                "endpoint": ep.endpoint_id,
                "event": d.event,
                "attempt": recorded.attempts,
                "status_code": answer.status,
                "outcome": verdict.outcome,
            },
        )
        if verdict.outcome == "give_up":  # (a 410 is the tenant's answer, not a failure to replay)
            self._dead_letter(recorded, verdict.reason, at)
        if recorded.status in policy.FINAL:
            self._wake_next(recorded)
            return f"{delivery_id} {recorded.status} after {recorded.attempts} attempt(s)"
        assert verdict.next_at is not None
        raise Reschedule(verdict.next_at, f"attempt {recorded.attempts}: {verdict.reason}")

    def _record(self, tx, d: Delivery, ep: Endpoint, answer: Answer, verdict, started: datetime, at: datetime):
        current_row = tx.get(records.DELIVERY, d.delivery_id)
        current = records.delivery(d.delivery_id, current_row) if current_row else d
        number = current.attempts + 1
        text = answer.body[:256].decode("utf-8", "replace")
        tx.put(*records.attempt_row(current, number, at, answer.status, answer.error, answer.elapsed_ms, text))
        status = {"delivered": "delivered", "give_up": "failed", "gone": "failed"}.get(verdict.outcome, "pending")
        updated = replace(
            current,
            status=status if current.status not in policy.FINAL else current.status,
            attempts=number,
            first_attempt_at=current.first_attempt_at or started,
            next_attempt_at=verdict.next_at,
            last_status=answer.status,
            last_error=None if verdict.outcome == "delivered" else verdict.reason[:500],
            finished_at=at if status in policy.FINAL else None,
        )
        tx.put(*records.delivery_row(updated))
        return updated, self._health(tx, ep, verdict.outcome, at)

    def _health(self, tx, ep: Endpoint, outcome: str, at: datetime) -> bool:
        """The endpoint's health, written only when it changes (not on every attempt: one endpoint
        takes many deliveries at once, and an entity takes about one write a second). True when this
        attempt disabled it (an event to the tenant's other endpoints is emitted with it)."""
        row = tx.get(records.ENDPOINT, ep.endpoint_id)
        if row is None:
            return False
        changed = None
        if outcome == "delivered":
            if row.get("failing_since") is not None:
                changed = {**row, "failing_since": None}
        elif outcome == "gone":
            changed = {**row, "enabled": False, "disabled_reason": "gone", "disabled_at": at}
        elif row.get("failing_since") is None:
            changed = {**row, "failing_since": at}
        elif row["enabled"] and policy.should_disable(row["failing_since"], at):
            changed = {**row, "enabled": False, "disabled_reason": "failing", "disabled_at": at}
        if changed is None:
            return False
        changed["version"] = int(row.get("version", 1)) + 1
        tx.put(records.ENDPOINT, ep.endpoint_id, changed)
        if row["enabled"] and not changed["enabled"]:
            log.error(
                "webhook endpoint disabled",
                extra={"endpoint": ep.endpoint_id, "tenant": ep.tenant, "reason": changed["disabled_reason"]},
            )
            draft = endpoint_disabled(
                ep.tenant, ep.endpoint_id, ep.url, changed["disabled_reason"], row.get("failing_since")
            )
            outbox.emit(tx, [draft], at)
            return True
        return False

    def _note_next_look(self, d: Delivery, at: datetime) -> None:
        def work(tx):
            row = tx.get(records.DELIVERY, d.delivery_id)
            if row is not None and row["status"] == "pending":
                tx.put(records.DELIVERY, d.delivery_id, {**row, "next_attempt_at": at})

        self.store.transact(work)

    def _finish_without_sending(self, d: Delivery, status: str, reason: str) -> None:
        now = self.clock()

        def work(tx):
            current = records.delivery(d.delivery_id, tx.get(records.DELIVERY, d.delivery_id) or {})
            if current.status in policy.FINAL:
                return current
            done = replace(current, status=status, last_error=reason, finished_at=now, next_attempt_at=None)
            tx.put(*records.delivery_row(done))
            return done

        self._wake_next(self.store.transact(work))

    def _wake_next(self, d: Delivery) -> None:
        nxt = d.next or (self.store.get(records.DELIVERY, d.delivery_id) or {}).get("next")
        if nxt:
            self._enqueue(Task(DELIVER, f"{nxt}|after|{d.delivery_id}"), self.clock())

    def _enqueue(self, task: Task, at: datetime) -> None:
        try:
            self.schedule(task, at)
        except Exception as exc:  # the delivery is durable: the sweep re-queues it
            log.warning("webhook delivery not enqueued; the sweep will", extra={"key": task.key, "error": str(exc)})

    def _dead_letter(self, d: Delivery, reason: str, now: datetime) -> None:
        record_dead_letter(
            self.store,
            source="task",
            kind=DELIVER,
            key=d.delivery_id,
            now=now,
            payload=json.dumps({"kind": DELIVER, "key": d.delivery_id}),
            reason_code="exhausted",
            reason=reason,
            attempts=d.attempts,
            first_error=None,
            last_error=d.last_error,
            first_attempt_at=d.first_attempt_at or now,
            attributes={"replay": str(d.restarts), "endpoint": d.endpoint, "tenant": d.tenant},
        )

    def _replayed(self, d: Delivery) -> bool:
        """A failed delivery whose dead letter an operator replayed since it last restarted."""
        if d.status != "failed":
            return False
        dead = self.store.get("DeadLetter", dead_letter_id("task", DELIVER, d.delivery_id))
        return bool(dead) and int(dead.get("replays", 0)) > d.restarts

    def _restart(self, tx, d: Delivery) -> Delivery:
        dead = tx.get("DeadLetter", dead_letter_id("task", DELIVER, d.delivery_id)) or {}
        fresh = replace(
            d,
            status="pending",
            attempts=d.attempts,  # attempt numbers keep counting (the attempts list shows every one)
            first_attempt_at=self.clock(),
            next_attempt_at=self.clock(),
            finished_at=None,
            restarts=int(dead.get("replays", d.restarts + 1)),
        )
        tx.put(*records.delivery_row(fresh))
        return fresh

    # ------------------------------------------------------------------------- safety net

    def sweep(self, stale_before: datetime | None = None) -> int:
        """Re-queue pending deliveries due for a while with no task seen (an enqueue that failed, a
        wake-up lost). Returns how many were re-queued. The per-minute Cloud Scheduler job runs it with
        the fan-out."""
        cutoff = stale_before or self.clock() - STALE_AFTER
        count = 0
        for name, row in self.store.stale_deliveries(cutoff):  # type: ignore[attr-defined]
            stamp = int((row.get("next_attempt_at") or cutoff).timestamp())
            self._enqueue(Task(DELIVER, f"{name}|sweep|{stamp}"), self.clock())
            count += 1
        return count
