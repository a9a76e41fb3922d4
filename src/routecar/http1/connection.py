"""One keep-alive HTTP/1.1 connection to an upstream: writes a request, parses the response.

Why not aiohttp's client: its per-request machinery (ClientRequest/ClientResponse objects,
timers, traces, cookie jar, redirects, the connector's bookkeeping) was the largest single cost
in routecar's profile (~75 µs of CPU per request on this stack). A sidecar talks to a handful
of known origins with plain POSTs, so this client does exactly that: one write per request, a
response head parsed in one pass, Content-Length, chunked or until-close bodies, gzip/deflate,
and nothing else (no redirects, cookies, proxies or pipelining).

Parsing is strict where it matters for safety (status line, header syntax, conflicting
lengths, chunk sizes) and anything off makes the exchange fail as `MalformedResponse`; the
connection is then never reused.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from multidict import CIMultiDict

from .chunks import MAX_CHUNK_LINE, ChunkError, read_chunk_size
from .errors import ConnectionBroken, MalformedResponse
from .response import Response

MAX_HEAD = 64 << 10  # status line + headers

# what the connection is reading
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE = range(8)


class Connection(asyncio.Protocol):
    """A single upstream socket; the pool lends it to one request at a time."""

    __slots__ = ("transport", "_state", "_buf", "_remaining", "_response", "_head_waiter", "_no_body",
                 "_reusable", "closed", "idle_since", "_on_release", "reused", "counted", "heard")

    def __init__(self, on_release: Callable[["Connection", bool], None]):
        self.transport: Any = None
        self._state = _IDLE
        self._buf = b""
        self._remaining = 0
        self._response: Response | None = None
        self._head_waiter: asyncio.Future[Response] | None = None
        self._no_body = False
        self._reusable = True
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self.heard = False  # any byte arrived since the last request was written
        self.counted = False  # the pool counts it against its connection limit
        self._on_release = on_release

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = not self.closed
        self.closed = True
        state = self._state
        if state == _UNTIL_CLOSE and exc is None:
            self._complete()
        elif state != _IDLE:
            self._fail(ConnectionBroken(f"upstream closed the connection ({type(exc).__name__})" if exc else
                                        "upstream closed the connection before the response was complete"))
        if was_open:
            self._on_release(self, False)

    def pause_writing(self) -> None:  # request bodies are small and written at once
        pass

    def resume_writing(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.heard = True
        try:
            self._receive(data)
        except MalformedResponse as exc:
            self._fail(exc)
            self.abort()

    # -- used by the pool -----------------------------------------------------------------

    def send(self, head: bytes, body: bytes, no_body: bool, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Response]:
        """Write one request; the future resolves with the response once its head is parsed."""
        self._state = _HEAD
        self._buf = b""
        self._no_body = no_body
        self.heard = False
        waiter: asyncio.Future[Response] = loop.create_future()
        self._head_waiter = waiter
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        return waiter

    def abort(self) -> None:
        """Drop the socket now (a request abandoned mid-way must not leave it reusable)."""
        self._reusable = False
        if self._state != _IDLE:
            # End the exchange here: the close that follows must not read as a clean end of an
            # until-close body, and whoever still waits on it learns it is gone.
            self._fail(ConnectionBroken("connection dropped before the response was complete"))
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            self._on_release(self, False)

    # -- parsing ------------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        state = self._state
        if state == _HEAD:
            old = self._buf
            if old:  # resume the search where the last one stopped: a trickled head stays linear
                buf = old + data
                end = buf.find(b"\r\n\r\n", len(old) - 3 if len(old) > 3 else 0)
            else:
                buf = data
                end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise MalformedResponse("response head too large")
                self._buf = buf
                return
            if end > MAX_HEAD:
                raise MalformedResponse("response head too large")
            self._buf = b""
            rest = buf[end + 4:]
            if not self._parse_head(buf[:end]):  # 1xx interim response: the real one follows
                if rest:
                    self._receive(rest)
                return
            if rest:
                self._body(rest)
        elif state == _IDLE:
            # Bytes nobody asked for: the server is confused; never reuse this socket.
            self.abort()
        else:
            self._body(data)

    def _parse_head(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise MalformedResponse("not an HTTP/1.1 status line")
        status = int(parts[1])
        if status < 100:
            raise MalformedResponse("not an HTTP/1.1 status line")
        if status < 200:
            if status == 101:
                raise MalformedResponse("unexpected protocol switch")
            return False
        # A CR or LF not part of a CRLF would let another parser see different headers.
        if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:
            raise MalformedResponse("bare CR or LF in the response head")
        pairs: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        other_coding = False
        close = parts[0] == b"HTTP/1.0"
        # One decode for the whole head, not two per header line.
        for line in head[len(status_line) + 2:].decode("latin-1").split("\r\n") if len(lines) > 1 else ():
            n, sep, value = line.partition(":")
            if not sep or not n or n[-1] in " \t" or line[0] in " \t":
                raise MalformedResponse("malformed response header line")
            v = value.strip(" \t")
            pairs.append((n, v))
            low = n.lower()
            if low == "content-length":
                # str.isdigit also takes non-ASCII digits ("\xb2" decodes to "²"), which int() refuses
                if not (v.isdigit() and v.isascii()) or len(v) > 18 or (length is not None and int(v) != length):
                    raise MalformedResponse("invalid or conflicting Content-Length")
                length = int(v)
            elif low == "transfer-encoding":
                chunked = v.lower().rsplit(",", 1)[-1].strip() == "chunked"
                other_coding = not chunked
            elif low == "connection":
                tokens = v.lower()
                if "close" in tokens:
                    close = True
                elif "keep-alive" in tokens and parts[0] == b"HTTP/1.0":
                    close = False
        if other_coding:  # some other coding, whatever Content-Length says: the body runs until close
            close = True
            length = None
        if close:
            self._reusable = False
        headers = CIMultiDict(pairs)
        response = Response(status, parts[2].decode("latin-1") if len(parts) > 2 else "", headers,
                            self._pause_reading, self.abort)
        self._response = response
        if self._no_body or status in (204, 304):
            self._state = _IDLE
        elif chunked:
            self._state = _CHUNK_SIZE
            if length is not None:  # both framings: chunked wins (RFC 9112 6.3) but trust is gone
                self._reusable = False
        elif length is not None:
            self._state = _LENGTH
            self._remaining = length
        else:
            self._state = _UNTIL_CLOSE
            self._reusable = False
        waiter = self._head_waiter
        self._head_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if self._state == _IDLE or (self._state == _LENGTH and length == 0):
            self._complete()
        return True

    def _body(self, data: bytes) -> None:
        state = self._state
        response = self._response
        assert response is not None
        if state == _LENGTH:
            n = len(data)
            if n < self._remaining:
                self._remaining -= n
                response.feed(data)
                return
            take = self._remaining
            self._remaining = 0
            response.feed(data[:take] if n > take else data)
            if n > take:
                self._reusable = False  # bytes past the declared length
            self._complete()
        elif state == _UNTIL_CLOSE:
            response.feed(data)
        elif state == _IDLE:
            self.abort()
        else:
            self._chunked(data)

    def _chunked(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos, end = 0, len(buf)
        response = self._response
        assert response is not None
        state = self._state
        while pos < end:
            if state == _CHUNK_DATA:
                take = min(self._remaining, end - pos)
                response.feed(buf[pos:pos + take] if take < end or pos else buf)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if end - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise MalformedResponse("chunk not followed by CRLF")
                pos += 2
                state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                try:
                    line = read_chunk_size(buf, pos, end)
                except ChunkError as exc:
                    raise MalformedResponse(str(exc)) from None
                if line is None:
                    break
                size, pos = line
                if size == 0:
                    state = _TRAILERS
                else:
                    self._remaining = size
                    state = _CHUNK_DATA
            else:  # _TRAILERS: ignored, up to the empty line
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if end - pos > MAX_CHUNK_LINE:
                        raise MalformedResponse("trailer line too long")
                    break
                if nl == pos:
                    pos += 2
                    if pos < end:
                        self._reusable = False
                    self._buf = b""
                    self._complete()
                    return
                pos = nl + 2
        self._state = state
        self._buf = buf[pos:] if pos < end else b""

    # -- end of an exchange -------------------------------------------------------------------

    def _complete(self) -> None:
        response = self._response
        self._response = None
        self._state = _IDLE
        self._buf = b""
        if response is not None:
            response.finish()
        if not self.closed:
            self._on_release(self, self._reusable)

    def _fail(self, exc: Exception) -> None:
        self._reusable = False
        waiter = self._head_waiter
        self._head_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        response = self._response
        self._response = None
        if response is not None:
            response.fail(exc)
        self._state = _IDLE

    def _pause_reading(self, pause: bool) -> None:
        if self.closed or self.transport is None:
            return
        try:
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
        except RuntimeError:  # the transport is closing
            pass
