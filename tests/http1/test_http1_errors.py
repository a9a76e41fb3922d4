"""What goes wrong: garbage from the upstream, no upstream, a broken body, a bad request."""

from __future__ import annotations

import asyncio
import gzip
import socket

import pytest

from routecar.http1 import ConnectError, ConnectionBroken, MalformedResponse, Origin, Pool
from routecar.http1.connection import MAX_HEAD

from .rawserver import RawServer, drain_until_eof, ok, read_request, respond_with


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 OK\r\n\r\n",
    b"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n: empty-name\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nhi",  # latin-1 superscript two is a "digit" to str
    b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    # Two framings in one head is how requests get smuggled: refused, whichever comes first.
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: x-custom\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: x-custom\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\x01\r\nContent-Length: 0\r\n\r\n",
], ids=["status-4-digits", "not-http", "no-status", "status-below-100", "101", "no-colon", "space-before-colon",
        "obs-fold", "empty-name", "bare-lf", "bare-cr", "conflicting-length", "negative-length", "hex-length",
        "unicode-digit-length", "huge-length", "unknown-coding",
        "duplicate-length", "coding-then-length", "length-then-coding", "chunked-and-length", "http2-version",
        "control-byte-in-value", "nul-in-value", "del-in-value", "control-byte-in-reason"])
async def test_malformed_head_fails_and_drops_the_socket(raw_server, make_pool, reply) -> None:
    srv = await raw_server(respond_with(reply, ok(b"fine")))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(MalformedResponse):
        await pool.request("GET", srv.url, {})
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0
    resp = await pool.request("GET", srv.url, {})
    assert await resp.read() == b"fine"
    assert srv.accepted == 2


@pytest.mark.parametrize("body", [
    b"zz\r\nhi\r\n0\r\n\r\n",
    b"-1\r\nhi\r\n0\r\n\r\n",
    b"\r\nhi\r\n0\r\n\r\n",
    b"11111111111111111\r\n",
    b"2\r\nhiXX0\r\n\r\n",
    b"2\r\nhi\r\n" + b"1" * 5000,
], ids=["not-hex", "negative", "empty", "too-long", "no-crlf-after-data", "endless-size-line"])
async def test_bad_chunk_framing_fails_on_read(raw_server, make_pool, body) -> None:
    srv = await raw_server(respond_with(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    with pytest.raises(MalformedResponse):
        await resp.read()
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


@pytest.mark.parametrize("one_write", [True, False])
async def test_head_over_64k_is_malformed(raw_server, make_pool, one_write) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * MAX_HEAD + b"\r\nContent-Length: 0\r\n\r\n"

    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        for i in range(0, len(head), len(head) if one_write else 4096):
            writer.write(head[i:i + (len(head) if one_write else 4096)])
            await writer.drain()
            await asyncio.sleep(0)
        await drain_until_eof(reader, srv)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    with pytest.raises(MalformedResponse):
        await pool.request("GET", srv.url, {})
    await srv.wait_peer_closed(1)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_connection_refused_is_connect_error(make_pool) -> None:
    pool: Pool = make_pool(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(ConnectError) as info:
        await pool.request("GET", pool.origin.prefix + "/", {})
    assert not info.value.timeout
    assert pool.open_connections == 0


async def test_connect_timeout_is_connect_error(raw_server, make_pool) -> None:
    # Loopback completes the TCP handshake in the kernel, so "a server that never answers the
    # SYN" cannot be built here; a zero budget expires at the connect's first suspension instead.
    srv = await raw_server(respond_with(ok()))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(ConnectError) as info:
        await pool.request("GET", srv.url, {}, connect_timeout=0)
    assert info.value.timeout
    assert pool.open_connections == 0
    assert await (await pool.request("GET", srv.url, {})).read() == b"hello"


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nonly this\r\n",
], ids=["length", "chunked"])
@pytest.mark.parametrize("how", ["read", "readany"])
async def test_server_closing_mid_body_is_connection_broken(raw_server, make_pool, reply, how) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(0.01)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    if how == "read":
        with pytest.raises(ConnectionBroken):
            await resp.read()
    else:
        got = b""
        with pytest.raises(ConnectionBroken):
            for _ in range(100):
                got += await resp.readany()
        assert got == b"only this"
    assert pool.open_connections == 0


async def test_server_closing_before_the_head_is_connection_broken(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-")

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    with pytest.raises(ConnectionBroken):
        await pool.request("GET", srv.url, {})
    assert pool.open_connections == 0


async def test_truncated_gzip_body_is_malformed(raw_server, make_pool) -> None:
    payload = gzip.compress(b"x" * 5000 + bytes(range(256)) * 20)[:-12]
    srv = await raw_server(respond_with(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    with pytest.raises(MalformedResponse):
        await resp.read()


async def test_corrupt_gzip_body_is_malformed_and_socket_dropped(raw_server, make_pool) -> None:
    payload = b"\x1f\x8b\x08\x00" + b"\xff" * 200
    srv = await raw_server(respond_with(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    with pytest.raises(MalformedResponse):
        await resp.read()
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


@pytest.mark.parametrize("headers", [
    {"X-Evil": "a\r\nInjected: 1"}, {"X-Evil": "a\nb"}, {"X-Evil": "a\rb"}, {"X\r\nEvil": "a"},
])
async def test_header_with_line_break_is_refused_before_sending(raw_server, make_pool, headers) -> None:
    srv = await raw_server(respond_with(ok()))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(ValueError):
        await pool.request("POST", srv.url + "/", headers, b"{}")
    assert srv.accepted == 0 and pool.open_connections == 0


def test_origin_target_and_host_header() -> None:
    o = Origin("http://127.0.0.1:8080/v1")
    assert o.host_header == "127.0.0.1:8080"
    assert o.target("http://127.0.0.1:8080/v1/chat?x=1&y=2") == "/v1/chat?x=1&y=2"
    assert o.target("http://127.0.0.1:8080") == "/"
    assert o.target("http://127.0.0.1:8080?q=1") == "/?q=1"
    assert Origin("https://api.example.com/v1").host_header == "api.example.com"
    assert Origin("https://api.example.com:443").host_header == "api.example.com"
    assert Origin("http://[::1]:9000").host_header == "[::1]:9000"
    for other in ("http://127.0.0.1:80801/v1", "http://127.0.0.1:8080@evil.test/", "https://127.0.0.1:8080/v1",
                  "http://127.0.0.2:8080/v1", "http://127.0.0.1:8080#frag"):
        with pytest.raises(ValueError):
            o.target(other)
    for bad in ("ftp://x", "http://", "localhost:80"):
        with pytest.raises(ValueError):
            Origin(bad)
