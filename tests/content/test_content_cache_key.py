"""Cache keys over normalized requests, and which requests may use a cache."""

from __future__ import annotations

from typing import Any

import pytest

from routecar.content.cache_key import cache_controls, cache_key, is_cacheable, semantic_scope

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": MESSAGES, "temperature": 0, **kw}


def test_delivery_fields_do_not_change_the_key() -> None:
    base = cache_key("fast", body())
    assert cache_key("fast", body(stream=True, stream_options={"include_usage": True})) == base
    assert cache_key("fast", body(user="u-1", metadata={"a": "b"}, store=True)) == base
    assert cache_key("fast", body(model="other-name")) == base  # the target is what counts
    assert len(base) == 32


def test_equivalent_spellings_share_a_key() -> None:
    assert cache_key("r", body(temperature=0)) == cache_key("r", body(temperature=0.0))
    assert cache_key("r", body(max_tokens=100)) == cache_key("r", body(max_completion_tokens=100))
    assert cache_key("r", body(stop="END")) == cache_key("r", body(stop=["END"]))
    assert cache_key("r", body(n=1)) == cache_key("r", body())
    assert cache_key("r", body(seed=None)) == cache_key("r", body())
    reordered = {"temperature": 0, "messages": [{"content": "Be brief.", "role": "system"},
                                                {"content": "Hello", "role": "user"}], "model": "fast"}
    assert cache_key("r", reordered) == cache_key("r", body())


@pytest.mark.parametrize("change", [
    {"messages": [{"role": "user", "content": "Hello!"}]},
    {"temperature": 0.2},
    {"top_p": 0.5},
    {"max_tokens": 10},
    {"stop": ["x"]},
    {"seed": 7},
    {"n": 2},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
    {"tool_choice": "required"},
    {"response_format": {"type": "json_object"}},
    {"frequency_penalty": 0.5},
])
def test_answer_changing_fields_change_the_key(change: dict[str, Any]) -> None:
    assert cache_key("r", {**body(), **change}) != cache_key("r", body())


def test_target_is_part_of_the_key() -> None:
    assert cache_key("fast", body()) != cache_key("cheap", body())


def test_semantic_scope_ignores_only_the_last_user_text() -> None:
    other_question = [MESSAGES[0], {"role": "user", "content": "Hi there"}]
    assert semantic_scope("r", body()) == semantic_scope("r", body(messages=other_question))
    other_system = [{"role": "system", "content": "Be verbose."}, MESSAGES[1]]
    assert semantic_scope("r", body()) != semantic_scope("r", body(messages=other_system))
    assert semantic_scope("r", body()) != semantic_scope("r", body(temperature=0.5))
    assert semantic_scope("r", body()) != cache_key("r", body())


@pytest.mark.parametrize("request_body,opt_in,no_cache,expected", [
    ({"temperature": 0}, False, False, True),
    ({"temperature": 0.0, "n": 1}, False, False, True),
    ({"temperature": 0.7}, False, False, False),
    ({}, False, False, False),  # provider default temperature is not deterministic
    ({"temperature": 0.7}, True, False, True),
    ({}, True, False, True),
    ({"temperature": 0}, False, True, False),
    ({"temperature": 0}, True, True, False),
    ({"temperature": 0, "n": 2}, False, False, False),
    ({"temperature": 0.7, "n": 3}, True, False, False),
    ({"temperature": False}, False, False, False),
    ({"temperature": "0"}, False, False, False),
])
def test_is_cacheable(request_body: dict[str, Any], opt_in: bool, no_cache: bool, expected: bool) -> None:
    assert is_cacheable(request_body, opt_in, no_cache) is expected


def test_cache_controls() -> None:
    assert cache_controls(None, None) == (False, False)
    assert cache_controls("no-cache", None) == (False, True)
    assert cache_controls("max-age=0, No-Store", "use") == (True, True)
    assert cache_controls("max-age=60", " USE ") == (True, False)
    assert cache_controls(None, "skip") == (False, False)
