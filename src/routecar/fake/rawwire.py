"""Bytes written on the raw transport, outside aiohttp's response: interim heads and garbage.

aiohttp writes a response through the same transport, so whatever goes here before the
response is prepared reaches the client first, in order. Transport writes never block, so
the writers below hold back themselves while the socket's send buffer is full.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Iterator

from aiohttp import web

from .conn import client_gone

INTERIM_HEAD = b"HTTP/1.1 100 Continue\r\n\r\n"
_PIECE = 64 * 1024
# Unsent bytes we let the transport hold before waiting for the client to read.
_HIGH_WATER = 256 * 1024
_POLL_S = 0.005


async def write_raw(request: web.BaseRequest, pieces: Iterable[bytes]) -> None:
    """Write each piece on the transport, waiting while the client lags; raise if it left."""
    for piece in pieces:
        transport = request.transport
        if client_gone(request) or transport is None:
            raise ConnectionResetError("the client left")
        transport.write(piece)
        await asyncio.sleep(0)  # a write with room never suspends; let the client's reader run
        while transport.get_write_buffer_size() > _HIGH_WATER:
            if client_gone(request):
                raise ConnectionResetError("the client left")
            await asyncio.sleep(_POLL_S)


def interim_heads(count: int) -> Iterator[bytes]:
    """`count` "100 Continue" heads in ~64 KiB pieces (a million of them is 25 MB)."""
    per_piece = _PIECE // len(INTERIM_HEAD)
    while count > 0:
        n = min(count, per_piece)
        count -= n
        yield INTERIM_HEAD * n


def garbage_bytes(size: int, seed: int) -> Iterator[bytes]:
    """`size` seeded random bytes in pieces, never starting like a status line ("HTTP/")."""
    rng = random.Random(seed)
    first = True
    while size > 0:
        piece = bytearray(rng.randbytes(min(size, _PIECE)))
        size -= len(piece)
        if first and piece[:1] == b"H":
            piece[0] ^= 0x80  # a random first byte is rarely "H"; make sure it never is
        first = False
        yield bytes(piece)
