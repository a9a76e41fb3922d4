"""One upstream attempt over HTTP: the only place that touches the network.

Time budgets (SPEC §7): connect, first token (response headers plus, for streams, the first
content chunk), idle between chunks, and the request's own deadline, whichever ends first. A
stream is only handed to the app once its first content chunk is in hand; preamble frames
that came before are held back, so an attempt that dies early fails over without the app
having seen a byte.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import orjson

from ..config.model import Timeouts
from ..http1 import ConnectError, HttpClientError, MalformedResponse, Pool, Response
from ..providers.base import Adapter, Chunk, StreamDecoder, UpstreamRequest, UpstreamStreamError
from ..providers.sse import SSEParser
from .deadlines import expired, ticker
from .outcome import AttemptFailure

_READ_SIZE = 2**16
_NEVER = float("inf")


@dataclass(slots=True)
class UnaryAnswer:
    status: int
    headers: Any
    body: dict[str, Any]
    latency: float
    # The upstream's own bytes (decoded): forwarded as they are when no translation happened.
    raw: bytes | None = None


class StreamBroken(Exception):
    """A committed stream failed; `kind` is the attempt's error class."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


async def _send(pool: Pool, req: UpstreamRequest, timeouts: Timeouts, budget: float) -> Response:
    return await pool.request(req.method, req.url, req.headers, req.body,
                              connect_timeout=min(timeouts.connect, budget))


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
        payload = await resp.read()
    except HttpClientError:
        payload = b""
    return AttemptFailure("http", status=resp.status, error=adapter.parse_error(resp.status, payload), headers=resp.headers)


async def call_unary(
    session: Pool,
    req: UpstreamRequest,
    parse: Callable[[bytes], dict[str, Any]],
    adapter: Adapter,
    timeouts: Timeouts,
    deadline: float,
) -> UnaryAnswer | AttemptFailure:
    loop = asyncio.get_running_loop()
    start = loop.time()
    budget = min(timeouts.total, deadline - start)
    if budget <= 0:
        return AttemptFailure("timeout", detail="no time left")
    # The answer must start within first_token (a dead upstream costs no more than that), and
    # the whole body arrive within total.
    head_budget = min(timeouts.first_token, budget)
    answered = False
    resp: Response | None = None
    timer = ticker(loop).arm(start + head_budget)
    try:
        resp = await _send(session, req, timeouts, budget)
        answered = True
        timer.when = start + budget
        if resp.status >= 400:
            return await _http_failure(resp, adapter)
        payload = await resp.read()
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()
        if not expired(timer):
            raise
        if not answered and head_budget < budget:
            return AttemptFailure("first_token_timeout", detail=f"no answer within {head_budget:.3g}s")
        return AttemptFailure("timeout", detail=f"no complete answer within {budget:.3g}s")
    except HttpClientError as exc:
        return _client_failure(exc, answered)
    except ValueError as exc:  # a request header with a line break: never sent
        return AttemptFailure("malformed", detail=f"request not sendable: {exc}")
    finally:
        ticker(loop).disarm(timer)
    try:
        body = parse(payload)
    except (ValueError, TypeError, KeyError) as exc:
        return AttemptFailure("malformed", status=resp.status, detail=f"unparseable body ({type(exc).__name__})")
    return UnaryAnswer(resp.status, resp.headers, body, loop.time() - start, payload)


