"""The one composition root: which adapter plays each port, for every function and the CLI.

`root()` is this process's `Root` (built on first use, per Settings): the adapters and the ledger
service every function shares, each built lazily the first time it is asked for. What only one
function needs is built by a function of its own below (`intake`, `retry_handlers`, `api_backend`,
`reconciliation`), once per root, so a function's bundle reaches only its own dependencies (checked
by tests/unit/test_build.py). Nothing here decides anything: behaviour lives in the services
(shared.intake, shared.ledger, shared.recovery, shared.reconciliation, shared.api) and the adapters
(shared.adapters); this module only says which one goes where.

    Datastore       store (the ledger's LedgerStore), inbox, db (faults)   shared.adapters.datastore_store, _inbox
    Pub/Sub         publish (canonical-events topic)                        shared.adapters.pubsub_bus
    Cloud Tasks     schedule (retries queue), payments_schedule (payments),
                    webhooks_schedule (webhooks)                            shared.adapters.tasks_queue
    Cloud KMS       the payments and webhook-secrets keys (local: a dev key) shared.adapters.kms_keys
    HTTPS out       tenants' webhook endpoints (SSRF-safe)                  shared.adapters.webhook_http
    HTTPS in        IAP's public keys (the console's operators, cloud)       shared.adapters.iap_keys
    BigQuery        entries and reconciliation tables                       shared.adapters.bigquery_sink
    GCS / directory settlement reports, bank statements                     shared.adapters.gcs_reports

Tests give a function memory adapters by monkeypatching `root` with a Root whose parts they set
(tests/unit/test_ledger_function.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from shared.adapters import bigquery_sink, datastore_store, pubsub_bus, tasks_queue
from shared.adapters.datastore_inbox import DatastoreInbox
from shared.config import ConfigError, Settings, settings
from shared.ledger.outbox import StreamRequests
from shared.ledger.service import LedgerService
from shared.recovery import faults
from shared.recovery.policies import EXPORTS_TASK_KINDS, PAYMENTS_TASK_KINDS, WEBHOOKS_TASK_KINDS, Task
from shared.recovery.service import Handler, Publish, Schedule
from shared.topology import CANONICAL_EVENTS_TOPIC, EXPORTS_QUEUE, RETRIES_QUEUE


def _now() -> datetime:
    return datetime.now(tz=UTC)


class Root:
    def __init__(self, cfg: Settings, clock: Callable[[], datetime] = _now):
        self.cfg = cfg
        self.clock = clock
        self.built: dict[str, object] = {}  # what the per-function builders below made, by name

    def once(self, name: str, build: Callable[[], object]):
        if name not in self.built:
            self.built[name] = build()
        return self.built[name]

    @cached_property
    def db(self):
        return datastore_store.client(self.cfg)

    @cached_property
    def store(self) -> datastore_store.DatastoreLedger:
        from shared.webhooks.outbox import FanoutRequests

        store = datastore_store.DatastoreLedger(self.db)
        # a commit that emitted customer events asks for a fan-out (shared.webhooks.outbox)
        store.on_events = FanoutRequests(webhooks_schedule(self), self.clock)
        return store

    @cached_property
    def inbox(self) -> DatastoreInbox:
        return DatastoreInbox(self.db)

    @cached_property
    def publish(self) -> Publish:
        cfg = self.cfg
        return lambda data, attributes: pubsub_bus.publish(cfg, CANONICAL_EVENTS_TOPIC, data, attributes)

    @cached_property
    def schedule(self) -> Schedule:
        """Enqueue a retries task (named after kind/key/replay/attempt: a double enqueue is a no-op); a
        payments, webhooks or exports task kind goes to that function's queue."""
        cfg = self.cfg

        def schedule(task: Task, at: datetime) -> bool:
            if task.kind in PAYMENTS_TASK_KINDS:  # a payments step (an operator's replay of its dead letter)
                return payments_schedule(self)(task, at)
            if task.kind in WEBHOOKS_TASK_KINDS:  # a webhook delivery (an operator's replay of its dead letter)
                return webhooks_schedule(self)(task, at)
            if task.kind in EXPORTS_TASK_KINDS:  # a statement export, its retries, its dead letter's replay
                return _enqueue_task(cfg, EXPORTS_QUEUE, cfg.function_urls["exports"], task, at)
            return _enqueue_task(cfg, RETRIES_QUEUE, cfg.function_urls["retries"], task, at)

        return schedule

    def check_fault(self, downstream: str) -> None:
        """Fault injection (local only: Settings allows it nowhere else)."""
        faults.check(self.cfg, self.db, downstream)

    @cached_property
    def request_stream(self) -> StreamRequests:
        return StreamRequests(self.schedule, clock=self.clock)

    @cached_property
    def ledger(self) -> LedgerService:
        return LedgerService(
            self.cfg,
            self.store,
            request_stream=self.request_stream,
            publish=self.publish,
            schedule=self.schedule,
            stream=bigquery_sink.stream,
            park_ttl=timedelta(seconds=self.cfg.park_ttl_seconds),
            clock=self.clock,
        )


