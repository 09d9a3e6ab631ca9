"""Small pieces every HTTP entry point shares: JSON responses in one error shape."""

from __future__ import annotations

import json

from shared.errors import ClientError


def json_response(status: int, body) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body, sort_keys=True), status, {"Content-Type": "application/json"}


def error_response(exc: ClientError) -> tuple[str, int, dict[str, str]]:
    return json_response(exc.status, exc.body())


def server_error(code: str, message: str, status: int = 500) -> tuple[str, int, dict[str, str]]:
    return json_response(status, {"error": {"type": "api_error", "code": code, "message": message, "param": None}})
