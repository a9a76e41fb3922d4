"""Compressed bodies that expand a thousandfold, built in milliseconds instead of compressing a GiB."""

from __future__ import annotations

import functools
import struct
import zlib

UNIT = 1 << 20

GZIP = 16 + zlib.MAX_WBITS
ZLIB = zlib.MAX_WBITS
RAW = -zlib.MAX_WBITS


@functools.lru_cache(maxsize=None)
def zeros_bomb(wbits: int, total: int) -> bytes:
    """A complete compressed stream (gzip, zlib or raw deflate per `wbits`) of `total` zero bytes.

    After a full flush deflate starts afresh, so every 1 MiB unit of zeros compresses to the
    same ~1 KiB: the stream is the header, that segment repeated, and a final block with the
    checksum of the whole.
    """
    assert total % UNIT == 0 and total >= UNIT
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(UNIT)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    segment = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    final = b"\x03\x00"  # an empty final fixed-Huffman block
    if wbits == GZIP:
        crc = 0
        for _ in range(total // UNIT):
            crc = zlib.crc32(zeros, crc)
        final += struct.pack("<II", crc, total & 0xFFFFFFFF)
    elif wbits == ZLIB:
        adler = 1
        for _ in range(total // UNIT):
            adler = zlib.adler32(zeros, adler)
        final += struct.pack(">I", adler)
    return first + segment * (total // UNIT - 1) + final

