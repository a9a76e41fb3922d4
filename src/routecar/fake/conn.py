"""Connection-level misbehaviour: waiting out a client, hanging up on it, and bounding a fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

_POLL_S = 0.02


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def wait_client_gone(request: web.BaseRequest, cap_s: float) -> None:
    """Sleep until the client disconnects, or `cap_s` passes.

    aiohttp does not cancel handlers on disconnect by default, so a hung handler has to notice
    on its own; polling the transport is cheap and only faulted requests ever do it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cap_s
    while not client_gone(request) and loop.time() < deadline:
        await asyncio.sleep(_POLL_S)


def hang_up(request: web.BaseRequest) -> None:
    """Close the connection mid-response: written bytes are flushed, the rest never comes."""
    transport = request.transport
    if transport is not None:
        transport.close()


@asynccontextmanager
async def bounded(request: web.BaseRequest, cap_s: float) -> AsyncIterator[None]:
    """Run a faulted answer until it ends, the client leaves, or `cap_s` passes.

    The client leaving shows up as a failed write (ConnectionError) and simply ends the fault;
    at the cap we hang up, since an endless body has no proper end to send. A writer blocked in
    drain on a client that stopped reading is released by the same cap.
    """
    try:
        async with asyncio.timeout(cap_s):
            yield
    except TimeoutError:
        hang_up(request)
    except ConnectionError:
        pass
