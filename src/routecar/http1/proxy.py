"""Reaching an origin through an HTTP forward proxy.

An https origin is reached through a CONNECT tunnel (RFC 9110 §9.3.6): a plain socket to the
proxy, `CONNECT host:port`, the proxy's answer read with a size budget, then TLS with the origin
over that socket (done by the pool, so verification and SNI are the origin's). An http origin
needs no tunnel: the pool sends absolute-form requests to the proxy itself (RFC 9112 §3.2.2)
with `Proxy-Authorization` in each head.

The caller bounds every wait here (the pool's connect timeout covers proxy connect, CONNECT
and TLS handshake together). Errors name the proxy by host and port, never its credentials.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from dataclasses import dataclass, field

from .errors import ConnectError

# A CONNECT answer is a status line and a few headers; a proxy's 407 page may add a body,
# which is never read. 16 KiB is more than any real proxy sends for the head.
MAX_PROXY_HEAD = 16 << 10
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n")


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    # The Proxy-Authorization value (Basic credentials): never printed.
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def basic(cls, host: str, port: int, username: str | None, password: str | None) -> "Proxy":
        auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode("utf-8")).decode("ascii")
            auth = f"Basic {token}"
        return cls(host, port, auth)

    def __str__(self) -> str:
        return f"{authority(self.host, self.port)}"


def authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def open_tunnel(loop: asyncio.AbstractEventLoop, proxy: Proxy, host: str, port: int) -> socket.socket:
    """A socket to `proxy` on which a CONNECT tunnel to `host:port` is established.

    Raises ConnectError: the proxy is unreachable, answers other than 2xx (its status is in the
    message), or breaks the protocol. The socket is closed on any failure or cancellation.
    """
    sock = await _connect(loop, proxy)
    try:
        target = authority(host, port)
        head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if proxy.authorization is not None:
            head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        await loop.sock_sendall(sock, (head + "\r\n").encode("latin-1"))
        status = await _read_answer(loop, sock, proxy)
        if not 200 <= status < 300:
            raise ConnectError(f"proxy {proxy} answered {status} to CONNECT {target}")
    except OSError as exc:
        sock.close()
        raise ConnectError(f"proxy {proxy} broke the CONNECT exchange ({type(exc).__name__})") from None
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect(loop: asyncio.AbstractEventLoop, proxy: Proxy) -> socket.socket:
    """A connected non-blocking socket to the proxy, trying its addresses in order."""
    try:
        infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectError(f"cannot resolve proxy {proxy} ({type(exc).__name__})") from None
    last = "no address"
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = type(exc).__name__
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # requests are one write each
        return sock
    raise ConnectError(f"cannot connect to proxy {proxy} ({last})")


async def _read_answer(loop: asyncio.AbstractEventLoop, sock: socket.socket, proxy: Proxy) -> int:
    """The status of the proxy's answer to CONNECT; reads its head and nothing past it."""
    buf = b""
    while True:
        data = await loop.sock_recv(sock, MAX_PROXY_HEAD + 1 - len(buf))
        if not data:
            raise ConnectError(f"proxy {proxy} closed the connection during CONNECT")
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > MAX_PROXY_HEAD:
            raise ConnectError(f"proxy {proxy} answered CONNECT with a head over {MAX_PROXY_HEAD >> 10} KiB")
    match = _STATUS_LINE.match(buf)
    if match is None:
        raise ConnectError(f"proxy {proxy} answered CONNECT with no HTTP status line")
    status = int(match.group(1))
    if 200 <= status < 300 and end + 4 != len(buf):
        # The origin speaks only after our TLS hello: bytes already here came from the proxy.
        raise ConnectError(f"proxy {proxy} sent bytes after its CONNECT answer")
    return status
