"""Bedrock Converse answers -> canonical: the whole `converse` body, and `converse-stream`
events (already split from AWS event-stream frames by providers/eventstream.py).

A stream is messageStart, content blocks (start, deltas, stop), messageStop with the stop
reason, then metadata with the usage; the decoder is done at metadata, or at messageStop when
the body ends there. Converse numbers content blocks across text and tool use while OpenAI
numbers tool calls among themselves, so a block -> tool-call index map is kept.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import canonical
from .anthropic_stream import AnthropicStreamDecoder
from .base import Chunk, SSEEvent, UpstreamStreamError
from .bedrock_anthropic import unwrap_chunk

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# In-stream exceptions worth another attempt (before the first byte reached the app).
RETRYABLE_EXCEPTIONS = frozenset({"throttlingException", "internalServerException", "serviceUnavailableException",
                                  "modelStreamErrorException", "modelTimeoutException"})


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if stop_reason else "stop"


def usage_from(raw: Any) -> dict[str, Any]:
    """Converse usage -> canonical; OpenAI's prompt_tokens counts cache reads and writes too."""
    raw = raw if isinstance(raw, dict) else {}
    read = canonical.int_of(raw.get("cacheReadInputTokens"))
    written = canonical.int_of(raw.get("cacheWriteInputTokens"))
    prompt = canonical.int_of(raw.get("inputTokens")) + read + written
    return canonical.usage(prompt, canonical.int_of(raw.get("outputTokens")), read, written)


def converse_to_completion(data: dict[str, Any], upstream_model: str, created: int,
                           new_id: canonical.IdFactory) -> dict[str, Any]:
    message = (data.get("output") or {}).get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise ValueError("response is not a Converse answer (no output.message.content)")
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            call_id = use.get("toolUseId") or new_id("call_")
            calls.append(canonical.tool_call(call_id, use.get("name"), use.get("input")))
        elif isinstance(block.get("reasoningContent"), dict):
            thinking.append(str((block["reasoningContent"].get("reasoningText") or {}).get("text") or ""))
    choice = canonical.choice(0, "".join(texts) if texts else None, calls, "".join(thinking) if thinking else None,
                              finish_reason(data.get("stopReason")))
    return canonical.completion("chatcmpl-" + new_id(""), created, upstream_model, [choice],
                                usage_from(data.get("usage")))


class BedrockStreamDecoder:
    """ConverseStream's events; or InvokeModel's `chunk` frames of a Claude model, each an
    Anthropic event, decoded by the Anthropic decoder (`native`: passed through to the app)."""

    __slots__ = ("done", "_header", "_tools", "_model", "_clock", "_native", "_anthropic")

    def __init__(self, upstream_model: str, clock: canonical.Clock, new_id: canonical.IdFactory,
                 native: bool = False) -> None:
        self.done = False
        self._header = canonical.ChunkHeader("chatcmpl-" + new_id(""), int(clock()), upstream_model)
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._model, self._clock, self._native = upstream_model, clock, native
        self._anthropic: AnthropicStreamDecoder | None = None

    def feed(self, event: SSEEvent) -> list[Chunk]:
        kind = event.event or ""
        if kind.startswith(("exception:", "error:")):
            raise _stream_error(kind, event.data)
        if kind == "chunk":
            inner = self._anthropic
            if inner is None:
                inner = self._anthropic = AnthropicStreamDecoder(self._model, self._clock, self._native)
            chunks = inner.feed(unwrap_chunk(event))
            self.done = inner.done
            return chunks
        data = orjson.loads(event.data)  # ValueError on garbage: the dispatcher calls it malformed
        if not isinstance(data, dict):
            raise ValueError("stream event is not a JSON object")
        if kind == "contentBlockDelta":
            return self._delta(data)
        if kind == "contentBlockStart":
            return self._start(data)
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "messageStop":
            return [self._chunk({}, finish_reason(data.get("stopReason")))]
        if kind == "metadata":
            self.done = True
            return [Chunk(self._header.usage_chunk(usage_from(data.get("usage"))))]
        return []  # contentBlockStop and event types added later carry nothing to translate

    def _start(self, data: dict[str, Any]) -> list[Chunk]:
        use = (data.get("start") or {}).get("toolUse")
        if not isinstance(use, dict):
            return []
        index = len(self._tools)
        self._tools[data.get("contentBlockIndex", -1)] = index
        call = {"index": index, "id": use.get("toolUseId"), "type": "function",
                "function": {"name": use.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, data: dict[str, Any]) -> list[Chunk]:
        delta = data.get("delta") or {}
        if delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        use = delta.get("toolUse")
        if isinstance(use, dict) and use.get("input"):
            index = self._tools.get(data.get("contentBlockIndex", -1))
            if index is None:
                return []
            return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": use["input"]}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and reasoning.get("text"):
            return [self._chunk({"reasoning_content": reasoning["text"]})]
        return []  # reasoning signatures and redacted reasoning: no canonical form

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return Chunk(self._header.chunk(delta, finish))


def _stream_error(kind: str, payload: bytes) -> UpstreamStreamError:
    name = kind.partition(":")[2] or "unknown"
    message = payload.decode("utf-8", "replace")
    try:
        data = orjson.loads(payload)
        if isinstance(data, dict) and data.get("message"):
            message = str(data["message"])
    except orjson.JSONDecodeError:
        pass
    return UpstreamStreamError(message or name, name, retryable=name in RETRYABLE_EXCEPTIONS)
