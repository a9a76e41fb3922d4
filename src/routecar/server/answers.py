"""Writing an answer to the app in its protocol: a whole body, a live stream, or a complete
answer replayed as a stream (a cascade's checked answer, a cache hit).

Streams are written event by event, the moment each is decoded (no coalescing). After the
first byte there is no failover: a stream that breaks ends with an explicit error event in the
entry point's protocol and the row says `stream_broken` (docs/failure-semantics.md), never a
silent clean end; the same when routecar itself ends a stream because a drain ran out of time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable

import orjson

from ..dispatch.stream import LiveStream, StreamBroken
from ..http1.server import Request, Response, StreamResponse
from ..providers.base import Chunk
from ..providers.replay import answer_as_chunks
from ..stages.exchange import Exchange
from .entries import Entry
from .errors import JSON
from .open_streams import OpenStreams
from .row import overhead_ms, record_usage

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What the app reads when routecar itself ends a stream early (drain budget spent).
STOPPED_MESSAGE = "routecar is shutting down and ended this stream; the answer is incomplete. Retry the request."
BROKEN_MESSAGE = "The upstream stream broke mid-answer; the answer is incomplete."


def _set_overhead(ex: Exchange) -> None:
    ex.record.overhead_ms = overhead_ms(ex, time.perf_counter() - ex.started)
    ex.answer_headers["x-routecar-overhead-ms"] = f"{ex.record.overhead_ms:.3f}"


def whole(ex: Exchange, entry: Entry, body: dict[str, Any], raw: bytes | None, cost: float | None,
          record_prompts: bool, model: str) -> Response:
    """A whole answer in one write, its `model` field set to `model` (entries.answer_model).
    `raw`: the upstream's own bytes when no translation is needed (OpenAI in, OpenAI out;
    Anthropic in, Anthropic out), already carrying `model`."""
    record = ex.record
    payload = entry.payload(body, model) if raw is None or record_prompts else None
    if record_prompts:
        record.response = payload
    record.status, record.outcome = 200, "ok"
    if cost is not None:
        ex.answer_headers["x-routecar-cost-usd"] = f"{cost:.8f}"
    _set_overhead(ex)
    return Response(200, raw if raw is not None else orjson.dumps(payload), ex.answer_headers, content_type=JSON)


async def replayed(request: Request, ex: Exchange, entry: Entry, answer: dict[str, Any], model: str) -> StreamResponse:
    """A complete answer written as a stream in the entry point's protocol."""
    record = ex.record
    encoder = entry.encoder(ex.body, model)
    chunks = answer_as_chunks(answer, include_usage=True)
    record.status = 200
    _set_overhead(ex)
    resp = StreamResponse(status=200, headers={**SSE_HEADERS, **ex.answer_headers})
    try:
        await resp.prepare(request)
        await _write_all(resp, chunks, encoder, ex)
        await resp.write(encoder.finish())
        await resp.write_eof()
    except ConnectionResetError:
        record.status, record.outcome = 499, "client_cancelled"
        return resp
    record.outcome = "ok"
    return resp


async def _write_all(resp: StreamResponse, chunks: Iterable[Chunk], encoder: Any, ex: Exchange) -> None:
    for chunk in chunks:
        data = encoder.encode(chunk)
        if data:
            await resp.write(data)
            if ex.record.ttft_ms is None and chunk.has_content:
                ex.record.ttft_ms = (time.perf_counter() - ex.started) * 1000


async def live(request: Request, ex: Exchange, entry: Entry, stream: LiveStream,
               streams: OpenStreams, model: str) -> StreamResponse:
    """Pipe a committed upstream stream to the app. `streams` is the runtime's registry of
    open streams, so a drain that runs out of time can end this one properly."""
    record = ex.record
    encoder = entry.encoder(ex.body, model)
    record.status = 200
    _set_overhead(ex)  # before the first byte: the headers carry it
    resp = StreamResponse(status=200, headers={**SSE_HEADERS, **ex.answer_headers})
    handle = streams.stream_opened()
    hung_up = False
    try:
        try:
            await resp.prepare(request)
            async for chunk in stream.chunks():
                data = encoder.encode(chunk)
                if data:
                    await resp.write(data)
                    if record.ttft_ms is None and chunk.has_content:
                        record.ttft_ms = (time.perf_counter() - ex.started) * 1000
            await resp.write(encoder.finish())
        except StreamBroken as exc:
            await resp.write(encoder.error(BROKEN_MESSAGE, "api_error" if exc.kind != "idle_timeout"
                                           else "timeout_error"))
        except asyncio.CancelledError:
            if handle is None or handle.stop_reason is None:
                raise  # the app hung up
            _take_back_cancellation()
            if stream.result is None:  # not over yet: routecar ends it, with an error event
                stream.abandon("stream_broken", "sidecar_shutdown", handle.stop_reason)
                if not resp.prepared:
                    await resp.prepare(request)
                await resp.write(encoder.error(STOPPED_MESSAGE, "api_error"))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError) as exc:
        hung_up = True
        if isinstance(exc, asyncio.CancelledError):
            raise
        return resp
    finally:
        if handle is not None:
            streams.stream_closed(handle)
        stream.abandon()  # the app hung up, or anything else: a no-op once the stream has ended
        end = stream.result
        ex.stream_end = end
        if hung_up or end is None or end.outcome == "client_cancelled":
            record.status, record.outcome = 499, "client_cancelled"
            record.error_message = "the app closed the connection"
        else:
            record.outcome = end.outcome
            if end.detail:
                record.error_message = end.detail
        record_usage(ex, end.usage if end is not None else None)
    return resp


def _take_back_cancellation() -> None:
    """Take back the runtime's cancellation so the error event and the end can still be written."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
