"""Body framing against raw servers writing exact bytes: lengths, chunks, close, no-body, 1xx, coding."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from routecar.http1 import HttpClientError, Pool

from .rawserver import RawServer, chunked, ok, read_request, respond_with


async def _get(pool: Pool, path: str = "/", method: str = "POST") -> tuple[int, bytes]:
    resp = await pool.request(method, pool.origin.prefix + path, {}, b"{}")
    return resp.status, await resp.read()


async def test_content_length_body_split_across_many_writes(raw_server, make_pool) -> None:
    body = bytes(range(256)) * 40

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            data = ok(body)
            for i in range(0, len(data), 97):
                writer.write(data[i:i + 97])
                await writer.drain()
                await asyncio.sleep(0)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, body)
    assert await _get(pool) == (200, body)
    assert srv.accepted == 1 and len(srv.requests) == 2


async def test_chunked_with_extensions_and_trailers_then_reuse(raw_server, make_pool) -> None:
    reply = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
             + chunked([b"data: 1\n\n", b"data: two\n\n"], ext=b";name=\"v\"", trailers=b"X-Sum: 9\r\nX-B: 1\r\n"))
    srv = await raw_server(respond_with(reply, ok(b"after")))
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, b"data: 1\n\ndata: two\n\n")
    assert await _get(pool) == (200, b"after")
    assert srv.accepted == 1


async def test_chunked_streamed_byte_by_byte_over_tcp(raw_server, make_pool) -> None:
    data = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + chunked([b"a", b"bc" * 20, b"\r\n\r\n"], ext=b";x=1", trailers=b"T: 1\r\n"))

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url + "/", {})
    pieces = []
    for _ in range(len(data)):
        piece = await resp.readany()
        if not piece:
            break
        pieces.append(piece)
    assert b"".join(pieces) == b"a" + b"bc" * 20 + b"\r\n\r\n"
    assert await _get(pool) == (200, b"a" + b"bc" * 20 + b"\r\n\r\n")
    assert srv.accepted == 1


async def test_body_until_close_is_read_and_socket_not_reused(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        srv.requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"part two")
        await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, b"part one, part two")
    assert await _get(pool) == (200, b"part one, part two")
    assert srv.accepted == 2 and pool.idle_connections == 0


async def test_non_chunked_transfer_coding_runs_until_close(raw_server, make_pool) -> None:
    # `chunked` must be the last coding; after another one, only the close ends the body.
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x-custom\r\n\r\n"

    async def handler(reader, writer, srv: RawServer) -> None:
        srv.requests.append(await read_request(reader))
        writer.write(head + b"all of this")

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, b"all of this")
    assert pool.open_connections == 0


async def test_closing_an_until_close_body_early_is_not_a_clean_end(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nsome")
        while await reader.read(100):
            pass

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    assert await resp.readany() == b"some"
    resp.close()
    await srv.wait_peer_closed(1)
    assert resp.closed
    with pytest.raises(HttpClientError):
        await resp.readany()


@pytest.mark.parametrize("status, method", [(204, "POST"), (304, "GET")])
async def test_no_body_responses_complete_at_once_and_keep_the_socket(raw_server, make_pool, status, method) -> None:
    # Content-Length describes the entity, not bytes on the wire, for these.
    head = b"HTTP/1.1 %d X\r\nContent-Length: 50\r\nContent-Encoding: gzip\r\n\r\n" % status
    srv = await raw_server(respond_with(head, ok(b"next")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request(method, srv.url + "/", {})
    assert resp.status == status and resp.complete
    assert await resp.read() == b""
    assert await _get(pool) == (200, b"next")
    assert srv.accepted == 1


async def test_head_requests_are_refused_before_sending(raw_server, make_pool) -> None:
    # llhttp cannot be told a response has no body, so a HEAD answer would be misframed.
    srv = await raw_server(respond_with(ok()))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(ValueError):
        await pool.request("HEAD", srv.url + "/", {})
    assert srv.accepted == 0 and pool.open_connections == 0


async def test_interim_1xx_responses_are_skipped(raw_server, make_pool) -> None:
    reply = (b"HTTP/1.1 100 Continue\r\n\r\n"
             b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
             + ok(b"final", b"X-Final: yes\r\n"))
    srv = await raw_server(respond_with(reply, ok(b"again")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url + "/", {}, b"x")
    assert resp.status == 200 and resp.headers["X-Final"] == "yes" and "Link" not in resp.headers
    assert await resp.read() == b"final"
    assert await _get(pool) == (200, b"again")
    assert srv.accepted == 1


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


_TEXT = b'{"choices": [{"text": "' + b"compressible " * 300 + b'"}]}'


@pytest.mark.parametrize("encoding, payload", [
    ("gzip", gzip.compress(_TEXT)),
    ("x-gzip", gzip.compress(_TEXT)),
    ("deflate", zlib.compress(_TEXT)),
    ("deflate", _raw_deflate(_TEXT)),
], ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"])
@pytest.mark.parametrize("step", [0, 1], ids=["one-write", "byte-by-byte"])
async def test_compressed_bodies_are_decoded(raw_server, make_pool, encoding, payload, step) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding.encode(), len(payload))

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            writer.write(head)
            for i in range(0, len(payload), step or len(payload)):
                writer.write(payload[i:i + (step or len(payload))])
                await writer.drain()
                await asyncio.sleep(0)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, _TEXT)
    assert b"gzip" in srv.requests[0].headers["accept-encoding"].encode()
    assert await _get(pool) == (200, _TEXT)
    assert srv.accepted == 1


@pytest.mark.parametrize("reply", [
    ok(b"bye", b"Connection: close\r\n"),
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbyeEXTRA",  # bytes past Content-Length
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbye\r\n0\r\n\r\nEXTRA",
    b"HTTP/1.1 204 No Content\r\n\r\nEXTRA",
], ids=["connection-close", "http10", "past-length", "past-chunked", "past-204"])
async def test_sockets_not_reused(raw_server, make_pool, reply) -> None:
    srv = await raw_server(respond_with(reply))
    pool: Pool = make_pool(srv.url)
    status, body = await _get(pool)
    assert body == (b"" if status == 204 else b"bye")
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0 and pool.idle_connections == 0
    await _get(pool)
    assert srv.accepted == 2


async def test_http10_keep_alive_is_reused(raw_server, make_pool) -> None:
    srv = await raw_server(respond_with(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"))
    pool: Pool = make_pool(srv.url)
    assert await _get(pool) == (200, b"hi")
    assert await _get(pool) == (200, b"hi")
    assert srv.accepted == 1


async def test_headers_are_case_insensitive_and_repeatable(raw_server, make_pool) -> None:
    srv = await raw_server(respond_with(ok(b"x", b"x-ratelimit-remaining: 7\r\nSet-Thing: a\r\nset-thing: b\r\n")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    assert resp.reason == "OK"
    assert resp.headers["X-RateLimit-Remaining"] == "7"
    assert resp.headers.getall("Set-Thing") == ["a", "b"]
    assert srv.requests[0].line == b"GET / HTTP/1.1"
