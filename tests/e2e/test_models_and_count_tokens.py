"""`GET /v1/models/{id}`, `POST /v1/messages/count_tokens` and the model-field rule, through a
real sidecar with the real SDKs."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest

from tests.e2e.recording_upstream import Recorder


def config(rec: Recorder) -> str:
    return f"""
providers:
  ant: {{type: anthropic, base_url: '{rec.url}', api_key: sk-ant-provider}}
  oai: {{type: openai, base_url: '{rec.url}/v1', api_key: sk-oai-provider}}
models:
  claude:
    deployments: [{{provider: ant, model: up-0}}]
  gpt:
    deployments: [{{provider: oai, model: up-1}}]
  org/llama-3:
    deployments: [{{provider: oai, model: up-2}}]
routes:
  smart: {{strategy: ordered, candidates: [claude, gpt]}}
  chatty: {{strategy: ordered, candidates: [gpt]}}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
"""


async def test_models_retrieve_and_404(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    async with openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="x", max_retries=0) as client:
        model = await client.models.retrieve("gpt")
        assert (model.id, model.object, model.owned_by) == ("gpt", "model", "routecar")
        route = await client.models.retrieve("smart")
        assert route.owned_by == "routecar-route"
        assert (await client.models.retrieve("org/llama-3")).id == "org/llama-3"
        with pytest.raises(openai.NotFoundError) as err:
            await client.models.retrieve("gtp")
    body = err.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model" and "gpt" in body["message"]
    assert err.value.response.headers["x-routecar-request-id"]
    async with aiohttp.ClientSession() as http:
        async with http.get(sc.data_url + "/v1/models/org%2Fllama-3") as resp:
            assert resp.status == 200 and (await resp.json())["id"] == "org/llama-3"
        async with http.get(sc.data_url + "/v1/models", headers={"x-routecar-request-id": "app-7"}) as resp:
            assert resp.status == 200 and resp.headers["x-routecar-request-id"] == "app-7"
        async with http.post(sc.data_url + "/v1/models/gpt") as resp:
            assert resp.status == 405


async def test_count_tokens_routed_to_anthropic_and_estimated_elsewhere(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    async with anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="app-key", max_retries=0) as client:
        raw = await client.messages.with_raw_response.count_tokens(
            model="smart", messages=[{"role": "user", "content": "Hello there"}],
            extra_headers={"anthropic-beta": "token-counting-2024-11-01"})
        counted = await raw.parse()
        assert counted.input_tokens == 4242
        assert raw.headers["x-routecar-token-count"] == "upstream" and raw.headers["x-routecar-model"] == "claude"
        seen = recorder.last("/v1/messages/count_tokens")
        assert seen.json == {"model": "up-0", "messages": [{"role": "user", "content": "Hello there"}]}
        assert seen.headers["anthropic-beta"] == "token-counting-2024-11-01"
        assert seen.headers["x-api-key"] == "sk-ant-provider"

        raw = await client.messages.with_raw_response.count_tokens(
            model="chatty", messages=[{"role": "user", "content": "Hello there " * 40}])
        estimated = await raw.parse()
        assert raw.headers["x-routecar-token-count"] == "estimated"
        assert 100 < estimated.input_tokens < 160
        assert len([s for s in recorder.seen if s.path == "/v1/messages/count_tokens"]) == 1

        with pytest.raises(anthropic.NotFoundError):
            await client.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.count_tokens(model="claude", messages=[])


async def test_count_tokens_falls_back_to_an_estimate_when_anthropic_is_down(recorder, sidecar_factory):
    yaml = config(recorder).replace(f"base_url: '{recorder.url}', api_key: sk-ant-provider",
                                    "base_url: 'http://127.0.0.1:9', api_key: sk-ant-provider")
    sc = await sidecar_factory(yaml)
    async with aiohttp.ClientSession() as http:
        body = {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(sc.data_url + "/v1/messages/count_tokens", json=body) as resp:
            assert resp.status == 200 and resp.headers["x-routecar-token-count"] == "estimated"
            assert (await resp.json())["input_tokens"] > 0


async def test_model_field_rule(recorder, sidecar_factory):
    """The answer's `model` is the slug asked for, or for a route the slug that answered; the
    upstream's own name is in x-routecar-upstream-model. Same on every endpoint."""
    sc = await sidecar_factory(config(recorder))
    msgs = [{"role": "user", "content": "hi"}]
    async with openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="x", max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(model="gpt", messages=msgs)
        assert raw.parse().model == "gpt" and raw.headers["x-routecar-upstream-model"] == "up-1"
        raw = await client.chat.completions.with_raw_response.create(model="chatty", messages=msgs)
        assert raw.parse().model == "gpt" and raw.headers["x-routecar-model"] == "gpt"
        raw = await client.chat.completions.with_raw_response.create(model="claude", messages=msgs)
        assert raw.parse().model == "claude" and raw.headers["x-routecar-upstream-model"] == "up-0"
    async with anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="x", max_retries=0) as client:
        raw = await client.messages.with_raw_response.create(model="chatty", max_tokens=16, messages=msgs)
        assert (await raw.parse()).model == "gpt"
        assert raw.headers["x-routecar-upstream-model"] == "up-1"
