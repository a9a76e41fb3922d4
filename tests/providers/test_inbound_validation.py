"""`/v1/messages` request validation and the Anthropic error shapes."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import Message

from routecar.providers.anthropic_inbound import (
    InboundError,
    MessagesStreamEncoder,
    canonical_to_message,
    error_body,
    error_type_for_status,
    messages_to_canonical,
)
from routecar.providers.base import Chunk

OK = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "patch,param",
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}, "messages"),
        ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]}, "messages"),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": 1.5}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"tools": [{"name": "f"}]}, "tools"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice"),
    ],
)
def test_invalid_requests_name_the_param(patch: dict[str, Any], param: str) -> None:
    body = {**OK, **patch}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InboundError) as err:
        messages_to_canonical(body)
    assert err.value.param == param
    assert isinstance(err.value, ValueError)
    assert err.value.message


@pytest.mark.parametrize(
    "patch,param",
    [
        ({"messages": [{"role": "user", "content": [{"type": "server_tool_use"}]}]}, "messages"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools"),
    ],
)
def test_anthropic_only_content_defers_its_refusal(patch: dict[str, Any], param: str) -> None:
    """Valid Anthropic with no canonical form: passed through to Anthropic upstreams, refused
    by the others (the adapters read `_anthropic_untranslatable`)."""
    out = messages_to_canonical({**OK, **patch}, b"{}")
    assert out["_anthropic_untranslatable"][0] == param
    assert out["_anthropic_raw"].raw == b"{}"


def test_thinking_is_an_anthropic_only_field() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    out = messages_to_canonical({**OK, "thinking": thinking, "service_tier": "auto"})
    assert out["_anthropic_extra"] == {"thinking": thinking, "service_tier": "auto"}


def test_non_object_body_is_refused() -> None:
    with pytest.raises(InboundError):
        messages_to_canonical([OK])


def test_tool_choice_without_tools_is_dropped() -> None:
    out = messages_to_canonical({**OK, "tool_choice": {"type": "auto"}})
    assert "tool_choice" not in out


def test_body_is_not_mutated() -> None:
    body = {**OK, "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}
    messages_to_canonical(body)
    assert body["messages"][0]["content"] == [{"type": "text", "text": "a"}]


@pytest.mark.parametrize(
    "status,kind",
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
     (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (503, "overloaded_error"),
     (504, "api_error"), (529, "overloaded_error"), (422, "invalid_request_error"), (599, "api_error")],
)
def test_error_types_by_status(status: int, kind: str) -> None:
    assert error_type_for_status(status) == kind


def test_error_body_shape() -> None:
    assert error_body("nope", "rate_limit_error") == {"type": "error", "error": {"type": "rate_limit_error", "message": "nope"}}


def test_message_from_a_response_with_stop_but_tool_calls() -> None:
    # vLLM and Ollama report finish_reason "stop" on tool calls.
    resp = {"id": "x", "choices": [{"message": {"content": None, "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "stop"}]}
    msg = canonical_to_message(resp, "m")
    assert msg["stop_reason"] == "tool_use"
    Message.model_validate(msg)


def test_message_from_an_empty_response_is_valid() -> None:
    Message.model_validate(canonical_to_message({}, "m"))


def test_encoder_ignores_everything_after_the_close() -> None:
    enc = MessagesStreamEncoder("m")
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    first = enc.encode(Chunk(chunk))
    assert first.endswith(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    assert enc.encode(Chunk(chunk)) == b"" and enc.finish() == b""


def test_encoder_skips_other_choices() -> None:
    enc = MessagesStreamEncoder("m")
    assert enc.encode(Chunk({"id": "c", "choices": [{"index": 1, "delta": {"content": "x"}}]})) == b""
