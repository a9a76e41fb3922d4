"""What happens to every dialect request before it is answered: key check, body parsing, and
the faults that replace an answer (latency, garbage, interim floods, hang, error statuses, HTML
pages, junk bodies)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Awaitable

import orjson
from aiohttp import web

from .conn import bounded, client_gone, hang_up, wait_client_gone
from .errors import (MALFORMED_BODY, error_response, html_response, openai_ratelimit_headers,
                     retry_headers)
from .faults import Fault
from .rawwire import garbage_bytes, interim_heads, write_raw
from .state import STATE, FakeState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# nginx's "client closed request": what the stats record for a hang the client gave up on.
CLIENT_CLOSED = 499
# nginx's "closed the connection without a response": what the stats record for garbage.
NO_RESPONSE = 444
# /v1/models lists the models seen; a benchmark with random names must not grow it forever.
MAX_MODELS_SEEN = 1000


def tracked(handler: Handler) -> Handler:
    """Count the request in the provider's stats, from arrival to the last byte sent."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        stats = request.app[STATE].stats
        stats.begin(request.path)
        status: int | None = None
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        finally:
            stats.end(status)

    return wrapper


def has_key(request: web.Request, dialect: str) -> bool:
    headers = request.headers
    if dialect == "gemini":
        return bool(headers.get("x-goog-api-key") or request.query.get("key"))
    if dialect == "anthropic" and headers.get("x-api-key"):
        return True
    auth = headers.get("Authorization", "")
    return auth.startswith("Bearer ") and len(auth) > len("Bearer ")


def key_error(request: web.Request, dialect: str) -> web.Response | None:
    """401 in the dialect's shape when the fake requires a key and none came (any value passes)."""
    if request.app[STATE].require_key and not has_key(request, dialect):
        return error_response(dialect, 401)
    return None


async def read_json(request: web.Request, dialect: str) -> tuple[dict[str, Any] | None, web.Response | None]:
    """The request body as a dict, or the error answer a real provider would give instead."""
    denied = key_error(request, dialect)
    if denied is not None:
        return None, denied
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, error_response(dialect, 400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return None, error_response(dialect, 400, "The request body must be a JSON object.")
    return body, None


def success_headers(state: FakeState, dialect: str, fault: Fault | None) -> dict[str, str] | None:
    if dialect == "anthropic":
        return state.anthropic_headers.get(fault)
    if fault is not None and dialect == "openai":
        return openai_ratelimit_headers(fault, False) or None
    return None


def _error_headers(state: FakeState, dialect: str, fault: Fault) -> dict[str, str]:
    headers = retry_headers(fault)
    if dialect == "openai":
        headers.update(openai_ratelimit_headers(fault, fault.status == 429))
    elif dialect == "anthropic":
        headers.update(state.anthropic_headers.get(fault))
    return headers


async def gate(request: web.Request, dialect: str, model: str | None,
               stream: bool) -> tuple[web.StreamResponse | None, Fault | None]:
    """Pick this request's fault and apply the parts that replace the answer.

    Returns (answer, None) when the fault answered already, else (None, fault) with the fault
    (possibly None) that the dialect must still honour: headers, stream faults, safety.
    """
    state = request.app[STATE]
    if model is not None and len(state.models_seen) < MAX_MODELS_SEEN:
        state.models_seen.add(model)
    fault = state.faults.pick(dialect, request.path, model) if state.faults else None
    delay_ms = state.latency_ms + (fault.latency_ms if fault is not None else 0.0)
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000.0)
    if fault is None:
        return None, None
    if fault.garbage:
        async with bounded(request, fault.cap_seconds):
            await write_raw(request, garbage_bytes(fault.garbage_bytes, fault.seed))
        hang_up(request)
        return web.Response(status=NO_RESPONSE), None
    if fault.interim_flood:
        # Before anything else is prepared, so the heads precede whatever answer follows.
        async with bounded(request, fault.cap_seconds):
            await write_raw(request, interim_heads(fault.interim_count))
        if client_gone(request):
            return web.Response(status=CLIENT_CLOSED), None
    if fault.hang:
        await wait_client_gone(request, fault.hang_seconds)
        hang_up(request)
        return web.Response(status=CLIENT_CLOSED), None
    if fault.html_error:
        status = 502 if fault.html_error is True else int(fault.html_error)
        resp = html_response(status)
        resp.headers.update(retry_headers(fault))
        return resp, None
    if fault.context_length_error:
        return error_response(dialect, 400, context_length=True), None
    if fault.is_error:
        retry_after = fault.retry_after
        if retry_after is None and fault.retry_after_ms is not None:
            retry_after = fault.retry_after_ms / 1000.0
        return error_response(dialect, int(fault.status or 500), fault.message, retry_after=retry_after,
                              headers=_error_headers(state, dialect, fault)), None
    if fault.malformed and not stream:
        return web.Response(status=200, body=MALFORMED_BODY, content_type="text/html"), None
    return None, fault
