"""Incremental server-sent-events parsing and encoding.

Upstream bytes arrive in arbitrary pieces; the parser hands out each complete event the moment
its blank line arrives, so a stream passes through event by event and is never coalesced.
"""

from __future__ import annotations

from .base import SSEEvent


class SSEParser:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[SSEEvent]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            event = _parse_block(buf[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
        self._buf = buf[start:]
        return events

    def flush(self) -> list[SSEEvent]:
        """The last event of a body that ended without its blank line (some servers do that)."""
        rest, self._buf = self._buf.strip(), b""
        if not rest:
            return []
        event = _parse_block(rest)
        return [event] if event is not None else []

    @property
    def pending(self) -> int:
        return len(self._buf)


def _parse_block(block: bytes) -> SSEEvent | None:
    # Fast path: the overwhelmingly common single `data: {...}` line.
    if block.startswith(b"data:") and b"\n" not in block:
        data = block[5:]
        return SSEEvent(data[1:] if data.startswith(b" ") else data)
    name: str | None = None
    data_lines: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data_lines.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data_lines:
        return None
    return SSEEvent(b"\n".join(data_lines), name)


def encode_data(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"
