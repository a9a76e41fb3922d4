"""Builders of the canonical answer shapes (OpenAI `chat.completion` and `chat.completion.chunk`).

Every translating adapter, and the replay of a complete answer as a stream, produces these
shapes; building them in one place keeps their keys, and the order of their keys, identical
whichever protocol the answer came from. Pure and cheap: runs once per answer or per chunk.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Callable

import orjson

Clock = Callable[[], float]
IdFactory = Callable[[str], str]

# Injectable (with IdFactory) so translations are reproducible in tests.
DEFAULT_CLOCK: Clock = time.time


def random_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def int_of(value: Any) -> int:
    """A token count as reported, or 0 for anything that is not an int (bools included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage(prompt: int, completion: int, cached: int = 0, cache_creation: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """OpenAI-shaped usage; `prompt` already includes cached and cache-creation tokens."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if cache_creation:
        out["prompt_tokens_details"]["cache_creation_tokens"] = cache_creation
    if reasoning:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call; `arguments` is an object, carried as the JSON text OpenAI uses."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": orjson.dumps(arguments or {}).decode()}}


def choice(
    index: int, content: str | None, calls: list[dict[str, Any]], reasoning: str | None, finish_reason: str
) -> dict[str, Any]:
    """One choice of a whole answer: the assistant message and why it ended."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def completion(
    completion_id: str, created: int, model: str, choices: list[dict[str, Any]], answer_usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": answer_usage,
    }


class ChunkHeader:
    """What every chunk of one streamed answer repeats: its id, creation time and model (and the
    system fingerprint when the answer had one)."""

    __slots__ = ("_head",)

    def __init__(self, chunk_id: str, created: int, model: str, system_fingerprint: Any = None) -> None:
        head: dict[str, Any] = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
        if system_fingerprint:
            head["system_fingerprint"] = system_fingerprint
        self._head = head

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
        return {**self._head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def usage_chunk(self, answer_usage: dict[str, Any]) -> dict[str, Any]:
        """The usage-only chunk OpenAI sends last when asked (`stream_options.include_usage`)."""
        return {**self._head, "choices": [], "usage": answer_usage}
