"""Azure OpenAI: OpenAI's bodies, streams and error shapes at Azure's URLs, with Azure's key.

A deployment's `model` is the Azure deployment name, which is part of the URL
(`/openai/deployments/{name}/chat/completions`); every request carries `?api-version=`. The key
goes in the `api-key` header (never Authorization); an Entra ID token, when configured, goes
as `Authorization: Bearer` instead. Everything else is the OpenAI adapter's. Requests that
came in on `/v1/responses` take the translated path through chat completions, as for every
non-OpenAI protocol (Azure's own Responses API differs by region and API version).
"""

from __future__ import annotations

from urllib.parse import quote

from ..config.model import ProviderConfig
from . import upstream_http as http
from .openai import OpenAIAdapter


class AzureAdapter(OpenAIAdapter):
    type = "azure"
    responses_passthrough = False

    def url(self, provider: ProviderConfig, path: str, upstream_model: str) -> str:
        # The resource endpoint, written with or without Azure's `/openai` prefix.
        base = provider.base_url.rstrip("/").removesuffix("/openai") + "/openai"
        if upstream_model:  # the models list (health checks) is per resource, not per deployment
            base += "/deployments/" + quote(upstream_model, safe="")
        return f"{base}{path}?api-version={quote(provider.api_version or '', safe='')}"

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        if provider.azure_ad_token:
            headers = http.json_headers(provider, {})
            headers["authorization"] = f"Bearer {provider.azure_ad_token}"
            return headers
        return http.json_headers(provider, {"api-key": provider.api_key or ""})


ADAPTER = AzureAdapter()
