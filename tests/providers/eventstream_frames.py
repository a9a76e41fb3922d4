"""AWS event-stream frames built by hand (the wire format Bedrock streams in), for tests: a
prelude (total length, headers length, prelude CRC32), string headers, payload, message CRC32."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson

_STRING = 7  # header value type: string


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += bytes([len(raw_name)]) + raw_name + bytes([_STRING]) + struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, data: dict[str, Any]) -> bytes:
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                 orjson.dumps(data))


def exception(exception_type: str, message: str) -> bytes:
    return frame({":exception-type": exception_type, ":content-type": "application/json",
                  ":message-type": "exception"}, orjson.dumps({"message": message}))


# A Converse stream answering "Hello there" with usage, as Bedrock sends it.
CONVERSE_STREAM = [
    event("messageStart", {"role": "assistant", "p": "abcd"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "ab"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " there"}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("messageStop", {"stopReason": "end_turn"}),
    event("metadata", {"usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15,
                                 "cacheReadInputTokens": 4, "cacheWriteInputTokens": 0},
                       "metrics": {"latencyMs": 120}}),
]


def anthropic_chunk(event_data: dict[str, Any]) -> bytes:
    """InvokeModelWithResponseStream's frame for one Anthropic event: base64 JSON in `bytes`."""
    import base64

    return event("chunk", {"bytes": base64.b64encode(orjson.dumps(event_data)).decode(), "p": "abc"})


# Claude through InvokeModelWithResponseStream: thinking (with its signature), then "Hi!".
CLAUDE_INVOKE_STREAM = [anthropic_chunk(e) for e in (
    {"type": "message_start", "message": {"id": "msg_bdrk_1", "type": "message", "role": "assistant",
                                          "model": "claude-sonnet-4-20250514", "content": [], "stop_reason": None,
                                          "usage": {"input_tokens": 10, "output_tokens": 1,
                                                    "cache_read_input_tokens": 6}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Greet."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-bdrk"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi!"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 10, "outputTokenCount": 5}},
)]
