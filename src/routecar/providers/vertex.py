"""Google Vertex AI adapter: Gemini models through `aiplatform.googleapis.com`.

The wire body, the answers (whole and SSE streams) and the error bodies are the Gemini API's,
so everything is the gemini adapter's but where requests go and how they authenticate:
`{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:method`
with `Authorization: Bearer` (an OAuth2 token added by this module's `credentials`, refreshed
in the background: providers/google_credentials.py), never an API key.
"""

from __future__ import annotations

from typing import Any

from ..config.model import ProviderConfig
from . import upstream_http as http
from .base import UnsupportedParam, UpstreamRequest
from .credentials import Credentials
from .gemini import GeminiAdapter, model_name

VERSION = "v1"


class VertexAdapter(GeminiAdapter):
    type = "vertex"

    def url(self, provider: ProviderConfig, upstream_model: str, method: str) -> str:
        path = f"{_location_path(provider)}/publishers/google/models/{model_name(upstream_model)}{method}"
        return http.join_url(provider.base_url, VERSION, path)

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        # No key header: the bearer token is added right before sending.
        headers = {"content-type": "application/json"}
        headers.update(provider.headers)
        return headers

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str,
                           body: dict[str, Any]) -> UpstreamRequest:
        # Vertex embeds through `:predict` with its own body, not Gemini's batchEmbedContents.
        raise UnsupportedParam("embeddings", "vertex")

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
