"""Chaos matrix: one faulty and one healthy deployment; the app must see no failures.

Each case asserts what the app saw, which provider got the traffic (counted at the fake
providers themselves) and, where it applies, that traffic returns after healing.
"""

from __future__ import annotations

import socket

import aiohttp
import openai
import pytest

from tests.clocked import clocked_sidecar
from tests.conftest import one_model_yaml
from tests.helpers import route_rows

SEED = 20261204
MAX_OPEN_FOR_S = 1.0  # BREAKER's max_open_for
FAST = "{connect: 500ms, first_token: 400ms, idle: 400ms, total: 5s}"
BREAKER = ("resilience:\n  retry: {max_attempts: 3, backoff: {base: 10ms, max: 20ms}, budget: {ratio: 1.0, min_per_second: 100}}\n"
           "  circuit_breaker: {window: 10s, min_requests: 3, failure_rate: 0.5, consecutive_failures: 3, "
           "open_for: 300ms, max_open_for: 1s, half_open_probes: 1}\n")


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def chat(sc, stream: bool = False, n: int = 10) -> list[tuple[int, str]]:
    out = []
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}], "stream": stream}
            async with http.post(sc.data_url + "/v1/chat/completions", json=body) as resp:
                text = await resp.text()
                if stream and resp.status == 200:
                    assert text.rstrip().endswith("data: [DONE]"), text[-200:]
                    assert '"error"' not in text
                out.append((resp.status, resp.headers.get("x-routecar-provider", "")))
    return out


def two_yaml(bad_url: str, good_url: str) -> str:
    """Model `m` on the faulty deployment p0 (weight 1000) and the healthy p1."""
    return one_model_yaml(bad_url, good_url, timeouts=FAST, extra=BREAKER).replace(
        "{provider: p0, model: up-0}", "{provider: p0, model: up-0, weight: 1000}")


def ordered_yaml(bad_url: str, good_url: str) -> str:
    """Route `chain`: model `m` on the faulty p0 first, always; then `m1` on the healthy p1.
    (For cases where the healthy deployment must never be the first pick, not even 1 in 1001.)"""
    return one_model_yaml(bad_url, good_url, timeouts=FAST, extra=BREAKER).replace(
        "      - {provider: p1, model: up-1}\n",
        "  m1:\n    price: {input: 1.0, output: 2.0}\n    deployments: [{provider: p1, model: up-1}]\n"
    ) + "routes:\n  chain: {strategy: ordered, candidates: [m, m1]}\n"


async def two(fake_factory, sidecar_factory, faults, stream=False, refuse=False, **fake_kwargs):
    bad = await fake_factory("bad", **fake_kwargs)
    good = await fake_factory("good", **fake_kwargs)
    if faults:
        bad.set_faults(faults)
    bad_url = f"http://127.0.0.1:{unused_port()}/v1" if refuse else bad.openai_base
    sc = await sidecar_factory(two_yaml(bad_url, good.openai_base))
    return sc, bad, good


CASES = {
    "connection refused": ({}, dict(refuse=True)),
    "5xx storm": ({"status": 503}, {}),
    "500": ({"status": 500}, {}),
    "429 with Retry-After": ({"status": 429, "retry_after": 30}, {}),
    "429 without Retry-After": ({"status": 429}, {}),
    "hang": ({"hang": True}, {}),
    "malformed body": ({"malformed": True}, {}),
    "html error page": ({"html_error": True}, {}),
}


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("case", list(CASES))
async def test_app_sees_no_failure(fake_factory, sidecar_factory, case, stream):
    faults, kw = CASES[case]
    sc, bad, good = await two(fake_factory, sidecar_factory, faults, **kw)
    results = await chat(sc, stream=stream, n=8)
    assert [s for s, _ in results] == [200] * 8
    assert {p for _, p in results} == {"p1"}
    # the faulty deployment is not hammered: breakers/cooldowns stop traffic to it
    assert bad.stats()["requests"] <= 4, bad.stats()
    rows = await route_rows(sc, 8)
    assert all(r["outcome"] == "ok" for r in rows)
    assert any(r["attempts"] >= 2 and r["attempt_log"][0]["provider"] == "p0" for r in rows) or kw.get("refuse")


