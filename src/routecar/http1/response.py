"""One upstream response: status and headers at once, the body as it arrives.

The connection feeds it; the dispatcher reads it. Body pieces are kept in arrival order and
handed out as they are (never re-chunked), so a stream's events reach the app as soon as the
upstream sends them.

Every byte held here has a budget:
- the bytes waiting for the reader: past `_PAUSE_AT` the socket stops being read until the
  reader catches up (`read()` wants the whole body and does not pause for itself);
- the whole body, when the caller set `max_body` (and always under `read()`): checked where a
  byte is produced, so an answer over it fails as `BodyTooLarge` at that byte, and its socket
  is dropped;
- decompression: one zlib call makes at most `DECODE_STEP` bytes. Compressed input left over
  waits (the socket paused meanwhile) and is decoded on the reader's side, one step per turn,
  as the reader drains. A gzip bomb thus makes at most max_body plus one step of output (a
  stream holds a step or two at a time), and never keeps the loop busy for more than a step
  (read() gives the loop a turn every `_YIELD_EVERY` bytes, readany() every step).

Every wait goes through the request's `Deadline`; once it has passed, a read fails with
`DeadlineExceeded` at once, even with bytes in hand, and the socket is dropped if the response
was still on it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import Protocol

from multidict import CIMultiDict, CIMultiDictProxy

from .deadline import Deadline
from .decoding import Decoder, decoder_for
from .errors import BodyTooLarge, DeadlineExceeded, HttpClientError, MalformedResponse



class BodySource(Protocol):
    """What a response needs of the connection that feeds it (http1/connection.py)."""

    def set_reading_paused(self, paused: bool) -> None: ...

    def drop(self, response: Response) -> None: ...

_PAUSE_AT = 1 << 20  # bytes held for the reader before the socket stops being read
_RESUME_AT = 1 << 18
# Most decompressed bytes one zlib call may make: small enough that a call takes well under a
# millisecond and a bomb's output stays small, large enough that ordinary bodies take one call.
DECODE_STEP = 256 << 10
# read() keeps the whole body in memory: when the caller gave no max_body, this is its cap.
READ_LIMIT = 128 << 20
# read() decoding a backlog gives the loop a turn after this many bytes of output.
_YIELD_EVERY = 1 << 20


class Response:
    """Status, headers and a body stream; `read()` for the whole body, `readany()` for pieces.

    `deadline` is the request's: the reader may move it (an idle timeout on a stream).
    """

    __slots__ = ("status", "reason", "headers", "deadline", "_source", "_pieces", "_size", "_total", "_cap",
                 "_eof", "_done", "_exc", "_waiter", "_decoder", "_paused", "_whole")

    def __init__(self, status: int, reason: str, headers: CIMultiDict[str], source: BodySource,
                 deadline: Deadline | None = None, max_body: int | None = None):
        self.status = status
        self.reason = reason
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(headers)
        self.deadline = deadline
        self._source = source
        self._decoder = decoder_for(headers.get("content-encoding"))
        self._pieces: deque[bytes] = deque()
        self._size = 0  # bytes held for the reader
        self._total = 0  # bytes of body produced so far (after decompression)
        self._cap = max_body
        self._eof = False  # the connection delivered its last byte: the socket is not ours any more
        self._done = False  # no more bytes will come (all decoded, or failed)
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._whole = False  # read() wants everything: never pause the socket for it

    @property
    def buffered(self) -> int:
        """Body bytes held, waiting for the reader."""
        return self._size

    # -- fed by the connection ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Body bytes off the wire. Raises BodyTooLarge or MalformedResponse (the connection
        then fails the exchange and drops the socket)."""
        decoder = self._decoder
        if decoder is None:
            self._push(data)
            return
        if decoder.backlog:
            decoder.queue(data)  # read together with what is waiting; the socket is paused
            return
        try:
            out = decoder.decompress(data, DECODE_STEP)
        except zlib.error:
            raise MalformedResponse("body does not decompress") from None
        if decoder.backlog and not self._paused:
            self._paused = True
            self._source.set_reading_paused(True)
        if out:
            self._push(out)

    def finish(self) -> bool:
        """The connection delivered the whole body and is done with this response. False when
        the compressed body turns out to be cut short (the socket should not be reused)."""
        self._eof = True
        self._paused = False  # the connection restarts its own reading
        decoder = self._decoder
        if decoder is not None and decoder.backlog:
            self._wake()  # the reader decodes the rest
            return True
        return self._end()

    def fail(self, exc: BaseException) -> None:
        """The exchange failed. Bytes already held are still handed out before the error."""
        self._eof = True
        if self._done:
            return
        self._exc = exc
        self._done = True
        if self._decoder is not None:
            self._decoder.discard()
        self._wake()

    # -- producing body bytes (connection side and reader side) ------------------------------

    def _push(self, data: bytes) -> None:
        n = len(data)
        self._total += n
        cap = self._cap
        if cap is not None and self._total > cap:
            self._pieces.clear()
            self._size = 0
            raise BodyTooLarge(f"response body over {cap} bytes")
        self._pieces.append(data)
        self._size += n
        if self._size > _PAUSE_AT and not self._paused and not self._whole and not self._eof:
            self._paused = True
            self._source.set_reading_paused(True)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _end(self) -> bool:
        """All input is in and decoded: flush the decoder, and the body is complete."""
        decoder = self._decoder
        if decoder is not None:
            try:
                tail = decoder.flush()
                if tail:
                    self._push(tail)
            except zlib.error:
                self.fail(MalformedResponse("compressed body cut short or corrupt"))
                return False
            except HttpClientError as exc:  # the last bytes went over max_body
                self.fail(exc)
                return False
        self._done = True
        self._wake()
        return True

    def _step(self, decoder: Decoder) -> None:
        """Reader side: decode one step of backlog."""
        try:
            try:
                out = decoder.step(DECODE_STEP)
            except zlib.error:
                raise MalformedResponse("body does not decompress") from None
            if out:
                self._push(out)
        except HttpClientError as exc:
            self._abandon(exc)
            raise
        if self._paused and not decoder.backlog and (self._whole or self._size < _RESUME_AT):
            self._paused = False
            self._source.set_reading_paused(False)

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

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; raises the connection's error if it broke first, BodyTooLarge past
        the request's max_body (READ_LIMIT if it set none) or past `limit`, if smaller (an
        error answer read for its message only)."""
        self._whole = True
        cap = READ_LIMIT if self._cap is None else self._cap
        if limit is not None and limit < cap:
            cap = limit
        self._cap = cap
        if self._total > cap:
            self._abandon(BodyTooLarge(f"response body over {cap} bytes"))
        decoder = self._decoder
        if self._paused and not (decoder is not None and decoder.backlog):
            self._paused = False
            self._source.set_reading_paused(False)
        deadline = self.deadline
        since_yield = 0
        while not self._done:
            if deadline is not None and deadline.expired:
                self._expire()
            if decoder is not None and decoder.backlog:
                self._step(decoder)
                since_yield += DECODE_STEP
                if since_yield >= _YIELD_EVERY:
                    # A long backlog (a highly compressed body) is decoded in turns with the
                    # rest of the loop. Not a wait: the loop comes straight back.
                    since_yield = 0
                    await asyncio.sleep(0)
            elif self._eof:
                self._end()
            else:
                await self._wait()
        if deadline is not None and deadline.expired:
            self._expire()
        if self._exc is not None:
            raise self._exc
        return self._take()

    async def readany(self) -> bytes:
        """The bytes that have arrived since the last call, waiting for some; b"" at the end."""
        deadline = self.deadline
        while True:
            if deadline is not None and deadline.expired:
                self._expire()
            if self._pieces:
                return self._take()
            if self._done:
                if self._exc is not None:
                    raise self._exc
                return b""
            decoder = self._decoder
            if decoder is not None and decoder.backlog:
                self._step(decoder)
                # A reader draining a bomb would otherwise get step after step without ever
                # suspending; one turn of the loop per step keeps everyone else going.
                await asyncio.sleep(0)
            elif self._eof:
                self._end()
            else:
                await self._wait()

    def _take(self) -> bytes:
        pieces = self._pieces
        data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self._size = 0
        if self._paused:
            decoder = self._decoder
            if decoder is None or not decoder.backlog:
                self._paused = False
                self._source.set_reading_paused(False)
        return data

    async def _wait(self) -> None:
        # (no backlog here: it is decoded before anyone waits)
        if self._paused and (self._whole or self._size < _RESUME_AT):
            self._paused = False
            self._source.set_reading_paused(False)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        deadline = self.deadline
        try:
            if deadline is None:
                await waiter
            else:
                deadline.guard(waiter)
                try:
                    await waiter
                finally:
                    deadline.unguard(waiter)
        except DeadlineExceeded:
            self._waiter = None
            self._expire()
        except BaseException:
            self._waiter = None
            raise

    def _expire(self) -> None:
        exc = DeadlineExceeded("deadline passed while reading the response")
        self._abandon(exc)
        raise exc

    def _abandon(self, exc: BaseException) -> None:
        """The reader gives up with `exc`: what is held goes, and so does the socket if this
        response is still on it."""
        self._pieces.clear()
        self._size = 0
        if self._decoder is not None:
            self._decoder.discard()
        if self._exc is None:
            self._exc = exc
        self._done = True
        self._source.drop(self)

    def close(self) -> None:
        """Done with this response: a body not yet complete means the connection is dropped."""
        if not self._done:
            self._exc = HttpClientError("response closed by the reader")
            self._done = True
        self._source.drop(self)  # nothing if the exchange had ended
        self._pieces.clear()
        self._size = 0
        if self._decoder is not None:
            self._decoder.discard()

    @property
    def closed(self) -> bool:
        return self._done and not self._pieces

    async def __aenter__(self) -> "Response":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
