"""Behaviour of the Gemini adapter beyond the golden files: refusals, stream end, schemas."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from routecar.config.model import ProviderConfig
from routecar.providers import gemini
from routecar.providers.base import ChatCall, SSEEvent, Translation, UnsupportedParam, UpstreamStreamError
from routecar.providers.gemini_request import clean_schema

KEY = "AIza-secret-123"
PROVIDER = ProviderConfig(name="g", type="gemini", base_url="https://generativelanguage.googleapis.com", api_key=KEY)
ADAPTER = gemini.GeminiAdapter()


def build(body: dict[str, Any], provider: ProviderConfig = PROVIDER) -> dict[str, Any]:
    call = ChatCall(provider, "gemini-2.0-flash", {"messages": [{"role": "user", "content": "hi"}], **body}, False)
    req = ADAPTER.chat_request(call, Translation())
    return orjson.loads(req.body)


def feed(decoder: Any, data: Any) -> list[dict[str, Any]]:
    return [c.data for c in decoder.feed(SSEEvent(orjson.dumps(data)))]


def test_module_exposes_an_adapter_instance() -> None:
    assert gemini.ADAPTER.type == "gemini"


@pytest.mark.parametrize("param,value", [("logprobs", True), ("top_logprobs", 2), ("logit_bias", {"1": 1}), ("reasoning_effort", "high")])
def test_unsupported_params_are_refused_by_name(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({param: value})
    assert err.value.param == param
    assert KEY not in str(err.value)


def test_key_travels_only_in_its_header() -> None:
    req = ADAPTER.chat_request(ChatCall(PROVIDER, "gemini-2.0-flash", {"messages": []}, True), Translation())
    assert req.headers["x-goog-api-key"] == KEY
    assert KEY not in req.url
    assert KEY not in req.body.decode()


def test_tool_result_for_an_unknown_call_is_refused() -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({"messages": [{"role": "tool", "tool_call_id": "call_x", "content": "1"}]})
    assert err.value.param == "messages[0].tool_call_id"


def test_tool_result_falls_back_to_the_legacy_name_field() -> None:
    out = build({"messages": [{"role": "tool", "tool_call_id": "call_x", "name": "lookup", "content": "[1, 2]"}]})
    assert out["contents"][0]["parts"] == [{"functionResponse": {"name": "lookup", "response": {"content": "[1, 2]"}}}]


def test_recursive_schema_refs_are_bounded() -> None:
    schema = {"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}, "$ref": "#/$defs/Node"}
    cleaned = clean_schema(schema)
    depth = 0
    node = cleaned
    while node.get("properties"):
        node = node["properties"]["next"]
        depth += 1
    assert 5 < depth <= 40


def test_stream_is_done_only_when_every_candidate_finished() -> None:
    decoder = ADAPTER.stream_decoder("gemini-2.0-flash")
    text = lambda t: {"content": {"role": "model", "parts": [{"text": t}]}}  # noqa: E731
    feed(decoder, {"candidates": [{**text("a"), "index": 0}, {**text("b"), "index": 1}]})
    chunks = feed(decoder, {"candidates": [{**text("c"), "index": 0, "finishReason": "STOP"}]})
    assert not decoder.done and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    chunks = feed(decoder, {"candidates": [{**text("d"), "index": 1, "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9}})
    assert decoder.done
    assert chunks[-2]["choices"][0] == {"index": 1, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 12


def test_usage_comes_from_the_last_usage_metadata_seen() -> None:
    decoder = ADAPTER.stream_decoder("m")
    feed(decoder, {"candidates": [{"content": {"parts": [{"text": "x"}]}}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1}})
    chunks = feed(decoder, {"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]})
    assert chunks[-1]["usage"]["prompt_tokens"] == 5 and chunks[-1]["usage"]["completion_tokens"] == 1


@pytest.mark.parametrize("status,retryable", [("UNAVAILABLE", True), ("RESOURCE_EXHAUSTED", True), ("INVALID_ARGUMENT", False)])
def test_in_stream_error_raises(status: str, retryable: bool) -> None:
    with pytest.raises(UpstreamStreamError) as err:
        feed(ADAPTER.stream_decoder("m"), {"error": {"code": 503, "message": "The model is overloaded.", "status": status}})
    assert err.value.error_type == status
    assert err.value.retryable is retryable


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ADAPTER.stream_decoder("m").feed(SSEEvent(b"{nope"))
    with pytest.raises(ValueError):
        ADAPTER.chat_response(b'{"id": 1}', "m")
    with pytest.raises(ValueError):
        ADAPTER.embeddings_response(b'{"data": []}', "m")


@pytest.mark.parametrize("value", [[1, 2, 3], [], None, [["a"]]])
def test_embeddings_take_only_text(value: Any) -> None:
    with pytest.raises(UnsupportedParam) as err:
        ADAPTER.embeddings_request(PROVIDER, "text-embedding-004", {"input": value})
    assert err.value.param == "input"


def test_embeddings_usage_is_zero_without_the_request() -> None:
    out = ADAPTER.embeddings_response(b'{"embeddings": [{"values": [1.0]}]}', "e")
    assert out["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


def test_tool_call_ids_are_unique_across_a_stream() -> None:
    decoder = ADAPTER.stream_decoder("m")
    call = {"functionCall": {"name": "f", "args": {}}}
    first = feed(decoder, {"candidates": [{"content": {"parts": [call, call]}}]})
    second = feed(decoder, {"candidates": [{"content": {"parts": [call]}, "finishReason": "STOP"}]})
    calls = first[0]["choices"][0]["delta"]["tool_calls"] + second[0]["choices"][0]["delta"]["tool_calls"]
    assert [c["index"] for c in calls] == [0, 1, 2]
    assert len({c["id"] for c in calls}) == 3
    assert second[1]["choices"][0]["finish_reason"] == "tool_calls"
