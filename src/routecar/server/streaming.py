"""Writing a committed upstream stream to the app, event by event, in the app's protocol.

Chunks are written the moment they are decoded (no coalescing, no buffering). After the first
byte there is no failover: a stream that breaks ends with an explicit error event in the
entry point's protocol and the row says `stream_broken` (SPEC §7), never a silent clean end.
The same holds when routecar ends a stream itself because a drain ran out of time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import orjson
from ..http1.server import Request, StreamResponse

from ..dispatch.attempt import StreamBroken
from ..dispatch.dispatcher import Success
from ..health.registry import AttemptResult, HealthRegistry
from ..providers.base import Chunk
from ..providers.sse import DONE, encode_data
from ..routelog.record import RouteRecord
from .keys import RUNTIME

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What the app reads when routecar itself ends a stream early (drain budget spent).
STOPPED_MESSAGE = "routecar is shutting down and ended this stream; the answer is incomplete. Retry the request."


class OpenAIStreamEncoder:
    """Canonical chunks → OpenAI SSE bytes; forwards the upstream's own bytes when it can."""

    def __init__(self, client_wants_usage: bool):
        self.client_wants_usage = client_wants_usage

    def encode(self, chunk: Chunk) -> bytes:
        if not self.client_wants_usage and chunk.data.get("usage") and not chunk.data.get("choices"):
            return b""  # routecar asked for usage itself; the app did not
        return encode_data(chunk.raw if chunk.raw is not None else orjson.dumps(chunk.data))

    def finish(self) -> bytes:
        return DONE

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        return encode_data(orjson.dumps({"error": {"message": message, "type": error_type, "code": "stream_broken", "param": None}}))


async def pipe_stream(
    request: Request,
    success: Success,
    encoder: Any,
    record: RouteRecord,
    headers: dict[str, str],
    health: HealthRegistry,
    started: float,
    on_prepare: Callable[[], None],
    usage_out: dict[str, Any],
) -> StreamResponse:
    opened = success.stream
    assert opened is not None
    dep_id = success.candidate.deployment.id
    resp = StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    on_prepare()  # final headers (overhead) are set here, before the first byte
    resp.headers.update(headers)
    usage: dict[str, Any] | None = None
    kind = "success"
    answered = False  # True once the answer's end has been handed to the socket
    rt = request.app.get(RUNTIME)
    handle = rt.stream_opened() if rt is not None else None  # a drain may end this stream
    try:
        try:
            await resp.prepare(request)
            first = True
            for chunk in opened.head:
                if chunk.data.get("usage"):
                    usage = chunk.data["usage"]
                data = encoder.encode(chunk)
                if data:
                    await resp.write(data)
                    if first and chunk.has_content:
                        record.ttft_ms = (time.perf_counter() - started) * 1000
                        first = False
            async for chunk in opened.rest():
                if chunk.data.get("usage"):
                    usage = chunk.data["usage"]
                data = encoder.encode(chunk)
                if data:
                    await resp.write(data)
            record.outcome = "ok"
            answered = True  # before the await: write() hands the bytes to the socket before it yields
            await resp.write(encoder.finish())
        except StreamBroken as exc:
            kind = "failure"
            record.outcome = "stream_broken"
            record.error_message = f"upstream stream broke after the first byte: {exc.detail or exc.kind}"
            if record.attempt_log:
                record.attempt_log[-1]["error"] = exc.kind
            await resp.write(encoder.error("The upstream stream broke mid-answer; the answer is incomplete.",
                                           "api_error" if exc.kind != "idle_timeout" else "timeout_error"))
        except asyncio.CancelledError:
            if handle is None or handle.stop_reason is None:
                raise  # the app hung up
            _uncancel()
            if not answered:
                kind = "neutral"  # not the upstream's fault
                _record_stopped(record, handle.stop_reason)
                if not resp.prepared:
                    await resp.prepare(request)
                await resp.write(encoder.error(STOPPED_MESSAGE, "api_error"))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError) as exc:
        kind = "neutral"
        record.outcome = "client_cancelled"
        record.status = 499
        opened.close()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return resp
    finally:
        if handle is not None:
            rt.stream_closed(handle)
        opened.close()
        record.prompt_tokens, record.completion_tokens = _tokens(usage)
        latency = time.perf_counter() - started
        health.on_finish(dep_id, AttemptResult(kind, status=200, latency=latency, ttft=opened.ttft,
                                               headers=success.headers, tokens=_total(usage),
                                               probe=success.probe))
        usage_out.update(usage or {})
    return resp


def _uncancel() -> None:
    """Take back the runtime's cancellation so the error event and the end can still be written."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _record_stopped(record: RouteRecord, reason: str) -> None:
    record.outcome = "stream_broken"
    record.error_message = reason
    if record.attempt_log:
        record.attempt_log[-1]["error"] = "sidecar_shutdown"


def _tokens(usage: dict[str, Any] | None) -> tuple[int | None, int | None]:
    if not usage:
        return None, None
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


def _total(usage: dict[str, Any] | None) -> int | None:
    if not usage:
        return None
    total = usage.get("total_tokens")
    return total if isinstance(total, int) else None
