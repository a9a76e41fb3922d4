"""Where a faulted answer's body bytes go: straight to the response, or trickled.

Every body writer in the fake takes a Sink, so pacing (`trickle_ms`) composes with whatever
else the fault does to the body (a bomb, an endless stream) without either knowing the other.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from .faults import Fault


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...


class Trickle:
    """Writes `size` bytes at a time, pausing `interval_s` after each piece.

    Each piece is its own response write (its own chunk on a chunked body), so the client sees
    a body that arrives byte by byte, not one the kernel merely delivered slowly.
    """

    __slots__ = ("_resp", "_size", "_interval_s")

    def __init__(self, resp: web.StreamResponse, size: int, interval_s: float) -> None:
        self._resp = resp
        self._size = size
        self._interval_s = interval_s

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), self._size):
            await self._resp.write(view[start:start + self._size])
            await asyncio.sleep(self._interval_s)


def sink_for(resp: web.StreamResponse, fault: Fault | None) -> Sink:
    """The response itself, or a trickle over it when the fault asks for one."""
    if fault is not None and fault.trickle_ms is not None:
        return Trickle(resp, fault.trickle_bytes, fault.trickle_ms / 1000.0)
    return resp
