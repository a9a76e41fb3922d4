"""Fixtures for the upstream client's tests: raw byte servers, an aiohttp server, pools."""

from __future__ import annotations

from array import array
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from routecar.http1 import Pool

from .rawserver import Handler, RawServer

RawFactory = Callable[[Handler], Awaitable[RawServer]]
PoolFactory = Callable[..., Pool]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawFactory]:
    started: list[RawServer] = []

    async def make(handler: Handler) -> RawServer:
        srv = await RawServer(handler).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        await srv.stop()


@pytest.fixture
async def make_pool() -> AsyncIterator[PoolFactory]:
    pools: list[Pool] = []

    def make(base_url: str, **kwargs: object) -> Pool:
        pool = Pool(base_url, **kwargs)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


@pytest.fixture
async def aio_server() -> AsyncIterator[tuple[str, set[int]]]:
    """A real aiohttp server; yields its base URL and the client ports it has seen (one per connection)."""
    peers: set[int] = set()

    async def echo(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername")[1])
        body = await request.read()
        return web.json_response({"method": request.method, "target": request.path_qs,
                                  "host": request.headers.get("Host"), "body": body.decode(),
                                  "x_trace": request.headers.get("X-Trace")})

    async def stream(request: web.Request) -> web.StreamResponse:
        peers.add(request.transport.get_extra_info("peername")[1])
        total = int(request.query["bytes"])
        resp = web.StreamResponse()
        resp.content_type = "text/event-stream"
        await resp.prepare(request)
        piece = 1 << 16
        for start in range(0, total, piece):
            await resp.write(_pattern(start, min(piece, total - start)))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/stream", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", peers
    await runner.cleanup()


def _pattern(start: int, n: int) -> bytes:
    """Consecutive 32-bit counters (start, n multiples of 4), so order and completeness are checkable."""
    return array("I", range(start // 4, (start + n) // 4)).tobytes()


@pytest.fixture
def pattern() -> Callable[[int, int], bytes]:
    return _pattern
