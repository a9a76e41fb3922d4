"""One keep-alive HTTP/1.1 connection to an upstream: writes a request, parses the response.

Why not aiohttp's client: its per-request machinery (ClientRequest/ClientResponse objects,
timers, traces, cookie jar, redirects, the connector's bookkeeping) was the largest single cost
in routecar's profile (~75 µs of CPU per request on this stack). A sidecar talks to a handful
of known origins with plain POSTs and GETs, so this client does exactly that: one write per
request, Content-Length, chunked or until-close bodies, gzip/deflate, and nothing else (no
HEAD, redirects, cookies or pipelining; forward proxies are the pool's, see proxy.py).

Bytes become messages in llhttp (httptools), which is strict where it matters for safety
(status line, header syntax and control bytes, conflicting or doubled framing, chunk sizes).
What llhttp leaves to its caller is done here: budgets for the head, the interim 1xx answers
and the chunk framing (llhttp itself buffers nothing, but httptools joins a header's pieces
until the header ends), the end of an until-close body (httptools has no finish(), so the
close of the socket ends it), and the rule that a socket goes back to the pool only after a
clean, complete exchange. Anything off fails the exchange as `MalformedResponse` and the
socket is dropped.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
from multidict import CIMultiDict

from .deadline import Deadline
from .errors import ConnectionBroken, HttpClientError, MalformedResponse
from .response import Response

# Status line plus headers, interim answers included. Providers' heads are 1-4 KiB; 64 KiB is
# the largest default among common servers and proxies (Node allows 16 KiB, nginx 4 x 8 KiB
# per line, Apache 8 KiB per line x 100 lines), so a real head never comes near it.
MAX_HEAD = 64 << 10
# Header lines in one head. Providers send 20-40 (rate limits, tracing, CDN); Apache's and
# Go's limits are around 100; a head with more is not a real server's.
MAX_HEADERS = 128
# Interim answers (100 Continue, 102 Processing, 103 Early Hints) before the real one. We never
# send `Expect`, so even 100 is unasked for; a handful of Early Hints is the most a real server
# sends. Each costs a round of callbacks, so a server streaming them is cut off here, and their
# bytes count in MAX_HEAD as well.
MAX_INTERIM = 10
# Bytes of chunked framing in a row with no body byte among them: chunk-size lines (with
# extensions) and trailers. Real ones are a dozen bytes per chunk and a few trailer lines;
# without this bound a server could stream one endless trailer, which httptools would keep
# joining in memory.
MAX_FRAMING = 64 << 10

# RFC 9110 reason-phrase: HTAB, SP, VCHAR and obs-text; everything else below 0x20, and DEL, is not.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# what the connection is reading
_IDLE, _HEAD, _BODY = range(3)


class Connection(asyncio.Protocol):
    """A single upstream socket; the pool lends it to one request at a time.

    It is both the asyncio protocol of the socket and the callback object of its llhttp
    parser (the `on_*` methods), so bytes go from the socket to the parser to the Response
    with no layer in between.
    """

    __slots__ = ("transport", "_parser", "_state", "_response", "_head_waiter", "_head_left", "_interims",
                 "_pairs", "_reason", "_body_seen", "_framing", "_ended", "_until_close", "_error",
                 "_reusable", "_paused", "_deadline", "_max_body",
                 "closed", "idle_since", "_on_release", "reused", "counted", "heard")

    def __init__(self, on_release: Callable[["Connection", bool], None]):
        self.transport: Any = None
        # One parser for the socket's life: llhttp carries on from one response to the next.
        self._parser: HttpResponseParser | None = HttpResponseParser(self)
        self._state = _IDLE
        self._response: Response | None = None
        self._head_waiter: asyncio.Future[Response] | None = None
        self._head_left = MAX_HEAD
        self._interims = 0
        self._pairs: list[tuple[str, str]] = []
        self._reason = b""
        self._body_seen = False
        self._framing = 0
        self._ended = False  # the response ended inside the current data_received
        self._until_close = False
        self._error: HttpClientError | None = None  # why a callback stopped the parser
        self._reusable = True
        self._paused = False
        self._deadline: Deadline | None = None
        self._max_body: int | None = None
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
        if self._state == _BODY and self._until_close and exc is None:
            # The close is the end of this body (no Content-Length, not chunked).
            self._state = _IDLE
            response = self._response
            self._response = None
            if response is not None:
                response.finish()
        elif self._state != _IDLE:
            self._fail(ConnectionBroken(f"upstream closed the connection ({type(exc).__name__})" if exc else
                                        "upstream closed the connection before the response was complete"))
        self._parser = None  # it holds bound methods of ours: no cycle left behind
        if was_open:
            self._on_release(self, False)

    def pause_writing(self) -> None:  # request bodies are small and written at once
        pass

    def resume_writing(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.heard = True
        state = self._state
        parser = self._parser
        if state == _IDLE or parser is None:
            # Bytes nobody asked for: the server is confused; never reuse this socket.
            self.abort()
            return
        try:
            if state == _HEAD:
                left = self._head_left
                if len(data) <= left:
                    self._head_left = left - len(data)
                    parser.feed_data(data)
                else:
                    # Only `left` more bytes may still be head: feed those, and the rest only
                    # once the head is complete (then it is body, or bytes past the response).
                    view = memoryview(data)
                    self._head_left = 0
                    parser.feed_data(view[:left])
                    if self._state == _HEAD:
                        raise MalformedResponse("response head too large")
                    parser.feed_data(view[left:])
            else:
                self._body_seen = False
                parser.feed_data(data)
                if not self._body_seen and self._state == _BODY:
                    self._framing += len(data)
                    if self._framing > MAX_FRAMING:
                        raise MalformedResponse("chunk framing or trailers too large")
        except (HttpParserError, HttpParserUpgrade, HttpClientError) as exc:
            self._stop(exc)
            return
        if self._ended:
            self._ended = False
            if not self.closed:
                self._on_release(self, self._reusable)

    # -- llhttp callbacks (called from inside feed_data) ------------------------------------

    def on_message_begin(self) -> None:
        if self._state != _HEAD:
            # A second response after the one we asked for (bytes past its end).
            raise self._refuse("bytes after the end of the response")
        self._pairs = []
        self._reason = b""

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # llhttp hands over each piece as it arrives

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state != _HEAD:
            return  # a trailer: ignored (MAX_FRAMING bounds them)
        pairs = self._pairs
        if len(pairs) >= MAX_HEADERS:
            raise self._refuse("too many response headers")
        # llhttp drops the whitespace before a value, not after it
        pairs.append((name.decode("latin-1"), value.decode("latin-1").rstrip(" \t")))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:
            if status == 101:
                raise self._refuse("unexpected protocol switch")
            if status < 100:
                raise self._refuse("status code below 100")
            self._interims += 1
            if self._interims > MAX_INTERIM:
                raise self._refuse("too many interim responses")
            return  # an interim answer: the real one follows on the same socket
        if parser.get_http_version() not in ("1.1", "1.0"):
            raise self._refuse("not an HTTP/1.x response")
        reason = self._reason.decode("latin-1")
        # llhttp checks header values for control bytes but lets them through in the reason
        # phrase, which ends up in logs; str.isprintable() is the fast test for the usual case.
        if not reason.isprintable() and _CONTROL.search(self._reason):
            raise self._refuse("control byte in the status line")
        headers = CIMultiDict(self._pairs)
        self._pairs = []
        if parser.should_keep_alive():
            self._until_close = False
        else:
            # Connection: close, HTTP/1.0, or a body that runs until the close: no reuse.
            self._reusable = False
            self._until_close = status not in (204, 304) and "content-length" not in headers and not _chunked(headers)
        try:
            response = Response(status, reason, headers, self, self._deadline,
                                self._max_body)
        except HttpClientError as exc:  # an unsupported Content-Encoding
            self._error = exc
            raise
        self._response = response
        self._state = _BODY
        self._framing = 0
        waiter = self._head_waiter
        self._head_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def on_body(self, body: bytes) -> None:
        self._body_seen = True
        self._framing = 0
        response = self._response
        if response is None:
            raise self._refuse("interim response with a body")
        try:
            response.feed(body)
        except HttpClientError as exc:  # over max_body, or not decompressible
            self._error = exc
            raise

    def on_message_complete(self) -> None:
        if self._state == _HEAD:
            return  # the end of an interim answer
        response = self._response
        self._response = None
        self._state = _IDLE
        self._ended = True  # released once feed_data returns, unless bytes follow
        if self._paused:  # the socket goes back to the pool: it must not stay paused for this reader
            self.set_reading_paused(False)
        if response is not None and not response.finish():
            self._reusable = False  # framed right, but the compressed body inside was not whole

    def _refuse(self, reason: str) -> MalformedResponse:
        exc = MalformedResponse(reason)
        self._error = exc
        return exc

    # -- used by the pool and the response ---------------------------------------------------

    def send(self, head: bytes, body: bytes, loop: asyncio.AbstractEventLoop, deadline: Deadline | None = None,
             max_body: int | None = None) -> asyncio.Future[Response]:
        """Write one request; the future resolves with the response once its head is parsed."""
        self._state = _HEAD
        self._head_left = MAX_HEAD
        self._interims = 0
        self._deadline = deadline
        self._max_body = max_body
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

    def drop(self, response: Response) -> None:
        """`response` gives up: drop the socket if it is still carrying that response (once the
        exchange is over the socket may already serve another request, and is left alone)."""
        if response is self._response:
            self.abort()

    def set_reading_paused(self, paused: bool) -> None:
        """Flow control for the response being read: stop or restart reading the socket."""
        if paused == self._paused or self.closed or self.transport is None:
            return
        self._paused = paused
        try:
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
        except RuntimeError:  # the transport is closing
            pass

    # -- end of an exchange -------------------------------------------------------------------

    def _stop(self, exc: BaseException) -> None:
        """The parser refused the bytes (or a callback stopped it): fail what is in flight."""
        error = self._error
        self._error = None
        self._ended = False
        if error is None:
            if isinstance(exc, HttpClientError):
                error = exc
            elif isinstance(exc, HttpParserUpgrade):
                error = MalformedResponse("unexpected protocol switch")
            else:
                error = MalformedResponse(f"invalid response: {exc}")
        self._fail(error)  # nothing if the response had ended: then only the socket goes
        self.abort()

    def _fail(self, exc: HttpClientError) -> None:
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


def _chunked(headers: CIMultiDict[str]) -> bool:
    """Transfer-Encoding ends in `chunked` (as llhttp reads it: the last coding is what frames)."""
    codings = headers.getall("transfer-encoding", ())
    return bool(codings) and codings[-1].rsplit(",", 1)[-1].strip(" \t").lower() == "chunked"
