"""A deliberately dumb HTTP/1.1 client for looking at the fake's hostile answers on the wire.

Real clients hide exactly what these tests need to see (interim heads, chunk boundaries,
undecoded gzip, a body that never ends), so this one reads bytes with asyncio streams and
bounds every read in time and size.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

READ_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@dataclass
class Head:
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated name keeps its last value


async def send(port: int, method: str, path: str, body: dict | None = None,
               headers: dict[str, str] | None = None) -> Conn:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw = orjson.dumps(body) if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(raw)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + raw)
    await writer.drain()
    return Conn(reader, writer)


async def read_head(conn: Conn) -> tuple[Head, bytes]:
    """The next response head, and its raw bytes."""
    async with asyncio.timeout(READ_TIMEOUT_S):
        raw = await conn.reader.readuntil(b"\r\n\r\n")
    assert len(raw) <= MAX_HEAD_BYTES
    status_line, *fields = raw.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        if field:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
    return Head(int(status_line.split(" ")[1]), headers), raw


async def chunks(conn: Conn, limit: int) -> AsyncIterator[bytes]:
    """The chunks of a chunked body as sent (one per server write), until the last chunk or
    `limit` body bytes, whichever comes first."""
    seen = 0
    while seen < limit:
        async with asyncio.timeout(READ_TIMEOUT_S):
            size_line = await conn.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                await conn.reader.readuntil(b"\r\n")
                return
            data = await conn.reader.readexactly(size)
            await conn.reader.readexactly(2)
        seen += size
        yield data


async def read_until_eof(conn: Conn, limit: int, timeout: float = READ_TIMEOUT_S) -> bytes:
    """Everything until the server closes, at most `limit` bytes."""
    data = bytearray()
    async with asyncio.timeout(timeout):
        while len(data) < limit:
            piece = await conn.reader.read(65536)
            if not piece:
                break
            data += piece
    return bytes(data)


class Inflater:
    """Counts what a gzip body inflates to without ever holding more than a piece of it."""

    PIECE = 1 << 20

    def __init__(self, keep: int = 0) -> None:
        self._gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.total = 0
        self.compressed = 0
        self.kept = bytearray()  # the first `keep` inflated bytes, to look at
        self._keep = keep
        self.filler_ok = True  # every byte past the kept head is b"A"

    def feed(self, data: bytes) -> None:
        self.compressed += len(data)
        pending = data
        while pending:
            out = self._gz.decompress(pending, self.PIECE)
            pending = self._gz.unconsumed_tail
            self._take(out)
            if not out:
                break

    def _take(self, out: bytes) -> None:
        room = max(self._keep - len(self.kept), 0)
        self.kept += out[:room]
        rest = out[room:]
        if rest and rest.count(b"A") != len(rest):
            self.filler_ok = False
        self.total += len(out)

    @property
    def complete(self) -> bool:
        return self._gz.eof and not self._gz.unused_data


USER = [{"role": "user", "content": "hello hostile world"}]


def chat_request(dialect: str, stream: bool) -> tuple[str, dict]:
    """A generation request's path and body in `dialect`."""
    if dialect == "openai":
        return "/v1/chat/completions", {"model": "m", "messages": USER, "stream": stream}
    if dialect == "anthropic":
        return "/v1/messages", {"model": "c", "max_tokens": 64, "messages": USER, "stream": stream}
    body = {"contents": [{"role": "user", "parts": [{"text": "hello hostile world"}]}]}
    if stream:
        return "/v1beta/models/g:streamGenerateContent?alt=sse", body
    return "/v1beta/models/g:generateContent", body


# What marks a content event in each dialect's stream (the preamble carries none).
CONTENT_MARK = {"openai": b'"delta":{"content":', "anthropic": b"event: content_block_delta",
                "gemini": b'"text":'}


async def wait_idle(fake, timeout: float = 5.0) -> None:
    """Poll (bounded) until the fake has finished every request it accepted: proof that a
    fault's handler ended rather than lingering after its client."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while fake.stats()["in_flight"]:
        if loop.time() > deadline:
            raise AssertionError(f"fake still busy: {fake.stats()}")
        await asyncio.sleep(0.01)
