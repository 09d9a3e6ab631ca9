"""What a tenant does with its webhooks through the customer API (docs/webhooks.md): endpoints (create,
read, update, delete, rotate the secret), the events it was sent, an endpoint's attempts, and bulk
replay over a time window. Every call names the tenant; another tenant's endpoint or event is
indistinguishable from none (NotFound).

Secrets are sealed at rest (envelope encryption, shared.payments.vault, the endpoint id as associated
data) and never in an API response except GET …/secret; they never reach logs."""

from __future__ import annotations

import hmac
import json
import logging
import secrets as random_ids
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.domain.webhooks import signing, urls
from shared.domain.webhooks.catalogue import subscribed
from shared.domain.webhooks.delivery import FINAL, RETENTION
from shared.domain.webhooks.endpoints import (
    DEFAULT_OVERLAP,
    MAX_ENDPOINTS_PER_TENANT,
    Endpoint,
    EndpointError,
    Secret,
    check_description,
    check_types,
)
from shared.recovery.policies import Task
from shared.webhooks import outbox, records
from shared.webhooks.records import Delivery

log = logging.getLogger("ledgerline.webhooks")

REPLAY = "WebhookReplay"
VERIFY = "webhook-verify"  # the task that publishes a Pub/Sub destination's verification token
REPLAY_PAGE = 200  # events per replay task; a longer window continues in the next task
REPLAY_SCAN = 2_000  # rows read per replay task at most (a narrow filter over a long window)
MAX_DRY_SCAN = 20_000  # rows a dry run reads at most (the API's request must stay short); else `capped`
MAX_DRY_RUN = 100_000  # a dry run counts at most this many (and says so)
MAX_WINDOW = RETENTION  # events are kept 30 days (docs/webhooks.md "Retention")


class NotFound(LookupError):
    pass


Seal = Callable[[str, str], str]  # (secret, endpoint id) -> sealed value
Open = Callable[[str, str], str]  # (sealed value, endpoint id) -> secret


@dataclass(frozen=True)
class _Page:
    matched: list[tuple[str, dict]]
    cursor: datetime  # the created_at of the last row read
    seen: set[str]  # the rows read at that instant (ties: the next page skips them)
    finished: bool  # the window is read to its end


@dataclass(frozen=True)
class ReplayJob:
    replay_id: str
    tenant: str
    endpoint: str
    since: datetime
    until: datetime
    types: tuple[str, ...]
    status: str  # running | done | dry_run
    matched: int  # events matched so far (a dry run: in all, up to MAX_DRY_RUN)
    created_at: datetime
    capped: bool = False


