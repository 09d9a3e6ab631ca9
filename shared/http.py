"""Small pieces every HTTP entry point shares: JSON responses in one error shape."""

from __future__ import annotations

import json
from collections.abc import Callable

from shared.errors import ClientError, NotConfigured


def json_response(status: int, body) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body, sort_keys=True), status, {"Content-Type": "application/json"}


def error_response(exc: ClientError) -> tuple[str, int, dict[str, str]]:
    return json_response(exc.status, exc.body())


def server_error(code: str, message: str, status: int = 500) -> tuple[str, int, dict[str, str]]:
    return json_response(status, {"error": {"type": "api_error", "code": code, "message": message, "param": None}})


def handle_errors(
    register,
    log,
    *,
    refused: str,
    context=dict,
    transient: tuple[type[BaseException], ...] = (),
    unavailable: str = "request not completed: storage unavailable",
) -> None:
    """The one mapping from typed errors to responses for an HTTP function, registered on its app
    (`register` is functions_framework.errorhandler), so the function's body raises and never
    catches: a ClientError is the caller's mistake (its status and body; logged as `refused` with its
    code and `context()`); NotConfigured is ours (503 not_configured, logged as an error); a
    `transient` failure of our storage is a 503 the caller retries later. Anything else stays a 500."""

    @register(ClientError)
    def client_error(exc: ClientError):
        log.warning(refused, extra={**context(), "code": exc.code, "status": exc.status})
        return error_response(exc)

    @register(NotConfigured)
    def not_configured(exc: NotConfigured):
        log.error(str(exc))
        return server_error("not_configured", "this endpoint is not configured", 503)

    for kind in transient:

        @register(kind)
        def storage_unavailable(exc: BaseException):
            log.exception(unavailable, extra=context())
            return server_error("temporarily_unavailable", f"storage unavailable ({type(exc).__name__}); retry", 503)


def task_response(run: Callable[[], object], log, meta: dict) -> tuple[str, int, dict[str, str]]:
    """The answer of a Cloud Tasks target to one task: `run()` runs it (shared.recovery.service.run_task)
    and returns its outcome (status, detail, next_at); 2xx once that outcome is durable, 503 if even
    recording it failed, so the queue runs the task again."""
    try:
        outcome = run()
    except Exception:
        log.exception("could not record the task's outcome; the queue will retry it", extra=meta)
        return server_error("downstream_unavailable", "task outcome not recorded; retry later", 503)
    answer = {"status": outcome.status, "detail": outcome.detail}  # type: ignore[attr-defined]
    if outcome.next_at:  # type: ignore[attr-defined]
        answer["next_at"] = outcome.next_at.isoformat()  # type: ignore[attr-defined]
    return json_response(200, answer)


def posted_task(request):
    """The task a Cloud Tasks target was POSTed at /tasks (shared.recovery.policies.Task), or the
    client error that says what is wrong with the request (405, 404, 400)."""
    from shared.recovery.policies import Task

    if request.method != "POST":
        raise ClientError(405, "method_not_allowed", "tasks are POSTed", "method")
    if request.path != "/tasks":
        raise ClientError(404, "not_found", "POST tasks to /tasks", "path")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_task", "POST a JSON object")
    return Task.from_json(body)
