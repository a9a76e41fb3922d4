"""OpenAI wire protocol (also vLLM, Ollama, DeepSeek, xAI, Mistral, Groq, ...).

The canonical format is OpenAI's, so this adapter is a pass-through: it only swaps the model
name, forces usage reporting on streams (routecar needs the tokens for cost even when the app
did not ask) and keeps the upstream's own chunk bytes so the OpenAI entry point can forward
them without re-serializing.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..config.model import ProviderConfig
from .base import Chunk, SSEEvent, Translation, UpstreamError, UpstreamRequest, UpstreamStreamError

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


def _headers(provider: ProviderConfig) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    headers.update(provider.headers)
    if provider.api_key:
        headers["authorization"] = f"Bearer {provider.api_key}"
    return headers


class OpenAIStreamDecoder:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, event: SSEEvent) -> list[Chunk]:
        data = event.data
        if data == b"[DONE]":
            self.done = True
            return []
        parsed = orjson.loads(data)  # ValueError on garbage: the dispatcher calls it malformed
        if not isinstance(parsed, dict):
            raise ValueError("stream chunk is not a JSON object")
        if "error" in parsed and not parsed.get("choices"):
            err = parsed["error"] if isinstance(parsed["error"], dict) else {"message": str(parsed["error"])}
            raise UpstreamStreamError(str(err.get("message") or "upstream stream error"), str(err.get("type") or "api_error"))
        return [Chunk(parsed, data)]


class OpenAIAdapter:
    type = "openai"

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
        out = {k: v for k, v in body.items() if not k.startswith("_")}
        out["model"] = upstream_model
        if stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        return UpstreamRequest(provider.base_url + "/chat/completions", _headers(provider), orjson.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        parsed = orjson.loads(payload)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("choices"), list):
            raise ValueError("response has no 'choices' list")
        return parsed

    def stream_decoder(self, upstream_model: str) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if not k.startswith("_")}
        out["model"] = upstream_model
        return UpstreamRequest(provider.base_url + "/embeddings", _headers(provider), orjson.dumps(out))

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        parsed = orjson.loads(payload)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
            raise ValueError("response has no 'data' list")
        return parsed

    def parse_error(self, status: int, payload: bytes) -> UpstreamError:
        return parse_openai_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        headers = _headers(provider)
        del headers["content-type"]  # a GET without a body
        return UpstreamRequest(provider.base_url + "/models", headers, b"", method="GET")


def parse_openai_error(status: int, payload: bytes) -> UpstreamError:
    try:
        parsed = orjson.loads(payload)
    except ValueError:
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or f"upstream answered {status}")
        code = err.get("code")
        etype = str(err.get("type") or "upstream_error")
    elif isinstance(err, str):
        message, code, etype = err, None, "upstream_error"
    else:
        text = payload[:200].decode("utf-8", "replace").strip()
        message = f"upstream answered {status} with a non-JSON body" + (f": {text[:120]!r}" if text else "")
        code, etype = None, "upstream_error"
    lowered = f"{code or ''} {message}".lower()
    context = status in (400, 413, 422) and any(m in lowered for m in _CONTEXT_MARKERS)
    return UpstreamError(message=message, type=etype, code=None if code is None else str(code), context_length=context)


ADAPTER = OpenAIAdapter()
