"""The Azure OpenAI adapter: OpenAI's bodies at Azure's URLs, with Azure's credentials."""

from __future__ import annotations

import orjson
import pytest

from routecar.config.model import ProviderConfig
from routecar.providers.base import ChatCall, Translation, UnsupportedParam
from routecar.providers.registry import adapter_for
from routecar.providers.request_translation import TranslationError
from routecar.providers.responses_inbound import responses_to_canonical

AZ = ProviderConfig("az", "azure", "https://res.openai.azure.com", api_key="k", api_version="2024-10-21")
AAD = ProviderConfig("aad", "azure", "https://res.openai.azure.com/openai", azure_ad_token="tok",
                     api_version="2024-10-01-preview", headers={"x-team": "a"})
BODY = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
ADAPTER = adapter_for("azure")


def test_chat_goes_to_the_deployment_with_the_api_version_and_the_key() -> None:
    req = ADAPTER.chat_request(ChatCall(AZ, "my gpt/4o", BODY, stream=True), Translation())
    assert req.url == "https://res.openai.azure.com/openai/deployments/my%20gpt%2F4o/chat/completions" \
                      "?api-version=2024-10-21"
    assert req.headers == {"content-type": "application/json", "api-key": "k"}
    sent = orjson.loads(req.body)
    assert sent["model"] == "my gpt/4o" and sent["stream_options"] == {"include_usage": True}


def test_an_entra_id_token_replaces_the_key_header() -> None:
    req = ADAPTER.chat_request(ChatCall(AAD, "dep", BODY, stream=False), Translation())
    assert req.url == "https://res.openai.azure.com/openai/deployments/dep/chat/completions" \
                      "?api-version=2024-10-01-preview"
    assert req.headers == {"content-type": "application/json", "x-team": "a", "authorization": "Bearer tok"}


def test_embeddings_and_the_health_check_urls() -> None:
    req = ADAPTER.embeddings_request(AZ, "emb", {"model": "e", "input": "x"})
    assert req.url == "https://res.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21"
    health = ADAPTER.health_request(AZ)
    assert (health.method, health.url) == ("GET", "https://res.openai.azure.com/openai/models?api-version=2024-10-21")
    assert health.headers == {"api-key": "k"}


def test_the_responses_api_is_translated_through_chat_not_passed_through() -> None:
    raw = b'{"model": "gpt", "input": "hello", "instructions": "be brief"}'
    body = responses_to_canonical(orjson.loads(raw), raw)
    req = ADAPTER.chat_request(ChatCall(AZ, "dep", body, stream=False), Translation())
    assert req.url.startswith("https://res.openai.azure.com/openai/deployments/dep/chat/completions?")
    assert not req.native_events
    sent = orjson.loads(req.body)
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert not any(k.startswith("_") for k in sent)


def test_what_only_openai_can_serve_is_refused_naming_the_field() -> None:
    raw = b'{"model": "gpt", "input": "more", "previous_response_id": "resp_1"}'
    body = responses_to_canonical(orjson.loads(raw), raw)
    with pytest.raises(TranslationError, match="azure providers cannot take it"):
        ADAPTER.chat_request(ChatCall(AZ, "dep", body, stream=False), Translation())


def test_anthropic_only_fields_follow_the_openai_rules() -> None:
    body = {**BODY, "_anthropic_extra": {"top_k": 5}}
    with pytest.raises(UnsupportedParam, match="azure"):
        ADAPTER.chat_request(ChatCall(AZ, "dep", body, stream=False), Translation())


def test_azure_errors_are_openai_shaped() -> None:
    err = ADAPTER.parse_error(400, orjson.dumps({"error": {"code": "context_length_exceeded", "message":
                                                           "This model's maximum context length is 8192 tokens"}}))
    assert err.context_length and err.code == "context_length_exceeded"
