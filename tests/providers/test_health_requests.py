"""Each adapter's health request (the models list) for active health checks of open circuits."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from routecar.config.model import ProviderConfig
from routecar.providers.anthropic import API_VERSION, AnthropicAdapter
from routecar.providers.gemini import GeminiAdapter
from routecar.providers.openai import OpenAIAdapter

KEY = "sk-test-health-key"


def provider(type_: str, base_url: str, api_key: str | None = KEY) -> ProviderConfig:
    return ProviderConfig(name="p", type=type_, base_url=base_url, api_key=api_key,
                          headers=MappingProxyType({"x-team": "search"}))


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/v1", "https://api.groq.com/openai/v1"])
def test_openai_lists_models_under_its_base_url_with_a_bearer_key(base_url: str) -> None:
    req = OpenAIAdapter().health_request(provider("openai", base_url))
    assert (req.method, req.url, req.body) == ("GET", base_url + "/models", b"")
    assert req.headers == {"x-team": "search", "authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize("base_url", ["https://api.anthropic.com", "https://api.anthropic.com/v1/"])
def test_anthropic_lists_models_with_x_api_key_and_version(base_url: str) -> None:
    req = AnthropicAdapter().health_request(provider("anthropic", base_url))
    assert (req.method, req.url, req.body) == ("GET", "https://api.anthropic.com/v1/models", b"")
    assert req.headers == {"x-team": "search", "x-api-key": KEY, "anthropic-version": API_VERSION}


@pytest.mark.parametrize("base_url", ["https://generativelanguage.googleapis.com",
                                      "https://generativelanguage.googleapis.com/v1beta"])
def test_gemini_lists_models_with_its_key_header(base_url: str) -> None:
    req = GeminiAdapter().health_request(provider("gemini", base_url))
    assert (req.method, req.url, req.body) == (
        "GET", "https://generativelanguage.googleapis.com/v1beta/models", b"")
    assert req.headers == {"x-team": "search", "x-goog-api-key": KEY}


@pytest.mark.parametrize(("adapter", "type_", "auth"), [
    (OpenAIAdapter(), "openai", "authorization"),
    (AnthropicAdapter(), "anthropic", "x-api-key"),
    (GeminiAdapter(), "gemini", "x-goog-api-key"),
])
def test_keyless_provider_sends_no_auth_header(adapter, type_: str, auth: str) -> None:
    req = adapter.health_request(provider(type_, "http://127.0.0.1:9/v1", api_key=None))
    assert auth not in req.headers
    assert "content-type" not in req.headers  # a GET without a body
