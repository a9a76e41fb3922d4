"""Incremental server-sent-events parsing and encoding.

Upstream bytes arrive in arbitrary pieces; the parser hands out each complete event the moment
its blank line arrives, so a stream passes through event by event and is never coalesced.

Bounded and linear: the bytes of the event still being received are kept in one growing
buffer that is searched only from where the last search stopped, and an event larger than
`max_event` bytes fails the stream (`EventTooLarge`) instead of growing without end — an
upstream that sends one `data:` line and then never a blank line cannot take the sidecar's
memory, nor make every new piece re-copy everything before it.
"""

from __future__ import annotations

from .base import SSEEvent, StreamFramingError

DEFAULT_MAX_EVENT = 1 << 20


class EventTooLarge(StreamFramingError):
    """One server-sent event is over the size routecar holds (`server.max_event_bytes`)."""


class SSEParser:
    __slots__ = ("_buf", "_scanned", "_max", "_cr")

    def __init__(self, max_event: int = DEFAULT_MAX_EVENT) -> None:
        self._buf = bytearray()  # the start of the event not yet complete
        self._scanned = 0  # bytes of _buf already searched for a blank line
        self._max = max_event
        self._cr = False  # the last piece ended in CR: a CRLF may be split across pieces

    @staticmethod
    def accepts(content_type: str) -> bool:
        # Some upstreams stream SSE under a JSON content type; anything else is not a stream.
        return "event-stream" in content_type or "json" in content_type

    def feed(self, data: bytes) -> list[SSEEvent]:
        if self._cr or b"\r" in data:
            data = self._lf_only(data)
        buf = self._buf
        if not buf:
            # The common case: whole events in one piece, parsed without a copy.
            events, done = _events(data, 0, self._max)
            if done < len(data):
                self._keep(data, done)
            return events
        buf += data
        events, done = _events(buf, max(0, self._scanned - 1), self._max)
        if done:
            del buf[:done]
        self._scanned = len(buf)
        if len(buf) > self._max:
            raise EventTooLarge(f"stream event over {self._max} bytes")
        return events

    def _keep(self, data: bytes, done: int) -> None:
        rest = len(data) - done
        if rest > self._max:
            raise EventTooLarge(f"stream event over {self._max} bytes")
        self._buf += memoryview(data)[done:]
        self._scanned = rest

    def _lf_only(self, data: bytes) -> bytes:
        """CRLF and lone CR line ends as LF (the SSE spec allows all three)."""
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._cr = True
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def flush(self) -> list[SSEEvent]:
        """The last event of a body that ended without its blank line (some servers do that)."""
        rest = bytes(self._buf).strip()
        self._buf.clear()
        self._scanned = 0
        self._cr = False
        if not rest:
            return []
        event = _parse_block(rest)
        return [event] if event is not None else []

    @property
    def pending(self) -> int:
        return len(self._buf)


def _events(buf: bytes | bytearray, search_from: int, max_event: int) -> tuple[list[SSEEvent], int]:
    """The complete events in `buf` and the offset where the incomplete rest starts."""
    events: list[SSEEvent] = []
    start = 0
    pos = search_from
    while True:
        end = buf.find(b"\n\n", pos)
        if end < 0:
            return events, start
        if end - start > max_event:
            raise EventTooLarge(f"stream event over {max_event} bytes")
        event = _parse_block(bytes(buf[start:end]) if isinstance(buf, bytearray) else buf[start:end])
        if event is not None:
            events.append(event)
        start = pos = end + 2


def _parse_block(block: bytes) -> SSEEvent | None:
    # Fast path: the overwhelmingly common single `data: {...}` line.
    if block.startswith(b"data:") and b"\n" not in block:
        data = block[5:]
        return SSEEvent(data[1:] if data.startswith(b" ") else data)
    name: str | None = None
    data_lines: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue  # blank, or a comment (keep-alive pings): never an event
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


def encode_event(name: str, data: bytes) -> bytes:
    """A named event (Anthropic streams name every event after its `type`)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"