_roots: list[Root] = []


def root(cfg: Settings | None = None) -> Root:
    """This process's composition root for `cfg` (default: the process's settings)."""
    cfg = cfg if cfg is not None else settings()
    for built in _roots:
        if built.cfg is cfg:
            return built
    built = Root(cfg)
    _roots.append(built)
    return built


def publisher(cfg: Settings) -> Publish:
    return root(cfg).publish


def scheduler(cfg: Settings) -> Schedule:
    return root(cfg).schedule


# ----------------------------------------------------------------------------- per function


def intake(r: Root):
    """intake (and the retries' republish / stale re-drive, the CLI's redrive): the intake service over
    the inbox, the canonical-events topic and the retries queue."""
    from shared.intake.service import Intake
    from shared.partners import PARTNERS

    def build() -> Intake:
        # Every partner's secrets are read now: a malformed one (ADYEN_HMAC_KEYS not hex) fails every
        # request, loudly, instead of the first webhook of that partner.
        for partner in PARTNERS.values():
            r.cfg.partner_secrets(partner)
        return Intake(r.cfg, r.inbox, publish=r.publish, schedule=r.schedule, clock=r.clock)

    return r.once("intake", build)


def retry_handlers(r: Root) -> dict[str, Handler]:
    """retries: one handler per task kind (shared.recovery.handlers)."""
    from shared.recovery.handlers import Ports, handlers

    cfg = r.cfg
    return r.once(
        "retry_handlers",
        lambda: handlers(
            Ports(
                cfg=cfg,
                store=r.store,
                publish=r.publish,
                request_stream=r.request_stream,
                stream=bigquery_sink.stream,
                republish=lambda key: intake(r).republish(key),
                redrive_stale=lambda now: intake(r).redrive_stale(ledger=r.store, now=now),
                check_fault=r.check_fault,
                clock=r.clock,
                operations=lambda: operations(r),
            )
        ),
    )


def export_handlers(r: Root) -> dict[str, Handler]:
    """exports: one handler per task kind (shared.recovery.policies.EXPORTS_TASK_KINDS)."""
    return r.once("export_handlers", lambda: {"statement-export": statement_export_handler(r)})


def statement_export_handler(r: Root) -> Handler:
    """exports: the statement-export task (shared.api.statement_exports): the file to the reports
    bucket. Only the exports function's code path has the PDF library and the storage client."""
    from shared.api.statement_exports import exporter

    run = exporter(r.store, lambda: statement_files(r), r.clock)

    def statement_export(key: str) -> str:
        r.check_fault("storage")
        return run(key)

    return Handler("storage", statement_export)


def statement_files(r: Root):
    """api and retries: statement exports in the reports bucket (shared.adapters.statement_files)."""
    from shared.adapters.statement_files import statement_files as files

    return r.once("statement_files", lambda: files(r.cfg))


def _default_limits(r: Root) -> dict[str, tuple[int, int]]:
    from shared.payments.limits import parse_defaults

    try:
        return parse_defaults(r.cfg.payout_default_limits)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def payins(r: Root):
    """api (and payments): pay-ins and refunds over Datastore."""
    from shared.adapters.payment_rows import PaymentRows
    from shared.payments.payins import Payments

    return r.once(
        "payins", lambda: Payments(r.store, PaymentRows(), clock=r.clock, after_commit=r.ledger.stream_after_commit)
    )


def payout_limits(r: Root):
    """api and the CLI: customers' payout limits (operators)."""
    from shared.adapters.payout_rows import PayoutRows
    from shared.payments.limits import PayoutLimitsBook

    return r.once("payout_limits", lambda: PayoutLimitsBook(r.store, PayoutRows(), _default_limits(r), r.clock))


def start_payments(r: Root) -> Callable[[str, str], None]:
    """The API's hand-off of a new payout / payment / refund: a task (kind, record id) of the payments
    function (shared.recovery.policies.Task; its name dedupes a second enqueue)."""

    def start(kind: str, record_id: str) -> None:
        payments_schedule(r)(Task(kind, record_id), None)

    return start


