"""Bodies that never end: keep-alive comments, a line with no end, trickled whitespace.

Each writer loops until a write fails because the client left; the caller bounds it in time
(see conn.bounded). Writes go through the response, whose drain holds the loop whenever the
client reads slower than we write, so the fake never buffers more than a socket's worth.
"""

from __future__ import annotations

import asyncio

from .gzip_bomb import FILLER_BYTE
from .sinks import Sink

COMMENT = b": ping\n\n"
# "data: " opens an event whose line never ends; it is not itself the start of a line break.
UNTERMINATED_OPENING = b"data: "
# The endless line's pace: 64 KiB every 5 ms (~13 MB/s) is fast enough to find a missing size
# limit within seconds, slow enough that the fake does not starve the sidecar on a small box.
_LINE_PIECE = FILLER_BYTE * (64 * 1024)
_LINE_PAUSE_S = 0.005
_WHITESPACE = b" "


async def endless_comments(out: Sink, interval_s: float) -> None:
    """SSE comments forever: the stream looks alive but carries no content."""
    while True:
        await out.write(COMMENT)
        await asyncio.sleep(interval_s)


async def endless_line(out: Sink) -> None:
    """Filler forever with no line break and no blank line: one event that never completes."""
    while True:
        await out.write(_LINE_PIECE)
        await asyncio.sleep(_LINE_PAUSE_S)


async def endless_whitespace(out: Sink, interval_s: float) -> None:
    """A space at a time: JSON may start with whitespace, so a parser keeps waiting."""
    while True:
        await out.write(_WHITESPACE)
        await asyncio.sleep(interval_s)
