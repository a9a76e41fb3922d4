"""The chunk-size line of chunked transfer coding, read the same way by client and server."""

from __future__ import annotations

from typing import Union

MAX_CHUNK_LINE = 4 << 10  # size, extensions and CRLF: anything longer is not a real client
_HEX = frozenset(b"0123456789abcdefABCDEF")

Buffer = Union[bytes, bytearray]


class ChunkError(ValueError):
    """The chunked framing is malformed; each side turns it into its own protocol error."""


def read_chunk_size(buf: Buffer, pos: int, end: int) -> tuple[int, int] | None:
    """(size, offset of its data) for the size line at `buf[pos:end]`, or None until the whole
    line has arrived. Extensions are ignored; sizes are plain hex of at most 16 digits (no
    sign, `0x` or `_`, which int() would accept)."""
    nl = buf.find(b"\r\n", pos, min(end, pos + MAX_CHUNK_LINE + 2))
    if nl < 0:
        if end - pos > MAX_CHUNK_LINE:
            raise ChunkError("chunk size line too long")
        return None
    size_text = bytes(buf[pos:nl]).split(b";", 1)[0].strip(b" \t")
    if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
        raise ChunkError("invalid chunk size")
    return int(size_text, 16), nl + 2
