"""A cached chat.completion replayed as OpenAI `chat.completion.chunk` objects.

A streaming request answered from a cache still gets a stream, shaped as OpenAI sends one: a
role preamble, the content in a few pieces, tool calls (header, then arguments), a chunk with
the finish reason, and a usage chunk when asked. The caller serializes each as an SSE `data:`
line and ends with `data: [DONE]`.
"""

from __future__ import annotations

import time
from typing import Any

CONTENT_PIECES = 4
ARGUMENT_PIECES = 2


def split_text(text: str, pieces: int) -> list[str]:
    """`text` in at most `pieces` consecutive parts, cut before spaces where one is near, so
    that "".join(parts) == text."""
    if pieces <= 1 or len(text) <= 1:
        return [text]
    step = -(-len(text) // pieces)
    out: list[str] = []
    start = 0
    while start < len(text):  # start grows by >= step each turn
        end = start + step
        if end < len(text):
            space = text.find(" ", end, end + step)
            if space != -1:
                end = space
        out.append(text[start:end])
        start = end
    return out


def _chunk(base: dict[str, Any], index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def _choice_chunks(base: dict[str, Any], index: int, choice: dict[str, Any]) -> list[dict[str, Any]]:
    msg = choice.get("message")
    msg = msg if isinstance(msg, dict) else {}
    out = [_chunk(base, index, {"role": "assistant", "content": ""})]
    content = msg.get("content")
    if isinstance(content, str) and content:
        out += [_chunk(base, index, {"content": piece}) for piece in split_text(content, CONTENT_PIECES)]
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        out.append(_chunk(base, index, {"refusal": refusal}))
    calls = msg.get("tool_calls")
    for j, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        header = {"index": j, "id": call.get("id"), "type": call.get("type") or "function",
                  "function": {"name": fn.get("name"), "arguments": ""}}
        out.append(_chunk(base, index, {"tool_calls": [header]}))
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            out += [_chunk(base, index, {"tool_calls": [{"index": j, "function": {"arguments": piece}}]})
                    for piece in split_text(args, ARGUMENT_PIECES)]
    out.append(_chunk(base, index, {}, choice.get("finish_reason") or "stop"))
    return out


def replay_stream(answer: dict[str, Any], include_usage: bool = True) -> list[dict[str, Any]]:
    """The chunks of a stream equivalent to the chat.completion `answer`."""
    base: dict[str, Any] = {
        "id": answer.get("id") or "chatcmpl-cached",
        "object": "chat.completion.chunk",
        "created": answer.get("created") or int(time.time()),
        "model": answer.get("model") or "",
    }
    if answer.get("system_fingerprint"):
        base["system_fingerprint"] = answer["system_fingerprint"]
    chunks: list[dict[str, Any]] = []
    choices = answer.get("choices")
    for i, choice in enumerate(choices if isinstance(choices, list) else ()):
        if isinstance(choice, dict):
            index = choice.get("index")
            chunks += _choice_chunks(base, index if isinstance(index, int) else i, choice)
    usage = answer.get("usage")
    if include_usage and isinstance(usage, dict):
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks
