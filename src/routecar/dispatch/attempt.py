"""One upstream attempt over HTTP: the only place that touches the network.

Time budgets (docs/failure-semantics.md): connect, first token (response headers plus, for streams, the first
*content* chunk: comments, keep-alive pings and empty preamble frames do not count), idle
(no *progress*, i.e. no new chunk, between content), total, and the request's own deadline,
whichever ends first. Each attempt holds one `http1.Deadline` that every wait of the exchange
goes through, so a budget fires on time even while the upstream keeps sending bytes.

A stream is only handed to the app once its first content chunk is in hand; preamble frames
that came before are held back, so an attempt that dies early fails over without the app
having seen a byte.

Memory: a non-streaming answer is capped at `server.max_response_bytes` after decompression,
a single stream event at `server.max_event_bytes`; over either the attempt fails as malformed.
A stream's framing is server-sent events unless the adapter's request names another
(`UpstreamRequest.framer`: Bedrock's AWS event-stream); the deadlines are the same for both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import orjson

from ..config.model import Timeouts
from ..http1 import (NEVER, ConnectError, Deadline, DeadlineExceeded, DeadlineTicker, HttpClientError, MalformedResponse,
                     Pool, Response)
from ..providers.base import (Adapter, Chunk, Framer, StreamDecoder, StreamFramingError, UpstreamRequest,
                              UpstreamStreamError)
from ..providers.sse import SSEParser
from .values import AttemptFailure, UnaryAnswer

# An error answer is read for its message only; a larger one is cut (the status is what counts).
_MAX_ERROR_BODY = 64 << 10


class StreamBroken(Exception):
    """A committed stream failed; `kind` is the attempt's error class."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


def _connect_failure(exc: ConnectError) -> AttemptFailure:
    return AttemptFailure("connect", detail="connect timeout" if exc.timeout else str(exc))


def _client_failure(exc: HttpClientError, answered: bool) -> AttemptFailure:
    """The attempt's error class for a client error: no connection, broken, or garbage."""
    if isinstance(exc, ConnectError):
        return _connect_failure(exc)
    if isinstance(exc, MalformedResponse):
        return AttemptFailure("malformed", detail=str(exc))
    return AttemptFailure("stream_broken" if answered else "connect", detail=type(exc).__name__)


async def _http_failure(resp: Response, adapter: Adapter) -> AttemptFailure:
    try:
        payload = await resp.read(limit=_MAX_ERROR_BODY)
    except HttpClientError:  # cut, too large, or out of time: the status says enough
        payload = b""
    return AttemptFailure("http", status=resp.status, error=adapter.parse_error(resp.status, payload, resp.headers),
                          headers=resp.headers)


async def call_unary(
    pool: Pool,
    req: UpstreamRequest,
    parse: Callable[[bytes], dict[str, Any]],
    adapter: Adapter,
    timeouts: Timeouts,
    deadline: float,
    max_body: int,
    ticker: DeadlineTicker,
) -> UnaryAnswer | AttemptFailure:
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = min(start + timeouts.total, deadline)
    if end <= start:
        return AttemptFailure("timeout", detail="no time left")
    # The answer must start within first_token (a dead upstream costs no more than that), and
    # the whole body arrive by `end`.
    head_end = min(start + timeouts.first_token, end)
    timer = ticker.deadline(head_end)
    resp: Response | None = None
    try:
        resp = await pool.request(req.method, req.url, req.headers, req.body, connect_timeout=timeouts.connect,
                                  deadline=timer, max_body=max_body)
        timer.move(end)
        if resp.status >= 400:
            return await _http_failure(resp, adapter)
        payload = await resp.read()
    except DeadlineExceeded:
        if resp is None and head_end < end:
            return AttemptFailure("first_token_timeout", detail=f"no answer within {head_end - start:.3g}s")
        return AttemptFailure("timeout", detail=f"no complete answer within {end - start:.3g}s")
    except HttpClientError as exc:
        return _client_failure(exc, resp is not None)
    except ValueError as exc:  # a request header with a line break: never sent
        return AttemptFailure("malformed", detail=f"request not sendable: {exc}")
    finally:
        timer.cancel()
        if resp is not None:
            resp.close()
    try:
        body = parse(payload)
    except (ValueError, TypeError, KeyError) as exc:
        return AttemptFailure("malformed", status=resp.status, detail=f"unparseable body ({type(exc).__name__})")
    return UnaryAnswer(resp.status, resp.headers, body, loop.time() - start, payload)