@pytest.mark.parametrize("faults", [
    {"first_token_delay_ms": 2000},
    {"empty_preamble_then_fail": True},
    {"disconnect_after_chunks": 0},
    {"stall_after_chunks": 0},
], ids=["slow first token", "preamble then fail", "cut before content", "stall before content"])
async def test_stream_failures_before_first_byte_fail_over(fake_factory, sidecar_factory, faults):
    sc, bad, good = await two(fake_factory, sidecar_factory, faults)
    results = await chat(sc, stream=True, n=4)
    assert results == [(200, "p1")] * 4


async def cut_after_first_byte(fake_factory, sidecar_factory, faults):
    bad, good = await fake_factory("bad", chunks=6), await fake_factory("good", chunks=6)
    bad.set_faults(faults)
    return await sidecar_factory(ordered_yaml(bad.openai_base, good.openai_base))


async def test_stream_broken_after_first_byte_ends_with_error_event(fake_factory, sidecar_factory):
    sc = await cut_after_first_byte(fake_factory, sidecar_factory, {"disconnect_after_chunks": 2})
    client = openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="x", max_retries=0)
    stream = await client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "x"}],
                                                  stream=True, extra_headers={"x-routecar-request-id": "cut"})
    got = []
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert got, "content before the cut reached the app"
    rows = await route_rows(sc, 1)
    assert rows[0]["outcome"] == "stream_broken" and rows[0]["request_id"] == "cut"
    assert [a["provider"] for a in rows[0]["attempt_log"]] == ["p0"]  # cut after content: never failed over


async def test_stall_after_first_byte_ends_with_error_event(fake_factory, sidecar_factory):
    sc = await cut_after_first_byte(fake_factory, sidecar_factory, {"stall_after_chunks": 2})
    async with aiohttp.ClientSession() as http:
        body = {"model": "chain", "messages": [{"role": "user", "content": "x"}], "stream": True}
        async with http.post(sc.data_url + "/v1/chat/completions", json=body) as resp:
            text = await resp.text()
    assert resp.status == 200
    assert '"error"' in text and "[DONE]" not in text


async def test_recovery_after_healing(fake_factory, tmp_path):
    """On a manual clock: the open period passes when the test says so, not after sleeps."""
    bad, good = await fake_factory("bad"), await fake_factory("good")
    bad.set_faults({"status": 503})
    async with clocked_sidecar(two_yaml(bad.openai_base, good.openai_base), tmp_path, seed=SEED) as sc:
        await chat(sc, n=6)
        assert sc.runtime.health.view("p0/up-0").state == "open"
        bad.clear_faults()
        assert {p for _, p in await chat(sc, n=3)} == {"p1"}  # still open: the healthy one serves
        sc.clock.advance(MAX_OPEN_FOR_S)  # past the open period, however many trips grew it
        results = await chat(sc, n=5)  # the first is the half-open probe; it succeeds and closes
        assert {p for _, p in results} == {"p0"}
        assert sc.runtime.health.view("p0/up-0").state == "closed"


async def test_429_storm_moves_traffic_without_hammering(fake_factory, sidecar_factory):
    sc, bad, good = await two(fake_factory, sidecar_factory, {"status": 429, "retry_after": 30})
    results = await chat(sc, n=20)
    assert all(s == 200 for s, _ in results)
    assert bad.stats()["requests"] == 1, "one 429 cools the deployment until its reset"


async def test_weighted_split_three_to_one(fake_factory, sidecar_factory):
    a = await fake_factory("a")
    b = await fake_factory("b")
    yaml = one_model_yaml(a.openai_base, b.openai_base).replace(
        "{provider: p0, model: up-0}", "{provider: p0, model: up-0, weight: 3}")
    sc = await sidecar_factory(yaml)
    n = 400
    results = await chat(sc, n=n)
    share = sum(1 for _, p in results if p == "p0") / n
    # binomial(400, 0.75): sd ≈ 0.022; ±0.08 is > 3.5 sd
    assert 0.67 <= share <= 0.83, share
