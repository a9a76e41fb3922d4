"""Errors across protocols, seen through the real SDKs: `/v1/messages` error shapes, Anthropic's
529 failing over, parameters a provider cannot take, and streams that break mid-answer."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import one_model_yaml
from tests.helpers import route_rows

ASK = [{"role": "user", "content": "hello there"}]


def oai(sc: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app-key", max_retries=0)


def ant(sc: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="x", max_retries=0)


def anthropic_error(exc: anthropic.APIError, etype: str) -> str:
    """Assert the body is Anthropic's error object of type `etype`; return its message."""
    body = exc.body
    assert isinstance(body, dict) and body["type"] == "error" and set(body) == {"type", "error"}
    assert body["error"]["type"] == etype
    return body["error"]["message"]


async def test_messages_invalid_body_is_400_in_anthropic_shape(fake_factory, sidecar_factory):
    fp = await fake_factory("up")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    async with ant(sc) as a:
        with pytest.raises(anthropic.BadRequestError) as info:
            await a.messages.create(model="m", max_tokens=0, messages=ASK)
        assert "max_tokens" in anthropic_error(info.value, "invalid_request_error")
        with pytest.raises(anthropic.BadRequestError) as info:
            await a.messages.create(model="m", max_tokens=10, messages=[{"role": "system", "content": "x"}])
        assert "messages.0.role" in anthropic_error(info.value, "invalid_request_error")
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages", data=b"{not json",
                             headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400
            body = await resp.json()
            assert resp.headers["x-routecar-request-id"]
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert fp.requests == 0
    rows = await route_rows(sc, 3)
    assert all(r["endpoint"] == "messages" and r["status"] == 400 and r["outcome"] == "bad_request" for r in rows)


async def test_messages_upstream_400_keeps_status_and_provider_message(fake_factory, sidecar_factory):
    fp = await fake_factory("up", faults={"status": 400, "message": "messages: tool ids must be unique"})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, fp.openai_base))
    async with ant(sc) as a:
        with pytest.raises(anthropic.BadRequestError) as info:
            await a.messages.create(model="m", max_tokens=10, messages=ASK)
    assert "tool ids must be unique" in anthropic_error(info.value, "invalid_request_error")
    assert fp.requests == 1, "a 400 would fail everywhere: no failover"


async def test_messages_unknown_model_is_404(fake_factory, sidecar_factory):
    fp = await fake_factory("up")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    async with ant(sc) as a:
        with pytest.raises(anthropic.NotFoundError) as info:
            await a.messages.create(model="mm", max_tokens=10, messages=ASK)
    assert "Did you mean: m" in anthropic_error(info.value, "not_found_error"), "the message names the closest model"
    assert fp.requests == 0


async def test_messages_upstream_429_is_429_with_retry_after(fake_factory, sidecar_factory):
    fp = await fake_factory("up", faults={"status": 429, "retry_after": 7})
    sc = await sidecar_factory(one_model_yaml(fp.url, provider_type="anthropic"))
    async with ant(sc) as a:
        with pytest.raises(anthropic.RateLimitError) as info:
            await a.messages.create(model="m", max_tokens=10, messages=ASK)
    anthropic_error(info.value, "rate_limit_error")
    assert info.value.response.headers["retry-after"] == "7"
    rows = await route_rows(sc, 1)
    assert rows[0]["status"] == 429 and rows[0]["outcome"] == "rate_limited"


async def test_messages_every_upstream_failing_then_circuits_open(fake_factory, sidecar_factory):
    a_fp = await fake_factory("a", faults={"status": 529})
    b_fp = await fake_factory("b", faults={"status": 500})
    breaker = "resilience:\n  circuit_breaker: {consecutive_failures: 1, min_requests: 1, open_for: 30s}"
    sc = await sidecar_factory(one_model_yaml(a_fp.url, b_fp.url, provider_type="anthropic", extra=breaker))
    async with ant(sc) as a:
        with pytest.raises(anthropic.InternalServerError) as info:
            await a.messages.create(model="m", max_tokens=10, messages=ASK)
        assert info.value.status_code == 502
        message = anthropic_error(info.value, "api_error")
        assert "p0 up-0: HTTP 529" in message and "p1 up-1: HTTP 500" in message, message
        # Both circuits are open now: one probe (panic mode) fails, and the answer is 503 overloaded.
        with pytest.raises(anthropic.ServiceUnavailableError) as info:
            await a.messages.create(model="m", max_tokens=10, messages=ASK)
    anthropic_error(info.value, "overloaded_error")
    assert int(info.value.response.headers["retry-after"]) >= 1
    rows = await route_rows(sc, 2)
    assert [(r["status"], r["outcome"]) for r in rows] == [(502, "upstream_error"), (503, "circuit_open")]


