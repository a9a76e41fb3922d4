"""Raw-socket helpers for the data-port server's tests: exact bytes out, parsed answers in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

import orjson
from multidict import CIMultiDict

from routecar.http1.server import Request, Response, Server

WAIT = 5.0  # a safety bound on every socket wait, never an assertion about speed


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    chunks: list[int] = field(default_factory=list)  # chunk sizes, for a chunked answer
    raw_head: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.body)


async def read_reply(reader: asyncio.StreamReader, head: bool = False) -> Reply:
    """One answer off the wire, framed as the server framed it (Content-Length, chunked, close)."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    lines = raw[:-4].split(b"\r\n")
    version, status, _ = lines[0].split(b" ", 2)
    assert version == b"HTTP/1.1"
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.add(name.decode("latin-1"), value.strip().decode("latin-1"))
    reply = Reply(int(status), headers, b"", raw_head=raw)
    if head or reply.status in (100, 204, 304):
        return reply
    if headers.get("Transfer-Encoding") == "chunked":
        pieces = []
        for _ in range(100_000):
            size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT))[:-2], 16)
            if size == 0:
                assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
                break
            reply.chunks.append(size)
            pieces.append(await asyncio.wait_for(reader.readexactly(size + 2), WAIT))
            assert pieces[-1][-2:] == b"\r\n"
            pieces[-1] = pieces[-1][:-2]
        reply.body = b"".join(pieces)
    elif "Content-Length" in headers:
        reply.body = await asyncio.wait_for(reader.readexactly(int(headers["Content-Length"])), WAIT)
    else:
        reply.body = await asyncio.wait_for(reader.read(), WAIT)
    return reply


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the socket (EOF, or a reset for data it never read)."""
    try:
        rest = await asyncio.wait_for(reader.read(65536), WAIT)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return rest == b""


async def wait_until(cond: Callable[[], bool], what: str) -> None:
    for i in range(100 + int(WAIT / 0.005)):
        if cond():
            return
        await asyncio.sleep(0 if i < 100 else 0.005)  # a few loop turns first: most waits are short
    raise AssertionError(f"timed out waiting for {what}")


async def echo(request: Request) -> Response:
    """Says back what it saw: the tests read the request as the server parsed it."""
    body = await request.read()
    return Response(200, orjson.dumps({
        "method": request.method, "path": request.path, "query": request.query_string,
        "version": request.version, "keep_alive": request.keep_alive,
        "content_length": request.content_length, "body": body.decode("latin-1"),
        "headers": [[k, v] for k, v in request.headers.items()],
    }), content_type="application/json")


class Served:
    """A Server on 127.0.0.1:0 plus the raw connections a test opened to it."""

    def __init__(self, server: Server, port: int):
        self.server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.append(writer)
        return reader, writer

    async def ask(self, raw: bytes, head: bool = False) -> tuple[Reply, asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self.open()
        writer.write(raw)
        return await read_reply(reader, head), reader, writer

    def close_clients(self) -> None:
        for w in self.writers:
            w.close()


Routes = Mapping[str, Mapping[str, Callable[[Request], Awaitable[Any]]]]
ServeFactory = Callable[..., Awaitable[Served]]
