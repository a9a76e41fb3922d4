"""The data port's HTTP/1.1 server: keep-alive connections, one task per request.

Why not aiohttp's web server here: the data port has four endpoints, JSON bodies and SSE
answers, and every request pays for the framework around them (application router,
middlewares and signals, request/response objects, the payload stream, header
re-serialization). This server parses a request head in one pass, reads the (bounded) body
whole, runs the endpoint in its own task (so an app that hangs up cancels its request and the
upstream call with it), and writes a unary answer in one socket write. The admin port uses it
too, with no body allowed.

Strict where safety needs it (request smuggling: conflicting or doubled framing is refused;
header syntax; size limits); a malformed request gets a 400 JSON error and the socket closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Mapping, Union

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

log = logging.getLogger("routecar.server")

MAX_HEAD = 128 << 10  # request line + headers
_MAX_CHUNK_LINE = 4 << 10
_HEX = frozenset(b"0123456789abcdefABCDEF")
_IDLE_SWEEP_S = 5.0
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HOP_BY_HOP = frozenset(("content-length", "transfer-encoding", "connection", "date", "keep-alive"))

_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE_10 = b"Connection: keep-alive\r\n"  # an HTTP/1.0 app closes unless told otherwise
_MAX_TRAILERS = 16 << 10

Handler = Callable[["Request"], Awaitable[Any]]


def _header_line(name: str, value: Any) -> bytes:
    line = f"{name}: {value}\r\n"
    if line.count("\n") != 1 or line.count("\r") != 1:  # would split the answer in two
        raise ValueError(f"CR or LF in response header {name!r}")
    return line.encode("latin-1")


class BadRequest(Exception):
    """The bytes are not an acceptable HTTP/1.1 request."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class _Body:
    """`request.content`: the body, already read, as the one piece `iter_any()` yields."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes):
        self._data = data

    async def iter_any(self) -> Any:
        if self._data:
            yield self._data


class Request:
    """What an endpoint sees: method, path, headers, the whole body (bounded by the server)."""

    __slots__ = ("method", "path", "query_string", "headers", "app", "content_length", "_body", "keep_alive",
                 "_conn", "version")

    def __init__(self, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str], app: Mapping[Any, Any],
                 content_length: int | None, body: bytes, keep_alive: bool, conn: "_Connection", version: str):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.app = app
        self.content_length = content_length
        self._body = body
        self.keep_alive = keep_alive
        self._conn = conn
        self.version = version

    async def read(self) -> bytes:
        return self._body

    @property
    def content(self) -> _Body:
        return _Body(self._body)


class Response:
    """A whole answer, written in one socket write."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int = 200, body: bytes = b"", headers: Mapping[str, str] | None = None,
                 content_type: str | None = None):
        self.status = status
        self.body = body
        h: dict[str, str] = dict(headers) if headers else {}
        if content_type is not None:
            h["Content-Type"] = content_type
        self.headers = h


class StreamResponse:
    """An answer written as it is produced (SSE): chunked, one socket write per piece, never
    coalesced, with the socket's back-pressure honoured between pieces."""

    __slots__ = ("status", "headers", "prepared", "_conn", "_eof", "_close", "_raw")

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None):
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self.prepared = False
        self._conn: _Connection | None = None
        self._eof = False
        self._close = False
        self._raw = False  # an HTTP/1.0 app: no chunked framing, the close ends the body

    def force_close(self) -> None:
        self._close = True

    async def prepare(self, request: Request) -> "StreamResponse":
        if self.prepared:
            return self
        conn = request._conn
        self._conn = conn
        self.prepared = True
        conn.write_stream_head(self, request)
        return self

    async def write(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            raise RuntimeError("write() before prepare()")
        if not data:
            return
        conn.write_body(data if self._raw else b"%x\r\n%b\r\n" % (len(data), data))
        if conn.write_paused:
            await conn.drain()

    async def write_eof(self) -> None:
        if self._eof or self._conn is None:
            return
        self._eof = True
        if self._raw:
            return
        self._conn.write_body(b"0\r\n\r\n")
        if self._conn.write_paused:
            await self._conn.drain()


Answer = Union[Response, StreamResponse, Any]


def http_date(now: float) -> bytes:
    t = time.gmtime(now)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT").encode()


def error_json(status: int, message: str, code: str) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}})