async def two_deployments_one_fake(fake_factory: Any, sidecar_factory: Any, fault: dict[str, Any],
                                   **fake_kw: Any) -> tuple[Any, Any]:
    """Deployments p0 and p1 of model `m` on one fake whose first answer (either one's, as the
    order is weighted random) is `fault`, so every request fails over exactly once."""
    fp = await fake_factory("up", faults={**fault, "count": 1}, **fake_kw)
    return fp, await sidecar_factory(one_model_yaml(fp.url, fp.url, provider_type="anthropic"))


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_529_fails_over_to_second_deployment(fake_factory, sidecar_factory, stream):
    fp, sc = await two_deployments_one_fake(fake_factory, sidecar_factory, {"status": 529})
    async with ant(sc) as a:
        if stream:
            async with a.messages.stream(model="m", max_tokens=64, messages=ASK) as s:
                message = await s.get_final_message()
                headers = s.response.headers
        else:
            raw = await a.messages.with_raw_response.create(model="m", max_tokens=64, messages=ASK)
            message, headers = await raw.parse(), raw.headers
    assert message.content[0].text.startswith("Fake answer from up:")
    assert headers["x-routecar-attempts"] == "2"
    row = (await route_rows(sc, 1))[0]
    assert fp.stats()["by_status"] == {"529": 1, "200": 1}
    (p_first, s_first), (p_ok, s_ok) = [(x["provider"], x["status"]) for x in row["attempt_log"]]
    assert (s_first, s_ok) == (529, 200) and p_first != p_ok
    assert headers["x-routecar-provider"] == p_ok == row["provider"] and row["outcome"] == "ok"
    assert row["upstream_model"] == "up-" + p_ok[1:] and row["fallback"] == 0
    assert row["prompt_tokens"] == message.usage.input_tokens and row["cost_usd"] > 0


async def test_overloaded_event_before_content_fails_over(fake_factory, sidecar_factory):
    """An Anthropic stream that opens, then sends `error: overloaded_error` before any content."""
    fp, sc = await two_deployments_one_fake(fake_factory, sidecar_factory, {"empty_preamble_then_fail": True},
                                            chunks=4)
    async with oai(sc) as c:
        stream = await c.chat.completions.create(model="m", messages=ASK, stream=True)
        chunks = [ch async for ch in stream]
    roles = [ch.choices[0].delta.role for ch in chunks if ch.choices and ch.choices[0].delta.role]
    assert roles == ["assistant"], "nothing of the failed attempt may leak"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices).startswith("Fake answer")
    row = (await route_rows(sc, 1))[0]
    assert row["attempts"] == 2 and row["outcome"] == "ok" and row["attempt_log"][0]["error"] == "stream_broken"


@pytest.mark.parametrize("ptype", ["anthropic", "gemini"])
async def test_unsupported_param_is_400_naming_it(fake_factory, sidecar_factory, ptype):
    fp = await fake_factory("up")
    sc = await sidecar_factory(one_model_yaml(fp.url, provider_type=ptype))
    async with oai(sc) as c:
        with pytest.raises(openai.BadRequestError) as info:
            await c.chat.completions.create(model="m", messages=ASK, logprobs=True)
        # SDK defaults that change nothing (n=1, logprobs=False) are accepted as they are.
        fine = await c.chat.completions.create(model="m", messages=ASK, n=1, logprobs=False)
    err = info.value.body
    assert err["param"] == "logprobs" and err["code"] == "unsupported_parameter" and "logprobs" in err["message"]
    assert fine.choices[0].message.content
    assert fp.requests == 1, "the refused request never reached the upstream"
    rows = await route_rows(sc, 2)
    assert (rows[0]["status"], rows[0]["outcome"]) == (400, "bad_request")


