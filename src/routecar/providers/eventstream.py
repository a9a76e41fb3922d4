"""AWS event-stream framing (`application/vnd.amazon.eventstream`), Bedrock's stream answers.

Each frame is length-prefixed: a 12-byte prelude (total length, headers length, prelude CRC32),
headers, payload, message CRC32. The framer reads the total length itself, refuses a frame
over `server.max_event_bytes` before buffering it (the budget SSE streams have too), and hands
each complete frame to botocore's parser, which checks both checksums and decodes the headers.

Frames come out as SSEEvent so the dispatcher's stream path is the same for both framings:
  `:message-type: event`      -> SSEEvent(payload, event=`:event-type`)
  `:message-type: exception`  -> SSEEvent(payload, event="exception:" + `:exception-type`)
  `:message-type: error`      -> SSEEvent(`:error-message`, event="error:" + `:error-code`)
"""

from __future__ import annotations

from botocore.eventstream import EventStreamBuffer, ParserError

from .base import SSEEvent, StreamFramingError

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE = 12
MIN_FRAME = 16  # prelude and message CRC, no headers, no payload


class EventStreamFramer:
    __slots__ = ("_buf", "_max", "_parser")

    def __init__(self, max_event: int) -> None:
        self._buf = bytearray()  # at most one incomplete frame (and its prelude)
        self._max = max_event
        self._parser = EventStreamBuffer()

    @staticmethod
    def accepts(content_type: str) -> bool:
        return "amazon.eventstream" in content_type

    def feed(self, data: bytes) -> list[SSEEvent]:
        buf = self._buf
        buf += data
        events: list[SSEEvent] = []
        start = 0
        while len(buf) - start >= PRELUDE:
            total = int.from_bytes(buf[start:start + 4], "big")
            if total < MIN_FRAME:
                raise StreamFramingError(f"event-stream frame of {total} bytes is too short")
            if total > self._max:
                raise StreamFramingError(f"stream event over {self._max} bytes")
            if len(buf) - start < total:
                break
            events.append(self._decode(bytes(buf[start:start + total])))
            start += total
        if start:
            del buf[:start]
        return events

    def flush(self) -> list[SSEEvent]:
        # A body that ends inside a frame lost that frame; the decoder decides whether the
        # stream was complete.
        self._buf.clear()
        return []

    def _decode(self, frame: bytes) -> SSEEvent:
        try:
            self._parser.add_data(frame)
            message = next(self._parser)
        except (ParserError, StopIteration) as exc:
            raise StreamFramingError(f"bad event-stream frame ({type(exc).__name__})") from None
        headers = message.headers
        kind = headers.get(":message-type")
        if kind == "event":
            return SSEEvent(bytes(message.payload), str(headers.get(":event-type") or ""))
        if kind == "exception":
            return SSEEvent(bytes(message.payload), "exception:" + str(headers.get(":exception-type") or ""))
        if kind == "error":
            text = str(headers.get(":error-message") or "")
            return SSEEvent(text.encode(), "error:" + str(headers.get(":error-code") or ""))
        raise StreamFramingError(f"event-stream frame of message type {kind!r}")
