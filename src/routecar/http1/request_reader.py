"""Bytes in, whole requests out, for one keep-alive connection; the syntax is llhttp's.

llhttp (through httptools) decides what a valid request is, with its maintained strictness:
control bytes in header values, non-token header names, obs-fold, bare CR or LF, Content-Length
with Transfer-Encoding, doubled framing, bad chunk sizes and chunk extensions are all refused.

This module decides how much llhttp is fed, and when, because llhttp parses every byte it is
given at once and cannot be paused between two pipelined requests:

- a head is fed only once its end (CRLF CRLF) is buffered, whole: a head that never ends costs
  a search, not a parse, and is refused at MAX_HEAD (httptools would also re-copy a header
  value arriving in pieces on every piece);
- a Content-Length body is fed up to its last byte and never past it;
- a chunked body is fed up to the next place it could end (a CRLF CRLF), but at least
  _MIN_CHUNKED_SLICE bytes at a time, so a body full of CRLF CRLF is not fed a few bytes per
  call. Only there can llhttp run past the end of a request, by less than _MIN_CHUNKED_SLICE
  bytes: the requests it finishes there wait in a queue, in order.

So a pipelined request is parsed only when the one before it has been handed out, and what the
server buffers meanwhile is raw bytes it can stop reading. Sizes llhttp leaves unbounded are
bounded here (head, header count, target, trailers, chunked framing, body).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Callable, Union

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade, HttpRequestParser

# Request line + header lines (+ any empty lines before them) → 431. Real heads are a few KiB
# (auth tokens, tracing headers); 64 KiB matches the client side's cap on a response head.
MAX_HEAD = 64 << 10
# Header fields in one head → 431. The OpenAI SDKs send about 15; 100 is Apache's
# LimitRequestFields, and a list this long is never needed to route a request.
MAX_HEADERS = 100
# The request target (path and query) → 414. Routecar's paths are a handful of fixed names with
# no query to speak of; 8 KiB is what nginx and Apache allow for a whole request line.
MAX_TARGET = 8 << 10
# Trailer fields after a chunked body, in number and in bytes (names and values) → 431. Nothing
# reads them; they only have to be consumed, within a bound.
MAX_TRAILERS = 32
MAX_TRAILER_BYTES = 16 << 10
# A chunked body may spend on framing (size lines, extensions, CRLFs, trailers) this much plus
# _FRAMING_PER_BYTE per data byte (a client's 1-byte chunks cost about 5), else → 400: the
# whole request then stays within a bound of the body cap, however it is cut.
_CHUNKED_OVERHEAD = 32 << 10
_FRAMING_PER_BYTE = 8
_MIN_CHUNKED_SLICE = 1 << 10

_VERSIONS = ("1.1", "1.0")
_END = b"\r\n\r\n"
_FRAMING_NAME_LENGTHS = frozenset(map(len, (b"content-length", b"transfer-encoding", b"expect")))
_EMPTY_LINES = re.compile(rb"(?:\r\n)*")  # llhttp skips them before a request line (RFC 9112 §2.2)

# where llhttp is
_IDLE, _HEAD, _LENGTH, _CHUNKED = range(4)


class BadRequest(Exception):
    """The bytes are not an acceptable HTTP/1.1 request; the connection closes after the answer.
    `head` is the request's head when it was whole before the problem, else None."""

    def __init__(self, message: str, status: int = 400, head: "Head | None" = None):
        super().__init__(message)
        self.status = status
        self.head = head


class Head:
    """A parsed request head."""

    __slots__ = ("method", "target", "version", "pairs", "length", "chunked", "keep_alive", "expect")

    def __init__(self, method: str, target: str, version: str, pairs: list[tuple[str, str]], length: int | None,
                 chunked: bool, keep_alive: bool, expect: bool):
        self.method = method
        self.target = target
        self.version = version
        self.pairs = pairs
        self.length = length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect = expect


class ReadRequest:
    """A whole request: its head, its body, and whether the body went over the cap (in which
    case the body is cut there, the rest is never read, and the connection must close)."""

    __slots__ = ("head", "body", "too_large")

    def __init__(self, head: Head, body: bytes, too_large: bool):
        self.head = head
        self.body = body
        self.too_large = too_large


class _Message:
    """What llhttp has reported so far about the request it is parsing."""

    __slots__ = ("target", "pairs", "length", "coding", "expect", "head", "cap", "body", "got", "chunked_fed",
                 "trailers", "trailer_bytes", "head_fed", "continue_owed")

    def __init__(self) -> None:
        self.target = b""
        self.pairs: list[tuple[str, str]] = []
        self.length: int | None = None
        self.coding: str | None = None  # the Transfer-Encoding value
        self.expect: str | None = None
        self.head: Head | None = None
        self.cap = 0
        # One piece as llhttp gave it, or the pieces joined as they come: a list of them would
        # cost ~40 bytes of objects per 1-byte chunk, far over the body cap.
        self.body: bytes | bytearray = b""
        self.got = 0
        self.chunked_fed = 0
        self.trailers = 0
        self.trailer_bytes = 0
        self.head_fed = 0  # bytes of this head fed before it was whole (only after a chunked over-read)
        self.continue_owed = False


