"""A gzip bomb made lazily: a valid gzip stream that inflates to N MiB while costing ~1 KiB per MiB.

Compressing a gibibyte of filler live takes zlib about three seconds of CPU per request, which on
a small machine would slow the sidecar under test more than the bomb itself. Deflate lets us
do it once instead: a full flush byte-aligns the output and drops the back-reference window, so
one MiB of filler compressed from a fresh compressor and full-flushed can be repeated verbatim.
Only the gzip trailer's CRC has to follow the real data; zlib.crc32 does a MiB in ~0.2 ms.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Iterator
from functools import cache

from .sinks import Sink

MIB = 1 << 20
# What the bomb inflates to: a letter that never closes a JSON string or ends an SSE line.
FILLER_BYTE = b"A"
# Compressed MiBs per yielded piece: ~64 KiB on the wire, the size aiohttp drains at.
_UNITS_PER_PIECE = 64
# RFC 1952 header: magic, deflate, no flags, no mtime, max compression, unknown OS.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def _raw_deflater() -> "zlib._Compress":
    return zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)


@cache
def _filler_mib() -> bytes:
    """One MiB of filler; allocated on the first bomb, then shared by all of them."""
    return FILLER_BYTE * MIB


@cache
def _compressed_mib() -> bytes:
    """One MiB of filler as raw deflate, full-flushed: repeatable verbatim (~1 KiB)."""
    deflater = _raw_deflater()
    return deflater.compress(_filler_mib()) + deflater.flush(zlib.Z_FULL_FLUSH)


def gzip_bomb(prefix: bytes, mib: int) -> Iterator[bytes]:
    """The gzip stream of `prefix` followed by `mib` MiB of filler, in pieces of ~64 KiB.

    The prefix (the answer's start, or the valid events before the bomb) is full-flushed on its
    own so a client can inflate and act on it before the filler arrives.
    """
    deflater = _raw_deflater()
    yield _GZIP_HEADER + deflater.compress(prefix) + deflater.flush(zlib.Z_FULL_FLUSH)
    crc, size = zlib.crc32(prefix), len(prefix)
    filler, unit = _filler_mib(), _compressed_mib()
    left = mib
    while left > 0:
        units = min(left, _UNITS_PER_PIECE)
        for _ in range(units):
            crc = zlib.crc32(filler, crc)
        size += units * MIB
        left -= units
        yield unit * units
    # A fresh deflater's flush is the empty final block that ends the deflate stream.
    yield _raw_deflater().flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)


async def write_bomb(out: Sink, prefix: bytes, mib: int) -> None:
    """Write the bomb piece by piece, letting the loop run between pieces.

    A write into a socket with room never suspends, and a small bomb fits in the socket
    buffers, so without the explicit yield one request would hold the loop (and the client
    sharing it, in tests) for the whole bomb: ~13 ms of CRC per piece, 3 s for 16 GiB.
    """
    for piece in gzip_bomb(prefix, mib):
        await out.write(piece)
        await asyncio.sleep(0)
