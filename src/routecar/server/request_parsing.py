"""Turning an HTTP request into plain values: body, tags, deadline, request id."""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

import orjson
from ..http1.server import Request

from ..errors import ApiError

_CHAT_REQUIRED = ("model", "messages")


_ID_PREFIX = f"rc-{os.urandom(3).hex()}-"
_id_counter = itertools.count(int(time.time() * 1000) % 10**9)


def new_request_id() -> str:
    # Unique per process (random prefix) and ordered within it; no syscall per request.
    return f"{_ID_PREFIX}{next(_id_counter):x}"


# What an app-given request id may hold to be echoed in headers and stored in rows: visible
# ASCII, no spaces or quotes. Anything else (the HTTP layer already refuses control bytes;
# this also refuses non-ASCII and separators) gets a fresh id instead of being reflected.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:/+=@#-]{1,128}")


def request_id_of(given: str | None) -> str:
    """The app's `x-routecar-request-id` when it is safe to reflect (cut to 128 characters),
    else a new id."""
    if given:
        given = given[:128]
        if _SAFE_ID.fullmatch(given):
            return given
    return new_request_id()


def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; ApiError 413 over `max_bytes`, 400 when it is not one. The
    server has read the body already, never more than the limit plus what shows it is over."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise ApiError(413, f"Request body is {length} bytes; the limit is {max_bytes} (server.max_body_bytes).",
                       "request_too_large")
    raw = request.body
    if len(raw) > max_bytes:  # chunked, without a length to check first
        raise ApiError(413, f"Request body is over the limit of {max_bytes} bytes (server.max_body_bytes).",
                       "request_too_large")
    if not raw:
        raise ApiError(400, "Request body is empty; expected a JSON object.", "invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.", "invalid_json")
    return body


def validate_chat(body: dict[str, Any]) -> dict[str, Any]:
    """`body` itself when it is a valid Chat Completions request (OpenAI's shape is canonical)."""
    for name in _CHAT_REQUIRED:
        if name not in body:
            raise ApiError(400, f"Missing required parameter: '{name}'.", "missing_required_parameter", param=name)
    if not isinstance(body["model"], str) or not body["model"]:
        raise ApiError(400, "'model' must be a non-empty string.", "invalid_type", param="model")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array.", "invalid_type", param="messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ApiError(400, f"'messages[{i}]' must be an object with a string 'role'.", "invalid_type",
                           param=f"messages[{i}]")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise ApiError(400, "'stream' must be a boolean.", "invalid_type", param="stream")
    for name in ("temperature", "top_p"):
        if name in body and body[name] is not None and (isinstance(body[name], bool) or not isinstance(body[name], (int, float))):
            raise ApiError(400, f"'{name}' must be a number.", "invalid_type", param=name)
    for name in ("max_tokens", "max_completion_tokens", "n"):
        if name in body and body[name] is not None and (isinstance(body[name], bool) or not isinstance(body[name], int)):
            raise ApiError(400, f"'{name}' must be an integer.", "invalid_type", param=name)
    if "tools" in body and body["tools"] is not None and not isinstance(body["tools"], list):
        raise ApiError(400, "'tools' must be an array.", "invalid_type", param="tools")
    return body


def validate_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """`body` itself when it is a valid embeddings request."""
    if not isinstance(body.get("model"), str) or not body.get("model"):
        raise ApiError(400, "Missing required parameter: 'model'.", "missing_required_parameter", param="model")
    inp = body.get("input")
    if inp is None:
        raise ApiError(400, "Missing required parameter: 'input'.", "missing_required_parameter", param="input")
    if not isinstance(inp, (str, list)) or (isinstance(inp, list) and not inp):
        raise ApiError(400, "'input' must be a string or a non-empty array.", "invalid_type", param="input")
    return body


def parse_tags(value: str | None) -> dict[str, str]:
    """`team=search,workload=summarize` → {"team": "search", "workload": "summarize"}."""
    if not value:
        return {}
    tags: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not key or not sep:
            raise ApiError(400, f"x-routecar-tags: '{part.strip()}' is not KEY=VALUE.", "invalid_header",
                           param="x-routecar-tags")
        tags[key[:64]] = val.strip()[:256]
        if len(tags) > 32:
            raise ApiError(400, "x-routecar-tags: at most 32 tags.", "invalid_header", param="x-routecar-tags")
    return tags


def parse_timeout_ms(value: str) -> float:
    """Seconds from the `x-routecar-timeout-ms` header."""
    try:
        ms = float(value)
    except ValueError:
        raise ApiError(400, f"x-routecar-timeout-ms must be a number of milliseconds, got '{value[:32]}'.",
                       "invalid_header", param="x-routecar-timeout-ms") from None
    if not ms > 0:
        raise ApiError(400, "x-routecar-timeout-ms must be positive.", "invalid_header", param="x-routecar-timeout-ms")
    return ms / 1000.0
