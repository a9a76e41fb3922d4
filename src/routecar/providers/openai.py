"""OpenAI wire protocol (also vLLM, Ollama, DeepSeek, xAI, Mistral, Groq, ...).

The canonical format is OpenAI's, so this adapter is a pass-through: it only swaps the model
name, forces usage reporting on streams (routecar needs the tokens for cost even when the app
did not ask) and keeps the upstream's own chunk bytes so the OpenAI entry point can forward
them without re-serializing.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from ..config.model import ProviderConfig
from . import unsupported_params as up
from . import upstream_http as http
from .base import ChatCall, Chunk, SSEEvent, Translation, UpstreamError, UpstreamRequest, UpstreamStreamError
from .json_splice import set_string_member
from .responses_answer import response_to_canonical
from .responses_stream import ResponsesStreamDecoder

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


def _headers(provider: ProviderConfig) -> dict[str, str]:
    return http.json_headers(provider, {"authorization": f"Bearer {provider.api_key}"})


def _json_with(payload: bytes, key: str) -> dict[str, Any]:
    """A success body: a JSON object carrying the `key` list the protocol promises."""
    parsed = orjson.loads(payload)
    if not isinstance(parsed, dict) or not isinstance(parsed.get(key), list):
        raise ValueError(f"response has no '{key}' list")
    return parsed


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
    """Also the base of protocols that speak OpenAI's bodies at other URLs with other
    credentials (Azure OpenAI): they override `url` and `headers`."""

    type = "openai"
    # Requests that came in on `/v1/responses` go to the upstream's own `/responses` as they came.
    responses_passthrough = True

    def url(self, provider: ProviderConfig, path: str, upstream_model: str) -> str:
        """Where the operation `path` (`/chat/completions`, `/embeddings`, `/models`) is served."""
        return provider.base_url + path

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        return _headers(provider)

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        responses = call.body.get("_responses_raw")
        if responses is not None and self.responses_passthrough:
            return _responses_request(call, responses.raw)
        if not up.FOREIGN_KEYS.isdisjoint(call.body):  # came in on /v1/messages or /v1/responses
            up.check_openai_only(call.body, self.type)  # what only OpenAI's stored state can serve
            up.check_anthropic_only(call.body, call.provider, self.type, notes)
        out = _public(call.body, call.upstream_model)
        if call.stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        return UpstreamRequest(self.url(call.provider, "/chat/completions", call.upstream_model),
                               self.headers(call.provider), orjson.dumps(out))

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        parsed = orjson.loads(payload)
        if isinstance(parsed, dict) and parsed.get("object") == "response":  # a Responses API answer
            return response_to_canonical(parsed, upstream_model)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("choices"), list):
            raise ValueError("response has no 'choices' list")
        return parsed

    def stream_decoder(self, upstream_model: str, native: bool = False) -> OpenAIStreamDecoder | ResponsesStreamDecoder:
        """`native`: a Responses API stream (its typed events pass through to the app)."""
        return ResponsesStreamDecoder(upstream_model) if native else OpenAIStreamDecoder()

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        return UpstreamRequest(self.url(provider, "/embeddings", upstream_model), self.headers(provider),
                               orjson.dumps(_public(body, upstream_model)))

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return _json_with(payload, "data")

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return parse_openai_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        return http.get_request(self.url(provider, "/models", ""), self.headers(provider))


def _responses_request(call: ChatCall, raw: bytes) -> UpstreamRequest:
    """Responses API in, OpenAI out: the app's bytes at `/responses`, only `model` changed."""
    body = set_string_member(raw, "model", call.upstream_model) if bool(call.body.get("stream")) == call.stream \
        else None
    if body is None:  # `model` not found in place, or a cascade fetching whole answers of a stream
        parsed = orjson.loads(raw)
        parsed.update(model=call.upstream_model, stream=call.stream)
        body = orjson.dumps(parsed)
    return UpstreamRequest(call.provider.base_url + "/responses", _headers(call.provider), body,
                           native_events=call.stream)


def _public(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The canonical body as sent: routecar's private `_*` keys out, the deployment's model in."""
    out = {k: v for k, v in body.items() if not k.startswith("_")}
    out["model"] = upstream_model
    return out


def parse_openai_error(status: int, payload: bytes) -> UpstreamError:
    err = http.error_member(payload)
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
    context = status in (400, 413, 422) and http.mentions(f"{code or ''} {message}", _CONTEXT_MARKERS)
    return UpstreamError(message=message, type=etype, code=None if code is None else str(code), context_length=context)


ADAPTER = OpenAIAdapter()
