"""Anthropic Messages API adapter: canonical OpenAI chat <-> `POST /v1/messages`.

Request building lives in `anthropic_request`, stream decoding in `anthropic_stream`; this
module is the adapter the dispatcher calls plus whole-response and error translation.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from ..config.model import ProviderConfig
from . import canonical
from . import upstream_http as http
from .anthropic_request import build_body
from .anthropic_stream import AnthropicStreamDecoder, finish_reason, usage_from
from .base import ChatCall, Translation, UnsupportedParam, UpstreamError, UpstreamRequest
from .json_splice import set_string_member

API_VERSION = "2023-06-01"

# Anthropic rejects a request without an output cap; this one is used when neither the request
# nor the catalog gives one.
DEFAULT_MAX_TOKENS = 4096

_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit", "context window", "too many input tokens")


class AnthropicAdapter:
    """`default_max_tokens` caps output when neither the request nor the catalog gives a limit
    (Anthropic requires one); a call's own `default_max_tokens` (the catalog's
    `max_output_tokens`) takes precedence."""

    type = "anthropic"

    def __init__(self, default_max_tokens: int = DEFAULT_MAX_TOKENS, clock: canonical.Clock = canonical.DEFAULT_CLOCK) -> None:
        self.default_max_tokens = default_max_tokens
        self._clock = clock

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        headers = _headers(call.provider)
        if call.stream:
            headers["accept"] = "text/event-stream"
        url = http.join_url(call.provider.base_url, "v1", "/messages")
        passthrough = call.body.get("_anthropic_raw")
        if passthrough is not None:
            # Anthropic in, Anthropic out: the app's bytes, only `model` changed.
            if bool(call.body.get("stream")) == call.stream:
                body = passthrough_body(passthrough.raw, call.upstream_model)
            else:  # a cascade fetches whole answers to check them, whatever the app asked
                body = _with(passthrough.raw, model=call.upstream_model, stream=call.stream)
            return UpstreamRequest(url, headers, body, native_events=call.stream)
        out = build_body(call, notes, call.default_max_tokens or self.default_max_tokens)
        return UpstreamRequest(url, headers, orjson.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise ValueError("response is not an Anthropic message (no 'content' list)")
        return message_to_completion(data, upstream_model, int(self._clock()))

    def stream_decoder(self, upstream_model: str, native: bool = False) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(upstream_model, self._clock, native)

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise UnsupportedParam("embeddings", "anthropic")

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise UnsupportedParam("embeddings", "anthropic")

    def count_tokens_request(self, provider: ProviderConfig, upstream_model: str,
                             body: dict[str, Any]) -> UpstreamRequest:
        """`POST /v1/messages/count_tokens` with the app's own body (bar `model`)."""
        raw = body["_anthropic_raw"].raw
        return UpstreamRequest(http.join_url(provider.base_url, "v1", "/messages/count_tokens"),
                               _headers(provider), passthrough_body(raw, upstream_model))

    def count_tokens_response(self, payload: bytes) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or type(data.get("input_tokens")) is not int:
            raise ValueError("count_tokens answer has no integer 'input_tokens'")
        return data

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return parse_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        return http.get_request(http.join_url(provider.base_url, "v1", "/models"), _headers(provider))


def passthrough_body(raw: bytes, upstream_model: str) -> bytes:
    """The app's Messages body with the deployment's model; re-serialized only if `model` could
    not be found in place (never the case for a body that passed validation)."""
    spliced = set_string_member(raw, "model", upstream_model)
    return spliced if spliced is not None else _with(raw, model=upstream_model)


def _with(raw: bytes, **changes: Any) -> bytes:
    body = orjson.loads(raw)
    body.update(changes)
    return orjson.dumps(body)


def _headers(provider: ProviderConfig) -> dict[str, str]:
    headers = http.json_headers(provider, {"x-api-key": provider.api_key or ""})
    headers["anthropic-version"] = API_VERSION
    return headers


def message_to_completion(data: dict[str, Any], upstream_model: str, created: int) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(canonical.tool_call(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
    content = "".join(texts) if texts else None
    reasoning = "".join(thinking) if thinking else None
    choice = canonical.choice(0, content, calls, reasoning, finish_reason(data.get("stop_reason")))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    completion_id = "chatcmpl-" + str(data.get("id") or canonical.random_id("msg_"))
    return canonical.completion(completion_id, created, str(data.get("model") or upstream_model), [choice], usage_from(usage))


def parse_error(status: int, payload: bytes) -> UpstreamError:
    """Anthropic's `{"type": "error", "error": {"type", "message"}}`, or whatever came instead."""
    err, message = http.read_error(status, payload)
    context = http.mentions(message, _CONTEXT_MARKERS)
    fallback = "overloaded_error" if status == 529 else http.status_error_type(status)
    if err is None:  # not Anthropic's error object (a proxy's HTML page, say)
        return UpstreamError(message, fallback, None, context)
    err_type = str(err.get("type") or fallback)
    return UpstreamError(message, err_type, err_type, context)


ADAPTER = AnthropicAdapter()
