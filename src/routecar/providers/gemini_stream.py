"""Gemini `GenerateContentResponse` -> canonical, for whole bodies and for stream events.

A Gemini stream is a series of whole GenerateContentResponse objects with no end marker: the
HTTP body simply ends. The decoder therefore calls the stream done once every candidate it has
seen reported a finishReason, and emits the usage chunk right then, from the latest
usageMetadata (Gemini sends the final counts on the event that carries the finishReason).
"""

from __future__ import annotations

from typing import Any

import orjson

from . import canonical
from .base import Chunk, SSEEvent, UpstreamStreamError
from .gemini_request import SIGNATURE_SEP

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

RETRYABLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"})


def finish_reason(raw: Any, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(raw, "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def usage_from(meta: Any) -> dict[str, Any]:
    meta = meta if isinstance(meta, dict) else {}
    prompt = canonical.int_of(meta.get("promptTokenCount")) + canonical.int_of(meta.get("toolUsePromptTokenCount"))
    thoughts = canonical.int_of(meta.get("thoughtsTokenCount"))
    completion = canonical.int_of(meta.get("candidatesTokenCount")) + thoughts
    return canonical.usage(prompt, completion, canonical.int_of(meta.get("cachedContentTokenCount")), 0, thoughts)


def tool_call(part: dict[str, Any], new_id: canonical.IdFactory) -> dict[str, Any]:
    fc = part["functionCall"]
    call_id = str(fc.get("id") or new_id("call_"))
    if part.get("thoughtSignature"):
        call_id += SIGNATURE_SEP + str(part["thoughtSignature"])
    return canonical.tool_call(call_id, fc.get("name"), fc.get("args"))


def split_parts(candidate: dict[str, Any], new_id: canonical.IdFactory) -> tuple[str, str, list[dict[str, Any]]]:
    """(answer text, thought text, tool calls) of one candidate."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    parts = (candidate.get("content") or {}).get("parts") or ()
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part, new_id))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    return "".join(text), "".join(thoughts), calls


def stream_error(data: dict[str, Any]) -> UpstreamStreamError:
    err = data["error"] if isinstance(data["error"], dict) else {"message": str(data["error"])}
    status = str(err.get("status") or "UNKNOWN")
    message = str(err.get("message") or "upstream stream error")
    return UpstreamStreamError(message, status, retryable=status in RETRYABLE_STATUSES)


class GeminiStreamDecoder:
    __slots__ = ("done", "_header", "_model", "_clock", "_new_id", "_calls", "_finished", "_usage")

    def __init__(self, upstream_model: str, clock: canonical.Clock, new_id: canonical.IdFactory) -> None:
        self.done = False
        self._clock = clock
        self._new_id = new_id
        self._header: canonical.ChunkHeader | None = None  # set by the first event
        self._model = upstream_model
        self._calls: dict[int, int] = {}  # candidate index -> tool calls so far; keys = seen candidates
        self._finished: set[int] = set()
        self._usage: Any = None

    def feed(self, event: SSEEvent) -> list[Chunk]:
        data = orjson.loads(event.data)  # ValueError on garbage: the dispatcher calls it malformed
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # a JSON-array framed body split per element
        if not isinstance(data, dict):
            raise ValueError("stream event is not a JSON object")
        if "error" in data:
            raise stream_error(data)
        if self._header is None:
            chunk_id = "chatcmpl-" + str(data.get("responseId") or self._new_id(""))
            model = str(data.get("modelVersion") or self._model)
            self._header = canonical.ChunkHeader(chunk_id, int(self._clock()), model)
        if data.get("usageMetadata"):
            self._usage = data["usageMetadata"]
        chunks: list[Chunk] = []
        candidates = data.get("candidates") or ()
        block = (data.get("promptFeedback") or {}).get("blockReason")
        if block and not candidates:
            chunks.append(self._chunk({"role": "assistant", "content": None}, "content_filter", 0))
            self._calls.setdefault(0, 0)
            self._finished.add(0)
        for position, cand in enumerate(candidates):
            if isinstance(cand, dict):
                chunks.extend(self._candidate(cand, position))
        if not self.done and self._calls and len(self._finished) == len(self._calls):
            self.done = True
            chunks.append(Chunk(self._header.usage_chunk(usage_from(self._usage))))
        return chunks

    def _candidate(self, cand: dict[str, Any], position: int) -> list[Chunk]:
        index = cand.get("index", position)
        delta: dict[str, Any] = {}
        if index not in self._calls:
            self._calls[index] = 0
            delta["role"] = "assistant"
        text, thoughts, calls = split_parts(cand, self._new_id)
        if text:
            delta["content"] = text
        if thoughts:
            delta["reasoning_content"] = thoughts
        if calls:
            first = self._calls[index]
            delta["tool_calls"] = [{"index": first + k, **call} for k, call in enumerate(calls)]
            self._calls[index] = first + len(calls)
        chunks = [self._chunk(delta, None, index)] if delta else []
        raw_finish = cand.get("finishReason")
        if raw_finish and index not in self._finished:
            self._finished.add(index)
            chunks.append(self._chunk({}, finish_reason(raw_finish, self._calls[index] > 0), index))
        return chunks

    def _chunk(self, delta: dict[str, Any], finish: str | None, index: int) -> Chunk:
        assert self._header is not None  # feed() sets it before any chunk
        return Chunk(self._header.chunk(delta, finish, index))
