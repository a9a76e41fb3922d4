"""The heuristic classifier on a table of prompts, and its bounds on the text it scans."""

from __future__ import annotations

from typing import Any

import pytest

from routecar.content.heuristic import (
    SCAN_TOTAL_CHARS, _scan_text, classify_heuristic, heuristic_score,
)
from routecar.router.cost import build_routing_request
from routecar.router.plan import RoutingRequest

TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


def req(text: str, **body: Any) -> RoutingRequest:
    messages = body.pop("messages", None) or [{"role": "user", "content": text}]
    return build_routing_request("chat", {"model": "m", "messages": messages, **body})


CASES = [
    # simple: short lookups, chit-chat, one-line transformations
    ("hi", "simple"),
    ("What is the capital of France?", "simple"),
    ("Translate 'good morning' into Spanish.", "simple"),
    ("Summarize this sentence: the cat sat on the mat.", "simple"),
    ("I want to return my order, what plan am I on?", "simple"),
    # moderate: code requests, comparisons, pasted code, long prose
    ("Write a Python function that reverses a linked list.", "moderate"),
    ("Compare Python and Go for writing CLI tools.", "moderate"),
    ("Why is my code failing?\n```python\ndef f(x):\n    return x + 1\nprint(f('a'))\n```", "moderate"),
    ("Summarize the following notes. " + "The meeting covered hiring and office moves. " * 60, "moderate"),
    ("What is 12 * 7 = ?", "moderate"),
    # complex: proofs, multi-step design work, math with open-ended asks, very long prompts
    ("Prove that the square root of 2 is irrational.", "complex"),
    ("Step by step, design a distributed rate limiter, compare token bucket and sliding window, "
     "and analyze the trade-offs.", "complex"),
    ("Evaluate \\int_0^1 x^2 dx and explain why the result holds.", "complex"),
    ("Refactor this and explain the trade-offs:\n```js\nfunction a(b) { if (b) { return c(b); } "
     "else { return d(); } }\n```", "complex"),
    ("Read this report and answer. " + "Revenue grew in every region last quarter. " * 800, "complex"),
    ("First, analyze the logs below; then propose a plan:\n1. collect\n2. group\n3. fix", "complex"),
]


@pytest.mark.parametrize("text,label", CASES, ids=[c[0][:40] for c in CASES])
def test_labels(text: str, label: str) -> None:
    assert classify_heuristic(req(text)) == label


def test_tools_and_long_conversations_add_points() -> None:
    plain = heuristic_score(req("What's the weather in Paris?"))
    assert heuristic_score(req("What's the weather in Paris?", tools=TOOLS)) == plain + 1
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "ok"} for i in range(24)]
    history.append({"role": "user", "content": "What's the weather in Paris?"})
    assert heuristic_score(req("", messages=history)) >= plain + 2


def test_code_in_earlier_messages_counts() -> None:
    messages = [
        {"role": "user", "content": "```python\nclass A:\n    def f(self):\n        pass\n```"},
        {"role": "assistant", "content": "Looks fine."},
        {"role": "user", "content": "Is it ok?"},
    ]
    assert heuristic_score(req("", messages=messages)) > heuristic_score(req("Is it ok?"))


def test_content_parts_are_read() -> None:
    parts = [{"type": "text", "text": "Prove that there are infinitely many primes."}]
    assert classify_heuristic(req("", messages=[{"role": "user", "content": parts}])) == "complex"


def test_scanned_text_is_bounded() -> None:
    huge = "x" * 100_000
    messages = [{"role": "system", "content": huge}]
    messages += [{"role": "assistant", "content": huge} for _ in range(200)]
    messages.append({"role": "user", "content": huge})
    r = req("", messages=messages)
    assert len(_scan_text(r, messages)) <= SCAN_TOTAL_CHARS + 64  # separators only
    assert classify_heuristic(r) == "complex"  # size alone says so


def test_odd_bodies_do_not_raise() -> None:
    r = RoutingRequest(model="m", endpoint="chat", body={"messages": [None, 3, {"role": "user", "content": None}]})
    assert classify_heuristic(r) == "simple"
    assert classify_heuristic(RoutingRequest(model="m", endpoint="embeddings", body={"input": "x"})) == "simple"
