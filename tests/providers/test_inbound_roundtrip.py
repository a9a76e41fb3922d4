"""Property-based round trips between the OpenAI (canonical) and Anthropic shapes.

1. canonical conversation -> Anthropic request -> inbound converter -> the same conversation
2. Anthropic request -> canonical -> Anthropic request -> the same request
3. Anthropic stream events -> decoder -> canonical chunks -> encoder -> the same message
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routecar.config.model import ProviderConfig
from routecar.providers.anthropic_inbound import MessagesStreamEncoder, messages_to_canonical
from routecar.providers.anthropic_request import build_body
from routecar.providers.anthropic_stream import AnthropicStreamDecoder
from routecar.providers.base import ChatCall, SSEEvent, Translation
from routecar.providers.sse import SSEParser

PROVIDER = ProviderConfig(name="a", type="anthropic", base_url="http://127.0.0.1:1")
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Text with something visible at both ends: Anthropic trims prefills and drops empty blocks.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=12)
TEXT = st.one_of(TEXT, st.builds(lambda a, b: f"{a} {b}", TEXT, TEXT))
NAME = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
ARGS = st.dictionaries(NAME, st.one_of(st.integers(-5, 5), TEXT, st.booleans(), st.none()), max_size=3)
IMAGE_URL = st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "https://example.com/a.jpg"])


def _canonical_user() -> st.SearchStrategy[Any]:
    part = st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, TEXT),
        st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, IMAGE_URL),
    )
    return st.one_of(TEXT, st.lists(part, min_size=1, max_size=3))


@st.composite
def canonical_conversations(draw: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(TEXT)})
    ids = iter(range(1000))
    turns = draw(st.integers(1, 4))
    for turn in range(turns):
        for _ in range(draw(st.integers(1, 2))):
            messages.append({"role": "user", "content": draw(_canonical_user())})
        if turn == turns - 1 and draw(st.booleans()):
            break
        calls = [
            {"id": f"call_{next(ids)}", "type": "function", "function": {"name": draw(NAME), "arguments": orjson.dumps(draw(ARGS)).decode()}}
            for _ in range(draw(st.integers(0, 3)))
        ]
        text = draw(st.none() | TEXT) if calls else draw(TEXT)
        messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
        messages.extend({"role": "tool", "tool_call_id": c["id"], "content": draw(TEXT)} for c in calls)
    return messages


def _norm_canonical(messages: list[dict[str, Any]]) -> list[Any]:
    """A canonical conversation with consecutive user messages merged and content as part lists."""
    out: list[Any] = []
    for msg in messages:
        role, content = msg["role"], msg.get("content")
        if role in ("system", "user"):
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if role == "user" and out and out[-1][0] == "user":
                out[-1][1].extend(parts)
            else:
                out.append((role, list(parts)))
        elif role == "assistant":
            calls = [(c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in msg.get("tool_calls") or ()]
            out.append(("assistant", content or "", calls))
        else:
            out.append(("tool", msg["tool_call_id"], content))
    return out


@SETTINGS
@given(canonical_conversations())
def test_canonical_to_anthropic_and_back(messages: list[dict[str, Any]]) -> None:
    upstream = build_body(ChatCall(PROVIDER, "claude", {"messages": messages}, False), Translation(), 100)
    inbound = {"model": "m", "max_tokens": upstream["max_tokens"], "messages": upstream["messages"]}
    if "system" in upstream:
        inbound["system"] = upstream["system"]
    back = messages_to_canonical(inbound)
    assert _norm_canonical(back["messages"]) == _norm_canonical(messages)


def _anthropic_block() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, TEXT),
        st.builds(lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}}, st.sampled_from(["iVBORw0KGgo=", "R0lGOD=="])),
        st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": u}}, st.sampled_from(["https://example.com/a.jpg"])),
    )


@st.composite
def anthropic_requests(draw: Any) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    ids = iter(range(1000))
    for turn in range(draw(st.integers(1, 4))):
        blocks = [{"type": "tool_result", "tool_use_id": i, "content": draw(TEXT)} for i in pending]
        blocks += draw(st.lists(_anthropic_block(), min_size=0 if blocks else 1, max_size=3))
        simple = len(blocks) == 1 and blocks[0]["type"] == "text" and draw(st.booleans())
        messages.append({"role": "user", "content": blocks[0]["text"] if simple else blocks})
        calls = [{"type": "tool_use", "id": f"toolu_{next(ids)}", "name": draw(NAME), "input": draw(ARGS)} for _ in range(draw(st.integers(0, 2)))]
        text = [{"type": "text", "text": draw(TEXT)}] if not calls or draw(st.booleans()) else []
        messages.append({"role": "assistant", "content": text + calls})
        pending = [c["id"] for c in calls]
    if pending:
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": draw(TEXT)} for i in pending]})
    body: dict[str, Any] = {"model": "claude", "max_tokens": draw(st.integers(1, 8192)), "messages": messages}
    if draw(st.booleans()):
        body["system"] = draw(TEXT | st.lists(st.builds(lambda t: {"type": "text", "text": t}, TEXT), min_size=2, max_size=3))
    if draw(st.booleans()):
        body["tools"] = [{"name": n, "description": "d", "input_schema": {"type": "object", "properties": {}}} for n in draw(st.lists(NAME, min_size=1, max_size=3, unique=True))]
        choice = draw(st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": body["tools"][0]["name"]}, {"type": "none"}]))
        if choice["type"] != "none" and draw(st.booleans()):
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    for key, strategy in (
        ("temperature", st.floats(0, 1)), ("top_p", st.floats(0, 1)), ("top_k", st.integers(1, 100)),
        ("stop_sequences", st.lists(TEXT, min_size=1, max_size=2)), ("stream", st.just(True)),
        ("metadata", st.builds(lambda u: {"user_id": u}, TEXT)),
    ):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def _norm_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    out["messages"] = [
        {**m, "content": [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]}
        for m in body["messages"]
    ]
    if isinstance(body.get("system"), str):
        out["system"] = [{"type": "text", "text": body["system"]}]
    return out


@SETTINGS
@given(anthropic_requests())
def test_anthropic_to_canonical_and_back(body: dict[str, Any]) -> None:
    canonical = messages_to_canonical(body)
    upstream = build_body(ChatCall(PROVIDER, "claude", canonical, bool(canonical.get("stream"))), Translation(), 1)
    assert _norm_anthropic(upstream) == _norm_anthropic(body)


@st.composite
def anthropic_streams(draw: Any) -> list[dict[str, Any]]:
    usage = {"input_tokens": draw(st.integers(0, 999)), "output_tokens": 1, "cache_read_input_tokens": draw(st.integers(0, 99))}
    start = {"id": "msg_01abc", "type": "message", "role": "assistant", "model": "claude", "content": [], "stop_reason": None, "usage": usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    blocks = draw(st.lists(st.one_of(st.tuples(st.just("text"), TEXT), st.tuples(st.just("tool"), ARGS)), max_size=4))
    for index, (kind, value) in enumerate(blocks):
        if kind == "text":
            events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            cut = draw(st.integers(0, len(value)))
            pieces = [value[:cut], value[cut:]]
            events += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}} for p in pieces]
        else:
            block = {"type": "tool_use", "id": f"toolu_{index}", "name": draw(NAME), "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": block})
            raw = orjson.dumps(value).decode()
            cut = draw(st.integers(0, len(raw)))
            events += [{"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}} for p in (raw[:cut], raw[cut:])]
        events.append({"type": "content_block_stop", "index": index})
        if draw(st.booleans()):
            events.append({"type": "ping"})
    stop = "tool_use" if any(k == "tool" for k, _ in blocks) else draw(st.sampled_from(["end_turn", "max_tokens"]))
    events.append({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": draw(st.integers(1, 999))}})
    events.append({"type": "message_stop"})
    return events


def _accumulate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The final message an Anthropic client builds from events (as the SDK does)."""
    msg: dict[str, Any] = {}
    for ev in events:
        kind = ev["type"]
        if kind == "message_start":
            msg = {"id": ev["message"]["id"], "content": [], "usage": dict(ev["message"]["usage"])}
        elif kind == "content_block_start":
            assert ev["index"] == len(msg["content"])
            msg["content"].append(dict(ev["content_block"], json=""))
        elif kind == "content_block_delta":
            block, delta = msg["content"][ev["index"]], ev["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                block["json"] += delta["partial_json"]
        elif kind == "message_delta":
            msg["stop_reason"] = ev["delta"]["stop_reason"]
            msg["usage"].update({k: v for k, v in ev["usage"].items() if v is not None})
    merged: list[dict[str, Any]] = []
    for block in msg["content"]:
        if block["type"] == "text":
            if merged and merged[-1]["type"] == "text":
                merged[-1]["text"] += block["text"]  # adjacent text blocks read as one text
                continue
        else:
            block["input"] = orjson.loads(block.pop("json") or "{}")
        block.pop("json", None)
        merged.append(block)
    usage = msg["usage"]
    msg["usage"] = (usage["input_tokens"], usage["output_tokens"], usage.get("cache_read_input_tokens") or 0)
    msg["content"] = [b for b in merged if b["type"] != "text" or b["text"]]
    return msg


@SETTINGS
@given(anthropic_streams())
def test_anthropic_stream_through_canonical_and_back(events: list[dict[str, Any]]) -> None:
    decoder = AnthropicStreamDecoder("claude")
    encoder = MessagesStreamEncoder("claude")
    raw = b""
    for ev in events:
        for chunk in decoder.feed(SSEEvent(orjson.dumps(ev), ev["type"])):
            raw += encoder.encode(chunk)
    assert decoder.done
    raw += encoder.finish()
    again = [orjson.loads(e.data) for e in SSEParser().feed(raw)]
    assert again[-1] == {"type": "message_stop"}
    assert _accumulate(again) == _accumulate(events)
