"""Behaviour of the Anthropic adapter beyond the golden files: refusals, errors, edge cases."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from routecar.config.model import ProviderConfig
from routecar.providers import anthropic
from routecar.providers.base import ChatCall, SSEEvent, Translation, UnsupportedParam, UpstreamStreamError

KEY = "sk-ant-secret-123"
PROVIDER = ProviderConfig(name="a", type="anthropic", base_url="https://api.anthropic.com", api_key=KEY)
ADAPTER = anthropic.AnthropicAdapter()


def build(body: dict[str, Any], provider: ProviderConfig = PROVIDER, default_max_tokens: int | None = None) -> dict[str, Any]:
    call = ChatCall(provider, "claude-x", {"messages": [{"role": "user", "content": "hi"}], **body}, False, default_max_tokens)
    return orjson.loads(ADAPTER.chat_request(call, Translation()).body)


def test_module_exposes_an_adapter_instance() -> None:
    assert anthropic.ADAPTER.type == "anthropic"
    assert isinstance(anthropic.ADAPTER, anthropic.AnthropicAdapter)


@pytest.mark.parametrize(
    "param,value",
    [("n", 3), ("logprobs", True), ("presence_penalty", 0.2), ("frequency_penalty", -1), ("logit_bias", {"1": 1}), ("seed", 0)],
)
def test_unsupported_params_are_refused_by_name(param: str, value: Any) -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({param: value})
    assert err.value.param == param
    assert KEY not in str(err.value)


@pytest.mark.parametrize("param,value", [("n", 1), ("logprobs", False), ("presence_penalty", 0), ("seed", None), ("logit_bias", {})])
def test_inert_values_of_unsupported_params_pass(param: str, value: Any) -> None:
    assert param not in build({param: value})


def test_max_tokens_precedence() -> None:
    assert build({})["max_tokens"] == 4096
    assert build({}, default_max_tokens=1234)["max_tokens"] == 1234
    assert build({"max_tokens": 50}, default_max_tokens=1234)["max_tokens"] == 50
    assert build({"max_tokens": 50, "max_completion_tokens": 70})["max_tokens"] == 70
    assert anthropic.AnthropicAdapter(default_max_tokens=99).chat_request(
        ChatCall(PROVIDER, "m", {"messages": []}, False), Translation()
    ).body.count(b'"max_tokens":99') == 1


def test_no_api_key_means_no_key_header() -> None:
    keyless = ProviderConfig(name="a", type="anthropic", base_url="http://127.0.0.1:1/v1")
    req = ADAPTER.chat_request(ChatCall(keyless, "m", {"messages": []}, False), Translation())
    assert "x-api-key" not in req.headers
    assert req.url == "http://127.0.0.1:1/v1/messages"
    assert KEY not in repr(PROVIDER)


def test_body_is_not_mutated() -> None:
    body = {"messages": [{"role": "assistant", "content": "prefill  "}], "stop": "x"}
    snapshot = orjson.dumps(body)
    build(body)
    assert orjson.dumps(body) == snapshot


@pytest.mark.parametrize(
    "messages,param",
    [
        ([{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}], "messages[0].tool_calls[0].function.arguments"),
        ([{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}], "messages[0].tool_calls[0].function.arguments"),
        ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id"),
        ([{"role": "function", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
    ],
)
def test_untranslatable_messages_name_the_param(messages: list[Any], param: str) -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({"messages": messages})
    assert err.value.param == param


def test_temperature_is_clamped_and_tool_choice_needs_tools() -> None:
    out = build({"temperature": 2, "tool_choice": "none"})
    assert out["temperature"] == 1.0
    assert "tool_choice" not in out


def test_whitespace_only_prefill_is_dropped() -> None:
    out = build({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]})
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def feed_all(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decoder = ADAPTER.stream_decoder("claude-x")
    return [c.data for ev in events for c in decoder.feed(SSEEvent(orjson.dumps(ev), ev.get("type")))]


@pytest.mark.parametrize("err_type,retryable", [("overloaded_error", True), ("api_error", True), ("invalid_request_error", False)])
def test_in_stream_error_raises(err_type: str, retryable: bool) -> None:
    decoder = ADAPTER.stream_decoder("claude-x")
    event = {"type": "error", "error": {"type": err_type, "message": "Overloaded"}}
    with pytest.raises(UpstreamStreamError) as err:
        decoder.feed(SSEEvent(orjson.dumps(event), "error"))
    assert err.value.error_type == err_type
    assert err.value.retryable is retryable
    assert not decoder.done


def test_stream_without_message_stop_is_not_done() -> None:
    decoder = ADAPTER.stream_decoder("claude-x")
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}}}
    decoder.feed(SSEEvent(orjson.dumps(start), "message_start"))
    assert not decoder.done


def test_unknown_events_and_ping_are_ignored() -> None:
    assert feed_all([{"type": "ping"}, {"type": "some_future_event", "x": 1}]) == []


def test_garbage_stream_data_raises_value_error() -> None:
    with pytest.raises(ValueError):
        ADAPTER.stream_decoder("m").feed(SSEEvent(b"not json", None))
    with pytest.raises(ValueError):
        ADAPTER.stream_decoder("m").feed(SSEEvent(b"[1, 2]", None))


def test_chat_response_rejects_non_messages() -> None:
    with pytest.raises(ValueError):
        ADAPTER.chat_response(b'{"choices": []}', "m")


def test_embeddings_are_refused() -> None:
    with pytest.raises(UnsupportedParam) as err:
        ADAPTER.embeddings_request(PROVIDER, "m", {"input": "x"})
    assert err.value.param == "embeddings"


def test_long_error_bodies_are_truncated() -> None:
    err = ADAPTER.parse_error(503, b"x" * 10_000)
    assert len(err.message) < 600
    assert err.type == "api_error"
    assert ADAPTER.parse_error(529, b"").type == "overloaded_error"
    assert ADAPTER.parse_error(429, b"").type == "rate_limit_error"
