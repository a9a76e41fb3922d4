"""Gemini API adapter: canonical OpenAI chat/embeddings <-> `generateContent` / `batchEmbedContents`.

Request building lives in `_tx_gemini_req`, response and stream decoding in `_tx_gemini_stream`;
this module is the adapter the dispatcher calls, plus embeddings and error translation.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from ..config.model import ProviderConfig
from . import _tx_common as tx
from ._tx_gemini_req import build_body
from ._tx_gemini_stream import GeminiStreamDecoder, finish_reason, split_parts, usage_from
from .base import Translation, UpstreamError, UpstreamRequest

VERSION = "v1beta"

_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
}

_CONTEXT_MARKERS = ("exceeds the maximum number of tokens", "input token count", "context window")


class GeminiAdapter:
    """`clock` and `new_id` are injectable so translations are reproducible in tests."""

    type = "gemini"

    def __init__(self, clock: tx.Clock = tx.DEFAULT_CLOCK, new_id: tx.IdFactory = tx.random_id) -> None:
        self._clock = clock
        self._new_id = new_id

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
        out = build_body(provider, body, notes, default_max_tokens)
        method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        return UpstreamRequest(self._url(provider, upstream_model, method), _headers(provider), tx.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data):
            raise ValueError("response is not a Gemini GenerateContentResponse")
        choices = []
        for position, cand in enumerate(data.get("candidates") or ()):
            text, thoughts, calls = split_parts(cand, self._new_id)
            message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            if thoughts:
                message["reasoning_content"] = thoughts
            reason = finish_reason(cand.get("finishReason"), bool(calls))
            choices.append({"index": cand.get("index", position), "message": message, "logprobs": None, "finish_reason": reason})
        if not choices:
            # The prompt itself was blocked (promptFeedback.blockReason): no candidate at all.
            message = {"role": "assistant", "content": None, "refusal": None}
            choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
        return {
            "id": "chatcmpl-" + str(data.get("responseId") or self._new_id("")),
            "object": "chat.completion",
            "created": tx.now_seconds(self._clock),
            "model": str(data.get("modelVersion") or upstream_model),
            "choices": choices,
            "usage": usage_from(data.get("usageMetadata")),
        }

    def stream_decoder(self, upstream_model: str) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(upstream_model, self._clock, self._new_id)

    def embeddings_request(
        self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]
    ) -> UpstreamRequest:
        texts = _embedding_inputs(body.get("input"))
        model = "models/" + _model_name(upstream_model)
        dims = body.get("dimensions")
        requests = []
        for text in texts:
            item: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if dims:
                item["outputDimensionality"] = dims
            requests.append(item)
        url = self._url(provider, upstream_model, ":batchEmbedContents")
        return UpstreamRequest(url, _headers(provider), tx.dumps({"requests": requests}))

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Gemini reports no token counts for embeddings: pass the request body to have them
        estimated (about four characters a token), else they are zero. The body's
        `encoding_format` is honoured too, as OpenAI does."""
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not isinstance(data.get("embeddings"), list):
            raise ValueError("response has no 'embeddings' list")
        as_base64 = request_body is not None and request_body.get("encoding_format") == "base64"
        items = [
            {"object": "embedding", "index": i, "embedding": _vector((e or {}).get("values") or [], as_base64)}
            for i, e in enumerate(data["embeddings"])
        ]
        tokens = 0
        if request_body is not None:
            tokens = sum(-(-len(t) // 4) for t in _embedding_inputs(request_body.get("input")))
        return {
            "object": "list",
            "data": items,
            "model": upstream_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def parse_error(self, status: int, payload: bytes) -> UpstreamError:
        return parse_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        headers = _headers(provider)
        del headers["content-type"]  # a GET without a body
        return UpstreamRequest(tx.join_url(provider.base_url, VERSION, "/models"), headers, b"", method="GET")

    @staticmethod
    def _url(provider: ProviderConfig, upstream_model: str, method: str) -> str:
        return tx.join_url(provider.base_url, VERSION, f"/models/{_model_name(upstream_model)}{method}")


def _headers(provider: ProviderConfig) -> dict[str, str]:
    return tx.headers_with(provider, {"x-goog-api-key": provider.api_key or ""})


def _model_name(upstream_model: str) -> str:
    return upstream_model.removeprefix("models/")


def _vector(values: list[float], as_base64: bool) -> list[float] | str:
    # OpenAI's base64 format is little-endian float32; SDKs that asked for it decode nothing else.
    if not as_base64:
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def _embedding_inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        return raw
    raise tx.TranslationError("input", "gemini embeddings take a string or a non-empty list of strings")


def parse_error(status: int, payload: bytes) -> UpstreamError:
    """Google's `{"error": {"code", "message", "status"}}` (sometimes inside a one-element list)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        message = tx.error_text(status, payload)
        return UpstreamError(message, _type_for_status(status), None, _is_context(message))
    message = str(err.get("message") or tx.error_text(status, b""))
    code = str(err["status"]) if err.get("status") else None
    err_type = _ERROR_TYPES.get(code or "", _type_for_status(status))
    return UpstreamError(message, err_type, code, _is_context(message))


def _is_context(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def _type_for_status(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


ADAPTER = GeminiAdapter()
