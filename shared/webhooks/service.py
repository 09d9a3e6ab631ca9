"""Fan-out and delivery (the webhooks function's tasks, docs/webhooks.md).

fan-out (`webhook-fanout`): the oldest events still `fanout_pending` (a batch), each lane in number
order, in ONE transaction per event: a WebhookDelivery per enabled endpoint of its tenant that subscribes to its
type, chained after that endpoint's previous delivery of the same key (DeliveryLane), the event
marked fanned out. An event whose predecessor in its lane is not fanned out yet waits for the next
sweep. Then a `webhook-deliver` task per delivery that may go at once.

deliver (`webhook-deliver`, key = `<delivery id>@<chain>`): the task chain's check (a superseded task
does nothing), nothing before it is due (a second task of its chain: its own task keeps the
schedule), the ordering gate (the delivery before it must be final), the endpoint's state, the
per-endpoint rate, one signed POST, and in ONE transaction the attempt, the delivery's new state and
the endpoint's health (failing since, disabled). A final delivery gives the one after it a chain
(wakes it). Cloud Tasks may run a task twice: a second run of a final delivery does nothing; a
duplicate attempt is possible (at-least-once: receivers dedupe on webhook-id)."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.api.ratelimit import RateLimiter
from shared.domain.webhooks import delivery as policy
from shared.domain.webhooks import signing
from shared.domain.webhooks.catalogue import subscribed
from shared.domain.webhooks.endpoints import DEFAULT_RATE, Endpoint, Secret
from shared.domain.webhooks.events import endpoint_disabled
from shared.errors import PermanentError
from shared.recovery.dead_letters import dead_letter_id
from shared.recovery.policies import Task, retry_after_value
from shared.recovery.service import Reschedule, Schedule, record_dead_letter
from shared.webhooks import outbox, records
from shared.webhooks.records import Delivery

log = logging.getLogger("ledgerline.webhooks")

FANOUT_BATCH = 500  # events per fan-out task; more: the task asks for the next fan-out
FANOUT_THREADS = 16  # lanes fanned out at once (one lane's events stay in order, on one thread)
FANOUT_LEASE = "FanoutLease"
LEASE_FOR = timedelta(seconds=90)  # longer than a pass; a crashed holder's lease simply expires
VERIFY_TRIES = 60  # a Pub/Sub destination's verification token: 10 s doubling to 30 min, about a day
VERIFY_MAX_DELAY = timedelta(minutes=30)
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


# (url, body, headers, ordering key) -> answer; never raises for the network (a Pub/Sub destination
# publishes with the ordering key; HTTPS ignores it)
Send = Callable[[str, bytes, dict, str], Answer]
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
        # per-endpoint token buckets, one limiter per configured rate (Endpoint.rate_limit)
        self.limiters: dict[float, RateLimiter] = {} if limiter is None else {DEFAULT_RATE: limiter}
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
        """One fan-out pass, under the fan-out lease (one pass at a time: overlapping passes would only
        fight over the same events). Returns (events fanned out, events left for the next pass). A
        pass that finds the lease taken does nothing: the holder looks for pending events again after
        releasing it, so an event committed meanwhile is never left behind."""
        holder = uuid.uuid4().hex
        if not self.store.transact(lambda tx: self._lease(tx, holder)):
            return 0, 0
        try:
            done, left = self._fanout_pass()
        finally:
            self.store.transact(lambda tx: self._release(tx, holder))
        if left or self.store.pending_events(1):  # type: ignore[attr-defined]
            self.request_fanout()
        return done, left

    def _lease(self, tx, holder: str) -> bool:
        now = self.clock()
        lease = tx.get(FANOUT_LEASE, "fanout")
        if lease is not None and lease["until"] > now:
            return False
        tx.put(FANOUT_LEASE, "fanout", {"holder": holder, "until": now + LEASE_FOR})
        return True

    def _release(self, tx, holder: str) -> None:
        lease = tx.get(FANOUT_LEASE, "fanout")
        if lease is not None and lease["holder"] == holder:
            tx.put(FANOUT_LEASE, "fanout", {"holder": None, "until": self.clock()})

    def _fanout_pass(self) -> tuple[int, int]:
        """The oldest FANOUT_BATCH pending events (first come, first served across tenants: a lane's
        earlier events are older), lanes in parallel, each lane in number order."""
        batch = self.store.pending_events(FANOUT_BATCH)  # type: ignore[attr-defined]
        batch.sort(key=lambda item: (item[1]["tenant"], item[1]["key"], item[1]["seq"]))
        endpoints = {tenant: self._endpoints_of(tenant) for tenant in {row["tenant"] for _, row in batch}}
        lanes: dict[tuple[str, str], list[tuple[str, dict]]] = {}
        for event_id, row in batch:
            lanes.setdefault((row["tenant"], row["key"]), []).append((event_id, row))

        def fan_lane(events: list[tuple[str, dict]]) -> tuple[int, int]:
            done = 0
            for event_id, row in events:  # in number order: a lane is one chain
                targets = [
                    name
                    for name, ep in endpoints[row["tenant"]]
                    if ep["enabled"]
                    and not ep.get("deleted_at")
                    and subscribed(tuple(ep.get("types") or ()), row["type"])
                ]
                created = self.store.transact(lambda tx, e=event_id, t=targets: self._fan_one(tx, e, t))
                if created is None:  # its predecessor is not fanned out yet: the rest of the lane waits
                    return done, len(events) - done
                done += 1
                for delivery_id, ready in created:
                    if ready:
                        self._enqueue(Task(DELIVER, f"{delivery_id}@1"), self.clock())
            return done, 0

        with ThreadPoolExecutor(max_workers=FANOUT_THREADS) as pool:  # lanes are independent
            results = list(pool.map(fan_lane, lanes.values()))
        done = sum(d for d, _ in results)
        return done, sum(w for _, w in results) + (len(batch) == FANOUT_BATCH)

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
                chain=1 if ready else 0,  # a delivery that must wait gets its chain when woken
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
        """Run one delivery. The task key is `<delivery id>@<chain>` (records.Delivery.chain): a task of a
        superseded chain does nothing. A bare delivery id is a dead letter's replay (its key is the
        delivery's): the delivery restarts with a new chain."""
        delivery_id, sep, chain = task_key.partition("@")
        now = self.clock()
        row = self.store.get(records.DELIVERY, delivery_id)
        if row is None:
            raise PermanentError(f"no webhook delivery {delivery_id}")
        d = records.delivery(delivery_id, row)
        if not sep:
            if d.status in policy.FINAL and self._replayed(d):
                return self._start_chain(delivery_id, "replayed dead letter", restart=True)
            return f"{delivery_id}: {d.status}, nothing to replay"
        if not chain.isdigit() or int(chain) != d.chain:
            return f"{delivery_id}: task of chain {chain} superseded by chain {d.chain}"
        if d.status in policy.FINAL:
            return f"{delivery_id} already {d.status}"
        early = EARLY_TOLERANCE * self.retry_scale  # (the scaled schedule's first delay is 0.1 s)
        if d.next_attempt_at is not None and d.next_attempt_at > now + early:
            # A second task of its chain (a duplicate dispatch, the queue re-running a run whose outcome
            # was recorded): the chain's own task is queued for next_attempt_at (the sweep gives it a new
            # chain if that one was lost). Sending now would be an attempt off the schedule.
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
        wait = self._limiter(ep.rate_limit).acquire(ep.endpoint_id)
        if wait > 0:  # spread the waiting ones out: they do not all come back in the same instant
            raise Reschedule(now + timedelta(seconds=wait + self.rng.uniform(0.5, 1.5)), "endpoint rate limit")
        event = self.store.get(outbox.EVENT, d.event)
        if event is None:
            raise PermanentError(f"no event {d.event} for delivery {delivery_id}")
        body = event["body"]
        headers = {
            **signing.headers(d.event, body, now, ep.signing_secrets(now)),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        answer = self.send(ep.url, body.encode(), headers, d.key)
        at = self.clock()
        verdict = policy.judge(
            answer.status,
            answer.error,
            d.attempts_in_run + 1,
            d.first_attempt_at or now,
            at,
            retry_after_value(answer.headers.get("retry-after"), at),
            self.rng,
            self.retry_scale,
        )
        recorded, disabled = self.store.transact(lambda tx: self._record(tx, d, ep, answer, verdict, now, at))
        if disabled:  # the tenant's other endpoints are told (a webhook_endpoint.disabled event)
            log.error(
                "webhook endpoint disabled",
                extra={
                    "endpoint": ep.endpoint_id,
                    "tenant": ep.tenant,
                    "reason": "gone" if verdict.outcome == "gone" else "failing",
                },
            )
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

    def _limiter(self, rate: float) -> RateLimiter:
        if rate not in self.limiters:
            self.limiters[rate] = RateLimiter(rate=rate, burst=2 * rate)
        return self.limiters[rate]

    def _start_chain(self, delivery_id: str, why: str, restart: bool = False, overdue_before=None) -> str:
        """Give a pending delivery a new task chain (its previous tasks, if any, are superseded), and
        enqueue the chain's first task. `restart`: a failed delivery whose dead letter was replayed
        starts again, its schedule from the first attempt. `overdue_before`: only if still due before it
        (the sweep)."""
        now = self.clock()

        def work(tx) -> Delivery | None:
            row = tx.get(records.DELIVERY, delivery_id)
            if row is None:
                return None
            d = records.delivery(delivery_id, row)
            if restart:
                if d.status != "failed":
                    return None
                dead = tx.get("DeadLetter", dead_letter_id("task", DELIVER, delivery_id)) or {}
                d = replace(
                    d,
                    status="pending",
                    first_attempt_at=now,
                    finished_at=None,
                    restarts=int(dead.get("replays", d.restarts + 1)),
                    restart_base=d.attempts,  # attempt numbers keep counting; the schedule starts over
                )
            elif d.status != "pending":
                return None
            elif overdue_before is not None and (d.next_attempt_at is None or d.next_attempt_at > overdue_before):
                return None
            d = replace(d, chain=d.chain + 1, next_attempt_at=now)
            tx.put(*records.delivery_row(d))
            return d

        started = self.store.transact(work)
        if started is None:
            return f"{delivery_id}: no new chain ({why})"
        self._enqueue(Task(DELIVER, started.task_key()), now)
        return f"{delivery_id}: chain {started.chain} started ({why})"

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
        if row["enabled"] and not changed["enabled"]:  # (logged by the caller once this commits)
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
            self._start_chain(nxt, f"after {d.delivery_id}")

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
            attempts=d.attempts_in_run,
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

    # ------------------------------------------------------------------------- Pub/Sub verification

    def send_verification(self, endpoint_id: str) -> str:
        """Publish a Pub/Sub destination's verification token to its topic (the `webhook-verify` task,
        enqueued when the endpoint is created or moved to another topic), signed like any event. The
        tenant sends the token back (POST /v1/webhook-endpoints/{id}/verify): proof that it reads the
        topic, so no tenant can have events published into a topic it does not control."""
        row = self.store.get(records.ENDPOINT, endpoint_id)
        ep = self.endpoint(endpoint_id)
        if row is None or ep is None or ep.verified or not row.get("verification"):
            return f"{endpoint_id}: nothing to verify"
        now = self.clock()
        message_id = f"vrf_{endpoint_id}"
        body = json.dumps(
            {
                "type": "webhook_endpoint.verification",
                "endpoint": endpoint_id,
                "token": self.open_secret(row["verification"], endpoint_id),
                "timestamp": now.isoformat(),
            },
            separators=(",", ":"),
        )
        headers = {
            **signing.headers(message_id, body, now, ep.signing_secrets(now)),
            "content-type": "application/json",
        }
        answer = self.send(ep.url, body.encode(), headers, endpoint_id)
        if answer.status is not None and 200 <= answer.status < 300:
            return f"{endpoint_id}: verification token published"
        # the tenant's topic refused (the grant may come after the endpoint): its own backoff, not our
        # queue's retries or circuit breaker (one tenant's missing grant must not hold back the others)
        tries = int(row.get("verification_tries", 0)) + 1
        self.store.transact(
            lambda tx: tx.put(
                records.ENDPOINT,
                endpoint_id,
                {**(tx.get(records.ENDPOINT, endpoint_id) or row), "verification_tries": tries},
            )
        )
        if tries >= VERIFY_TRIES:
            log.warning("webhook endpoint verification given up", extra={"endpoint": endpoint_id, "tenant": ep.tenant})
            return f"{endpoint_id}: verification not published after {tries} tries ({answer.error or answer.status})"
        delay = min(VERIFY_MAX_DELAY.total_seconds(), 10 * 2 ** (tries - 1)) * self.rng.uniform(0.8, 1.2)
        raise Reschedule(now + timedelta(seconds=delay), f"verification not published: {answer.error or answer.status}")

    # ------------------------------------------------------------------------- safety net

    def sweep(self, stale_before: datetime | None = None) -> int:
        """Give a new task chain to every pending delivery due for a while with no task seen (an
        enqueue that failed, a wake-up lost, a task dropped). Returns how many. The per-minute Cloud
        Scheduler job runs it with the fan-out; the new chain supersedes the old task if it was only
        late."""
        cutoff = stale_before or self.clock() - STALE_AFTER
        count = 0
        for name, _row in self.store.stale_deliveries(cutoff):  # type: ignore[attr-defined]
            count += "started" in self._start_chain(name, "overdue", overdue_before=cutoff)
        return count
