"""Error answers in the entry point's own shape; never a traceback (SPEC §3)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"

# Anthropic's error `type` for each status, for answers on /v1/messages.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An answer the sidecar gives instead of routing: raised anywhere before dispatch."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        outcome: str = "bad_request",
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.param = param
        self.outcome = outcome
        self.retry_after = retry_after


def error_body(err: ApiError, protocol: str) -> bytes:
    if protocol == "anthropic":
        etype = _ANTHROPIC_TYPES.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
        payload: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": err.message}}
    else:
        payload = {"error": {"message": err.message, "type": err.error_type, "code": err.code, "param": err.param}}
    return orjson.dumps(payload)


def error_response(err: ApiError, protocol: str, headers: dict[str, str]) -> web.Response:
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return web.Response(status=err.status, body=error_body(err, protocol), content_type=JSON, headers=headers)
