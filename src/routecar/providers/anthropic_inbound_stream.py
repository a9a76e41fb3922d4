"""Canonical chunks -> Anthropic Messages stream events, for apps calling `POST /v1/messages`.

Anthropic streams are block-structured (a block opens, takes deltas, closes) while OpenAI
chunks are flat deltas, so the encoder tracks which block is open and opens or closes blocks
as the kind of delta changes. The closing `message_delta` needs the usage, which OpenAI sends
after the finish reason, so the message is closed once both are known (or on `finish()`).
"""

from __future__ import annotations

from typing import Any

import orjson

from .anthropic_inbound_answer import (
    anthropic_usage,
    error_body,
    message_id,
    message_shape,
    stop_reason_for,
    tool_use_block,
)
from .base import Chunk, SSEEvent
from .sse import encode_data, encode_event


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return encode_event(name, orjson.dumps(payload))


class MessagesStreamEncoder:
    """Feed every canonical chunk to `encode`; call `finish()` when the upstream ends (it is
    idempotent and a no-op once the message was closed) or `error()` when it breaks."""

    __slots__ = ("_model", "_id", "_started", "_closed", "_open", "_next", "_tools", "_finish", "_usage", "_saw_tool")

    def __init__(self, requested_model: str) -> None:
        self._model = requested_model
        self._id: Any = None  # the first chunk's id, even when that chunk emitted nothing
        self._started = False
        self._closed = False
        self._open: int | None = None  # index of the open content block
        self._next = 0  # index the next content block gets
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> content block index
        self._finish: Any = None
        self._usage: Any = None
        self._saw_tool = False

    def encode(self, chunk: Chunk) -> bytes:
        if self._closed:
            return b""
        if chunk.event is not None:  # an Anthropic upstream's own event: passed through
            return self._native(chunk.event)
        data = chunk.data
        out: list[bytes] = []
        if self._id is None:
            self._id = data.get("id")
        if data.get("usage"):
            self._usage = data["usage"]
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # Anthropic messages have one answer; n > 1 is not asked for here
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                self._start(out)
                self._text(text, out)
            for call in delta.get("tool_calls") or ():
                self._start(out)
                self._tool(call, out)
            if choice.get("finish_reason"):
                self._start(out)
                self._close_block(out)
                self._finish = choice["finish_reason"]
        if self._finish is not None and self._usage is not None:
            self._close_message(out)
        return b"".join(out)

    def _native(self, event: SSEEvent) -> bytes:
        """The upstream's event as it came; only message_start's `model` follows the
        model-field rule."""
        self._started = True  # the upstream's own message_start opens the message
        name = event.event
        data = event.data
        if name == "message_start":
            payload = orjson.loads(data)
            message = payload.get("message") if isinstance(payload, dict) else None
            if isinstance(message, dict) and "model" in message:
                message["model"] = self._model
                data = orjson.dumps(payload)
        elif name == "message_stop":
            self._closed = True
        return encode_event(name, data) if name else encode_data(data)

    def finish(self) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        self._start(out)
        self._close_message(out)
        return b"".join(out)

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        self._closed = True
        return _event("error", error_body(message, error_type))

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        # Input tokens are only known at the end; message_delta carries the real counts.
        message = message_shape(message_id(self._id), self._model, [], None, {"input_tokens": 0, "output_tokens": 0})
        out.append(_event("message_start", {"type": "message_start", "message": message}))

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open is None or self._open in self._tools.values():
            self._close_block(out)
            self._open_block({"type": "text", "text": ""}, out)
        delta = {"type": "text_delta", "text": text}
        out.append(_event("content_block_delta", {"type": "content_block_delta", "index": self._open, "delta": delta}))

    def _tool(self, call: dict[str, Any], out: list[bytes]) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        if index not in self._tools:
            self._close_block(out)
            self._tools[index] = self._open_block(tool_use_block(call, {}), out)
            self._saw_tool = True
        arguments = fn.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            event = {"type": "content_block_delta", "index": self._tools[index], "delta": delta}
            out.append(_event("content_block_delta", event))

    def _open_block(self, block: dict[str, Any], out: list[bytes]) -> int:
        index = self._next
        self._next += 1
        self._open = index
        out.append(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        return index

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_event("content_block_stop", {"type": "content_block_stop", "index": self._open}))
            self._open = None

    def _close_message(self, out: list[bytes]) -> None:
        self._close_block(out)
        delta = {"stop_reason": stop_reason_for(self._finish, self._saw_tool), "stop_sequence": None}
        out.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": anthropic_usage(self._usage)}))
        out.append(_event("message_stop", {"type": "message_stop"}))
        self._closed = True
