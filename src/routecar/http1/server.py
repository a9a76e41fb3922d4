"""The data port's HTTP/1.1 server: keep-alive connections, one task per request.

Why not aiohttp's web server here: the data port has four endpoints, JSON bodies and SSE
answers, and every request pays for the framework around them (application router,
middlewares and signals, request/response objects, the payload stream, header
re-serialization). This server has llhttp parse a request (request_reader), reads the (bounded)
body whole, runs the endpoint in its own task (so an app that hangs up cancels its request and
the upstream call with it), and writes a unary answer in one socket write. The admin port uses
it too, with no body allowed.

A request llhttp refuses (control bytes, bad names, smuggling shapes) or that is over a size
limit gets a 4xx JSON error and the socket closes. The answers the server writes itself (404,
405, 500 and those refusals) carry the application's `own_answer_headers`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy

from .messages import (REASONS, Handler, OwnAnswerHeaders, Request, Response, StreamResponse, error_json, header_block,
                       http_date, with_own_headers)
from .request_reader import MAX_HEAD, BadRequest, Head, ReadRequest, RequestReader

__all__ = ["MAX_HEAD", "BadRequest", "Handler", "OwnAnswerHeaders", "Request", "Response", "Server", "StreamResponse",
           "error_json", "http_date"]

log = logging.getLogger("routecar.server")

_IDLE_SWEEP_S = 5.0
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HOP_BY_HOP = frozenset(("content-length", "transfer-encoding", "connection", "date", "keep-alive"))
_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE_10 = b"Connection: keep-alive\r\n"  # an HTTP/1.0 app closes unless told otherwise
# After refusing a request or its body, keep reading and dropping what the app still sends this
# long before closing, so it reads our answer instead of a reset for the unread bytes.
_LINGER_S = 2.0
# Bytes of pipelined requests held unparsed while one is answered; past this, reading pauses
# until the answer is out (the app's next request waits in its own socket buffer).
_HELD_BYTES = 64 << 10


class Server:
    """Routes by exact path, or by prefix for a path ending in `/*` (`/v1/models/*` takes
    `/v1/models/gpt-4o` and `/v1/models/org/name`; an exact path wins, then the longest
    prefix); `handler(request)` returns a Response, an aiohttp-style response
    (status/body/headers with a bytes body), or a StreamResponse it has already written.

    `own_answer_headers(request_or_None)` adds headers to the answers the server writes without
    an endpoint (404, 405, 500, refused requests); a name or value that could not go on the
    wire, or the hook raising, is logged and left out, never breaking the answer. The server's
    own headers (Content-Type, Allow, framing) win over the hook's."""

    def __init__(self, routes: Mapping[str, Mapping[str, Handler]], app: Mapping[Any, Any],
                 max_body: Callable[[], int], closing: Callable[[], bool] = lambda: False,
                 keepalive: float = 75.0, own_answer_headers: OwnAnswerHeaders | None = None):
        self.routes = {path: dict(methods) for path, methods in routes.items()}
        for methods in self.routes.values():
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
        self.prefixes = sorted(((path[:-1], methods) for path, methods in self.routes.items() if path.endswith("/*")),
                               key=lambda item: -len(item[0]))
        self.app = app
        self.max_body = max_body
        self.closing = closing  # draining: every answer says Connection: close
        self.keepalive = keepalive
        self.own_answer_headers = own_answer_headers
        self.connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._date_at = 0
        self._date = b""

    def methods_for(self, path: str) -> dict[str, Handler] | None:
        methods = self.routes.get(path)
        if methods is None and self.prefixes:
            for prefix, by_prefix in self.prefixes:
                if path.startswith(prefix) and len(path) > len(prefix):
                    return by_prefix
        return methods

    def own_headers(self, request: Request | None, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` (the server's own for an answer) with the hook's added where they do not clash."""
        return with_own_headers(headers, self.own_answer_headers, request, _HOP_BY_HOP)

    def date(self) -> bytes:
        now = time.time()
        sec = int(now)
        if sec != self._date_at:
            self._date_at = sec
            self._date = http_date(now)
        return self._date

    async def listen(self, host: str, port: int, backlog: int = 1024) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=backlog,
                                                reuse_address=True)
        self._sweeper = loop.call_later(min(_IDLE_SWEEP_S, self.keepalive), self._sweep)
        return int(self._server.sockets[0].getsockname()[1])

    def stop_listening(self) -> None:
        """New connections are refused from now on; open ones keep going."""
        if self._server is not None:
            self._server.close()

    def close_idle(self) -> None:
        """Idle keep-alive sockets close now, busy ones right after their answer."""
        for conn in list(self.connections):
            conn.close_when_idle()

    async def shutdown(self, timeout: float) -> None:
        """Give busy connections `timeout` to finish, then cut everything."""
        self.stop_listening()
        self.close_idle()
        deadline = time.monotonic() + timeout
        while any(c.busy for c in self.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _sweep(self) -> None:
        limit = time.monotonic() - self.keepalive
        for conn in [c for c in self.connections if not c.busy and c.idle_since < limit]:
            conn.close_when_idle()
        self._sweeper = asyncio.get_running_loop().call_later(min(_IDLE_SWEEP_S, self.keepalive), self._sweep)


class _Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "reader", "lingering", "busy", "task", "closed", "close_after", "idle_since",
                 "write_paused", "_drain", "_read_paused", "loop", "streamed")

    def __init__(self, server: Server):
        self.server = server
        self.transport: Any = None
        self.reader = RequestReader(server.max_body)
        self.lingering = False  # a refused body is being read and dropped before the close
        self.busy = False
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.close_after = False
        self.idle_since = time.monotonic()
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._read_paused = False
        self.loop = asyncio.get_running_loop()
        self.streamed: Request | None = None  # the request whose stream head is on the wire

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        task = self.task
        if task is not None and not task.done():
            task.cancel()  # the app hung up: its request (and the upstream call) stops here
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("the app closed the connection"))
        self._drain = None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self._drain
        self._drain = None
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self._read_paused and not self.busy and not self.closed:
            self._resume()  # answers were held back by a client not reading them (see _done)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the app closed the connection")
        if not self.write_paused:
            return
        if self._drain is None:
            self._drain = self.loop.create_future()
        await self._drain

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        self.reader.feed(data)
        if self.busy:
            # Not parsed while a request is answered: a pipelined request is held as bytes, and
            # past _HELD_BYTES the app waits until this answer is out.
            if self.reader.buffered > _HELD_BYTES and not self._read_paused:
                self._read_paused = True
                self.transport.pause_reading()
            return
        self._next()

    # -- requests -----------------------------------------------------------------------------

    def _next(self) -> None:
        reader = self.reader
        try:
            read = reader.next()
        except BadRequest as exc:
            self._refuse(exc)
            return
        if read is None:
            # Sent only now that this request's body is the next thing to read (never while an
            # earlier pipelined request is answered, never once any of the body is here).
            if reader.take_continue() and not self.closed:
                self.transport.write(_CONTINUE)
            return
        self.busy = True
        self.task = self.loop.create_task(self._run(self._request(read)))

    def _request(self, read: ReadRequest) -> Request:
        keep_alive = read.head.keep_alive
        if read.too_large:
            keep_alive = False  # the rest of the body is never read
            self.reader.discard()
            self.lingering = True
        return self._make_request(read.head, read.body, keep_alive)

    def _make_request(self, head: Head, body: bytes, keep_alive: bool) -> Request:
        path, _, query = head.target.partition("?")
        return Request(head.method, path, query, CIMultiDictProxy(CIMultiDict(head.pairs)), self.server.app,
                       head.length, body, keep_alive, self, head.version)

    async def _run(self, request: Request) -> None:
        server = self.server
        methods = server.routes.get(request.path)
        if methods is None and server.prefixes:
            methods = server.methods_for(request.path)
        try:
            if methods is None:
                answer: Any = Response(404, error_json(404, f"Unknown endpoint {request.method} {request.path}.",
                                                       "not_found"),
                                       server.own_headers(request, {"Content-Type": "application/json"}))
            else:
                handler = methods.get(request.method)
                if handler is None:
                    answer = Response(405, error_json(405, f"{request.method} is not allowed on {request.path}.",
                                                      "method_not_allowed"),
                                      server.own_headers(request, {"Allow": ", ".join(sorted(methods)),
                                                                   "Content-Type": "application/json"}))
                else:
                    answer = await handler(request)
        except asyncio.CancelledError:
            if not self.closed:
                self.abort()  # not the app hanging up: a cancellation out of the endpoint; never hang
            raise
        except ConnectionResetError as exc:
            if self.closed:
                return  # the app hung up (a write failed); nothing to answer
            answer = self._internal_error(exc, request)  # an upstream socket's error, not the app's
        except Exception as exc:
            answer = self._internal_error(exc, request)
        if self.closed:
            return
        if self.streamed is request and not isinstance(answer, StreamResponse):
            self.abort()  # failed mid-stream: the head is out, so the cut is the only error left
            return
        if isinstance(answer, StreamResponse):
            if not answer.prepared:  # nothing was written: answer its status, empty
                answer = Response(answer.status, b"", answer.headers)
            else:
                if not answer._eof:
                    try:
                        await answer.write_eof()
                    except ConnectionResetError:
                        return
                self._done(answer._close or not request.keep_alive)
                return
        try:
            close = self._write_whole(answer, request)
        except Exception as exc:  # an answer that cannot be put on the wire (header text, body type)
            close = self._write_whole(self._internal_error(exc, request), request)
        self._done(close)

    def _internal_error(self, exc: BaseException, request: Request) -> Response:
        # An endpoint bug: a clean 500, never a traceback.
        log.error("internal error in an endpoint", exc_info=exc)
        return Response(500, error_json(500, "routecar hit an internal error.", "internal_error"),
                        self.server.own_headers(request, {"Content-Type": "application/json"}))

    def _write_whole(self, answer: Any, request: Request) -> bool:
        body = answer.body or b""
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"an answer body must be bytes, not {type(body).__name__}")
        close = not request.keep_alive or self.close_after or self.server.closing()
        status = answer.status
        head = b"HTTP/1.1 %d %b\r\n%bContent-Length: %d\r\nDate: %b\r\n%b\r\n" % (
            status, REASONS.get(status, b"Unknown"), header_block(answer.headers, _HOP_BY_HOP), len(body),
            self.server.date(), _CLOSE if close else _KEEP_ALIVE_10 if request.version == "HTTP/1.0" else b"")
        self.transport.write(head + body if request.method != "HEAD" else head)
        return close

    def write_stream_head(self, resp: StreamResponse, request: Request) -> None:
        if self.server.closing() or not request.keep_alive or self.close_after:
            resp._close = True
        if request.version == "HTTP/1.0":  # it cannot read chunked framing: the close ends the body
            resp._raw = resp._close = True
        status = resp.status
        head = b"HTTP/1.1 %d %b\r\n%b%bDate: %b\r\n%b\r\n" % (
            status, REASONS.get(status, b"Unknown"), header_block(resp.headers, _HOP_BY_HOP),
            b"" if resp._raw else b"Transfer-Encoding: chunked\r\n", self.server.date(),
            _CLOSE if resp._close else b"")
        if self.closed:
            raise ConnectionResetError("the app closed the connection")
        self.transport.write(head)
        self.streamed = request

    def write_body(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the app closed the connection")
        self.transport.write(data)

    def _done(self, close: bool) -> None:
        self.task = None
        self.busy = False
        self.idle_since = time.monotonic()
        if close or self.close_after or self.server.closing():
            self._close()
            return
        if self.write_paused:
            # A pipelining app that does not read its answers: take no more requests until it
            # does (resume_writing), or they would pile up in the write buffer without bound.
            if not self._read_paused:
                self._read_paused = True
                self.transport.pause_reading()
            return
        self._resume()

    def _resume(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
        if self.reader.buffered or self.reader.ready:
            self._next()  # a request that arrived while this one was answered

    def _refuse(self, exc: BadRequest) -> None:
        """The JSON error for bytes that are not an acceptable request, then the close. Nothing of
        the request is echoed: the message is the reader's own text."""
        if self.closed:
            return
        status = exc.status
        if status == 500:  # a bug of ours, not the app's bytes
            log.error("could not read a request", exc_info=exc)
        request = self._make_request(exc.head, b"", False) if exc.head is not None else None
        headers = header_block(self.server.own_headers(request, {"Content-Type": "application/json"}), _HOP_BY_HOP)
        body = error_json(status, f"Bad HTTP request: {exc}.", "bad_http_request")
        self.transport.write(b"HTTP/1.1 %d %b\r\n%bContent-Length: %d\r\nDate: %b\r\n%b\r\n%b" % (
            status, REASONS.get(status, b"Bad Request"), headers, len(body), self.server.date(), _CLOSE, body))
        self.reader.discard()
        self.lingering = True  # the app may still be sending the refused request
        self._close()

    def _close(self) -> None:
        if self.closed:
            return
        if self.lingering and self.transport.can_write_eof():
            # Our answer is out; the app may still be sending the refused body. Half-close and
            # drop what it sends for a moment, or its unread bytes turn our close into a reset
            # that can destroy the answer before the app reads it.
            self.transport.write_eof()
            self.loop.call_later(_LINGER_S, self.abort)
            return
        self.closed = True
        self.transport.close()

    def close_when_idle(self) -> None:
        if self.busy:
            self.close_after = True
        elif not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.abort()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