class Server:
    """Routes by exact path; `handler(request)` returns a Response, an aiohttp-style response
    (status/body/headers), or a StreamResponse it has already written."""

    def __init__(self, routes: Mapping[str, Mapping[str, Handler]], app: Mapping[Any, Any],
                 max_body: Callable[[], int], closing: Callable[[], bool] = lambda: False,
                 keepalive: float = 75.0):
        self.routes = {path: dict(methods) for path, methods in routes.items()}
        for methods in self.routes.values():
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
        self.app = app
        self.max_body = max_body
        self.closing = closing  # draining: every answer says Connection: close
        self.keepalive = keepalive
        self.connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._date_at = 0
        self._date = b""

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
    __slots__ = ("server", "transport", "buf", "busy", "task", "closed", "close_after", "idle_since",
                 "write_paused", "_drain", "_read_paused", "loop", "streamed")

    def __init__(self, server: Server):
        self.server = server
        self.transport: Any = None
        self.buf = b""
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
        self.buf = self.buf + data if self.buf else data
        if self.busy:
            if len(self.buf) > MAX_HEAD and not self._read_paused:
                self._read_paused = True  # a pipelining app waits until this answer is out
                self.transport.pause_reading()
            return
        self._next()

    # -- requests -----------------------------------------------------------------------------

    def _next(self) -> None:
        try:
            request = self._parse()
        except BadRequest as exc:
            self._refuse(exc.status, str(exc))
            return
        if request is None:
            return
        self.busy = True
        self.task = self.loop.create_task(self._run(request))

    def _parse(self) -> Request | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise BadRequest("request head too large", 431)
            return None
        lines = buf[:end].split(b"\r\n")
        # A lone CR or LF would end a line for some other parser (smuggling), and a value carrying
        # one would split the answer if an endpoint echoes it (x-routecar-request-id).
        if buf.count(b"\n", 0, end) != len(lines) - 1 or buf.count(b"\r", 0, end) != len(lines) - 1:
            raise BadRequest("bare CR or LF in the request head")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[0].isalpha():
            raise BadRequest("malformed request line")
        pairs: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        connection = ""
        expect = False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in (b" ", b"\t") or line[:1] in (b" ", b"\t"):
                raise BadRequest("malformed header line")
            n = name.decode("latin-1")
            v = value.strip(b" \t").decode("latin-1")
            pairs.append((n, v))
            low = n.lower()
            if low == "content-length":
                if not (v.isdigit() and v.isascii()) or (length is not None and int(v) != length):
                    raise BadRequest("invalid or conflicting Content-Length")
                length = int(v)
            elif low == "transfer-encoding":
                if chunked or v.lower() != "chunked":
                    raise BadRequest("unsupported Transfer-Encoding", 501 if v.lower() != "chunked" else 400)
                chunked = True
            elif low == "connection":
                connection = v.lower()
            elif low == "expect":
                if v.lower() != "100-continue":
                    raise BadRequest("unsupported Expect", 417)
                expect = True
        if chunked and length is not None:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        version = parts[2]
        keep_alive = "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
        cap = self.server.max_body()
        start = end + 4
        too_large = False
        if chunked:
            decoded = self._dechunk(buf, start, cap)
            if decoded is None:
                if expect and not self._continued(buf):
                    self._send_continue()
                return None
            body, consumed, too_large = decoded
        elif length:
            if length > cap:
                body, consumed, too_large = b"", start, True  # the endpoint answers 413 unread
            else:
                if len(buf) - start < length:
                    if expect and len(buf) == start:
                        self._send_continue()
                    return None
                consumed = start + length
                body = buf[start:consumed]
        else:
            body, consumed = b"", start
        if too_large:
            keep_alive = False  # the rest of the body is never read
            self.buf = b""
        else:
            self.buf = buf[consumed:]
        target = parts[1].decode("latin-1")
        path, _, query = target.partition("?")
        return Request(parts[0].decode("ascii"), path, query, CIMultiDictProxy(CIMultiDict(pairs)), self.server.app,
                       length, body, keep_alive, self, version.decode("ascii"))

    def _continued(self, buf: bytes) -> bool:
        return len(buf) > buf.find(b"\r\n\r\n") + 4

    def _send_continue(self) -> None:
        if not self.closed:
            self.transport.write(_CONTINUE)

    @staticmethod
    def _dechunk(buf: bytes, pos: int, cap: int) -> tuple[bytes, int, bool] | None:
        """A chunked body from `buf[pos:]`: (body, end offset, over the cap) or None if incomplete."""
        pieces: list[bytes] = []
        size_total = 0
        end = len(buf)
        first = pos
        while True:
            # Framing (size lines, extensions) is bounded too, or tiny chunks with long
            # extensions would buffer far more than the body cap.
            if pos - first - size_total > MAX_HEAD + size_total:
                raise BadRequest("chunked framing too large")
            nl = buf.find(b"\r\n", pos)
            if nl < 0 or nl - pos > _MAX_CHUNK_LINE:
                if end - pos > _MAX_CHUNK_LINE:
                    raise BadRequest("chunk size line too long")
                return None
            size_text = buf[pos:nl].split(b";", 1)[0].strip(b" \t")
            if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
                raise BadRequest("invalid chunk size")
            size = int(size_text, 16)
            pos = nl + 2
            if size == 0:
                trailers = pos
                while True:  # trailers, up to the empty line
                    nl = buf.find(b"\r\n", pos)
                    if (nl if nl >= 0 else end) - trailers > _MAX_TRAILERS:
                        raise BadRequest("chunked trailers too large", 431)
                    if nl < 0:
                        return None
                    if nl == pos:
                        return b"".join(pieces), nl + 2, False
                    pos = nl + 2
            if end - pos < size + 2:
                if size_total + (end - pos) > cap:
                    pieces.append(buf[pos:end])
                    return b"".join(pieces), end, True
                return None
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise BadRequest("chunk not followed by CRLF")
            pieces.append(buf[pos:pos + size])
            size_total += size
            pos += size + 2
            if size_total > cap:
                return b"".join(pieces), pos, True

    async def _run(self, request: Request) -> None:
        server = self.server
        methods = server.routes.get(request.path)
        try:
            if methods is None:
                answer: Any = Response(404, error_json(404, f"Unknown endpoint {request.method} {request.path}.",
                                                       "not_found"), content_type="application/json")
            else:
                handler = methods.get(request.method)
                if handler is None:
                    answer = Response(405, error_json(405, f"{request.method} is not allowed on {request.path}.",
                                                      "method_not_allowed"),
                                      {"Allow": ", ".join(sorted(methods))}, content_type="application/json")
                else:
                    answer = await handler(request)
        except asyncio.CancelledError:
            if not self.closed:
                self.abort()  # not the app hanging up: a cancellation out of the endpoint; never hang
            raise
        except ConnectionResetError as exc:
            if self.closed:
                return  # the app hung up (a write failed); nothing to answer
            answer = self._internal_error(exc)  # an upstream socket's error, not the app's
        except Exception as exc:
            answer = self._internal_error(exc)
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
            close = self._write_whole(self._internal_error(exc), request)
        self._done(close)

    @staticmethod
    def _internal_error(exc: BaseException) -> Response:
        # An endpoint bug: a clean 500, never a traceback.
        log.error("internal error in an endpoint", exc_info=exc)
        return Response(500, error_json(500, "routecar hit an internal error.", "internal_error"),
                        content_type="application/json")

    def _write_whole(self, answer: Any, request: Request) -> bool:
        body = answer.body or b""
        if not isinstance(body, (bytes, bytearray)):
            body = bytes(body._value) if hasattr(body, "_value") else b""
        close = not request.keep_alive or self.close_after or self.server.closing()
        status = answer.status
        head = [b"HTTP/1.1 %d %b\r\n" % (status, _REASONS.get(status, b"Unknown"))]
        for name, value in answer.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                head.append(_header_line(name, value))
        head.append(b"Content-Length: %d\r\nDate: %b\r\n%b\r\n" % (
            len(body), self.server.date(),
            _CLOSE if close else _KEEP_ALIVE_10 if request.version == "HTTP/1.0" else b""))
        if request.method != "HEAD":
            head.append(body)
        self.transport.write(b"".join(head))
        return close

    def write_stream_head(self, resp: StreamResponse, request: Request) -> None:
        if self.server.closing() or not request.keep_alive or self.close_after:
            resp._close = True
        if request.version == "HTTP/1.0":  # it cannot read chunked framing: the close ends the body
            resp._raw = resp._close = True
        status = resp.status
        head = [b"HTTP/1.1 %d %b\r\n" % (status, _REASONS.get(status, b"Unknown"))]
        for name, value in resp.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                head.append(_header_line(name, value))
        head.append(b"%bDate: %b\r\n%b\r\n" % (
            b"" if resp._raw else b"Transfer-Encoding: chunked\r\n", self.server.date(),
            _CLOSE if resp._close else b""))
        if self.closed:
            raise ConnectionResetError("the app closed the connection")
        self.transport.write(b"".join(head))
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
            self.closed = True
            self.transport.close()
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
        if self.buf:
            self._next()  # a request that arrived while this one was answered

    def _refuse(self, status: int, message: str) -> None:
        body = error_json(status, f"Bad HTTP request: {message}.", "bad_http_request")
        if not self.closed:
            self.transport.write(b"HTTP/1.1 %d %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                                 b"Connection: close\r\n\r\n%b" % (status, _REASONS.get(status, b"Bad Request"),
                                                                   len(body), body))
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
