"""Hedged first tokens and least-request balancing through a real `routecar serve` process.

Fake providers run in this process; which one answered is read from `x-routecar-provider`
and the route log, never from timing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from tests.helpers import read_rows
from tests.lifecycle.conftest import SidecarProcess

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def serve_yaml(slow_url: str, fast_url: str, db: Path, model_extra: str = "", resilience: str = "") -> str:
    timeouts = "{connect: 1s, first_token: 5s, idle: 5s, total: 10s}"
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  slow: {{type: openai, base_url: '{slow_url}/v1', api_key: sk-s, timeouts: {timeouts}}}
  fast: {{type: openai, base_url: '{fast_url}/v1', api_key: sk-f, timeouts: {timeouts}}}
models:
  m:
    price: {{input: 1.0, output: 2.0}}
    deployments:
      - {{provider: slow, model: up-slow, weight: 1000000}}
      - {{provider: fast, model: up-fast, weight: 1}}
{model_extra}
resilience:
  health_check: {{enabled: false}}
{resilience}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


async def rows(db: Path, expected: int) -> list[dict]:
    for _ in range(100):  # bounded: 5 s
        try:
            found = read_rows(str(db))
        except sqlite3.OperationalError:
            found = []
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {expected} route-log rows")


async def test_a_slow_deployment_is_hedged_unary_and_stream(fake_factory, tmp_path):
    slow, fast = await fake_factory("slow"), await fake_factory("fast")
    slow.set_faults({"latency_ms": 2000})
    cfg, db = tmp_path / "sidecar.yaml", tmp_path / "routes.db"
    cfg.write_text(serve_yaml(slow.url, fast.url, db, "    hedge: {after: 200ms}"))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            async with http.post(sidecar.data_url + "/v1/chat/completions", json=BODY) as resp:
                assert resp.status == 200 and resp.headers["x-routecar-provider"] == "fast"
                answer = await resp.json()
                assert len(answer["choices"]) == 1
            async with http.post(sidecar.data_url + "/v1/chat/completions", json={**BODY, "stream": True}) as resp:
                assert resp.status == 200 and resp.headers["x-routecar-provider"] == "fast"
                text = (await resp.read()).decode()
                assert text.count("data: [DONE]") == 1  # exactly one answer reached the app
        logged = await rows(db, 2)
        for row in logged:
            attempts = {a["provider"]: a for a in row["attempt_log"]}
            assert row["provider"] == "fast" and row["outcome"] == "ok"
            assert attempts["slow"]["lost"] and attempts["slow"]["error"] == "hedge_lost"
            assert attempts["slow"]["cost_estimated"] and attempts["slow"]["cost_usd"] > 0
            assert attempts["fast"]["hedge"] and attempts["fast"]["error"] is None
        assert slow.requests == 2 and fast.requests == 2
    finally:
        await sidecar.kill()


async def test_no_hedge_when_the_retry_budget_is_spent(fake_factory, tmp_path):
    slow, fast = await fake_factory("slow"), await fake_factory("fast")
    slow.set_faults({"latency_ms": 700})
    cfg, db = tmp_path / "sidecar.yaml", tmp_path / "routes.db"
    cfg.write_text(serve_yaml(slow.url, fast.url, db, "    hedge: {after: 100ms}",
                              "  retry: {budget: {ratio: 0, min_per_second: 0}}"))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            async with http.post(sidecar.data_url + "/v1/chat/completions", json=BODY) as resp:
                assert resp.status == 200 and resp.headers["x-routecar-provider"] == "slow"
        (row,) = await rows(db, 1)
        assert [(a["provider"], a.get("hedge", False)) for a in row["attempt_log"]] == [("slow", False)]
        assert fast.requests == 0
    finally:
        await sidecar.kill()


async def test_least_request_sends_most_traffic_to_the_fast_deployment(fake_factory, tmp_path):
    slow, fast = await fake_factory("slow"), await fake_factory("fast")
    slow.set_faults({"latency_ms": 1000})
    cfg, db = tmp_path / "sidecar.yaml", tmp_path / "routes.db"
    # Equal weights: only the in-flight counts tell the two apart.
    text = serve_yaml(slow.url, fast.url, db, "    balancing: least_request").replace(
        "weight: 1000000", "weight: 1")
    cfg.write_text(text)
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            async def one(i: int) -> str:
                await asyncio.sleep(i * 0.01)  # arrivals 10 ms apart: all 40 overlap the slow 1 s
                async with http.post(sidecar.data_url + "/v1/chat/completions", json=BODY) as resp:
                    assert resp.status == 200
                    return resp.headers["x-routecar-provider"]

            served = await asyncio.gather(*(one(i) for i in range(40)))
        # The slow one holds its requests for a second: its in-flight count grows, so the
        # power-of-two choice sends nearly everything else to the fast one (weighted: ~20).
        assert served.count("fast") >= 30, served
        assert slow.requests + fast.requests == 40
    finally:
        await sidecar.kill()