def api_iap(cfg: Settings):
    """api: the console's operators signed in by IAP (shared.api.iap), when LEDGERLINE_IAP_AUDIENCE is
    set; None otherwise (then only API keys sign requests)."""
    if not cfg.iap_audience:
        return None
    from shared.adapters import iap_keys
    from shared.api import iap

    return iap.Verifier(cfg.iap_audience, iap.Keys(iap_keys.fetcher(cfg.iap_keys_url)))


def api_backend(r: Root):
    """api: the customer API's service over Datastore, Pub/Sub (replays), Cloud Tasks (retries, and the
    payments hand-off) and the payments services (built on first use)."""
    from shared.api.service import Backend

    return r.once(
        "api_backend",
        lambda: Backend(
            r.store,
            r.store.dead_letters,
            publish=r.publish,
            schedule=r.schedule,
            after_commit=r.ledger.stream_after_commit,
            payouts=lambda: payouts(r),
            payments=lambda: payins(r),
            payout_limits=lambda: payout_limits(r),
            start=start_payments(r),
            webhooks=lambda: webhook_endpoints(r),
            operations=lambda: operations(r),
            statement_files=lambda: statement_files(r),
            clock=r.clock,
        ),
    )


def operations(r: Root):
    """The operator's services (shared.operations.assemble): the audit log streamed to BigQuery,
    maker-checker requests with the planner of each kind, the break desk, retention and erasure."""
    from shared.ledger.outbox import StreamRequests
    from shared.operations import assemble
    from shared.operations.requests import parse_thresholds

    cfg = r.cfg
    return r.once(
        "operations",
        lambda: assemble(
            r.store,
            clock=r.clock,
            thresholds=parse_thresholds(cfg.approval_thresholds),
            publish=r.publish,
            schedule=r.schedule,
            after_commit=r.ledger.stream_after_commit,
            stream=lambda table, rows, ids: bigquery_sink.stream(cfg, table, rows, ids),
            inbox=r.inbox,
            payout_limits=lambda: payout_limits(r),
            request_sweep=StreamRequests(r.schedule, clock=r.clock, kind="operations-sweep"),
        ),
    )


@dataclass(frozen=True)
class ReconciliationPorts:
    reports: object  # shared.adapters.gcs_reports.LocalReports | GcsReports
    stream: Callable[[str, list[dict], list[str]], None]  # BigQuery tables of runs and breaks
    canonical_of: Callable[[list[str]], dict]  # inbox keys -> their canonical events
    book: Callable  # (fee booking operation, FeeBooking record) -> Result, streamed after its commit
    desk: object  # shared.operations.breaks.BreakDesk: manual matches in, break work out


def reconciliation(r: Root) -> ReconciliationPorts:
    """reconciliation (and the CLI's `recon run`): reports, BigQuery, the inbox, fee bookings."""
    from shared.adapters import gcs_reports

    cfg = r.cfg
    return r.once(
        "reconciliation",
        lambda: ReconciliationPorts(
            reports=gcs_reports.reports(cfg),
            stream=lambda table, rows, ids: bigquery_sink.stream(cfg, table, rows, ids),
            canonical_of=r.inbox.canonical,
            book=lambda op, record: r.ledger.execute(op, also=(("FeeBooking", op.op_id, record),)),
            desk=operations(r).desk,
        ),
    )


def run_reconciliation(r: Root, *, partner: str, as_of, report, bank, now):
    """One reconciliation run with every port (shared.reconciliation.service.run): the function's and
    `recon run`'s one way in."""
    from shared.reconciliation import service as recon_service

    ports = reconciliation(r)
    return recon_service.run(
        r.store,
        partner=partner,
        as_of=as_of,
        report=report,
        bank=bank,
        canonical_of=ports.canonical_of,
        now=now,
        stream=ports.stream,
        book=ports.book,
        manual=ports.desk.manual_pairs(partner),
        on_breaks=ports.desk.on_run,
        corrections=ports.desk.corrections(partner),
    )


# ----------------------------------------------------------------------------- payments


def payment_keys(cfg: Settings):
    """The key-encryption key of sealed account numbers: Cloud KMS in the cloud, the dev key locally."""
    from shared.errors import NotConfigured
    from shared.payments.vault import LocalKeyWrapper

    if cfg.payments_kms_key:
        from shared.adapters.kms_keys import KmsKeyWrapper

        return KmsKeyWrapper(cfg.payments_kms_key)
    if cfg.local and cfg.payments_local_kek:
        return LocalKeyWrapper(bytes.fromhex(cfg.payments_local_kek))
    raise NotConfigured("PAYMENTS_KMS_KEY (cloud) or PAYMENTS_LOCAL_KEK (local) is not set")


