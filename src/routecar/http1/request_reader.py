"""Bytes in, whole requests out, for one keep-alive connection.

Incremental: a head is searched for from where the last search stopped, and a body arriving in
many reads is not re-copied or re-parsed per read, so a large upload costs linear time.
Strict where safety needs it: a lone CR or LF, conflicting or doubled framing (request
smuggling), non-ASCII lengths, oversized heads, chunk lines, framing overhead and trailers are
refused as `BadRequest`, after which the connection closes.
"""

from __future__ import annotations

from typing import Callable

from .chunks import ChunkError, read_chunk_size

MAX_HEAD = 128 << 10  # request line + headers
_MAX_TRAILERS = 16 << 10
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")

# what the reader expects next
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS = range(6)


class BadRequest(Exception):
    """The bytes are not an acceptable HTTP/1.1 request."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


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


def parse_head(raw: bytes) -> Head:
    lines = raw.split(b"\r\n")
    # A lone CR or LF would end a line for some other parser (smuggling), and a value carrying
    # one would split the answer if an endpoint echoes it (x-routecar-request-id).
    if raw.count(b"\n") != len(lines) - 1 or raw.count(b"\r") != len(lines) - 1:
        raise BadRequest("bare CR or LF in the request head")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] not in _VERSIONS or not parts[0].isalpha():
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
    return Head(parts[0].decode("ascii"), parts[1].decode("latin-1"), version.decode("ascii"), pairs, length,
                chunked, keep_alive, expect and version == b"HTTP/1.1")


class RequestReader:
    """Feed it what the socket reads; `next()` hands out each request once it is whole."""

    __slots__ = ("_buf", "_scanned", "_head", "_state", "_pieces", "_got", "_remaining", "_framing", "_trailers",
                 "_max_body", "continue_due", "fed")

    def __init__(self, max_body: Callable[[], int]):
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for the end of a head
        self._head: Head | None = None
        self._state = _HEAD
        self._pieces: list[bytes] = []
        self._got = 0
        self._remaining = 0
        self._framing = 0
        self._trailers = 0
        self._max_body = max_body
        self.continue_due = False  # the head asked for 100 Continue and no body byte is here yet
        self.fed = 0  # bytes read from the socket so far

    def feed(self, data: bytes) -> None:
        self._buf += data
        self.fed += len(data)

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def discard(self) -> None:
        self._buf.clear()
        self._scanned = 0

    def next(self) -> ReadRequest | None:
        """The next whole request, or None until more bytes arrive. Raises BadRequest."""
        buf = self._buf
        if self._state == _HEAD:
            end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0 or end > MAX_HEAD:
                if len(buf) > MAX_HEAD:
                    raise BadRequest("request head too large", 431)
                self._scanned = len(buf)
                return None
            head = parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            self._scanned = 0
            cap = self._max_body()
            if head.chunked:
                self._begin_body(head, _CHUNK_SIZE)
            elif head.length:
                if head.length > cap:
                    return ReadRequest(head, b"", True)  # the endpoint answers 413; the body is never read
                self._begin_body(head, _LENGTH)
                self._remaining = head.length
            else:
                return ReadRequest(head, b"", False)
            self.continue_due = head.expect and not buf
        return self._body()

    def _begin_body(self, head: Head, state: int) -> None:
        self._head = head
        self._state = state
        self._pieces = []
        self._got = 0
        self._framing = 0
        self._trailers = 0

    def _finish(self, too_large: bool) -> ReadRequest:
        head = self._head
        assert head is not None
        pieces = self._pieces
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._head = None
        self._state = _HEAD
        self._pieces = []
        self.continue_due = False
        return ReadRequest(head, body, too_large)

    def _body(self) -> ReadRequest | None:
        buf = self._buf
        if self._state == _LENGTH:
            if len(buf) < self._remaining:
                return None  # nothing copied until the whole body is here
            n = self._remaining
            self._pieces.append(bytes(buf[:n]))
            del buf[:n]
            return self._finish(False)
        return self._chunked()

    def _chunked(self) -> ReadRequest | None:
        buf = self._buf
        cap = self._max_body()
        pos, end = 0, len(buf)
        state = self._state
        result: ReadRequest | None = None
        try:
            while pos < end:
                if state == _CHUNK_DATA:
                    take = min(self._remaining, end - pos)
                    self._pieces.append(bytes(buf[pos:pos + take]))
                    self._got += take
                    pos += take
                    self._remaining -= take
                    if self._got > cap:
                        self._state = state
                        result = self._finish(True)
                        del buf[:]
                        pos = end = 0
                        return result
                    if self._remaining:
                        break
                    state = _CHUNK_CRLF
                elif state == _CHUNK_CRLF:
                    if end - pos < 2:
                        break
                    if buf[pos:pos + 2] != b"\r\n":
                        raise BadRequest("chunk not followed by CRLF")
                    pos += 2
                    self._framing += 2
                    state = _CHUNK_SIZE
                elif state == _CHUNK_SIZE:
                    try:
                        line = read_chunk_size(buf, pos, end)
                    except ChunkError as exc:
                        raise BadRequest(str(exc)) from None
                    if line is None:
                        break
                    size, data_at = line
                    # Framing (size lines, extensions) is bounded too, or tiny chunks with long
                    # extensions would buffer far more than the body cap.
                    self._framing += data_at - pos
                    if self._framing > MAX_HEAD + self._got:
                        raise BadRequest("chunked framing too large")
                    pos = data_at
                    if size == 0:
                        state = _TRAILERS
                    else:
                        self._remaining = size
                        state = _CHUNK_DATA
                else:  # _TRAILERS, up to the empty line; their content is not used
                    nl = buf.find(b"\r\n", pos)
                    if (nl if nl >= 0 else end) - pos + self._trailers > _MAX_TRAILERS:
                        raise BadRequest("chunked trailers too large", 431)
                    if nl < 0:
                        break
                    if nl == pos:
                        pos += 2
                        self._state = state
                        result = self._finish(False)
                        break
                    self._trailers += nl + 2 - pos
                    pos = nl + 2
        finally:
            if pos:
                del buf[:pos]
        if result is None:
            self._state = state
            if self._pieces or self._got:
                self.continue_due = False
        return result
