"""Content-Encoding of response bodies: gzip and deflate, decoded in bounded steps.

Each call makes at most `limit` bytes of output (zlib's `max_length`); compressed input that
did not get through waits here as backlog for the next call, so the caller decides how much
is decoded when, and a bomb's expansion never happens all at once.
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import Any

from .errors import MalformedResponse


def decoder_for(encoding: str | None) -> "Decoder | None":
    """The decoder for a Content-Encoding header value; None when the body is not encoded."""
    if not encoding:
        return None
    encoding = encoding.strip(" \t").lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return Decoder(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return Decoder(None)
    raise MalformedResponse(f"unsupported content-encoding {encoding!r}")


class Decoder:
    """gzip, or `deflate` as servers really send it: zlib-wrapped or (against the RFC) raw.

    Output comes in bounded calls; compressed input a call could not get through waits here
    (`backlog`) for the next call. The zlib object is made on the first byte, so an empty body
    (204, 304) is not a truncated stream; a stream that started must reach its end, and nothing
    may follow its end (zlib would keep such bytes, without limit, in `unused_data`).
    """

    __slots__ = ("_wbits", "_z", "_lead", "_tail", "_queue")

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits  # None: deflate, the wrapping is sniffed from the first two bytes
        self._z: Any = None  # the zlib decompress object
        self._lead = b""
        self._tail = b""  # input zlib left over when its output budget ran out
        self._queue: deque[bytes] = deque()  # input that arrived behind the tail

    @property
    def backlog(self) -> bool:
        return bool(self._tail) or bool(self._queue)

    def queue(self, data: bytes) -> None:
        self._queue.append(data)

    def decompress(self, data: bytes, limit: int) -> bytes:
        """At most `limit` bytes of output; input it could not get through becomes backlog."""
        z = self._z
        if z is None:
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
            z = self._z = zlib.decompressobj(wbits)
        elif z.eof:
            if data:
                raise zlib.error("bytes after the end of the compressed body")
            return b""
        out = z.decompress(data, limit)
        self._tail = z.unconsumed_tail
        if z.unused_data:
            raise zlib.error("bytes after the end of the compressed body")
        return out

    def step(self, limit: int) -> bytes:
        """Decode the next piece of backlog (there must be some)."""
        data = self._tail or self._queue.popleft()
        return self.decompress(data, limit)

    def flush(self) -> bytes:
        """What is left once all input is in; raises zlib.error if the stream stopped short.
        Only called with no backlog, so the output is what zlib holds back from one match."""
        z = self._z
        if z is None:
            if self._lead:
                raise zlib.error("compressed body cut short")
            return b""
        tail = z.flush()
        if not z.eof:
            raise zlib.error("compressed body cut short")
        return tail

    def discard(self) -> None:
        self._tail = b""
        self._queue.clear()
