"""What endpoints see and return on routecar's HTTP/1.1 server (Request, Response, StreamResponse),
and the rules every answer header passes."""

from __future__ import annotations

import logging
import re
import time
from http import HTTPStatus
from typing import Any, Protocol, Awaitable, Callable, Mapping, Optional, Union

import orjson
from multidict import CIMultiDict, CIMultiDictProxy



class AnswerWriter(Protocol):
    """What a streamed answer needs of its connection (the server's, http1/server.py)."""

    write_paused: bool

    def write_stream_head(self, resp: StreamResponse, request: Request) -> None: ...

    def write_body(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Handler = Callable[["Request"], Awaitable[Any]]
# Headers the application adds to every answer the server writes itself (no endpoint ran, or
# its answer failed): given the request, or None when the bytes never made a request head.
OwnAnswerHeaders = Callable[[Optional["Request"]], Mapping[str, str]]

log = logging.getLogger("routecar.server")


# RFC 9110: a header name is a token; a value is visible bytes, spaces and tabs (obs-text
# included). No other control byte: a NUL or ESC echoed from somewhere must not reach the app,
# and a CR or LF would split the answer in two.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What a header block may hold: TAB, CR, LF (counted apart), visible ASCII, space, obs-text.
_ALLOWED_BYTES = b"\t\r\n" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
# Names checked once and for all: the headers routecar itself puts on answers. Any other name
# is checked on every use (it may come from somewhere else).
_KNOWN_NAMES = frozenset((
    "Content-Type", "Cache-Control", "X-Accel-Buffering", "Retry-After", "Allow", "x-routecar-request-id",
    "x-routecar-route", "x-routecar-model", "x-routecar-provider", "x-routecar-attempts", "x-routecar-overhead-ms",
    "x-routecar-cost-usd", "x-routecar-cache", "x-routecar-dropped-params", "x-routecar-estimated",
    "x-routecar-upstream-model", "x-routecar-token-count",
))


def header_block(headers: Mapping[str, Any], skip: frozenset[str]) -> bytes:
    """`Name: value` lines for every header not in `skip` (lower-case names), as one block.
    Raises ValueError for a name or value that cannot go on the wire as it is."""
    lines = [f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() not in skip]
    block = "".join(lines)
    n = len(lines)
    # Checked on the whole block at C speed: exactly one CR and one LF per line, no control
    # byte but TAB (deleting every allowed byte leaves nothing), and names known to be tokens
    # (any other name is checked).
    data = block.encode("latin-1")
    if (block.count("\n") != n or block.count("\r") != n or data.translate(None, _ALLOWED_BYTES)
            or not (_KNOWN_NAMES.issuperset(headers) or all(map(_TOKEN.fullmatch, headers)))):
        bad = next(name for name, value in headers.items()
                   if not _TOKEN.fullmatch(name) or _CONTROL.search(str(value)))
        raise ValueError(f"response header {bad[:64]!r} cannot be sent as it is")
    return data


def with_own_headers(headers: Mapping[str, str], hook: "OwnAnswerHeaders | None", request: "Request | None",
                     skip: frozenset[str]) -> dict[str, str]:
    """`headers` plus the hook's, for an answer the server writes itself. The hook's never replace
    one of `headers` or a `skip` (framing) header; one that could not go on the wire, or the hook
    raising, is logged and left out: a hook can never break the answer."""
    merged = dict(headers)
    if hook is None:
        return merged
    try:
        extra = list(hook(request).items())
    except Exception:
        log.exception("own_answer_headers failed; the answer goes without its headers")
        return merged
    taken = {name.lower() for name in merged} | skip
    for name, value in extra:
        try:
            if not isinstance(name, str):
                raise TypeError("a header name is a str")
            header_block({name: value}, skip)  # the rules every answer's headers pass
        except Exception:
            log.warning("own_answer_headers gave a header that cannot be sent: %r", name)
            continue
        if name.lower() not in taken:
            taken.add(name.lower())
            merged[name] = value
    return merged


class Request:
    """What an endpoint sees: method, path, headers, the whole body (bounded by the server)."""

    __slots__ = ("method", "path", "query_string", "headers", "app", "content_length", "_body", "keep_alive",
                 "_conn", "version")

    def __init__(self, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str], app: Mapping[Any, Any],
                 content_length: int | None, body: bytes, keep_alive: bool, conn: AnswerWriter, version: str):
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

    @property
    def body(self) -> bytes:
        """The whole body: the server reads it (bounded) before the endpoint runs."""
        return self._body

    async def read(self) -> bytes:
        return self._body



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
        self._conn: AnswerWriter | None = None
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


