"""Anthropic Messages API adapter: canonical OpenAI chat <-> `POST /v1/messages`.

Request building lives in `_tx_anthropic_req`, stream decoding in `_tx_anthropic_stream`;
this module is the adapter the dispatcher calls plus whole-response and error translation.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..config.model import ProviderConfig
from . import _tx_common as tx
from ._tx_anthropic_req import build_body
from ._tx_anthropic_stream import AnthropicStreamDecoder, finish_reason, usage_from
from .base import Translation, UnsupportedParam, UpstreamError, UpstreamRequest

API_VERSION = "2023-06-01"

_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit", "context window", "too many input tokens")


class AnthropicAdapter:
    """`default_max_tokens` caps output when neither the request nor the catalog gives a limit
    (Anthropic requires one); `chat_request(..., default_max_tokens=N)` overrides it per call,
    which is how the catalog's `max_output_tokens` reaches the request."""

    type = "anthropic"

    def __init__(
        self,
        default_max_tokens: int = tx.DEFAULT_MAX_TOKENS,
        clock: tx.Clock = tx.DEFAULT_CLOCK,
    ) -> None:
        self.default_max_tokens = default_max_tokens
        self._clock = clock

    def chat_request(
        self,
        provider: ProviderConfig,
        upstream_model: str,
        body: dict[str, Any],
        stream: bool,
        notes: Translation,
        *,
        default_max_tokens: int | None = None,
    ) -> UpstreamRequest:
        out = build_body(
            provider, upstream_model, body, stream, notes, default_max_tokens or self.default_max_tokens
        )
        url = tx.join_url(provider.base_url, "v1", "/messages")
        headers = tx.headers_with(provider, {"x-api-key": provider.api_key or ""})
        headers["anthropic-version"] = API_VERSION
        if stream:
            headers["accept"] = "text/event-stream"
        return UpstreamRequest(url, headers, tx.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise ValueError("response is not an Anthropic message (no 'content' list)")
        return message_to_completion(data, upstream_model, tx.now_seconds(self._clock))

    def stream_decoder(self, upstream_model: str) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(upstream_model, self._clock)

    def embeddings_request(
        self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]
    ) -> UpstreamRequest:
        raise UnsupportedParam("embeddings", "anthropic")

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise UnsupportedParam("embeddings", "anthropic")

    def parse_error(self, status: int, payload: bytes) -> UpstreamError:
        return parse_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        headers = tx.headers_with(provider, {"x-api-key": provider.api_key or ""})
        headers["anthropic-version"] = API_VERSION
        del headers["content-type"]  # a GET without a body
        return UpstreamRequest(tx.join_url(provider.base_url, "v1", "/models"), headers, b"", method="GET")


def message_to_completion(data: dict[str, Any], upstream_model: str, created: int) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return {
        "id": "chatcmpl-" + str(data.get("id") or tx.random_id("msg_")),
        "object": "chat.completion",
        "created": created,
        "model": str(data.get("model") or upstream_model),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(data.get("stop_reason"))}
        ],
        "usage": usage_from(usage),
    }


def parse_error(status: int, payload: bytes) -> UpstreamError:
    """Anthropic's `{"type": "error", "error": {"type", "message"}}`, or whatever came instead."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        message = tx.error_text(status, payload)
        return UpstreamError(message, _type_for_status(status), None, _is_context(message))
    message = str(err.get("message") or tx.error_text(status, b""))
    err_type = str(err.get("type") or _type_for_status(status))
    return UpstreamError(message, err_type, err_type, _is_context(message))


def _is_context(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def _type_for_status(status: int) -> str:
    if status == 529:
        return "overloaded_error"
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


ADAPTER = AnthropicAdapter()
