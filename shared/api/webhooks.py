"""The v1 API's webhooks (docs/webhooks.md, docs/api.md "Webhooks"): a tenant's endpoints, their
signing secrets, the events it was sent, an endpoint's attempts and replays, as tenant-scoped calls
into shared.webhooks.endpoints.WebhookEndpoints (`Backend.webhooks`), and every refusal of the
webhooks domain into ONE status table (`STATUS`). No HTTP here.

Secrets: no response carries one but GET …/secret (a GET: no idempotency record ever holds it). An
endpoint's or a replay's id derives from the idempotency record's generation, so a retry whose first
attempt committed answers what it made (never a second endpoint or job). The domain's checks that
need no record (URL, event types, description, overlap, window) also run before the Idempotency-Key
(`check_*`, Route.check): a 400 leaves the key unused."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.api import models
from shared.api.idempotency import Attempt
from shared.api.service import Backend, _iso, _not_found, parse_time
from shared.domain.ledger.ids import digest
from shared.domain.webhooks import urls
from shared.domain.webhooks.endpoints import Endpoint, EndpointError, check_description, check_overlap, check_types
from shared.errors import ClientError
from shared.webhooks.endpoints import NotFound, ReplayJob, replay_window

# Every EndpointError code -> its status. 400: the request itself is wrong; 409: the tenant's state
# does not allow it now (too many endpoints, a disabled endpoint, a concurrent change).
STATUS: dict[str, int] = {
    **dict.fromkeys(urls.CODES, 400),
    "unknown_event_type": 400,
    "invalid_description": 400,
    "invalid_overlap": 400,
    "invalid_window": 400,
    "verification_failed": 400,
    "too_many_endpoints": 409,
    "endpoint_disabled": 409,
    "endpoint_unverified": 409,
    "conflict": 409,
}


def client_error(exc: EndpointError) -> ClientError:
    return ClientError(STATUS.get(exc.code, 400), exc.code, str(exc), exc.field)


def _endpoints(backend: Backend):
    return backend.webhooks()


def _derived(prefix: str, attempt: Attempt | None, what: str) -> str | None:
    """The id a write makes under this idempotency record (None without a key: a random one)."""
    return f"{prefix}_{digest(attempt.generation, what)[:24]}" if attempt else None


# ----------------------------------------------------------------------------- checks before the key


def _check_url(backend: Backend, url: str) -> None:
    problem = urls.url_problem(url, local=_endpoints(backend).local)
    if problem is not None:
        raise client_error(EndpointError(problem[0], problem[1], "url"))


def check_endpoint(backend: Backend, body: models.WebhookEndpointRequest | models.WebhookEndpointUpdate) -> None:
    try:
        if body.url is not None:
            _check_url(backend, body.url)
        if body.enabled_events is not None:
            check_types(body.enabled_events)
        check_description(body.description)
    except EndpointError as exc:
        raise client_error(exc) from None


def _overlap(seconds: int) -> timedelta:
    """The overlap asked for, checked (any JSON integer: one too large for a timedelta is out of range too)."""
    return check_overlap(timedelta(seconds=max(-1, min(seconds, 10**9))))


def check_rotate(backend: Backend, body: models.RotateSecretRequest) -> None:
    try:
        _overlap(body.overlap_seconds)
    except EndpointError as exc:
        raise client_error(exc) from None


def _window(body: models.WebhookReplayRequest) -> tuple[datetime, datetime | None]:
    since = parse_time(body.since, "since")
    until = parse_time(body.until, "until") if body.until is not None else None
    return since, until


def check_replay(backend: Backend, body: models.WebhookReplayRequest) -> None:
    since, until = _window(body)
    try:
        check_types(body.types, "types")
        replay_window(since, until, backend.clock())
    except EndpointError as exc:
        raise client_error(exc) from None


# ----------------------------------------------------------------------------- endpoints


def endpoint_view(ep: Endpoint) -> models.WebhookEndpoint:
    current = ep.secrets[0] if ep.secrets else None
    rotated = current is not None and current.created_at != ep.created_at
    return models.WebhookEndpoint(
        id=ep.endpoint_id,
        url=ep.url,
        enabled_events=list(ep.types),
        description=ep.description,
        enabled=ep.enabled,
        disabled_reason=ep.disabled_reason,
        verified=ep.verified,
        failing_since=_iso(ep.failing_since),
        metadata=dict(ep.metadata),
        created=_iso(ep.created_at),
        secret_rotated_at=_iso(current.created_at) if rotated else None,
    )


def _owned(backend: Backend, tenant: str, endpoint_id: str) -> Endpoint:
    try:
        return _endpoints(backend).get(tenant, endpoint_id)
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None


def create_endpoint(
    backend: Backend, tenant: str, request: models.WebhookEndpointRequest, attempt: Attempt | None
) -> models.WebhookEndpoint:
    endpoint_id = _derived("we", attempt, "webhook_endpoint")
    try:
        ep = _endpoints(backend).create(
            tenant,
            request.url,
            request.enabled_events,
            description=request.description,
            enabled=request.enabled,
            metadata=request.metadata,
            endpoint_id=endpoint_id,
        )
    except EndpointError as exc:
        raise client_error(exc) from None
    except NotFound:  # a retry under this key, whose endpoint was deleted since
        raise _not_found("webhook_endpoint", endpoint_id or "") from None
    return endpoint_view(ep)


def list_endpoints(backend: Backend, tenant: str) -> models.WebhookEndpointList:
    return models.WebhookEndpointList(
        data=[endpoint_view(ep) for ep in _endpoints(backend).list(tenant)], has_more=False
    )


def get_endpoint(backend: Backend, tenant: str, endpoint_id: str) -> models.WebhookEndpoint:
    return endpoint_view(_owned(backend, tenant, endpoint_id))


def update_endpoint(
    backend: Backend, tenant: str, endpoint_id: str, request: models.WebhookEndpointUpdate
) -> models.WebhookEndpoint:
    try:
        ep = _endpoints(backend).update(
            tenant,
            endpoint_id,
            url=request.url,
            types=request.enabled_events,
            description=request.description,
            enabled=request.enabled,
            metadata=request.metadata,
        )
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None
    except EndpointError as exc:
        raise client_error(exc) from None
    return endpoint_view(ep)


def delete_endpoint(backend: Backend, tenant: str, endpoint_id: str) -> models.WebhookEndpointDeleted:
    try:
        _endpoints(backend).delete(tenant, endpoint_id)
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None
    return models.WebhookEndpointDeleted(id=endpoint_id)


def rotate_secret(
    backend: Backend, tenant: str, endpoint_id: str, request: models.RotateSecretRequest
) -> models.WebhookEndpoint:
    try:
        ep = _endpoints(backend).rotate(tenant, endpoint_id, _overlap(request.overlap_seconds))
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None
    except EndpointError as exc:
        raise client_error(exc) from None
    return endpoint_view(ep)


def verify_endpoint(
    backend: Backend, tenant: str, endpoint_id: str, request: models.VerifyEndpointRequest
) -> models.WebhookEndpoint:
    """A Pub/Sub destination's proof of ownership: the token ledgerline published to its topic."""
    try:
        ep = _endpoints(backend).verify(tenant, endpoint_id, request.token)
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None
    except EndpointError as exc:
        raise client_error(exc) from None
    return endpoint_view(ep)