def payouts(r: Root):
    """api and payments: the payouts service over the ledger store, the sealing key and the clock."""
    from shared.adapters.payout_rows import PayoutRows
    from shared.config import PartnerSecret
    from shared.errors import NotConfigured
    from shared.payments.service import Payouts

    def build():
        fingerprint = r.cfg.secret(PartnerSecret("PAYMENTS_FINGERPRINT_KEY"))
        if not fingerprint:
            raise NotConfigured("PAYMENTS_FINGERPRINT_KEY is not set")
        return Payouts(
            r.store,
            PayoutRows(),
            fingerprint[0].encode(),
            payment_keys(r.cfg),
            clock=r.clock,
            after_commit=r.ledger.stream_after_commit,
            default_limits=_default_limits(r),
        )

    return r.once("payouts", build)


def payments_schedule(r: Root) -> Schedule:
    """Enqueue a step of the payments function (its own queue; named like every task: a double
    enqueue is a no-op)."""
    from shared.topology import PAYMENTS_QUEUE

    cfg = r.cfg

    def schedule(task: Task, at: datetime | None) -> bool:
        from shared.payments.janitor import note_scheduled

        url = cfg.function_urls.get("payments")
        if not url:
            raise RuntimeError("PAYMENTS_URL is not set: steps cannot be enqueued")
        # the chain's lease first (shared.payments.janitor): a lease for a task that then failed to be
        # enqueued only delays the janitor by one staleness period
        note_scheduled(r.store, task, at or r.clock())
        return _enqueue_task(cfg, PAYMENTS_QUEUE, url, task, at)

    return schedule


def payments(r: Root):
    """payments: the payout runner over the payouts service, the banks of the routing table (topology
    `payments.routes`), a circuit breaker per partner; the pay-in runner over the pay-ins service and the
    card processor (Stripe; locally localstripe); their task handlers; the janitor."""
    from shared.adapters.payment_rows import PaymentRows
    from shared.adapters.payout_rows import PayoutRows
    from shared.adapters.stripe_payments import stripe_payments
    from shared.payments import janitor
    from shared.payments.consumer import PaymentsPorts
    from shared.payments.orchestrator import PayoutRunner
    from shared.payments.partners import bank_apis, routes
    from shared.payments.payin_runner import PayinRunner
    from shared.recovery.service import breaker

    def build() -> PaymentsPorts:
        table = routes()
        schedule = payments_schedule(r)
        runner = PayoutRunner(
            payouts(r), bank_apis(r.cfg, table), table, lambda partner: breaker(f"partner:{partner}"), r.clock
        )
        payin_runner = PayinRunner(payins(r), stripe_payments(r.cfg), r.clock)

        def janitor_round(key: str) -> str:
            swept = janitor.sweep(r.store, PayoutRows(), PaymentRows(), schedule, r.clock())
            return f"janitor: {len(swept)} stale record(s) given a step"

        handlers = {
            "payout-step": Handler("datastore", runner.step),
            "payment-step": Handler("datastore", payin_runner.payment_step),
            "refund-step": Handler("datastore", payin_runner.refund_step),
            "payments-janitor": Handler("datastore", janitor_round),
        }
        return PaymentsPorts(
            runner=runner, payins=payin_runner, handlers=handlers, schedule=schedule, store=r.store, clock=r.clock
        )

    return r.once("payments", build)


# ----------------------------------------------------------------------------- webhooks out


def webhooks_schedule(r: Root) -> Schedule:
    """Enqueue a webhooks task: deliveries on the `webhooks` queue, the rest (fan-out, replay pages,
    verification, sweeps) on `webhooks-control`, so a backlog of slow tenants' deliveries never holds
    back the fan-out; named like every task (a double enqueue is a no-op)."""
    from shared.topology import WEBHOOKS_CONTROL_QUEUE, WEBHOOKS_QUEUE

    cfg = r.cfg

    def schedule(task: Task, at: datetime | None) -> bool:
        url = cfg.function_urls.get("webhooks")
        if not url:
            raise RuntimeError("WEBHOOKS_URL is not set: webhook tasks cannot be enqueued")
        queue = WEBHOOKS_QUEUE if task.kind == "webhook-deliver" else WEBHOOKS_CONTROL_QUEUE
        return _enqueue_task(cfg, queue, url, task, at)

    return schedule


