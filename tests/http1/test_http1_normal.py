"""The lean client against a real aiohttp server: reuse, request shape, streamed bodies."""

from __future__ import annotations

import asyncio

import orjson

from routecar.http1 import Pool, Response
from routecar.http1.response import _PAUSE_AT


async def _json(resp: Response) -> dict:
    assert resp.status == 200
    return orjson.loads(await resp.read())


async def test_sequential_requests_reuse_one_socket(aio_server, make_pool) -> None:
    url, peers = aio_server
    pool: Pool = make_pool(url)
    for i in range(5):
        resp = await pool.request("POST", f"{url}/echo", {"Content-Type": "text/plain"}, b"n=%d" % i)
        assert (await _json(resp))["body"] == f"n={i}"
    assert len(peers) == 1
    assert pool.open_connections == 1 and pool.idle_connections == 1


async def test_host_header_target_query_and_headers_are_sent(aio_server, make_pool) -> None:
    url, _ = aio_server
    port = int(url.rsplit(":", 1)[1])
    pool: Pool = make_pool(f"{url}/v1")  # the base path is not part of the origin
    resp = await pool.request("POST", f"{url}/echo?model=a%20b&x=1", {"X-Trace": "abc"}, b"{}")
    got = await _json(resp)
    assert got["target"] == "/echo?model=a%20b&x=1"
    assert got["host"] == f"127.0.0.1:{port}"
    assert got["x_trace"] == "abc" and got["body"] == "{}" and got["method"] == "POST"


async def test_get_without_body(aio_server, make_pool) -> None:
    url, _ = aio_server
    pool: Pool = make_pool(url)
    got = await _json(await pool.request("GET", f"{url}/echo", {}))
    assert got["method"] == "GET" and got["body"] == ""


async def test_large_stream_read_slowly_arrives_whole_and_in_order(aio_server, make_pool, pattern) -> None:
    url, _ = aio_server
    total = 6 << 20
    pool: Pool = make_pool(url)
    resp = await pool.request("GET", f"{url}/stream?bytes={total}", {})
    # Let the client fill its buffer without reading: flow control must stop it near _PAUSE_AT.
    for _ in range(400):
        if resp.buffered > _PAUSE_AT:
            break
        await asyncio.sleep(0.005)
    for _ in range(20):
        await asyncio.sleep(0)
    assert _PAUSE_AT < resp.buffered < _PAUSE_AT + (1 << 20)
    got = bytearray()
    for _ in range(100_000):
        piece = await resp.readany()
        if not piece:
            break
        got += piece
        await asyncio.sleep(0)
    assert bytes(got) == pattern(0, total)
    # The exchange ended cleanly, so the socket went back to the pool and still works.
    assert pool.idle_connections == 1
    resp = await pool.request("GET", f"{url}/stream?bytes=8", {})
    assert await resp.read() == pattern(0, 8)


async def test_read_whole_large_body(aio_server, make_pool, pattern) -> None:
    url, _ = aio_server
    total = 3 << 20
    pool: Pool = make_pool(url)
    resp = await pool.request("GET", f"{url}/stream?bytes={total}", {})
    assert await resp.read() == pattern(0, total)
    assert resp.complete and resp.closed
