"""Canonical chunks -> Anthropic Messages stream events, for apps calling `POST /v1/messages`.

Anthropic streams are block-structured (a block opens, takes deltas, closes) while OpenAI
chunks are flat deltas, so the encoder tracks which block is open and opens or closes blocks
as the kind of delta changes. The closing `message_delta` needs the usage, which OpenAI sends
after the finish reason, so the message is closed once both are known (or on `finish()`).
"""

from __future__ import annotations

from typing import Any

import orjson

from . import _tx_common as tx
from .base import Chunk

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason_for(finish_reason: Any, has_tool_calls: bool) -> str:
    # Some OpenAI-compatible servers answer tool calls with finish_reason "stop".
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return STOP_REASONS.get(finish_reason, "end_turn")


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Canonical usage -> Anthropic's, where input_tokens excludes cache reads and writes."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    cached = tx.int_of(details.get("cached_tokens"))
    created = tx.int_of(details.get("cache_creation_tokens"))
    return {
        "input_tokens": max(tx.int_of(usage.get("prompt_tokens")) - cached - created, 0),
        "output_tokens": tx.int_of(usage.get("completion_tokens")),
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": cached,
    }


def message_id(canonical_id: Any) -> str:
    """`chatcmpl-msg_X` (an Anthropic id passed through) -> `msg_X`; anything else -> `msg_...`."""
    raw = str(canonical_id or "").removeprefix("chatcmpl-")
    if not raw:
        return tx.random_id("msg_")
    return raw if raw.startswith("msg_") else "msg_" + raw


def sse(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


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

    def finish(self) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        self._start(out)
        self._close_message(out)
        return b"".join(out)

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        self._closed = True
        return sse("error", {"type": "error", "error": {"type": error_type, "message": message}})

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message = {
            "id": message_id(self._id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Input tokens are only known at the end; message_delta carries the real counts.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(sse("message_start", {"type": "message_start", "message": message}))

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open is None or self._open in self._tools.values():
            self._close_block(out)
            self._open_block({"type": "text", "text": ""}, out)
        delta = {"type": "text_delta", "text": text}
        out.append(sse("content_block_delta", {"type": "content_block_delta", "index": self._open, "delta": delta}))

    def _tool(self, call: dict[str, Any], out: list[bytes]) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        if index not in self._tools:
            self._close_block(out)
            block = {"type": "tool_use", "id": call.get("id") or tx.random_id("toolu_"), "name": fn.get("name") or "", "input": {}}
            self._tools[index] = self._open_block(block, out)
            self._saw_tool = True
        arguments = fn.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            event = {"type": "content_block_delta", "index": self._tools[index], "delta": delta}
            out.append(sse("content_block_delta", event))

    def _open_block(self, block: dict[str, Any], out: list[bytes]) -> int:
        index = self._next
        self._next += 1
        self._open = index
        out.append(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        return index

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(sse("content_block_stop", {"type": "content_block_stop", "index": self._open}))
            self._open = None

    def _close_message(self, out: list[bytes]) -> None:
        self._close_block(out)
        delta = {"stop_reason": stop_reason_for(self._finish, self._saw_tool), "stop_sequence": None}
        out.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": anthropic_usage(self._usage)}))
        out.append(sse("message_stop", {"type": "message_stop"}))
        self._closed = True
