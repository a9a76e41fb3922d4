"""Keep-alive connections to one upstream origin, created at start-up, shared by all requests.

One pool per provider (connection pooling per provider, never a session per request).
At most `max_connections` sockets; a request beyond that waits for one to come back (its own
Deadline bounds the wait). Idle sockets are reused newest first (warm, least likely to have
been closed by the server) and closed after `keepalive` seconds, shorter than the usual
server-side keep-alive so we close first and never write into a socket the server is closing.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import deque
from typing import Mapping
from urllib.parse import urlsplit

from .connection import Connection
from .deadline import NEVER, Deadline
from .errors import ConnectError, ConnectionBroken, DeadlineExceeded, PoolClosed
from .proxy import Proxy, open_tunnel
from .response import Response

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin:
    """Scheme, host and port of a base URL, and the exact prefix request URLs start with."""

    __slots__ = ("scheme", "host", "port", "prefix", "host_header", "tls")

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        start = base_url.find("//") + 2
        slash = base_url.find("/", start)
        self.prefix = base_url if slash < 0 else base_url[:slash]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if parts.port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{self.port}"

    def target(self, url: str) -> str:
        """The request target (path and query) of `url`, which must be on this origin."""
        if not url.startswith(self.prefix):
            raise ValueError("request URL is not on this provider's origin")
        rest = url[len(self.prefix):]
        if not rest:
            return "/"
        if rest[0] not in "/?":
            raise ValueError("request URL is not on this provider's origin")
        return rest if rest[0] == "/" else "/" + rest


class Pool:
    """HTTP/1.1 client for one origin: `await pool.request(...)` returns a `Response`."""

    def __init__(self, base_url: str, max_connections: int = 100, keepalive: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, proxy: Proxy | None = None):
        """`proxy`: connections go through this HTTP forward proxy (see proxy.py)."""
        self.origin = Origin(base_url)
        self.proxy = proxy
        self.max_connections = max(1, max_connections)
        self.keepalive = keepalive
        # Loading the CA store costs tens of ms and MBs: whoever makes many pools passes one
        # shared context (server/pools.py does); a lone pool makes its own.
        self._ssl = (ssl_context or ssl.create_default_context()) if self.origin.tls else None
        self._idle: deque[Connection] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False
        self._fixed_head = f"Host: {self.origin.host_header}\r\n"
        # Plain http through a proxy: requests name the whole URL and carry the proxy's
        # credentials (an https origin's proxy sees only the CONNECT, which carries them).
        self._absolute = proxy is not None and not self.origin.tls
        if self._absolute and proxy is not None and proxy.authorization is not None:
            self._fixed_head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        self._where = f"{self.origin.host}:{self.origin.port}" + (f" via proxy {proxy}" if proxy else "")

    # -- requests ---------------------------------------------------------------------------

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"",
                      connect_timeout: float = 10.0, deadline: Deadline | None = None,
                      max_body: int | None = None) -> Response:
        """Send one request; returns once the response head is in (the body is read from it).

        `deadline` bounds every wait, here (a pool slot, the connect, the response head) and in
        the Response's reads, which keep it; past it a wait raises DeadlineExceeded and the
        socket is dropped. `connect_timeout` bounds each new socket's connect on its own.
        `max_body` caps the whole body after decompression (BodyTooLarge); without it only the
        bytes held at a time are bounded, which suits streams.

        Raises ConnectError, ConnectionBroken, MalformedResponse, DeadlineExceeded or
        PoolClosed; ValueError for a request that cannot be sent. Cancelling the caller drops
        the socket, never returns it to the pool half-used.
        """
        head = self._head(method, self.origin.target(url), headers, len(body))
        if deadline is not None:
            deadline.check()
        loop = asyncio.get_running_loop()
        conn = await self._acquire(loop, connect_timeout, deadline)
        try:
            resp = await self._exchange(conn, head, body, loop, deadline, max_body)
        except ConnectionBroken:
            if not conn.reused or conn.heard:
                raise
            # A reused socket closed without a byte of answer: the server dropped it as idle while
            # the request was on its way (the keep-alive race), so the request was never read. One
            # more try on a fresh socket; failing that, the error is the dispatcher's to handle.
            conn = await self._acquire(loop, connect_timeout, deadline, fresh=True)
            resp = await self._exchange(conn, head, body, loop, deadline, max_body)
        if self._absolute and resp.status == 407:
            # Plain http through a proxy: a 407 is the proxy refusing us, not the origin's answer,
            # so it is a connect failure (and fails over), as a refused CONNECT is.
            resp.close()
            raise ConnectError(f"proxy {self.proxy} answered 407 to {method} {self.origin.host_header}")
        return resp

    @staticmethod
    async def _exchange(conn: Connection, head: bytes, body: bytes, loop: asyncio.AbstractEventLoop,
                        deadline: Deadline | None, max_body: int | None) -> Response:
        try:
            waiter = conn.send(head, body, loop, deadline, max_body)
        except BaseException:
            conn.abort()
            raise
        if deadline is not None:
            try:
                deadline.guard(waiter)
            except BaseException:
                conn.abort()
                raise
        try:
            return await waiter
        except BaseException:
            conn.abort()
            raise
        finally:
            if deadline is not None:
                deadline.unguard(waiter)

    def _head(self, method: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
        if method == "HEAD":
            # llhttp cannot be told that a response carries no body, so HEAD is not offered.
            raise ValueError("HEAD requests are not supported")
        if self._absolute:
            target = f"{self.origin.scheme}://{self.origin.host_header}{target}"
        lines = [f"{method} {target} HTTP/1.1\r\n", self._fixed_head]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} contains a line break")
            if name.lower() not in ("content-length", "host", "transfer-encoding", "connection", "accept-encoding",
                                    "proxy-authorization"):
                lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {length}\r\nAccept-Encoding: gzip, deflate\r\n\r\n")
        return "".join(lines).encode("latin-1")

    # -- connections --------------------------------------------------------------------------

    async def _acquire(self, loop: asyncio.AbstractEventLoop, connect_timeout: float, deadline: Deadline | None,
                       fresh: bool = False) -> Connection:
        while True:
            if self.closed:
                raise PoolClosed("the provider's connection pool is closed")
            idle = self._idle
            if fresh and self._open < self.max_connections:
                return await self._connect(loop, connect_timeout, deadline)
            if idle:
                limit = time.monotonic() - self.keepalive
                while idle:
                    conn = idle.pop()
                    if not conn.closed and conn.idle_since > limit:
                        conn.reused = True
                        return conn
                    self._forget(conn)
            if self._open < self.max_connections:
                return await self._connect(loop, connect_timeout, deadline)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                if deadline is None:
                    await waiter
                else:
                    await deadline.wait(waiter)
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake()  # pass the turn on: we were woken but will not use it
                raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, connect_timeout: float,
                       deadline: Deadline | None) -> Connection:
        self._open += 1
        # The connect has its own budget per socket; the request's deadline may end it sooner.
        # Task cancellation (asyncio.timeout_at) is safe here: the awaited connect is ours alone.
        until = loop.time() + connect_timeout
        by_deadline = deadline is not None and deadline.when <= until
        if by_deadline:
            assert deadline is not None
            until = deadline.when
        try:
            async with asyncio.timeout_at(until if until != NEVER else None):
                conn = await self._open_connection(loop)
        except (TimeoutError, asyncio.TimeoutError):
            self._open -= 1
            self._wake()
            if by_deadline:
                raise DeadlineExceeded(f"deadline passed while connecting to {self._where}") from None
            raise ConnectError(f"connect to {self._where} timed out", timeout=True) from None
        except ConnectError:
            self._open -= 1
            self._wake()
            raise
        except (OSError, ssl.SSLError, socket.gaierror) as exc:
            self._open -= 1
            self._wake()
            raise ConnectError(f"cannot connect to {self._where} ({type(exc).__name__})") from None
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        conn.counted = True
        if self.closed:
            conn.abort()
            raise PoolClosed("the provider's connection pool is closed")
        return conn

    async def _open_connection(self, loop: asyncio.AbstractEventLoop) -> Connection:
        o, proxy = self.origin, self.proxy
        server_hostname = o.host if self._ssl is not None else None
        if proxy is None:
            _, conn = await loop.create_connection(lambda: Connection(self._release), o.host, o.port,
                                                   ssl=self._ssl, server_hostname=server_hostname)
        elif not o.tls:
            _, conn = await loop.create_connection(lambda: Connection(self._release), proxy.host, proxy.port)
        else:
            sock = await open_tunnel(loop, proxy, o.host, o.port)
            try:
                # TLS with the origin inside the tunnel: its certificate and SNI, not the proxy's.
                _, conn = await loop.create_connection(lambda: Connection(self._release), sock=sock,
                                                       ssl=self._ssl, server_hostname=server_hostname)
            except BaseException:
                sock.close()  # a no-op once the transport owns the socket
                raise
        return conn

    def _release(self, conn: Connection, reusable: bool) -> None:
        if reusable and not conn.closed and not self.closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            if self._sweep is None:
                self._sweep = asyncio.get_running_loop().call_later(self.keepalive, self._expire)
        else:
            self._forget(conn)
            if not conn.closed:
                conn.abort()  # calls back here with reusable=False; _forget is idempotent
        self._wake()

    def _forget(self, conn: Connection) -> None:
        if conn.counted:
            conn.counted = False
            self._open -= 1
            if not conn.closed and conn.transport is not None:
                conn.closed = True
                conn.transport.close()
        try:
            self._idle.remove(conn)
        except ValueError:
            pass

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _expire(self) -> None:
        self._sweep = None
        now = time.monotonic()
        limit = now - self.keepalive
        for conn in [c for c in self._idle if c.closed or c.idle_since <= limit]:
            self._forget(conn)
        if self._idle and not self.closed:
            # Next due is the longest-idle socket (the left end), not a whole keepalive from now,
            # which would let a socket linger for up to twice its keepalive.
            due = self._idle[0].idle_since + self.keepalive - now
            self._sweep = asyncio.get_running_loop().call_later(max(due, 0.001), self._expire)

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def close(self) -> None:
        """Close idle sockets now; sockets still answering close when their exchange ends."""
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._idle):
            self._forget(conn)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # they wake to find the pool closed
