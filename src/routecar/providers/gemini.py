"""Gemini API adapter: canonical OpenAI chat/embeddings <-> `generateContent` / `batchEmbedContents`.

Request building lives in `gemini_request`, response and stream decoding in `gemini_stream`;
this module is the adapter the dispatcher calls, plus embeddings and error translation.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Mapping

import orjson

from ..config.model import ProviderConfig
from . import canonical
from . import upstream_http as http
from .base import ChatCall, Translation, UpstreamError, UpstreamRequest
from .gemini_request import build_body
from .gemini_stream import GeminiStreamDecoder, finish_reason, split_parts, usage_from
from .request_translation import TranslationError

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

    def __init__(self, clock: canonical.Clock = canonical.DEFAULT_CLOCK, new_id: canonical.IdFactory = canonical.random_id) -> None:
        self._clock = clock
        self._new_id = new_id

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        out = build_body(call, notes)
        method = ":streamGenerateContent?alt=sse" if call.stream else ":generateContent"
        return UpstreamRequest(self.url(call.provider, call.upstream_model, method), self.headers(call.provider),
                               orjson.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data):
            raise ValueError("response is not a Gemini GenerateContentResponse")
        choices = []
        for position, cand in enumerate(data.get("candidates") or ()):
            text, thoughts, calls = split_parts(cand, self._new_id)
            reason = finish_reason(cand.get("finishReason"), bool(calls))
            choices.append(canonical.choice(cand.get("index", position), text or None, calls, thoughts or None, reason))
        if not choices:
            # The prompt itself was blocked (promptFeedback.blockReason): no candidate at all.
            choices.append(canonical.choice(0, None, [], None, "content_filter"))
        completion_id = "chatcmpl-" + str(data.get("responseId") or self._new_id(""))
        model = str(data.get("modelVersion") or upstream_model)
        return canonical.completion(completion_id, int(self._clock()), model, choices, usage_from(data.get("usageMetadata")))

    def stream_decoder(self, upstream_model: str) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(upstream_model, self._clock, self._new_id)

    def embeddings_request(
        self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]
    ) -> UpstreamRequest:
        texts = embedding_inputs(body.get("input"))
        model = "models/" + model_name(upstream_model)
        dims = body.get("dimensions")
        requests = []
        for text in texts:
            item: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if dims:
                item["outputDimensionality"] = dims
            requests.append(item)
        url = self.url(provider, upstream_model, ":batchEmbedContents")
        return UpstreamRequest(url, self.headers(provider), orjson.dumps({"requests": requests}))

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
            {"object": "embedding", "index": i, "embedding": vector((e or {}).get("values") or [], as_base64)}
            for i, e in enumerate(data["embeddings"])
        ]
        tokens = 0
        if request_body is not None:
            tokens = sum(-(-len(t) // 4) for t in embedding_inputs(request_body.get("input")))
        return {
            "object": "list",
            "data": items,
            "model": upstream_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return parse_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        return http.get_request(http.join_url(provider.base_url, VERSION, "/models"), self.headers(provider))

    # Where and how requests go: what Vertex AI (providers/vertex.py) changes, the rest is shared.
    def url(self, provider: ProviderConfig, upstream_model: str, method: str) -> str:
        return http.join_url(provider.base_url, VERSION, f"/models/{model_name(upstream_model)}{method}")

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        return http.json_headers(provider, {"x-goog-api-key": provider.api_key or ""})


def model_name(upstream_model: str) -> str:
    return upstream_model.removeprefix("models/")


def embedding_inputs(raw: Any, provider_type: str = "gemini") -> list[str]:
    """OpenAI's `input` as texts: a string or a list of strings (token arrays have no meaning
    to Google's tokenizers)."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        return raw
    raise TranslationError("input", f"{provider_type} embeddings take a string or a non-empty list of strings")


def vector(values: list[float], as_base64: bool) -> list[float] | str:
    # OpenAI's base64 format is little-endian float32; SDKs that asked for it decode nothing else.
    if not as_base64:
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def parse_error(status: int, payload: bytes) -> UpstreamError:
    """Google's `{"error": {"code", "message", "status"}}` (sometimes inside a one-element list)."""
    err, message = http.read_error(status, payload)
    code = str(err["status"]) if err is not None and err.get("status") else None
    err_type = _ERROR_TYPES.get(code or "", http.status_error_type(status))
    return UpstreamError(message, err_type, code, http.mentions(message, _CONTEXT_MARKERS))


ADAPTER = GeminiAdapter()
