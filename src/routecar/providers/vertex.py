"""Google Vertex AI adapter: Gemini models through `aiplatform.googleapis.com`.

The wire body, the answers (whole and SSE streams) and the error bodies are the Gemini API's,
so everything is the gemini adapter's but embeddings (Vertex's `:predict` with `instances`,
which reports each input's token count), Claude models (Anthropic's API under Vertex's URLs:
providers/vertex_anthropic.py), and where requests go and how they authenticate:
`{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:method`
with `Authorization: Bearer` (an OAuth2 token added by this module's `credentials`, refreshed
in the background: providers/google_credentials.py), never an API key.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from ..config.model import ProviderConfig
from . import upstream_http as http
from . import canonical
from . import vertex_anthropic as claude
from .anthropic import AnthropicAdapter
from .base import ChatCall, StreamDecoder, Translation, UpstreamError, UpstreamRequest
from .credentials import Credentials
from .gemini import GeminiAdapter, embedding_inputs, model_name, vector

VERSION = "v1"


class VertexAdapter(GeminiAdapter):
    type = "vertex"

    def __init__(self, clock: canonical.Clock = canonical.DEFAULT_CLOCK,
                 new_id: canonical.IdFactory = canonical.random_id) -> None:
        super().__init__(clock, new_id)
        self._claude = AnthropicAdapter(clock=clock)  # Claude's answers and streams are Anthropic's

    def url(self, provider: ProviderConfig, upstream_model: str, method: str) -> str:
        publisher = "anthropic" if claude.is_claude(upstream_model) else "google"
        path = f"{_location_path(provider)}/publishers/{publisher}/models/{model_name(upstream_model)}{method}"
        return http.join_url(provider.base_url, VERSION, path)

    # Vertex serves two publishers' models: Gemini (the gemini adapter's wire format) and
    # Claude (Anthropic's). The model decides which, per call.

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        if claude.is_claude(call.upstream_model):
            return claude.chat_request(call, notes, self.url, self.headers(call.provider))
        return super().chat_request(call, notes)

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        if claude.is_claude(upstream_model):
            return self._claude.chat_response(payload, upstream_model)
        return super().chat_response(payload, upstream_model)

    def stream_decoder(self, upstream_model: str, native: bool = False) -> StreamDecoder:  # type: ignore[override]
        """`native`: a Claude stream whose Anthropic events pass through to a /v1/messages app."""
        if claude.is_claude(upstream_model):
            return self._claude.stream_decoder(upstream_model, native)
        return super().stream_decoder(upstream_model)

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        if claude.is_anthropic_error(payload):  # a Claude model's own error body
            return self._claude.parse_error(status, payload)
        return super().parse_error(status, payload, headers)

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        # No key header: the bearer token is added right before sending.
        headers = {"content-type": "application/json"}
        headers.update(provider.headers)
        return headers

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str,
                           body: dict[str, Any]) -> UpstreamRequest:
        """`:predict` with one instance per input (text-embedding-005 takes up to 250 in one
        request; a model that takes fewer answers 400 saying so, which reaches the app)."""
        out: dict[str, Any] = {"instances": [{"content": text} for text in embedding_inputs(body.get("input"),
                                                                                            self.type)]}
        if body.get("dimensions"):
            out["parameters"] = {"outputDimensionality": body["dimensions"]}
        return UpstreamRequest(self.url(provider, upstream_model, ":predict"), self.headers(provider),
                               orjson.dumps(out))

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`predictions[i].embeddings.values` in OpenAI's list; usage from each prediction's
        `statistics.token_count` (estimated from the input, about four characters a token, for
        a prediction without it). The body's `encoding_format: base64` is honoured."""
        data = orjson.loads(payload)
        predictions = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(predictions, list):
            raise ValueError("response has no 'predictions' list")
        texts = embedding_inputs(request_body.get("input"), self.type) if request_body is not None else []
        as_base64 = request_body is not None and request_body.get("encoding_format") == "base64"
        items, tokens = [], 0
        for i, prediction in enumerate(predictions):
            embedding = prediction.get("embeddings") if isinstance(prediction, dict) else None
            if not isinstance(embedding, dict) or not isinstance(embedding.get("values"), list):
                raise ValueError(f"prediction {i} has no 'embeddings.values' list")
            items.append({"object": "embedding", "index": i, "embedding": vector(embedding["values"], as_base64)})
            stats = embedding.get("statistics")
            count = stats.get("token_count") if isinstance(stats, dict) else None
            if isinstance(count, (int, float)) and not isinstance(count, bool):
                tokens += int(count)
            elif i < len(texts):
                tokens += -(-len(texts[i]) // 4)
        return {"object": "list", "data": items, "model": upstream_model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        """The project's endpoints in this location, one at most: authenticated, cheap, and
        allowed to the Vertex AI User role (Vertex has no models list of its own in v1)."""
        url = http.join_url(provider.base_url, VERSION, f"{_location_path(provider)}/endpoints?pageSize=1")
        return http.get_request(url, self.headers(provider))


def _location_path(provider: ProviderConfig) -> str:
    return f"/projects/{provider.project}/locations/{provider.location}"


def credentials(provider: ProviderConfig) -> Credentials:
    from .google_credentials import GoogleCredentials  # google-auth loads only for vertex providers

    return GoogleCredentials(provider)


ADAPTER = VertexAdapter()