@dataclass
class OpenedStream:
    """A stream whose first content chunk has arrived; the rest is read on demand."""

    resp: Response
    parser: SSEParser
    decoder: StreamDecoder
    head: list[Chunk]
    started: float
    ttft: float
    idle: float
    deadline: float
    pending: list[Chunk] = field(default_factory=list)
    finished: bool = False

    async def rest(self) -> AsyncIterator[Chunk]:
        """Chunks after the head, one upstream event at a time, never coalesced."""
        loop = asyncio.get_running_loop()
        resp = self.resp
        deadlines = ticker(loop)
        # Armed only while waiting on the upstream: time the app takes to read is not idle time.
        timer = deadlines.arm(_NEVER)
        try:
            for chunk in self.pending:
                yield chunk
            self.pending = []
            while not self.decoder.done:
                timer.when = min(loop.time() + self.idle, self.deadline)
                try:
                    data = await resp.readany()
                except asyncio.CancelledError:
                    if not expired(timer):
                        raise
                    which = "timeout" if loop.time() >= self.deadline - 0.02 else "idle_timeout"
                    raise StreamBroken(which, "upstream stalled mid-stream") from None
                except MalformedResponse as exc:
                    raise StreamBroken("malformed", str(exc)) from None
                except HttpClientError as exc:
                    raise StreamBroken("stream_broken", type(exc).__name__) from None
                timer.when = _NEVER
                if not data:
                    for chunk in _decode_events(self.decoder, self.parser.flush()):
                        yield chunk
                    if not self.decoder.done and not self.finished:
                        raise StreamBroken("stream_broken", "upstream closed the stream before it was complete")
                    break
                for chunk in _decode_events(self.decoder, self.parser.feed(data)):
                    if chunk.data.get("choices") and any(c.get("finish_reason") for c in chunk.data["choices"]):
                        self.finished = True
                    yield chunk
        finally:
            deadlines.disarm(timer)
            self.close()

    def close(self) -> None:
        if not self.resp.closed:
            self.resp.close()


def _decode_events(decoder: StreamDecoder, events) -> list[Chunk]:
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
    session: Pool,
    req: UpstreamRequest,
    adapter: Adapter,
    upstream_model: str,
    timeouts: Timeouts,
    deadline: float,
) -> OpenedStream | AttemptFailure:
    loop = asyncio.get_running_loop()
    start = loop.time()
    budget = min(timeouts.first_token, timeouts.total, deadline - start)
    if budget <= 0:
        return AttemptFailure("timeout", detail="no time left")
    resp: Response | None = None
    head: list[Chunk] = []
    parser = SSEParser()
    decoder = adapter.stream_decoder(upstream_model)
    deadlines = ticker(loop)
    timer = deadlines.arm(start + budget)
    try:
        resp = await _send(session, req, timeouts, budget)
        if resp.status >= 400:
            return await _http_failure(resp, adapter)
        ctype = resp.headers.get("content-type", "")
        if "event-stream" not in ctype and "json" not in ctype:
            resp.close()
            return AttemptFailure("malformed", status=resp.status, detail=f"not a stream (content-type {ctype or 'none'})")
        while True:
            data = await resp.readany()
            if not data:
                events = parser.flush()
            else:
                events = parser.feed(data)
            chunks = _decode_events(decoder, events)
            for i, chunk in enumerate(chunks):
                head.append(chunk)
                if chunk.has_content:
                    opened = OpenedStream(resp, parser, decoder, head, start, loop.time() - start,
                                          timeouts.idle, min(deadline, start + timeouts.total))
                    opened.pending = chunks[i + 1:]
                    return opened
            if not data or decoder.done:
                resp.close()
                return AttemptFailure("stream_broken", status=resp.status, detail="stream ended before any content")
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()
        if not expired(timer):
            raise
        kind = "first_token_timeout" if budget < deadline - start else "timeout"
        return AttemptFailure(kind, detail=f"no first token within {budget:.3g}s")
    except StreamBroken as exc:
        if resp is not None:
            resp.close()
        return AttemptFailure(exc.kind, status=resp.status if resp else None, detail=exc.detail)
    except HttpClientError as exc:
        if resp is not None:
            resp.close()
        return _client_failure(exc, resp is not None)
    except ValueError as exc:  # a request header with a line break: never sent
        return AttemptFailure("malformed", detail=f"request not sendable: {exc}")
    except BaseException:
        if resp is not None:
            resp.close()
        raise
    finally:
        deadlines.disarm(timer)
