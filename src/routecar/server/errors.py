"""Error answers in the entry point's own shape; never a traceback (docs/http-api.md)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ApiError
from ..http1.server import Response
from ..providers import anthropic_inbound

JSON = "application/json"

__all__ = ["JSON", "ApiError", "error_body", "error_response"]


def error_body(err: ApiError, protocol: str) -> bytes:
    if protocol == "anthropic":
        payload: dict[str, Any] = anthropic_inbound.error_body(err.message,
                                                               anthropic_inbound.error_type_for_status(err.status))
    else:
        payload = {"error": {"message": err.message, "type": err.error_type, "code": err.code, "param": err.param}}
    return orjson.dumps(payload)


def error_response(err: ApiError, protocol: str, headers: dict[str, str]) -> Response:
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return Response(err.status, error_body(err, protocol), headers, content_type=JSON)
