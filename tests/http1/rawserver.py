"""Real loopback servers for the upstream client's tests: exact bytes, counted connections."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable


@dataclass
class Request:
    line: bytes
    headers: dict[str, str]
    body: bytes
    raw_head: bytes


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request off the socket, or None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head[:-4].split(b"\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(lines[0], headers, body, head)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


@dataclass
class RawServer:
    """An `asyncio.start_server` on 127.0.0.1 whose handler writes exact bytes."""

    handler: Handler
    accepted: int = 0
    open: int = 0
    max_open: int = 0
    requests: list[Request] = field(default_factory=list)
    closed_by_peer: int = 0  # connections whose client side went away (EOF or reset)
    server: asyncio.Server | None = None
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        try:
            await self.handler(reader, writer, self)
            if reader.at_eof():
                self.closed_by_peer += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_peer += 1
        except RuntimeError:
            # uvloop refuses a write on a transport the peer has closed (asyncio drops it quietly)
            if not writer.transport.is_closing():
                raise
            self.closed_by_peer += 1
        finally:
            self.open -= 1
            writer.close()

    async def wait_peer_closed(self, count: int = 1, limit: int = 400) -> None:
        """Bounded wait until `count` connections have seen the client close its side."""
        for _ in range(limit):
            if self.closed_by_peer >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"expected {count} client-closed connections, saw {self.closed_by_peer}")

    async def stop(self) -> None:
        for w in self._writers:
            w.transport.abort()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def respond_with(*replies: bytes | Callable[[Request], bytes]) -> Handler:
    """Keep-alive handler: the n-th request on any connection gets the n-th reply (last repeats)."""
    counter = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: RawServer) -> None:
        while True:
            req = await read_request(reader)
            if req is None:
                return
            srv.requests.append(req)
            reply = replies[min(counter[0], len(replies) - 1)]
            counter[0] += 1
            writer.write(reply(req) if callable(reply) else reply)
            await writer.drain()

    return handler


async def drain_until_eof(reader: asyncio.StreamReader, srv: RawServer) -> None:
    """Swallow whatever the client sends until it closes."""
    while await reader.read(65536):
        pass


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def chunked(pieces: list[bytes], ext: bytes = b"", trailers: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"
