"""api: the customer API (docs/api.md, contract docs/openapi.yaml). Balances, entries, transactions,
transfers and holds for tenants' API keys; dead letters and reconciliation for operator keys; and the
operations console's static files under /console/ (docs/console.md). The routing, checks and service
live in shared/api; this file only wires them once per instance."""

from functools import lru_cache

import functions_framework
from werkzeug.exceptions import NotFound

from shared import bootstrap, logs
from shared.api import console
from shared.api.ratelimit import RateLimiter
from shared.api.routes import Api
from shared.config import settings
from shared.errors import ClientError
from shared.http import error_response


@lru_cache(maxsize=1)
def _api() -> Api:
    cfg = settings()
    return Api(
        lambda: bootstrap.api_backend(bootstrap.root(cfg)),
        livemode=cfg.livemode,
        limiter=RateLimiter(cfg.api_rate_limit, cfg.api_rate_burst or None),
        iap=bootstrap.api_iap(cfg),
    )


@functions_framework.http
def api(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)
    if console.handles(request.path):
        return console.serve(request, iap=bool(cfg.iap_audience))
    return _api().handle(request).flask()


@functions_framework.errorhandler(NotFound)
def _not_routed(exc):
    """A path the framework's own route cannot take (a newline in it): our 404, in JSON, not Flask's page."""
    return error_response(ClientError(404, "route_not_found", "no such route", "path"))