class WebhookEndpoints:
    def __init__(self, store, seal: Seal, open_secret: Open, clock: Callable[[], datetime], local: bool, schedule):
        self.store = store
        self.seal = seal
        self.open_secret = open_secret
        self.clock = clock
        self.local = local
        self.schedule = schedule  # the webhooks queue (replay tasks, deliveries)

    # ------------------------------------------------------------------------- endpoints

    def _url(self, url: str, field_path: str = "url") -> str:
        problem = urls.url_problem(url, local=self.local)
        if problem is not None:
            raise EndpointError(problem[0], problem[1], field_path)
        return url

    def _sealed(self, ep: Endpoint) -> list[dict]:
        return [
            {"value": self.seal(s.value, ep.endpoint_id), "created_at": s.created_at, "expires_at": s.expires_at}
            for s in ep.secrets
        ]

    def _read(self, tenant: str, endpoint_id: str, reader=None) -> tuple[Endpoint, dict]:
        row = (reader or self.store).get(records.ENDPOINT, endpoint_id)
        if row is None or row.get("tenant") != tenant or row.get("deleted_at"):
            raise NotFound(endpoint_id)
        opened = [
            Secret(self.open_secret(s["value"], endpoint_id), s["created_at"], s.get("expires_at"))
            for s in records.sealed_secrets_of(row)
        ]
        return records.endpoint(endpoint_id, row, opened), row

    def get(self, tenant: str, endpoint_id: str) -> Endpoint:
        return self._read(tenant, endpoint_id)[0]

    def list(self, tenant: str) -> list[Endpoint]:
        rows = self.store.query(records.ENDPOINT, "tenant", tenant)
        live = sorted((n for n, r in rows.items() if not r.get("deleted_at")), key=lambda n: (rows[n]["created_at"], n))
        return [self.get(tenant, n) for n in live]

    def create(
        self,
        tenant: str,
        url: str,
        types: list[str] | tuple[str, ...] = (),
        description: str | None = None,
        enabled: bool = True,
        metadata: dict[str, str] | None = None,
        endpoint_id: str | None = None,
    ) -> Endpoint:
        """`endpoint_id`: the id to create it under (the API derives it from the idempotency record, so
        a retry of a request whose first attempt committed answers that endpoint, never a second one);
        None: a random one."""
        if endpoint_id is not None:
            found = self.store.get(records.ENDPOINT, endpoint_id)
            if found is not None:
                return self.get(tenant, endpoint_id)  # NotFound if it is not the tenant's (or deleted)
        self._url(url)
        filter_types = check_types(types)
        check_description(description)
        if len(self.list(tenant)) >= MAX_ENDPOINTS_PER_TENANT:
            raise EndpointError(
                "too_many_endpoints", f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} endpoints", "url"
            )
        now = self.clock()
        pubsub = urls.is_pubsub(url)
        ep = Endpoint(
            endpoint_id=endpoint_id or "we_" + random_ids.token_hex(12),
            tenant=tenant,
            url=url,
            types=filter_types,
            description=description,
            enabled=enabled and not pubsub,  # a topic is enabled once verified (POST …/verify)
            created_at=now,
            secrets=(Secret(signing.new_secret(), now),),
            metadata=tuple(sorted((metadata or {}).items())),
            verified=not pubsub,
            disabled_reason="unverified" if pubsub else None,
        )
        sealed = self._sealed(ep)
        verification = self._verification(ep.endpoint_id) if pubsub else {}

        def work(tx):
            if tx.get(records.ENDPOINT, ep.endpoint_id) is not None:
                return False
            name_kind, name, data = records.endpoint_row(ep, sealed)
            tx.put(name_kind, name, {**data, **verification})
            return True

        if not self.store.transact(work):  # a concurrent attempt of the same request made it
            return self.get(tenant, ep.endpoint_id)
        if pubsub:
            self.schedule(Task(VERIFY, ep.endpoint_id), now)
        log.info("webhook endpoint created", extra={"endpoint": ep.endpoint_id, "tenant": tenant})
        return ep

    def update(self, tenant: str, endpoint_id: str, **changes) -> Endpoint:
        """Changes: url, types, description, enabled, metadata (None: unchanged). Enabling a disabled
        endpoint clears why it was disabled and its failing clock."""
        ep, _ = self._read(tenant, endpoint_id)
        fields: dict = {}
        if changes.get("url") is not None:
            fields["url"] = self._url(changes["url"])
        if changes.get("types") is not None:
            fields["types"] = check_types(changes["types"])
        if changes.get("description") is not None:
            fields["description"] = check_description(changes["description"])
        if changes.get("metadata") is not None:
            fields["metadata"] = tuple(sorted(changes["metadata"].items()))
        if changes.get("enabled") is not None:
            fields["enabled"] = bool(changes["enabled"])
            if fields["enabled"] and not ep.enabled:
                fields["disabled_reason"], fields["failing_since"] = None, None
        verification: dict = {}
        if "url" in fields and fields["url"] != ep.url:
            if urls.is_pubsub(fields["url"]):  # another topic: proven again before anything goes there
                fields.update(enabled=False, verified=False, disabled_reason="unverified")
                verification = self._verification(endpoint_id)
            else:
                fields["verified"] = True
        elif fields.get("enabled") and not ep.verified:
            raise EndpointError("endpoint_unverified", "send the verification token first (POST …/verify)", "enabled")
        updated = replace(ep, **fields, version=ep.version + 1)

        def work(tx):
            current, row = self._read(tenant, endpoint_id, tx)
            if current.version != ep.version:
                raise EndpointError("conflict", "the endpoint changed meanwhile; read it again", "id")
            _, name, data = records.endpoint_row(updated, records.sealed_secrets_of(row))
            tx.put(records.ENDPOINT, name, {**row, **data, **verification})

        self.store.transact(work)
        if verification:
            self.schedule(Task(VERIFY, endpoint_id), self.clock())
        return updated

    def _verification(self, endpoint_id: str) -> dict:
        """The row fields of a new verification token (sealed: the webhooks function publishes it)."""
        return {"verification": self.seal(random_ids.token_urlsafe(24), endpoint_id)}

    def verify(self, tenant: str, endpoint_id: str, token: str) -> Endpoint:
        """The tenant proves it reads its topic: the token ledgerline published there. Enables the
        endpoint. Idempotent once verified; a wrong token changes nothing."""
        ep, row = self._read(tenant, endpoint_id)
        if ep.verified:
            return ep
        sealed = row.get("verification")
        if not sealed or not hmac.compare_digest(self.open_secret(sealed, endpoint_id), token):
            raise EndpointError("verification_failed", "that is not the token published to the topic", "token")
        verified = replace(ep, verified=True, enabled=True, disabled_reason=None, version=ep.version + 1)

        def work(tx):
            current, current_row = self._read(tenant, endpoint_id, tx)
            if current.version != ep.version:
                raise EndpointError("conflict", "the endpoint changed meanwhile; try again", "id")
            _, name, data = records.endpoint_row(verified, records.sealed_secrets_of(current_row))
            tx.put(records.ENDPOINT, name, {**current_row, **data, "verification": None})

        self.store.transact(work)
        log.info("webhook endpoint verified", extra={"endpoint": endpoint_id, "tenant": tenant})
        return verified

    def delete(self, tenant: str, endpoint_id: str) -> None:
        """Deleted for good: its pending deliveries are skipped. The record stays (attempts refer to it)
        with its secrets dropped."""
        _, row = self._read(tenant, endpoint_id)
        now = self.clock()
        self.store.transact(
            lambda tx: tx.put(
                records.ENDPOINT, endpoint_id, {**row, "enabled": False, "secrets": "[]", "deleted_at": now}
            )
        )

    def rotate(self, tenant: str, endpoint_id: str, overlap: timedelta = DEFAULT_OVERLAP) -> Endpoint:
        ep, _ = self._read(tenant, endpoint_id)
        rotated = ep.rotated(signing.new_secret(), self.clock(), overlap)

        def work(tx):
            current, row = self._read(tenant, endpoint_id, tx)
            if current.version != ep.version:
                raise EndpointError("conflict", "the endpoint changed meanwhile; try again", "id")
            _, name, data = records.endpoint_row(rotated, self._sealed(rotated))
            tx.put(records.ENDPOINT, name, {**row, **data})

        self.store.transact(work)
        log.info("webhook endpoint secret rotated", extra={"endpoint": endpoint_id, "tenant": tenant})
        return rotated

    # ------------------------------------------------------------------------- events and attempts

    def event(self, tenant: str, event_id: str) -> dict:
        row = self.store.get(outbox.EVENT, event_id)
        if row is None or row["tenant"] != tenant:
            raise NotFound(event_id)
        return json.loads(row["body"])

    def events(
        self, tenant: str, event_type: str | None, limit: int, starting_after: str | None = None
    ) -> tuple[list[dict], bool]:
        """The tenant's events newest first ((created_at desc, id desc)), after the cursor event."""
        before = None
        if starting_after is not None:
            cursor = self.store.get(outbox.EVENT, starting_after)
            if cursor is None or cursor["tenant"] != tenant:
                raise NotFound(starting_after)
            before = cursor["created_at"]
        page: list[dict] = []
        for name, row in self.store.customer_events(tenant, event_type, before):
            if (
                before is not None and row["created_at"] == before and name <= starting_after
            ):  # ties come by key, ascending
                continue
            page.append(json.loads(row["body"]))
            if len(page) > limit:
                break
        return page[:limit], len(page) > limit

    def attempts(
        self, tenant: str, endpoint_id: str, limit: int, starting_after: str | None = None
    ) -> tuple[list[dict], bool]:
        self._read(tenant, endpoint_id)
        before = None
        if starting_after is not None:
            cursor = self.store.get(records.ATTEMPT, starting_after)
            if cursor is None or cursor["endpoint"] != endpoint_id:
                raise NotFound(starting_after)
            before = cursor["at"]
        page = []
        for name, row in self.store.webhook_attempts(endpoint_id, before):
            if before is not None and row["at"] == before and name <= starting_after:  # ties come by key, ascending
                continue
            page.append({"id": name, **row})
            if len(page) > limit:
                break
        return page[:limit], len(page) > limit

    # ------------------------------------------------------------------------- replay

    def _window(self, since: datetime, until: datetime | None) -> tuple[datetime, datetime]:
        return replay_window(since, until, self.clock())

    def _page(
        self,
        ep: Endpoint,
        cursor: datetime,
        seen: set[str],
        until: datetime,
        types: tuple[str, ...],
        limit: int,
        scan: int,
    ) -> _Page:
        """The events after (cursor, seen) up to `until` that the replay sends (types: these; else what
        the endpoint subscribes to): at most `limit` of them, reading at most `scan` rows (a narrow filter
        over a long window is read over several pages, never in one long request)."""
        matched: list[tuple[str, dict]] = []
        last, at_last, scanned = cursor, set(seen), 0
        for name, row in self.store.customer_events_since(ep.tenant, cursor):
            if row["created_at"] > until:
                return _Page(matched, last, at_last, True)
            if row["created_at"] == cursor and name in seen:
                continue
            if row["created_at"] != last:
                last, at_last = row["created_at"], set()
            at_last.add(name)
            scanned += 1
            if (row["type"] in types) if types else subscribed(ep.types, row["type"]):
                matched.append((name, row))
            if len(matched) >= limit or scanned >= scan:
                return _Page(matched, last, at_last, False)
        return _Page(matched, last, at_last, True)

    def _continue(self, replay_id: str, matched: int) -> None:
        self.schedule(Task("webhook-replay", f"{replay_id}|{matched}"), self.clock())

    def resume_replays(self, stale_after: timedelta = timedelta(minutes=5)) -> int:
        """Replays still running that have not moved for a while (a page task lost): given their next
        page task again (the sweep). Returns how many."""
        now = self.clock()
        count = 0
        for name, row in self.store.query(REPLAY, "status", "running").items():
            if (row.get("updated_at") or row["created_at"]) <= now - stale_after:
                slot = int(now.timestamp()) // int(stale_after.total_seconds())  # one a period, named
                self.schedule(Task("webhook-replay", f"{name}|{row.get('matched', 0)}|s{slot}"), now)
                count += 1
        return count

    def replay(
        self,
        tenant: str,
        endpoint_id: str,
        since: datetime,
        until: datetime | None = None,
        types: list[str] | tuple[str, ...] = (),
        dry_run: bool = False,
        replay_id: str | None = None,
    ) -> ReplayJob:
        """Send the endpoint every event of the window again (types: these only; else what it subscribes
        to). A dry run counts them and changes nothing. Runs as `webhook-replay` tasks; each replayed
        event is a new delivery, ordered per key within the replay. `replay_id`: the job's id (the API
        derives it from the idempotency record: a retried request answers the job it started); None:
        a random one."""
        if replay_id is not None and not dry_run:
            found = self.store.get(REPLAY, replay_id)
            if found is not None:
                job = self.replay_job(tenant, replay_id)
                if job.status == "running":  # its first task may never have been enqueued: again
                    self._continue(replay_id, job.matched)
                return job
        ep = self.get(tenant, endpoint_id)
        if not ep.enabled:
            raise EndpointError("endpoint_disabled", "enable the endpoint before replaying to it", "id")
        since, until = self._window(since, until)
        wanted = check_types(types, "types")
        now = self.clock()
        replay_id = replay_id or "wr_" + random_ids.token_hex(12)
        if dry_run:
            page = self._page(ep, since, set(), until, wanted, limit=MAX_DRY_RUN, scan=MAX_DRY_SCAN)
            return ReplayJob(
                replay_id,
                tenant,
                endpoint_id,
                since,
                until,
                wanted,
                "dry_run",
                len(page.matched),
                now,
                capped=not page.finished,
            )
        job = ReplayJob(replay_id, tenant, endpoint_id, since, until, wanted, "running", 0, now)
        self.store.record(REPLAY, replay_id, _replay_row(job, cursor=since, tails={}))
        self._continue(replay_id, 0)
        log.info("webhook replay started", extra={"replay": replay_id, "endpoint": endpoint_id, "tenant": tenant})
        return job

    def replay_job(self, tenant: str, replay_id: str) -> ReplayJob:
        row = self.store.get(REPLAY, replay_id)
        if row is None or row["tenant"] != tenant:
            raise NotFound(replay_id)
        return _replay_job(replay_id, row)

    def run_replay(self, replay_id: str) -> tuple[int, bool]:
        """One page of a replay: its deliveries (chained per key within the replay), the job's cursor.
        Returns (deliveries made, done). Idempotent: a delivery's id is (endpoint, event, replay).
        `replay_id` may carry the page's suffix (`wr_…|<n>`: task names differ per page)."""
        replay_id = replay_id.split("|", 1)[0]
        row = self.store.get(REPLAY, replay_id)
        if row is None or row["status"] != "running":
            return 0, True
        job = _replay_job(replay_id, row)
        ep = self.store.get(records.ENDPOINT, job.endpoint)
        if ep is None or not ep.get("enabled"):
            self.store.record(REPLAY, replay_id, {**row, "status": "done", "stopped": "endpoint disabled"})
            return 0, True
        endpoint = records.endpoint(job.endpoint, ep, [])
        seen = set(json.loads(row.get("seen_at_cursor") or "[]"))
        page = self._page(endpoint, row["cursor"], seen, job.until, job.types, limit=REPLAY_PAGE, scan=REPLAY_SCAN)
        tails = json.loads(row.get("tails") or "{}")
        now = self.clock()
        heads = []

        def work(tx):
            heads.clear()
            local_tails = dict(tails)
            for name, event in sorted(page.matched, key=lambda item: (item[1]["key"], item[1]["seq"])):
                did = records.delivery_id(job.endpoint, name, replay_id)
                if tx.get(records.DELIVERY, did) is not None:
                    continue
                before = local_tails.get(event["key"])
                d = Delivery(
                    did,
                    job.tenant,
                    job.endpoint,
                    name,
                    event["key"],
                    event["seq"],
                    "pending",
                    now,
                    after=before,
                    next_attempt_at=now,
                    replay=replay_id,
                )
                prev_row = tx.get(records.DELIVERY, before) if before is not None else None
                head = prev_row is None
                if prev_row is not None:
                    prev = records.delivery(before, prev_row)
                    tx.put(*records.delivery_row(replace(prev, next=did)))
                    head = prev.status in FINAL  # done before this page: nothing will wake this one
                if head:  # its task chain starts now; the others get theirs when woken
                    d = replace(d, chain=1)
                    heads.append(d.task_key())
                tx.put(*records.delivery_row(d))
                local_tails[event["key"]] = did
            done = page.finished
            tx.put(
                REPLAY,
                replay_id,
                {
                    **row,
                    "cursor": page.cursor,
                    "seen_at_cursor": json.dumps(sorted(page.seen)),
                    "tails": json.dumps(local_tails),
                    "matched": job.matched + len(page.matched),
                    "status": "done" if done else "running",
                    "updated_at": now,
                },
            )
            return done

        done = self.store.transact(work)
        for key in heads:
            self.schedule(Task("webhook-deliver", key), now)
        if not done:
            self._continue(replay_id, job.matched + len(page.matched))
        return len(page.matched), done


def replay_window(since: datetime, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The window a replay covers: until after since (default now, capped at now), since within the
    events' retention. The API checks it before the Idempotency-Key too."""
    until = until or now
    if until <= since:
        raise EndpointError("invalid_window", "until must be after since", "until")
    if since < now - MAX_WINDOW:
        raise EndpointError("invalid_window", f"events are kept {MAX_WINDOW.days} days", "since")
    return since, min(until, now)


def _replay_row(job: ReplayJob, cursor: datetime, tails: dict) -> dict:
    return {
        "tenant": job.tenant,
        "endpoint": job.endpoint,
        "since": job.since,
        "until": job.until,
        "types": list(job.types),
        "status": job.status,
        "matched": job.matched,
        "created_at": job.created_at,
        "cursor": cursor,
        "seen_at_cursor": "[]",
        "tails": json.dumps(tails),
    }


def _replay_job(replay_id: str, row: dict) -> ReplayJob:
    return ReplayJob(
        replay_id,
        row["tenant"],
        row["endpoint"],
        row["since"],
        row["until"],
        tuple(row.get("types") or ()),
        row["status"],
        int(row.get("matched", 0)),
        row["created_at"],
    )