def get_secret(backend: Backend, tenant: str, endpoint_id: str) -> models.WebhookEndpointSecret:
    """The secrets that sign now: the current one, and rotated-out ones still in their overlap."""
    ep = _owned(backend, tenant, endpoint_id)
    now = backend.clock()
    return models.WebhookEndpointSecret(
        secret=ep.secrets[0].value,
        previous=[
            models.PreviousSecret(secret=s.value, expires_at=_iso(s.expires_at))
            for s in ep.secrets[1:]
            if s.expires_at is not None and s.expires_at > now
        ],
    )


# ----------------------------------------------------------------------------- events and attempts


def _event(body: dict) -> models.Event:
    return models.Event.model_validate(body)


def list_events(
    backend: Backend, tenant: str, event_type: str | None, limit: int, starting_after: str | None
) -> models.EventList:
    try:
        page, more = _endpoints(backend).events(tenant, event_type, limit, starting_after)
    except NotFound:
        raise ClientError(400, "invalid_cursor", "starting_after is not one of your events", "starting_after") from None
    return models.EventList(data=[_event(e) for e in page], has_more=more)


def get_event(backend: Backend, tenant: str, event_id: str) -> models.Event:
    try:
        return _event(_endpoints(backend).event(tenant, event_id))
    except NotFound:
        raise _not_found("event", event_id) from None


def _attempt(row: dict) -> models.WebhookAttempt:
    return models.WebhookAttempt(
        id=row["id"],
        delivery=row["delivery"],
        event=row["event"],
        number=int(row["number"]),
        at=_iso(row["at"]),
        status_code=row.get("status_code"),
        error=row.get("error"),
        elapsed_ms=int(row.get("elapsed_ms") or 0),
        response=row.get("response") or "",
    )


def list_attempts(
    backend: Backend, tenant: str, endpoint_id: str, limit: int, starting_after: str | None
) -> models.WebhookAttemptList:
    _owned(backend, tenant, endpoint_id)  # 404 first: a NotFound below is the cursor's
    try:
        page, more = _endpoints(backend).attempts(tenant, endpoint_id, limit, starting_after)
    except NotFound:
        raise ClientError(
            400, "invalid_cursor", "starting_after is not an attempt of this endpoint", "starting_after"
        ) from None
    return models.WebhookAttemptList(data=[_attempt(r) for r in page], has_more=more)


# ----------------------------------------------------------------------------- replays


def replay_view(job: ReplayJob) -> models.WebhookReplay:
    return models.WebhookReplay(
        id=job.replay_id,
        endpoint=job.endpoint,
        since=_iso(job.since),
        until=_iso(job.until),
        types=list(job.types),
        status=job.status,
        matched=job.matched,
        capped=job.capped,
    )


def replay(
    backend: Backend, tenant: str, endpoint_id: str, request: models.WebhookReplayRequest, attempt: Attempt | None
) -> models.WebhookReplay:
    since, until = _window(request)
    try:
        job = _endpoints(backend).replay(
            tenant,
            endpoint_id,
            since,
            until,
            request.types,
            dry_run=request.dry_run,
            replay_id=_derived("wr", attempt, f"webhook_replay:{endpoint_id}"),
        )
    except NotFound:
        raise _not_found("webhook_endpoint", endpoint_id) from None
    except EndpointError as exc:
        raise client_error(exc) from None
    return replay_view(job)


def get_replay(backend: Backend, tenant: str, replay_id: str) -> models.WebhookReplay:
    try:
        return replay_view(_endpoints(backend).replay_job(tenant, replay_id))
    except NotFound:
        raise _not_found("webhook_replay", replay_id) from None