@dataclass
class OpenedStream:
    """A stream whose first content chunk has arrived; the rest is read on demand."""

    resp: Response
    timer: Deadline
    parser: Framer  # server-sent events, or the framing the adapter chose (UpstreamRequest.framer)
    decoder: StreamDecoder
    head: list[Chunk]
    started: float
    ttft: float
    idle: float
    end: float  # total budget and request deadline, on the loop's clock
    pending: list[Chunk] = field(default_factory=list)
    finished: bool = False

    async def rest(self) -> AsyncIterator[Chunk]:
        """Chunks after the head, one upstream event at a time, never coalesced."""
        loop = asyncio.get_running_loop()
        resp = self.resp
        timer = self.timer
        try:
            # Time the app takes to read is not upstream idle time: the deadline runs only
            # while waiting on the upstream, and only progress (a new chunk) pushes it on.
            timer.move(NEVER)
            for chunk in self.pending:
                yield chunk
            self.pending = []
            timer.move(min(loop.time() + self.idle, self.end))
            while not self.decoder.done:
                try:
                    data = await resp.readany()
                except DeadlineExceeded:
                    which = "timeout" if loop.time() >= self.end - 0.002 else "idle_timeout"
                    raise StreamBroken(which, "upstream stalled mid-stream") from None
                except MalformedResponse as exc:
                    raise StreamBroken("malformed", str(exc)) from None
                except HttpClientError as exc:
                    raise StreamBroken("stream_broken", type(exc).__name__) from None
                if not data:
                    for chunk in _decode_events(self.decoder, self.parser.flush()):
                        yield chunk
                    if not self.decoder.done and not self.finished:
                        raise StreamBroken("stream_broken", "upstream closed the stream before it was complete")
                    break
                chunks = _decode_events(self.decoder, _feed(self.parser, data))
                if not chunks:
                    continue  # comments, pings: bytes, but no progress
                timer.move(NEVER)
                for chunk in chunks:
                    choices = chunk.data.get("choices")
                    if choices and any(c.get("finish_reason") for c in choices):
                        self.finished = True
                    yield chunk
                timer.move(min(loop.time() + self.idle, self.end))
        finally:
            self.close()

    def close(self) -> None:
        self.timer.cancel()
        if not self.resp.closed:
            self.resp.close()


def _feed(parser: Framer, data: bytes) -> list[Any]:
    try:
        return parser.feed(data)
    except StreamFramingError as exc:
        raise StreamBroken("malformed", str(exc)) from None


def _decode_events(decoder: StreamDecoder, events: list[Any]) -> list[Chunk]:
    out: list[Chunk] = []
    for event in events:
        try:
            out.extend(decoder.feed(event))
        except UpstreamStreamError as exc:
            raise StreamBroken("stream_broken", f"upstream error event: {exc}") from None
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            raise StreamBroken("malformed", "unparseable stream event") from None
    return out


async def open_stream(
    pool: Pool,
    req: UpstreamRequest,
    adapter: Adapter,
    upstream_model: str,
    timeouts: Timeouts,
    deadline: float,
    max_event: int,
    ticker: DeadlineTicker,
) -> OpenedStream | AttemptFailure:
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = min(start + timeouts.total, deadline)
    first_end = min(start + timeouts.first_token, end)
    if first_end <= start:
        return AttemptFailure("timeout", detail="no time left")
    resp: Response | None = None
    head: list[Chunk] = []
    parser: Framer = req.framer(max_event) if req.framer is not None else SSEParser(max_event)
    # A passthrough request's decoder keeps the upstream's own events for the app (only the
    # adapters that build such requests, anthropic and openai, take `native`).
    decoder = adapter.stream_decoder(upstream_model, native=True) if req.native_events else \
        adapter.stream_decoder(upstream_model)  # type: ignore[call-arg]  # (the first call)
    timer = ticker.deadline(first_end)
    handed_over = False
    try:
        resp = await pool.request(req.method, req.url, req.headers, req.body, connect_timeout=timeouts.connect,
                                  deadline=timer)
        if resp.status >= 400:
            return await _http_failure(resp, adapter)
        ctype = resp.headers.get("content-type", "")
        if not parser.accepts(ctype):
            return AttemptFailure("malformed", status=resp.status, detail=f"not a stream (content-type {ctype or 'none'})")
        while True:
            data = await resp.readany()
            chunks = _decode_events(decoder, _feed(parser, data) if data else parser.flush())
            for i, chunk in enumerate(chunks):
                head.append(chunk)
                if chunk.has_content:
                    opened = OpenedStream(resp, timer, parser, decoder, head, start, loop.time() - start,
                                          timeouts.idle, end)
                    opened.pending = chunks[i + 1:]
                    handed_over = True  # the stream owns the response and its deadline now
                    return opened
            if not data or decoder.done:
                return AttemptFailure("stream_broken", status=resp.status, detail="stream ended before any content")
    except DeadlineExceeded:
        kind = "first_token_timeout" if first_end < end else "timeout"
        return AttemptFailure(kind, detail=f"no first token within {first_end - start:.3g}s")
    except StreamBroken as exc:
        return AttemptFailure(exc.kind, status=resp.status if resp else None, detail=exc.detail)
    except HttpClientError as exc:
        return _client_failure(exc, resp is not None)
    except ValueError as exc:  # a request header with a line break: never sent
        return AttemptFailure("malformed", detail=f"request not sendable: {exc}")
    finally:
        if not handed_over:
            timer.cancel()
            if resp is not None:
                resp.close()
