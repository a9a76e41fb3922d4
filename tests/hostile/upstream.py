"""A hostile upstream: exact bytes on a real loopback socket, one attack per path prefix.

The sidecar is configured with `base_url: http://127.0.0.1:PORT/<attack>/v1`, so its request
path starts with `/<attack>/`, and that attack answers. Attacks write lazily, in pieces, with an
await between pieces, so this server never holds more than a piece: the gzip bomb's GiB only
ever exists inside whoever inflates it.

One exchange per connection. A connection ends when its attack is over, when the client (the
sidecar) goes away, or after `LIFETIME_S` whatever happens; each `Conn` records which, so a test
can check that the sidecar let go of every attack instead of leaving a writer running.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterator

import orjson

LIFETIME_S = 30.0  # no attack outlives this, even against a sidecar that never lets go
MIB = 1 << 20
_ZEROS = bytes(MIB)


# -- the gzip bomb --------------------------------------------------------------------------

@dataclass(frozen=True)
class GzipBomb:
    """One gzip member as `head + piece * pieces + tail`: ~1 KiB per MiB it inflates to."""

    head: bytes
    piece: bytes
    tail: bytes
    pieces: int
    inflated: int

    @property
    def size(self) -> int:
        return len(self.head) + len(self.piece) * self.pieces + len(self.tail)

    def parts(self) -> Iterator[bytes]:
        yield self.head
        for _ in range(self.pieces):
            yield self.piece
        yield self.tail


def gzip_bomb(prefix: bytes = b"", mib: int = 1024) -> GzipBomb:
    """A gzip body that inflates to `prefix` followed by `mib` MiB of zero bytes.

    Deflating a GiB takes seconds; this deflates one MiB. After a full flush the compressor
    forgets its window, so every further MiB of zeros compresses to the very same bytes (checked
    below): the body is that piece repeated, closed by the final block and a gzip trailer whose
    CRC-32 and length are those of the whole inflated answer.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    if c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH) != piece:
        raise AssertionError("zlib did not repeat itself after a full flush")
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(_ZEROS, crc)
    inflated = len(prefix) + mib * MIB
    tail = c.flush()[:-8] + struct.pack("<II", crc, inflated & 0xFFFFFFFF)  # own trailer, not c's
    return GzipBomb(head, piece, tail, mib, inflated)


# -- a connection ----------------------------------------------------------------------------

class PeerGone(ConnectionError):
    """The client closed its side."""


@dataclass
class Exchange:
    path: str
    body: bytes
    stream: bool  # the request asked for a stream


