"""Fault injection: statuses, headers, broken streams, hangs, scopes and runtime switching."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import openai
import pytest

from routecar.fake.faults import FaultSet, parse_faults
from routecar.fake.server import FakeProvider

USER = [{"role": "user", "content": "hello fault world"}]
CHAT = {"model": "m", "messages": USER}
STREAM = {**CHAT, "stream": True}


async def _wait_idle(fake: FakeProvider) -> None:
    """Poll (bounded) until the fake has finished every request it accepted."""
    for _ in range(500):
        if fake.stats()["in_flight"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fake still busy: {fake.stats()}")


async def _raw_stream(http: aiohttp.ClientSession, url: str, body: dict) -> tuple[list[str], BaseException | None]:
    """Data lines received before the stream ended, and how it ended."""
    lines: list[str] = []
    try:
        async with http.post(url, json=body) as resp:
            async for line in resp.content:
                text = line.decode().strip()
                if text.startswith("data: "):
                    lines.append(text[6:])
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, asyncio.TimeoutError) as exc:
        return lines, exc
    return lines, None


async def test_rate_limit_status_and_headers(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"status": 429, "retry_after": 2, "retry_after_ms": 1500, "ratelimit_headers": True})
    with pytest.raises(openai.RateLimitError) as err:
        await oai.chat.completions.create(**CHAT)
    headers = err.value.response.headers
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "1500"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "2s"
    assert err.value.body["code"] == "rate_limit_exceeded"
    assert fake.stats()["by_status"] == {"429": 1}


async def test_remaining_headroom_on_success(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"remaining_requests": 3, "remaining_tokens": 500})
    raw = await oai.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-ratelimit-remaining-requests"] == "3"
    assert raw.headers["x-ratelimit-remaining-tokens"] == "500"
    assert raw.parse().choices[0].message.content


@pytest.mark.parametrize("status,exc", [(500, openai.InternalServerError), (503, openai.InternalServerError),
                                        (401, openai.AuthenticationError), (404, openai.NotFoundError)])
async def test_any_status(oai: openai.AsyncOpenAI, fake: FakeProvider, status: int, exc: type) -> None:
    fake.set_faults({"status": status, "message": "custom words"})
    with pytest.raises(exc) as err:
        await oai.chat.completions.create(**CHAT)
    assert err.value.status_code == status and err.value.body["message"] == "custom words"


async def test_context_length_error(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"context_length_error": True})
    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(**CHAT)
    assert err.value.body["code"] == "context_length_exceeded"


async def test_html_error_page(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults({"html_error": True})
    async with http.post(fake.openai_base + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 502 and resp.content_type == "text/html"
        assert "502 Bad Gateway" in await resp.text()


async def test_malformed_bodies(oai: openai.AsyncOpenAI, fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults({"malformed": True})
    async with http.post(fake.openai_base + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        with pytest.raises(ValueError):
            json.loads(await resp.text())
    lines, ended = await _raw_stream(http, fake.openai_base + "/chat/completions", STREAM)
    assert ended is None and lines and "[DONE]" not in lines
    with pytest.raises(ValueError):
        [json.loads(line) for line in lines]
    with pytest.raises(Exception):
        stream = await oai.chat.completions.create(**STREAM)
        [c async for c in stream]


async def test_disconnect_mid_stream(oai: openai.AsyncOpenAI, fake: FakeProvider,
                                     http: aiohttp.ClientSession) -> None:
    fake.set_faults({"disconnect_after_chunks": 3})
    lines, ended = await _raw_stream(http, fake.openai_base + "/chat/completions", STREAM)
    assert isinstance(ended, aiohttp.ClientPayloadError)
    assert len(lines) == 1 + 3  # the role preamble, then three content chunks
    assert "[DONE]" not in lines and all('"finish_reason":null' in line for line in lines)
    received = []
    with pytest.raises(Exception):
        stream = await oai.chat.completions.create(**STREAM)
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 4


async def test_hang_until_client_gives_up(fake: FakeProvider) -> None:
    fake.set_faults({"hang": True})
    client = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(**CHAT)
    await client.close()
    await _wait_idle(fake)
    assert fake.stats()["by_status"] == {"499": 1}


async def test_stall_keeps_connection_open(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults({"stall_after_chunks": 2})
    timeout = aiohttp.ClientTimeout(sock_read=0.2)
    lines: list[str] = []
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(fake.openai_base + "/chat/completions", json=STREAM, timeout=timeout) as resp:
            async for line in resp.content:
                if line.startswith(b"data: "):
                    lines.append(line.decode())
    assert len(lines) == 3
    await _wait_idle(fake)


async def test_empty_preamble_then_fail(oai: openai.AsyncOpenAI, fake: FakeProvider,
                                        http: aiohttp.ClientSession) -> None:
    fake.set_faults({"empty_preamble_then_fail": True})
    lines, _ = await _raw_stream(http, fake.openai_base + "/chat/completions", STREAM)
    assert json.loads(lines[0])["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert "error" in json.loads(lines[1]) and len(lines) == 2
    with pytest.raises(openai.APIError):
        stream = await oai.chat.completions.create(**STREAM)
        [c async for c in stream]
    fake.set_faults({"empty_preamble_then_fail": "close"})
    lines, ended = await _raw_stream(http, fake.openai_base + "/chat/completions", STREAM)
    assert len(lines) == 1 and isinstance(ended, aiohttp.ClientPayloadError)


async def test_delays_keep_the_answer_intact(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"latency_ms": 5, "first_token_delay_ms": 5, "chunk_delay_ms": 1})
    stream = await oai.chat.completions.create(**STREAM)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    fake.clear_faults()
    whole = await oai.chat.completions.create(**CHAT)
    assert text == whole.choices[0].message.content


async def test_count_scope(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"status": 503, "count": 2})
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await oai.chat.completions.create(**CHAT)
    assert (await oai.chat.completions.create(**CHAT)).choices
    assert fake.faults() == []
    assert fake.stats()["by_status"] == {"503": 2, "200": 1}


async def test_rate_scope_is_seeded() -> None:
    def outcomes(seed: int) -> list[bool]:
        faults = FaultSet({"status": 500, "rate": 0.5, "seed": seed})
        return [faults.pick("openai", "/v1/chat/completions", "m") is not None for _ in range(40)]

    first = outcomes(7)
    assert first == outcomes(7)
    assert 5 < sum(first) < 35


async def test_rate_scope_over_http(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    fake.set_faults({"status": 503, "rate": 0.5, "seed": 3})
    results = []
    for _ in range(20):
        try:
            await oai.chat.completions.create(**CHAT)
            results.append(True)
        except openai.InternalServerError:
            results.append(False)
    assert any(results) and not all(results)


async def test_path_and_model_scopes(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults([{"status": 500, "paths": ["anthropic"]},
                     {"status": 429, "paths": ["/v1/embeddings"]},
                     {"status": 503, "models": ["bad-model"]}])
    async def status(path: str, body: dict) -> int:
        async with http.post(fake.url + path, json=body) as resp:
            return resp.status
    assert await status("/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER}) == 500
    assert await status("/v1/embeddings", {"model": "e", "input": "x"}) == 429
    assert await status("/v1/chat/completions", {"model": "bad-model", "messages": USER}) == 503
    assert await status("/v1/chat/completions", CHAT) == 200
    fake.set_faults({"status": 500, "paths": [":streamGenerateContent"]})
    gem = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert await status("/v1beta/models/g:generateContent", gem) == 200
    assert await status("/v1beta/models/g:streamGenerateContent?alt=sse", gem) == 500


async def test_control_api(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    async with http.post(fake.url + "/_fake/faults", json={"status": 503, "count": 1}) as resp:
        assert resp.status == 200
    async with http.get(fake.url + "/_fake/faults") as resp:
        assert (await resp.json())["faults"] == [{"status": 503, "count": 1}]
    async with http.post(fake.openai_base + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 503
    async with http.post(fake.openai_base + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
    async with http.get(fake.url + "/_fake/stats") as resp:
        stats = await resp.json()
    assert stats == {"requests": 2, "by_path": {"/v1/chat/completions": 2},
                     "by_status": {"503": 1, "200": 1}, "in_flight": 0}
    async with http.post(fake.url + "/_fake/faults", json={"statuss": 500}) as resp:
        assert resp.status == 400 and "statuss" in (await resp.json())["error"]
    async with http.post(fake.url + "/_fake/faults", json={"status": 500}) as resp:
        assert resp.status == 200
    async with http.post(fake.url + "/_fake/reset") as resp:
        assert resp.status == 200
    assert fake.faults() == [] and fake.requests == 0
    async with http.post(fake.openai_base + "/chat/completions", json=CHAT) as resp:
        assert resp.status == 200


def test_parse_faults_validation() -> None:
    assert parse_faults(None) == [] and parse_faults({}) == []
    assert len(parse_faults({"faults": [{"status": 500}, {"hang": True}]})) == 2
    for bad in ({"status": "500"}, {"rate": 2}, {"count": 0}, {"nope": 1}, {"status": 99},
                {"paths": [1]}, {"disconnect_after_chunks": True}, [1]):
        with pytest.raises(ValueError):
            parse_faults(bad)


def test_hostile_fault_validation() -> None:
    fault = parse_faults({"gzip_bomb": True, "gzip_bomb_after_chunks": 2, "trickle_ms": 5})[0]
    assert (fault.bomb_mib, fault.trickle_bytes, fault.cap_seconds) == (1024, 1, 600.0)
    assert parse_faults({"interim_flood": True})[0].interim_count == 1000
    assert parse_faults({"garbage": 10})[0].garbage_bytes == 10
    assert parse_faults({"hang": 30, "cap_s": 2})[0].hang_seconds == 2
    assert parse_faults({"endless_comments": True, "comment_interval_ms": 50})[0].to_dict() == {
        "endless_comments": True, "comment_interval_ms": 50}
    for bad in ({"gzip_bomb": 0}, {"gzip_bomb": 10**6}, {"gzip_bomb": 1.5}, {"interim_flood": 0},
                {"garbage": -1}, {"trickle_ms": 0}, {"trickle_ms": 5, "trickle_bytes": 0}, {"cap_s": 0},
                {"comment_interval_ms": 5}, {"gzip_bomb_after_chunks": 1}, {"trickle_bytes": 3},
                {"unterminated_event": True, "unterminated_after_chunks": -1},
                {"gzip_bomb": 1, "endless_comments": True}, {"endless_comments": "yes"}):
        with pytest.raises(ValueError):
            parse_faults(bad)