def _over_framing(msg: _Message) -> bool:
    return msg.chunked_fed - msg.got > _CHUNKED_OVERHEAD + _FRAMING_PER_BYTE * msg.got


class _Stop(Exception):
    """Raised in a callback to stop llhttp: the outcome is already queued."""


Outcome = Union[ReadRequest, BadRequest]


class RequestReader:
    """Feed it what the socket reads; `next()` hands out each request once it is whole."""

    __slots__ = ("_parser", "_max_body", "_buf", "_scanned", "_tail", "_ready", "_state", "_msg", "_stopped",
                 "_stopped_here", "received")

    def __init__(self, max_body: Callable[[], int]):
        self._parser = HttpRequestParser(self)
        self._max_body = max_body
        self._buf = bytearray()  # received, not yet fed to llhttp
        self._scanned = 0  # bytes of _buf already searched for a CRLF CRLF
        self._tail = b""  # the last bytes fed of the request in progress: an end may straddle a feed
        self._ready: deque[Outcome] = deque()
        self._state = _IDLE
        self._msg = _Message()
        self._stopped = False  # llhttp has stopped for good (a refusal, a body over the cap, an Upgrade)
        self._stopped_here = False  # ... by a callback of ours, which queued the outcome
        self.received = 0  # bytes read from the socket so far

    def feed(self, data: bytes) -> None:
        self._buf += data
        self.received += len(data)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed."""
        return len(self._buf)

    @property
    def ready(self) -> bool:
        """A parsed request (or refusal) is waiting for `next()`."""
        return bool(self._ready)

    def discard(self) -> None:
        """Nothing more is parsed on this connection (it is closing)."""
        self._buf.clear()
        self._stopped = True

    def take_continue(self) -> bool:
        """True once, when the request in progress asked for 100 Continue and none of its body
        has arrived: the app is waiting for the interim answer before it sends the body."""
        msg = self._msg
        if not msg.continue_owed:
            return False
        msg.continue_owed = False
        return msg.got == 0 and not self._buf and self._state in (_LENGTH, _CHUNKED) and not self._stopped

    def next(self) -> ReadRequest | None:
        """The next whole request, or None until more bytes arrive. Raises BadRequest."""
        ready = self._ready
        while not ready:
            if self._stopped or not self._buf:
                return None
            n = self._slice()
            if n:
                self._feed(n)
            elif not ready:
                return None  # waiting for the end of a head
        outcome = ready.popleft()
        if isinstance(outcome, BadRequest):
            raise outcome
        return outcome

    # -- how much to feed ---------------------------------------------------------------------

    def _slice(self) -> int:
        buf = self._buf
        state = self._state
        if state == _LENGTH:
            msg = self._msg
            assert msg.length is not None
            return min(len(buf), msg.length - msg.got)
        end = self._end_of_lines()
        if state == _CHUNKED:
            return len(buf) if end < 0 else min(len(buf), max(end, _MIN_CHUNKED_SLICE))
        # A head: fed whole once its end is here, refused once it cannot fit.
        held = self._msg.head_fed if state == _HEAD else 0
        if held + (len(buf) if end < 0 else end) > MAX_HEAD:
            self._stopped = True
            self._ready.append(BadRequest("request head too large", 431))
            return 0
        return max(end, 0)

    def _end_of_lines(self) -> int:
        """Where the first CRLF CRLF in the buffer ends (one begun in bytes already fed counts),
        or -1. Each byte is searched once, however the head trickles in."""
        buf = self._buf
        if self._tail and not self._scanned:
            probe = self._tail + bytes(buf[:3])
            at = probe.find(_END)
            if at >= 0:
                return at + 4 - len(self._tail)
        start = max(self._scanned - 3, 0)
        if not start and self._state == _IDLE and buf.startswith(b"\r\n"):
            match = _EMPTY_LINES.match(buf)
            start = match.end() if match else 0
        at = buf.find(_END, start)
        if at < 0:
            self._scanned = len(buf)
            return -1
        return at + 4

    def _feed(self, n: int) -> None:
        buf = self._buf
        msg = self._msg
        chunked = self._state == _CHUNKED
        if chunked:
            msg.chunked_fed += n
        view = memoryview(buf)[:n]  # no copy; llhttp hands out copies of what it reports
        try:
            self._parser.feed_data(view)
        except HttpParserUpgrade:
            self._stopped = True  # the request is queued (it closes the connection); the rest is not HTTP
        except HttpParserError as exc:
            self._stopped = True
            self._record_failure(exc)
        finally:
            view.release()
        state = self._state
        if state == _HEAD or state == _CHUNKED:  # where _end_of_lines looks back
            last = bytes(buf[max(n - 3, 0):n])
            self._tail = last if n >= 3 or self._msg is not msg else (self._tail + last)[-3:]
            if state == _HEAD:
                self._msg.head_fed += n  # a head begun by a chunked over-read: count it all (≤ one slice)
        else:
            self._tail = b""
        del buf[:n]
        self._scanned = 0
        if chunked and self._msg is msg and state == _CHUNKED and not self._stopped and _over_framing(msg):
            self._stopped = True
            self._ready.append(BadRequest("chunked framing too large", 400, msg.head))

    def _record_failure(self, exc: HttpParserError) -> None:
        if self._stopped_here:
            return  # a callback stopped llhttp and queued the outcome
        if isinstance(exc, HttpParserCallbackError):
            # A bug in a callback below, not the app's bytes: answered as a server error.
            failure = BadRequest("routecar could not read the request", 500)
            failure.__cause__ = exc.__context__
            self._ready.append(failure)
        else:
            # llhttp's reason is a fixed text (never the offending bytes): safe to answer with.
            self._ready.append(BadRequest(str(exc) or "malformed request", 400, self._msg.head))

    def _stop(self, outcome: Outcome) -> None:
        """Queue `outcome` (after any request finished earlier in this feed) and stop llhttp."""
        self._ready.append(outcome)
        self._stopped_here = True
        raise _Stop

    # -- llhttp's callbacks (httptools calls them by these names) -------------------------------

    def on_message_begin(self) -> None:
        self._msg = _Message()
        self._state = _HEAD

    def on_url(self, piece: bytes) -> None:
        msg = self._msg
        msg.target += piece  # one piece: the head is fed whole
        if len(msg.target) > MAX_TARGET:
            self._stop(BadRequest("request target too long", 414))

    def on_header(self, name: bytes, value: bytes) -> None:
        msg = self._msg
        if self._state != _HEAD:  # a trailer field: only counted
            msg.trailers += 1
            msg.trailer_bytes += len(name) + len(value)
            if msg.trailers > MAX_TRAILERS or msg.trailer_bytes > MAX_TRAILER_BYTES:
                self._stop(BadRequest("chunked trailers too large", 431, msg.head))
            return
        pairs = msg.pairs
        if len(pairs) >= MAX_HEADERS:
            self._stop(BadRequest("too many header fields", 431))
        text = value.rstrip(b" \t").decode("latin-1")  # llhttp strips the whitespace before a value only
        pairs.append((name.decode("latin-1"), text))
        if len(name) in _FRAMING_NAME_LENGTHS:
            low = name.lower()
            if low == b"content-length":
                msg.length = int(text)  # digits only, and only once: llhttp checked
            elif low == b"transfer-encoding":
                msg.coding = text  # only once: llhttp refuses a second one
            elif low == b"expect":
                msg.expect = text

    def on_headers_complete(self) -> None:
        msg = self._msg
        parser = self._parser
        version = parser.get_http_version()
        if version not in _VERSIONS:
            self._stop(BadRequest("unsupported HTTP version"))
        chunked = msg.coding is not None
        expect = msg.expect is not None and msg.expect.lower() == "100-continue" and version == "1.1"
        head = Head(parser.get_method().decode("ascii"), msg.target.decode("latin-1"), "HTTP/" + version,
                    msg.pairs, msg.length, chunked, parser.should_keep_alive(), expect)
        msg.head = head
        if chunked and msg.coding.lower() != "chunked":  # type: ignore[union-attr]
            self._stop(BadRequest("unsupported Transfer-Encoding", 501, head))
        if msg.expect is not None and msg.expect.lower() != "100-continue":
            self._stop(BadRequest("unsupported Expect", 417, head))
        if parser.should_upgrade():
            # llhttp stops at an Upgrade (or CONNECT) request and leaves its body unread: the
            # request is answered as plain HTTP/1.1 (RFC 9110 §7.8 allows ignoring Upgrade) and
            # the connection closes after it; one with a body cannot be answered truthfully.
            if msg.length or chunked:
                self._stop(BadRequest("a request body with Upgrade is not supported", 400, head))
            head.keep_alive = False
        msg.cap = cap = self._max_body()
        if msg.length is not None and msg.length > cap:
            self._stop(ReadRequest(head, b"", True))  # the endpoint answers 413; the body is never read
        self._state = _CHUNKED if chunked else _LENGTH
        msg.continue_owed = expect and (chunked or bool(msg.length))

    def on_body(self, piece: bytes) -> None:
        msg = self._msg
        body = msg.body
        if not body:
            msg.body = piece
        elif isinstance(body, bytearray):
            body += piece
        else:
            msg.body = bytearray(body) + piece
        msg.got += len(piece)
        if msg.got > msg.cap:  # only a chunked body can get here: a longer Content-Length never is fed
            assert msg.head is not None
            self._stop(ReadRequest(msg.head, bytes(msg.body), True))

    def on_message_complete(self) -> None:
        msg = self._msg
        assert msg.head is not None
        if msg.head.chunked and _over_framing(msg):  # counts this whole feed: over by < _MIN_CHUNKED_SLICE
            self._stop(BadRequest("chunked framing too large", 400, msg.head))
        self._ready.append(ReadRequest(msg.head, bytes(msg.body), False))  # no copy of a single piece
        self._state = _IDLE
