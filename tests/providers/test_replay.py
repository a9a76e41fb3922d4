"""A complete answer replayed as a stream: the chunks' shape, the content and tool calls they
carry, and the usage chunk when asked (moved here from the exact cache's tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from routecar.providers.base import Chunk
from routecar.providers.replay import answer_as_chunks, split_text


def answer(content: str | None = "Hello there, how can I help you today?", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "system_fingerprint": "fp_x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                     "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17},
    }


def datas(chunks: list[Chunk]) -> list[dict[str, Any]]:
    assert all(c.raw is None for c in chunks)  # nothing upstream to forward: encoders serialize
    return [c.data for c in chunks]


def _content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_content_in_a_few_pieces_then_finish_then_usage() -> None:
    a = answer("The quick brown fox jumps over the lazy dog, twice, and then once more.")
    chunks = datas(answer_as_chunks(a, include_usage=True))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-abc" for c in chunks)
    assert all(c["system_fingerprint"] == "fp_x" and c["created"] == 1700000000 for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert _content(chunks) == a["choices"][0]["message"]["content"]
    assert 2 < len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) <= 4
    finish = chunks[-2]["choices"][0]
    assert finish["delta"] == {} and finish["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == a["usage"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert "usage" not in datas(answer_as_chunks(a, include_usage=False))[-1]


def test_tool_calls_header_then_arguments() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris", "unit": "c"}'}},
             {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]
    chunks = datas(answer_as_chunks(answer(None, tool_calls=calls), include_usage=True))
    rebuilt: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []:
            slot = rebuilt.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
            slot["id"] = delta.get("id") or slot["id"]
            fn = delta.get("function") or {}
            slot["name"] = fn.get("name") or slot["name"]
            slot["arguments"] += fn.get("arguments") or ""
    assert rebuilt == {0: {"id": "call_1", "name": "weather", "arguments": '{"city": "Paris", "unit": "c"}'},
                       1: {"id": "call_2", "name": "time", "arguments": "{}"}}
    assert _content(chunks) == ""
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_every_choice_is_replayed_under_its_index() -> None:
    a = answer("one")
    a["choices"].append({"index": 1, "message": {"role": "assistant", "content": "two"}, "finish_reason": "length"})
    chunks = datas(answer_as_chunks(a, include_usage=False))
    finishes = [(c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in chunks if c["choices"][0]["finish_reason"]]
    assert finishes == [(0, "stop"), (1, "length")]


def test_an_answer_without_id_or_time_gets_them() -> None:
    chunks = datas(answer_as_chunks({"choices": [{"message": {"content": "hi"}}]}, include_usage=True, clock=lambda: 42.9))
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {("chatcmpl-cached", 42, "")}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"  # no usage in the answer: no usage chunk


@given(st.text(max_size=300), st.integers(min_value=1, max_value=8))
def test_split_text_is_lossless(text: str, pieces: int) -> None:
    parts = split_text(text, pieces)
    assert "".join(parts) == text and len(parts) <= max(1, pieces)
