"""Anthropic Messages answers -> canonical: stream events as `chat.completion.chunk` dicts, plus
the finish reason and usage mapping the whole-message translation shares.

Anthropic numbers content blocks across text and tool use (block 0 text, block 1 tool, ...)
while OpenAI numbers tool calls among themselves, so the decoder keeps a block -> tool-call
index map. Usage arrives in two halves (input in `message_start`, output in `message_delta`)
and is emitted once, as the usage-only chunk OpenAI sends last, on `message_stop`.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import canonical
from .base import Chunk, SSEEvent, UpstreamStreamError

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# In-stream error types worth another attempt (before the first byte reached the app).
RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if stop_reason else "stop"


def usage_from(raw: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> canonical; OpenAI's prompt_tokens counts cache reads and writes too."""
    read = canonical.int_of(raw.get("cache_read_input_tokens"))
    created = canonical.int_of(raw.get("cache_creation_input_tokens"))
    prompt = canonical.int_of(raw.get("input_tokens")) + read + created
    return canonical.usage(prompt, canonical.int_of(raw.get("output_tokens")), read, created)


class AnthropicStreamDecoder:
    """`native`: a passthrough stream (Anthropic in, Anthropic upstream). Every event then comes
    out as at least one chunk carrying it (`Chunk.event`), so the Messages entry point forwards
    thinking, signatures, citations and pings as they came; `data` still says what the event
    means canonically (content for the first-byte rule, usage for cost)."""

    __slots__ = ("done", "_header", "_model", "_usage", "_tools", "_clock", "_native")

    def __init__(self, upstream_model: str, clock: canonical.Clock = canonical.DEFAULT_CLOCK,
                 native: bool = False) -> None:
        self.done = False
        self._native = native
        self._clock = clock
        self._header: canonical.ChunkHeader | None = None  # set by message_start
        self._model = upstream_model
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def feed(self, event: SSEEvent) -> list[Chunk]:
        chunks = self._translate(event)
        if not self._native:
            return chunks
        if not chunks:
            return [Chunk({}, event=event)]
        chunks[0].event = event
        return chunks

    def _translate(self, event: SSEEvent) -> list[Chunk]:
        data = orjson.loads(event.data)  # ValueError on garbage: the dispatcher calls it malformed
        if not isinstance(data, dict):
            raise ValueError("stream event is not a JSON object")
        kind = data.get("type") or event.event
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "message_start":
            return self._message_start(data.get("message") or {})
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self.done = True
            return [Chunk(self._started().usage_chunk(usage_from(self._usage)))]
        if kind == "error":
            err = data.get("error") if isinstance(data.get("error"), dict) else {}
            err_type = str(err.get("type") or "api_error")
            message = str(err.get("message") or "upstream stream error")
            raise UpstreamStreamError(message, err_type, retryable=err_type in RETRYABLE_ERRORS)
        # ping, content_block_stop and event types added later carry nothing to translate.
        return []

    def _message_start(self, message: dict[str, Any]) -> list[Chunk]:
        self._model = str(message.get("model") or self._model)
        chunk_id = "chatcmpl-" + str(message.get("id") or canonical.random_id("msg_"))
        self._header = canonical.ChunkHeader(chunk_id, int(self._clock()), self._model)
        if isinstance(message.get("usage"), dict):
            self._usage.update(message["usage"])
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: dict[str, Any]) -> list[Chunk]:
        block = data.get("content_block") or {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "tool_use":
            index = len(self._tools)
            self._tools[data.get("index", -1)] = index
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            chunks = [self._chunk({"tool_calls": [call]})]
            # A non-empty `input` at start is a whole argument object (seen from some proxies).
            if block.get("input"):
                chunks.append(self._args(index, orjson.dumps(block["input"]).decode()))
            return chunks
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[Chunk]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "input_json_delta":
            partial = delta.get("partial_json")
            index = self._tools.get(data.get("index", -1))
            if not partial or index is None:
                return []
            return [self._args(index, partial)]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        return []  # signature_delta, citations_delta: no canonical form

    def _message_delta(self, data: dict[str, Any]) -> list[Chunk]:
        if isinstance(data.get("usage"), dict):
            # Counts on message_delta are cumulative: they replace, never add.
            self._usage.update({k: v for k, v in data["usage"].items() if v is not None})
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if not stop_reason:
            return []
        return [self._chunk({}, finish_reason(stop_reason))]

    def _args(self, index: int, arguments: str) -> Chunk:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return Chunk(self._started().chunk(delta, finish))

    def _started(self) -> canonical.ChunkHeader:
        # Events before message_start would be a protocol violation; keep ids stable anyway.
        if self._header is None:
            self._header = canonical.ChunkHeader(canonical.random_id("chatcmpl-"), int(self._clock()), self._model)
        return self._header
