"""One upstream response: status and headers at once, the body as it arrives.

The connection feeds it; the dispatcher reads it. Body pieces are kept in arrival order and
handed out as they are (never re-chunked), so a stream's events reach the app as soon as the
upstream sends them. Reading is flow-controlled: past `_PAUSE_AT` buffered bytes the socket
stops being read until the reader catches up.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import Any, Callable

from multidict import CIMultiDict, CIMultiDictProxy

from .errors import HttpClientError, MalformedResponse

_PAUSE_AT = 1 << 20  # bytes buffered before the socket stops being read
_RESUME_AT = 1 << 18
MAX_BODY = 128 << 20  # a whole body larger than this is refused, not buffered without end


def _decompressor(encoding: str) -> "_Decoder | None":
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Decoder(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Decoder(None)
    raise MalformedResponse(f"unsupported content-encoding {encoding!r}")


class _Decoder:
    """gzip, or `deflate` as servers really send it: zlib-wrapped or (against the RFC) raw.

    The zlib object is made on the first byte, so an empty body (HEAD, 204) is not a
    truncated stream; a stream that started must reach its end, or the body was cut short.
    """

    __slots__ = ("_wbits", "_d", "_lead")

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits  # None: deflate, the wrapping is sniffed from the first two bytes
        self._d: Any = None
        self._lead = b""

    def decompress(self, data: bytes) -> bytes:
        d = self._d
        if d is None:
            wbits = self._wbits
            if wbits is None:
                data = self._lead + data
                if len(data) < 2:  # the zlib header check needs both bytes
                    self._lead = data
                    return b""
                self._lead = b""
                wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
                wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
            elif not data:
                return b""
            d = self._d = zlib.decompressobj(wbits)
        return d.decompress(data)

    def flush(self) -> bytes:
        """What is left; raises zlib.error if the compressed stream stopped before its end."""
        d = self._d
        if d is None:
            if self._lead:
                raise zlib.error("compressed body cut short")
            return b""
        tail = d.flush()
        if not d.eof:
            raise zlib.error("compressed body cut short")
        return tail


class Response:
    """Status, headers and a body stream; `read()` for the whole body, `readany()` for pieces."""

    __slots__ = ("status", "reason", "headers", "_pieces", "_size", "_done", "_exc", "_waiter",
                 "_decoder", "_pause", "_abort", "_paused", "_total", "_whole")

    def __init__(self, status: int, reason: str, headers: CIMultiDict[str], pause: Callable[[bool], None],
                 abort: Callable[[], None]):
        self.status = status
        self.reason = reason
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(headers)
        self._pieces: deque[bytes] = deque()
        self._size = 0
        self._total = 0
        self._done = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder = _decompressor(headers.get("content-encoding", "").strip().lower())
        self._pause = pause
        self._abort = abort
        self._paused = False
        self._whole = False  # read() wants everything: never pause the socket for it

    # -- fed by the connection ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._decoder is not None:
            if self._done:  # failed to decompress earlier: the rest is noise
                return
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self.fail(MalformedResponse("body does not decompress"))
                self._abort()  # garbage on this socket: never reuse it
                return
        if not data:
            return
        self._pieces.append(data)
        self._size += len(data)
        self._total += len(data)
        if self._size > _PAUSE_AT and not self._paused and not self._whole:
            self._paused = True
            self._pause(True)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def finish(self) -> None:
        if self._done:
            return
        if self._paused:
            # The socket goes back to the pool now; it must not stay paused for this reader.
            self._paused = False
            self._pause(False)
        if self._decoder is not None:
            try:
                tail = self._decoder.flush()
            except zlib.error:
                self.fail(MalformedResponse("compressed body cut short or corrupt"))
                return
            if tail:
                self._pieces.append(tail)
                self._size += len(tail)
        self._done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc = exc
        self._done = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- read by the dispatcher -----------------------------------------------------------

    @property
    def complete(self) -> bool:
        """The whole body arrived (or the exchange failed)."""
        return self._done

    async def read(self) -> bytes:
        """The whole body; raises the connection's error if it broke first."""
        self._whole = True
        if self._paused:
            self._paused = False
            self._pause(False)
        while not self._done:
            if self._total > MAX_BODY:
                self.close()
                raise MalformedResponse(f"response body over {MAX_BODY} bytes")
            await self._wait()
        if self._exc is not None:
            raise self._exc
        return self._take()

    async def readany(self) -> bytes:
        """The bytes that have arrived since the last call, waiting for some; b"" at the end."""
        while not self._pieces:
            if self._done:
                if self._exc is not None:
                    raise self._exc
                return b""
            await self._wait()
        return self._take()

    def _take(self) -> bytes:
        pieces = self._pieces
        data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            self._pause(False)
        return data

    async def _wait(self) -> None:
        if self._paused and self._size < _RESUME_AT:
            self._paused = False
            self._pause(False)
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        except BaseException:
            self._waiter = None
            raise

    def close(self) -> None:
        """Done with this response: a body not yet complete means the connection is dropped."""
        if not self._done:
            self._exc = HttpClientError("response closed by the reader")
            self._done = True
            self._abort()
        self._pieces.clear()

    @property
    def closed(self) -> bool:
        return self._done and not self._pieces

    async def __aenter__(self) -> "Response":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