def _enqueue_task(cfg: Settings, queue: str, function_url: str, task: Task, at: datetime | None) -> bool:
    """One task on `queue` for the function at `function_url` (its /tasks), named after the task (a
    double enqueue is a no-op), with the OIDC token of the tasks invoker."""
    return tasks_queue.enqueue(
        cfg,
        queue,
        function_url + "/tasks",
        task.to_json(),
        task_id=task.name,
        schedule_at=at,
        service_account=cfg.tasks_invoker_sa,
        audience=function_url,
    )


def webhook_keys(cfg: Settings):
    """The key-encryption key of sealed webhook signing secrets: Cloud KMS in the cloud (its own key,
    terraform/modules/keys), the dev key locally."""
    from shared.errors import NotConfigured
    from shared.payments.vault import LocalKeyWrapper

    if cfg.webhooks_kms_key:
        from shared.adapters.kms_keys import KmsKeyWrapper

        return KmsKeyWrapper(cfg.webhooks_kms_key)
    if cfg.local and cfg.payments_local_kek:
        return LocalKeyWrapper(bytes.fromhex(cfg.payments_local_kek))
    raise NotConfigured("WEBHOOKS_KMS_KEY (cloud) or PAYMENTS_LOCAL_KEK (local) is not set")


def _sealing(r: Root):
    """(seal, open) of webhook secrets, the endpoint id as associated data; opened secrets are cached
    per process (one KMS call per secret, not per attempt)."""
    from functools import lru_cache

    from shared.payments.vault import open_sealed, seal

    def build():
        keys = webhook_keys(r.cfg)

        @lru_cache(maxsize=4096)
        def opened(sealed: str, endpoint_id: str) -> str:
            return open_sealed(keys, sealed, endpoint_id)

        return (lambda secret, endpoint_id: seal(keys, secret, endpoint_id)), opened

    return r.once("webhook_sealing", build)


def webhook_endpoints(r: Root):
    """api (and the webhooks function's replays): the tenant's endpoints, events, attempts, replays."""
    from shared.webhooks.endpoints import WebhookEndpoints

    def build():
        seal, opened = _sealing(r)
        return WebhookEndpoints(r.store, seal, opened, r.clock, r.cfg.local, webhooks_schedule(r))

    return r.once("webhook_endpoints", build)


@dataclass(frozen=True)
class WebhooksPorts:
    deliveries: object  # shared.webhooks.service.Deliveries
    handlers: dict[str, Handler]
    schedule: Schedule


def webhooks(r: Root) -> WebhooksPorts:
    """webhooks: fan-out and delivery over the store, the webhooks queue and the SSRF-safe sender."""
    from shared.adapters import webhook_http
    from shared.domain.webhooks import urls
    from shared.domain.webhooks.delivery import BODY_CAP, TIMEOUT_S
    from shared.webhooks.outbox import FanoutRequests
    from shared.webhooks.service import Deliveries

    def build() -> WebhooksPorts:
        schedule = webhooks_schedule(r)
        _, opened = _sealing(r)
        local = r.cfg.local

        def send(url: str, body: bytes, headers: dict, ordering_key: str):
            if urls.is_pubsub(url) and not local:  # a tenant's own topic (cloud only; the URL rules say so)
                from shared.adapters import pubsub_destination

                return pubsub_destination.publish(urls.pubsub_topic(url), body, headers, ordering_key, TIMEOUT_S)
            return webhook_http.post(url, body, headers, timeout_s=TIMEOUT_S, body_cap=BODY_CAP, local=local)

        deliveries = Deliveries(
            r.store,
            schedule,
            send,
            opened,
            r.clock,
            FanoutRequests(schedule, r.clock),
            retry_scale=r.cfg.webhook_retry_scale,
        )
        endpoints = webhook_endpoints(r)

        def fanout(key: str) -> str:
            done, waiting = deliveries.fanout()
            return f"fanned out {done} event(s), {waiting} waiting"

        def sweep(key: str) -> str:
            done, waiting = deliveries.fanout()
            return (
                f"fanned out {done} event(s), {waiting} waiting; re-queued {deliveries.sweep()} delivery(ies), "
                f"resumed {endpoints.resume_replays()} replay(s)"
            )

        def replay(key: str) -> str:
            made, finished = endpoints.run_replay(key)
            return f"replay: {made} delivery(ies){', done' if finished else ', continues'}"

        handlers = {
            "webhook-fanout": Handler("datastore", fanout),
            "webhook-deliver": Handler("datastore", deliveries.deliver),
            "webhook-replay": Handler("datastore", replay),
            "webhook-sweep": Handler("datastore", sweep),
            "webhook-verify": Handler("datastore", deliveries.send_verification),
        }
        return WebhooksPorts(deliveries, handlers, schedule)

    return r.once("webhooks", build)
