"""A complete answer replayed as a stream: what a streaming app gets when the answer was not
streamed from upstream (a cache hit, a cascade step's checked answer).

The chunks are shaped as OpenAI streams them: a role preamble, the content in a few pieces,
each tool call as a header (id, name) and then its arguments, a chunk with the finish reason,
and the usage-only chunk when asked. Every entry point's stream encoder takes them as it takes
an upstream's chunks, so a replayed answer looks like any other stream.
"""

from __future__ import annotations

from typing import Any

from . import canonical
from .base import Chunk

# A few pieces, not one: apps and SDKs that render deltas as they come see a stream, not a blob.
CONTENT_PIECES = 4
ARGUMENT_PIECES = 2


def answer_as_chunks(
    answer: dict[str, Any], include_usage: bool, *, clock: canonical.Clock = canonical.DEFAULT_CLOCK
) -> list[Chunk]:
    """The chunks of a stream equivalent to the `chat.completion` `answer`."""
    header = canonical.ChunkHeader(
        answer.get("id") or "chatcmpl-cached",
        answer.get("created") or int(clock()),
        answer.get("model") or "",
        answer.get("system_fingerprint"),
    )
    chunks: list[Chunk] = []
    choices = answer.get("choices")
    for i, choice in enumerate(choices if isinstance(choices, list) else ()):
        if isinstance(choice, dict):
            index = choice.get("index")
            chunks += _choice_chunks(header, index if isinstance(index, int) else i, choice)
    usage = answer.get("usage")
    if include_usage and isinstance(usage, dict):
        chunks.append(Chunk(header.usage_chunk(usage)))
    return chunks


def _choice_chunks(header: canonical.ChunkHeader, index: int, choice: dict[str, Any]) -> list[Chunk]:
    msg = choice.get("message")
    msg = msg if isinstance(msg, dict) else {}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    content = msg.get("content")
    if isinstance(content, str) and content:
        deltas += [{"content": piece} for piece in split_text(content, CONTENT_PIECES)]
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        deltas.append({"refusal": refusal})
    calls = msg.get("tool_calls")
    for j, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        deltas.append({"tool_calls": [{"index": j, "id": call.get("id"), "type": call.get("type") or "function",
                                       "function": {"name": fn.get("name"), "arguments": ""}}]})
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            deltas += [{"tool_calls": [{"index": j, "function": {"arguments": piece}}]}
                       for piece in split_text(args, ARGUMENT_PIECES)]
    chunks = [Chunk(header.chunk(delta, None, index)) for delta in deltas]
    chunks.append(Chunk(header.chunk({}, choice.get("finish_reason") or "stop", index)))
    return chunks


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
