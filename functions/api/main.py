"""api: customer-facing HTTP API. Foundation: health only; every /v1 route answers a typed 501 until
authentication and tenancy land (no balance is served without auth)."""

import functions_framework

from shared.errors import ClientError
from shared.http import error_response, json_response


@functions_framework.http
def api(request):
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    return error_response(
        ClientError(501, "not_implemented", "the v1 API is not available yet", "path", type="api_error")
    )
