"""A small HTTP forward proxy on 127.0.0.1 for tests: CONNECT tunnels and absolute-form requests.

It records the head of the first request on each connection (the CONNECT line, or the
absolute-form request line, and the headers, Proxy-Authorization included), then relays bytes
both ways. `status` other than 200 answers every request with that status (407 adds a
Proxy-Authenticate challenge) and relays nothing. `hosts` maps names to addresses, so an
upstream can be named `upstream.test` (its certificate's name) and still live on 127.0.0.1:
only the proxy resolves it, as a real egress proxy does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_HEAD_TIMEOUT_S = 10.0


@dataclass
class ProxySeen:
    line: str
    headers: dict[str, str]


@dataclass
class ConnectProxy:
    status: int = 200
    hosts: dict[str, str] = field(default_factory=dict)
    seen: list[ProxySeen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def start(self) -> "ConnectProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(_HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            self.seen.append(ProxySeen(lines[0], headers))
            method, target, _ = lines[0].split(" ", 2)
            if self.status != 200:
                challenge = "Proxy-Authenticate: Basic realm=\"test\"\r\n" if self.status == 407 else ""
                writer.write(f"HTTP/1.1 {self.status} No\r\n{challenge}Content-Length: 0\r\n\r\n".encode())
                await writer.drain()
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, upstream = await asyncio.open_connection(self.hosts.get(host, host), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # absolute-form: the head goes on as it came, and whatever follows it
                parts = urlsplit(target)
                assert parts.hostname is not None
                up_reader, upstream = await asyncio.open_connection(self.hosts.get(parts.hostname, parts.hostname),
                                                                    parts.port or 80)
                upstream.write(head)
            self._writers.add(upstream)
            await asyncio.gather(_relay(reader, upstream), _relay(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()
                    self._writers.discard(w)
            self._tasks.discard(task)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            try:
                writer.write_eof()
            except OSError:
                pass