@pytest.mark.parametrize("ptype", ["anthropic", "gemini"])
async def test_drop_unsupported_params(fake_factory, sidecar_factory, ptype):
    fp = await fake_factory("up")
    yaml = one_model_yaml(fp.url, provider_type=ptype).replace(
        "api_key: 'sk-test-0'", "api_key: 'sk-test-0', drop_unsupported_params: true")
    sc = await sidecar_factory(yaml)
    async with oai(sc) as c:
        raw = await c.chat.completions.with_raw_response.create(model="m", messages=ASK, logprobs=True, top_logprobs=2)
        streamed = await c.chat.completions.with_raw_response.create(model="m", messages=ASK, logprobs=True,
                                                                      stream=True)
        chunks = [ch async for ch in streamed.parse()]
    assert raw.status_code == 200 and raw.parse().choices[0].message.content
    assert raw.headers["x-routecar-dropped-params"] == "logprobs,top_logprobs"
    assert streamed.headers["x-routecar-dropped-params"] == "logprobs"
    assert any(ch.choices and ch.choices[0].delta.content for ch in chunks)


async def test_unsupported_param_skips_to_a_candidate_that_takes_it(fake_factory, sidecar_factory):
    fp = await fake_factory("up")
    sc = await sidecar_factory(f"""
providers:
  ant: {{type: anthropic, base_url: '{fp.url}', api_key: k}}
  oai: {{type: openai, base_url: '{fp.openai_base}', api_key: k}}
models:
  claude: {{price: {{input: 1, output: 2}}, deployments: [{{provider: ant, model: claude-up}}]}}
  gpt: {{price: {{input: 1, output: 2}}, deployments: [{{provider: oai, model: gpt-up}}]}}
routes:
  r: {{strategy: ordered, candidates: [claude, gpt]}}
route_log: {{path: "${{DB}}"}}
""")
    async with oai(sc) as c:
        raw = await c.chat.completions.with_raw_response.create(model="r", messages=ASK, logprobs=True)
    assert raw.headers["x-routecar-provider"] == "oai"
    assert raw.parse().choices[0].message.content


@pytest.mark.parametrize("ptype", ["anthropic", "gemini"])
async def test_broken_stream_reaches_openai_sdk_as_error(fake_factory, sidecar_factory, ptype):
    fp = await fake_factory("up", chunks=6, faults={"disconnect_after_chunks": 2})
    sc = await sidecar_factory(one_model_yaml(fp.url, provider_type=ptype))
    seen = []
    async with oai(sc) as c:
        stream = await c.chat.completions.create(model="m", messages=ASK, stream=True)
        with pytest.raises(openai.APIError) as info:
            async for ch in stream:
                seen.extend(choice.delta.content for choice in ch.choices if choice.delta.content)
    assert len(seen) == 2, "the content sent before the break reached the app"
    assert "incomplete" in info.value.message
    row = (await route_rows(sc, 1))[0]
    assert row["outcome"] == "stream_broken" and row["status"] == 200 and row["provider"] == "p0"


async def test_broken_anthropic_stream_is_error_event_on_messages(fake_factory, sidecar_factory):
    fp = await fake_factory("up", chunks=6, faults={"disconnect_after_chunks": 2})
    sc = await sidecar_factory(one_model_yaml(fp.url, provider_type="anthropic"))
    kinds, texts = [], []
    async with ant(sc) as a:
        with pytest.raises(anthropic.APIStatusError) as info:
            async with a.messages.stream(model="m", max_tokens=64, messages=ASK) as s:
                async for event in s:
                    kinds.append(event.type)
                    if event.type == "text":
                        texts.append(event.text)
    assert kinds[0] == "message_start" and "message_stop" not in kinds
    assert len(texts) == 2
    assert "incomplete" in anthropic_error(info.value, "api_error")
    row = (await route_rows(sc, 1))[0]
    assert row["outcome"] == "stream_broken" and row["endpoint"] == "messages"