@dataclass
class Conn:
    attack: str
    stream: bool
    how: str = ""  # done | peer | lifetime | error: <name>
    sent: int = 0  # bytes written
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class Wire:
    """The attack's side of one socket; every write waits until the socket took it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: Conn):
        self.reader = reader
        self.writer = writer
        self.conn = conn

    async def send(self, data: bytes) -> None:
        if self.reader.at_eof():  # the sidecar closed its side (FIN), or reset the socket
            raise PeerGone("client went away")
        self.writer.write(data)
        await self.writer.drain()  # raises once the transport saw the reset
        self.conn.sent += len(data)

    async def chunk(self, data: bytes) -> None:
        """One HTTP/1.1 chunk of a `Transfer-Encoding: chunked` body."""
        await self.send(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_chunks(self) -> None:
        await self.send(b"0\r\n\r\n")

    async def hold(self) -> None:
        """Say nothing more; return when the client goes away."""
        while await self.reader.read(1 << 16):
            pass
        raise PeerGone("client went away")


async def read_exchange(reader: asyncio.StreamReader) -> Exchange | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head[:-4].split(b"\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length)
    path = lines[0].split(b" ")[1].decode("latin-1")
    try:
        stream = bool(orjson.loads(body).get("stream"))
    except (orjson.JSONDecodeError, AttributeError):
        stream = False
    return Exchange(path, body, stream)


# -- the attacks -----------------------------------------------------------------------------

SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
HOSTILE_ID = b"chatcmpl-hostile"  # in every event this server sends: must never reach the app
PARTIAL = "hostile-partial"  # the content a stream gets out before it turns hostile


def event(delta: dict[str, object]) -> bytes:
    chunk = {"id": HOSTILE_ID.decode(), "object": "chat.completion.chunk", "created": 0, "model": "up",
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


PREAMBLE = event({"role": "assistant", "content": ""})  # an empty preamble frame: not content
CONTENT = event({"content": PARTIAL})
PING = b": ping\n\n"

Attack = Callable[[Wire, Exchange, "HostileUpstream"], Awaitable[None]]


async def _gzip_bomb(wire: Wire, ex: Exchange, bomb: GzipBomb) -> None:
    if ex.stream:
        await wire.send(SSE_HEAD[:-2] + b"Content-Encoding: gzip\r\n\r\n")
        for part in bomb.parts():
            await wire.chunk(part)
        await wire.end_chunks()
    else:
        await wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                        b"Content-Length: %d\r\n\r\n" % bomb.size)
        for part in bomb.parts():
            await wire.send(part)


async def gzip_bomb_early(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """1 MiB of gzip that inflates to 1 GiB of zero bytes, before any content."""
    await _gzip_bomb(wire, ex, up.bomb)


async def gzip_bomb_late(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """A stream whose gzip inflates to one content event, then 1 GiB of zero bytes."""
    await _gzip_bomb(wire, ex, up.late_bomb if ex.stream else up.bomb)


async def _unterminated(wire: Wire, first: bytes) -> None:
    await wire.send(SSE_HEAD)
    if first:
        await wire.chunk(first)
    await wire.chunk(b'data: {"id":"chatcmpl-hostile","choices":[{"index":0,"delta":{"content":"')
    filler = b"x" * 16384
    while True:  # the event's blank line never comes
        await wire.chunk(filler)


async def unterminated_early(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    await _unterminated(wire, b"")


async def unterminated_late(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    await _unterminated(wire, CONTENT)


async def pings_forever(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """An empty preamble, then keep-alive comments every 20 ms and never any content."""
    await wire.send(SSE_HEAD)
    await wire.chunk(PREAMBLE)
    while True:
        await wire.chunk(PING)
        await asyncio.sleep(0.02)


async def content_then_pings(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """One content event, then only comments: bytes, but no progress."""
    await wire.send(SSE_HEAD)
    await wire.chunk(CONTENT)
    while True:
        await asyncio.sleep(0.02)
        await wire.chunk(PING)


async def content_forever(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """A content event every 100 ms, never a finish: progress, but no end."""
    await wire.send(SSE_HEAD)
    while True:
        await wire.chunk(CONTENT)
        await asyncio.sleep(0.1)


async def trickle(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """A unary answer that announces 1 MB and sends one byte every 10 ms (done in ~3 hours)."""
    await wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
    while True:
        await wire.send(b" ")
        await asyncio.sleep(0.01)


CONTINUES = 5000


async def continue_flood(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """5,000 interim `100 Continue` answers, then a 503: whoever gets through them fails over."""
    batch = b"HTTP/1.1 100 Continue\r\n\r\n" * 500
    for _ in range(CONTINUES // 500):
        await wire.send(batch)
    body = b'{"error": {"message": "overloaded", "type": "server_error"}}'
    await wire.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


GARBAGE = b"SSH-2.0-OpenSSH_9.6\r\n" + bytes(range(256)) * 8 + b"\r\n\r\n"


async def garbage(wire: Wire, ex: Exchange, up: "HostileUpstream") -> None:
    """Not HTTP at all, and then silence until the client goes away."""
    await wire.send(GARBAGE)
    await wire.hold()


ATTACKS: dict[str, Attack] = {
    "gzip-bomb": gzip_bomb_early,
    "gzip-bomb-late": gzip_bomb_late,
    "unterminated": unterminated_early,
    "unterminated-late": unterminated_late,
    "pings": pings_forever,
    "content-then-pings": content_then_pings,
    "content-forever": content_forever,
    "trickle": trickle,
    "continue-flood": continue_flood,
    "garbage": garbage,
    # The same attacks behind providers whose own budgets are long: only the request's
    # deadline (x-routecar-timeout-ms) can stop them.
    "deadline-pings": pings_forever,
    "deadline-trickle": trickle,
}


# -- the server ------------------------------------------------------------------------------

class HostileUpstream:
    def __init__(self, bomb: GzipBomb, late_bomb: GzipBomb):
        self.bomb = bomb
        self.late_bomb = late_bomb
        self.conns: list[Conn] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def base_url(self, attack: str) -> str:
        return f"http://127.0.0.1:{self.port}/{attack}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), 5)

    def served(self, attack: str, stream: bool | None = None) -> int:
        """Exchanges this attack answered (only streams, or only unary ones, if `stream` says)."""
        return sum(1 for c in self.conns if c.attack == attack and stream in (None, c.stream))

    def still_open(self) -> list[Conn]:
        return [c for c in self.conns if not c.ended.is_set()]

    async def wait_let_go(self, timeout: float) -> list[Conn]:
        """Bounded wait until every attack has ended; the ones still running after it."""
        pending = [asyncio.ensure_future(c.ended.wait()) for c in self.still_open()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
            for f in pending:
                f.cancel()
        return self.still_open()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn: Conn | None = None
        try:
            ex = await asyncio.wait_for(read_exchange(reader), 10)
            if ex is None:
                return
            name = ex.path.split("/")[1]
            conn = Conn(name, ex.stream)
            self.conns.append(conn)
            attack = ATTACKS[name]
            try:
                await asyncio.wait_for(attack(Wire(reader, writer, conn), ex, self), LIFETIME_S)
                conn.how = "done"
            except asyncio.TimeoutError:
                conn.how = "lifetime"
            except ConnectionError:
                conn.how = "peer"
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:  # a bug here must show in the test, not vanish in a task
            if conn is not None:
                conn.how = f"error: {exc!r}"
            raise
        finally:
            writer.close()
            if conn is not None:
                conn.ended.set()
            self._tasks.discard(task)
