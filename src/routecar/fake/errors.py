"""Error bodies and rate-limit headers, each in the shape its real provider uses."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
from aiohttp import web

from .faults import Fault

JSON = "application/json"

_OPENAI: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Request timed out."),
}

_ANTHROPIC: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}

_GEMINI: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred."),
    501: ("UNIMPLEMENTED", "Operation is not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out."),
}

_CONTEXT_MESSAGES = {
    "openai": (
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 131072 tokens. Please reduce the length of the messages."
    ),
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
    "gemini": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
}

_HTML_ERROR = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>Welcome</title></head>"
    b"<body><p>Please enable JavaScript to continue.</p></body></html>"
)

OPENAI_LIMITS = (10000, 2_000_000)  # requests, tokens per window, as reported in headers
ANTHROPIC_LIMITS = (4000, 400_000)


def _error_dict(dialect: str, status: int, message: str | None, context_length: bool,
                retry_after: float | None) -> dict[str, Any]:
    if dialect == "anthropic":
        etype, default = _ANTHROPIC.get(status) or (
            ("api_error", "Internal server error") if status >= 500 else ("invalid_request_error", "Invalid request.")
        )
        msg = _CONTEXT_MESSAGES["anthropic"] if context_length else message or default
        return {"type": "error", "error": {"type": etype, "message": msg}}
    if dialect == "gemini":
        code_name, default = _GEMINI.get(status) or (("INTERNAL", "An internal error has occurred.")
                                                     if status >= 500 else ("FAILED_PRECONDITION", "Request failed."))
        msg = _CONTEXT_MESSAGES["gemini"] if context_length else message or default
        err: dict[str, Any] = {"code": status, "message": msg, "status": code_name}
        if retry_after is not None:
            err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                               "retryDelay": f"{int(math.ceil(retry_after))}s"}]
        return {"error": err}
    etype, code, default = _OPENAI.get(status) or (
        ("server_error", None, "The server had an error.") if status >= 500 else ("invalid_request_error", None, "Request failed.")
    )
    if context_length:
        return {"error": {"message": _CONTEXT_MESSAGES["openai"], "type": "invalid_request_error",
                          "param": "messages", "code": "context_length_exceeded"}}
    return {"error": {"message": message or default, "type": etype, "param": None, "code": code}}


def error_response(dialect: str, status: int, message: str | None = None, *,
                   context_length: bool = False, retry_after: float | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """An error answer in `dialect`'s JSON error shape."""
    body = orjson.dumps(_error_dict(dialect, status, message, context_length, retry_after))
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


def stream_error_frame(dialect: str, status: int = 500, message: str | None = None) -> bytes:
    """The error a provider sends inside an already started stream."""
    payload = orjson.dumps(_error_dict(dialect, status, message, False, None))
    if dialect == "anthropic":
        return b"event: error\ndata: " + payload + b"\n\n"
    return b"data: " + payload + b"\n\n"


def html_response(status: int) -> web.Response:
    """What a load balancer in front of the provider answers when the backend is gone."""
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}.get(
        status, "Error")
    text = _HTML_ERROR.format(status=status, reason=reason)
    return web.Response(status=status, text=text, content_type="text/html")


def format_reset(seconds: float) -> str:
    """OpenAI's reset durations: "20ms", "1s", "1.5s", "6m0s", "1h2m3s"."""
    if seconds < 1:
        return f"{max(int(round(seconds * 1000)), 1)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{int(hours)}h{int(minutes)}m{sec_text}s"
    if minutes:
        return f"{int(minutes)}m{sec_text}s"
    return f"{sec_text}s"


def _reset_seconds(fault: Fault | None, limited: bool) -> float:
    if fault is not None and fault.retry_after is not None:
        return float(fault.retry_after)
    if fault is not None and fault.retry_after_ms is not None:
        return fault.retry_after_ms / 1000.0
    return 1.0 if limited else 0.02


def retry_headers(fault: Fault) -> dict[str, str]:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["retry-after"] = str(int(ra) if float(ra).is_integer() else int(math.ceil(ra)))
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = str(int(fault.retry_after_ms))
    return headers


def openai_ratelimit_headers(fault: Fault, limited: bool) -> dict[str, str]:
    """x-ratelimit-* as OpenAI sends them; only when the fault asks for them."""
    if not (fault.ratelimit_headers or fault.remaining_requests is not None
            or fault.remaining_tokens is not None):
        return {}
    req_limit, tok_limit = OPENAI_LIMITS
    req_left = fault.remaining_requests if fault.remaining_requests is not None else (0 if limited else req_limit - 1)
    tok_left = fault.remaining_tokens if fault.remaining_tokens is not None else (0 if limited else tok_limit - 100)
    reset = format_reset(_reset_seconds(fault, limited))
    return {
        "x-ratelimit-limit-requests": str(req_limit),
        "x-ratelimit-limit-tokens": str(tok_limit),
        "x-ratelimit-remaining-requests": str(req_left),
        "x-ratelimit-remaining-tokens": str(tok_left),
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-reset-tokens": reset,
    }


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(ts)))


class AnthropicHeaders:
    """anthropic-ratelimit-* on every Anthropic answer, as the real API sends them.

    The fault-free set is rebuilt at most once a second, keeping the hot path to a dict copy.
    """

    __slots__ = ("_second", "_default")

    def __init__(self) -> None:
        self._second = -1
        self._default: dict[str, str] = {}

    def get(self, fault: Fault | None) -> dict[str, str]:
        now = time.time()
        if fault is None or not (fault.is_error or fault.ratelimit_headers or fault.remaining_requests is not None
                                 or fault.remaining_tokens is not None):
            second = int(now)
            if second != self._second:
                self._default = self._build(now, None, False)
                self._second = second
            return dict(self._default)
        return self._build(now, fault, fault.status == 429)

    @staticmethod
    def _build(now: float, fault: Fault | None, limited: bool) -> dict[str, str]:
        req_limit, tok_limit = ANTHROPIC_LIMITS
        req_left = req_limit - 1
        tok_left = tok_limit - 1000
        if fault is not None:
            if fault.remaining_requests is not None:
                req_left = fault.remaining_requests
            elif limited:
                req_left = 0
            if fault.remaining_tokens is not None:
                tok_left = fault.remaining_tokens
            elif limited:
                tok_left = 0
        reset = _rfc3339(now + max(_reset_seconds(fault, limited), 1.0))
        return {
            "anthropic-ratelimit-requests-limit": str(req_limit),
            "anthropic-ratelimit-requests-remaining": str(req_left),
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-limit": str(tok_limit),
            "anthropic-ratelimit-tokens-remaining": str(tok_left),
            "anthropic-ratelimit-tokens-reset": reset,
        }
