"""SIGTERM on a real `routecar serve`: readiness, refusal, in-flight answers, open streams, rows."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.helpers import read_rows

from .conftest import sidecar_yaml

CHAT = [{"role": "user", "content": "tell me a story"}]
STREAM_TIMEOUT_S = 20.0


async def open_chat_stream(session: aiohttp.ClientSession, url: str, model: str) -> aiohttp.ClientResponse:
    resp = await session.post(url + "/v1/chat/completions", json={"model": model, "messages": CHAT, "stream": True})
    assert resp.status == 200, await resp.text()
    return resp


async def open_messages_stream(session: aiohttp.ClientSession, url: str, model: str) -> aiohttp.ClientResponse:
    body = {"model": model, "max_tokens": 200, "messages": CHAT, "stream": True}
    resp = await session.post(url + "/v1/messages", json=body)
    assert resp.status == 200, await resp.text()
    return resp


async def read_until(resp: aiohttp.ClientResponse, needle: bytes) -> list[bytes]:
    """SSE lines up to and including the first one containing `needle`."""
    lines = []
    async with asyncio.timeout(STREAM_TIMEOUT_S):
        async for raw in resp.content:
            lines.append(raw.strip())
            if needle in raw:
                return lines
    raise AssertionError(f"stream ended before {needle!r}: {lines[-5:]}")


async def read_rest(resp: aiohttp.ClientResponse) -> list[bytes]:
    async with asyncio.timeout(STREAM_TIMEOUT_S):
        return [raw.strip() async for raw in resp.content if raw.strip()]


def data_events(lines: list[bytes]) -> list[Any]:
    out = []
    for line in lines:
        if line.startswith(b"data: "):
            payload = line[6:]
            out.append(payload.decode() if payload == b"[DONE]" else orjson.loads(payload))
    return out


async def test_slow_stream_in_flight_finishes_within_the_drain_budget(tmp_path: Path, fake_factory, spawn):
    slow = await fake_factory("slow", chunks=6, chunk_delay_ms=150)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "10s", {"slow": slow.openai_base}))
    sp = await spawn(cfg)
    async with aiohttp.ClientSession() as session:
        resp = await open_chat_stream(session, sp.data_url, "slow")
        head = await read_until(resp, b'"content"')
        sp.send(signal.SIGTERM)
        rest = await read_rest(resp)
    events = data_events(head + rest)
    assert events[-1] == "[DONE]", rest[-3:]
    assert not any(isinstance(e, dict) and "error" in e for e in events)
    assert await sp.wait() == 0, sp.output()
    rows = read_rows(str(db))
    assert [(r["outcome"], r["status"], r["stream"]) for r in rows] == [("ok", 200, 1)]


async def test_streams_still_open_when_the_budget_ends_get_the_error_event(tmp_path: Path, fake_factory, spawn):
    glacial = await fake_factory("glacial", chunks=200, chunk_delay_ms=100)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "300ms", {"glacial": glacial.openai_base}))
    sp = await spawn(cfg)
    async with aiohttp.ClientSession() as session:
        openai_resp = await open_chat_stream(session, sp.data_url, "glacial")
        anthropic_resp = await open_messages_stream(session, sp.data_url, "glacial")
        openai_head = await read_until(openai_resp, b'"content"')
        await read_until(anthropic_resp, b"content_block_delta")
        sp.send(signal.SIGTERM)
        openai_rest, anthropic_rest = await asyncio.gather(read_rest(openai_resp), read_rest(anthropic_resp))
    assert await sp.wait() == 0, sp.output()

    events = data_events(openai_head + openai_rest)
    assert "[DONE]" not in events, "a cut answer must never end cleanly"
    assert "error" in events[-1] and "shutting down" in events[-1]["error"]["message"]
    assert anthropic_rest[-2] == b"event: error"
    last = orjson.loads(anthropic_rest[-1][len(b"data: "):])
    assert last["type"] == "error" and "shutting down" in last["error"]["message"]
    assert b"event: message_stop" not in anthropic_rest

    rows = read_rows(str(db))
    assert sorted(r["endpoint"] for r in rows) == ["chat", "messages"]
    for row in rows:
        assert row["outcome"] == "stream_broken" and row["status"] == 200
        assert "shut down" in row["error_message"]
        assert row["attempt_log"][-1]["error"] == "sidecar_shutdown"


async def test_readyz_is_503_and_new_connections_are_refused_while_draining(tmp_path: Path, fake_factory, spawn):
    glacial = await fake_factory("glacial", chunks=200, chunk_delay_ms=100)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "30s", {"glacial": glacial.openai_base}))
    sp = await spawn(cfg)
    async with aiohttp.ClientSession() as session:
        async with session.get(sp.admin_url + "/readyz") as ready:
            assert ready.status == 200
        resp = await open_chat_stream(session, sp.data_url, "glacial")
        await read_until(resp, b'"content"')  # this stream holds the drain open
        sp.send(signal.SIGTERM)
        status, body = 200, {}
        for _ in range(200):  # bounded: the signal lands within a few polls
            async with session.get(sp.admin_url + "/readyz") as ready:
                status, body = ready.status, await ready.json()
            if status == 503:
                break
            await asyncio.sleep(0.02)
        assert status == 503 and "draining" in body["problems"]
        async with aiohttp.ClientSession() as fresh:  # a new connection, not a pooled one
            try:
                await fresh.get(sp.data_url + "/v1/models")
                raise AssertionError("the data plane accepted a new connection while draining")
            except aiohttp.ClientConnectorError:
                pass
        sp.send(signal.SIGTERM)  # a second signal cuts the drain short
        rest = await read_rest(resp)
    assert "error" in data_events(rest)[-1]
    assert await sp.wait() == 0, sp.output()
    assert [r["outcome"] for r in read_rows(str(db))] == ["stream_broken"]


async def test_sigterm_under_load_loses_no_row(tmp_path: Path, fake_factory, spawn):
    fast = await fake_factory("fast", latency_ms=30)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "10s", {"fast": fast.openai_base}))
    sp = await spawn(cfg)
    statuses: list[int] = []
    failures: list[tuple[bool, str]] = []  # (after SIGTERM?, error)
    ok_after_term = 0
    termed = asyncio.Event()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok_after_term
        for _ in range(300):  # bounded; a worker stops at its first refused connection after SIGTERM
            try:
                async with session.post(sp.data_url + "/v1/chat/completions",
                                        json={"model": "fast", "messages": CHAT}) as resp:
                    await resp.read()
                    statuses.append(resp.status)
                    if termed.is_set() and resp.status == 200:
                        ok_after_term += 1
            except aiohttp.ClientConnectionError as exc:
                failures.append((termed.is_set(), type(exc).__name__))
                if termed.is_set():
                    return

    async def terminate_mid_flight() -> None:
        # SIGTERM while requests are inside the upstream for sure: the workers move in waves
        # (same upstream latency), so a trigger on the 40th answer could fall between waves.
        for _ in range(20_000):  # bounded: ~20 s of 1 ms polls
            if len(statuses) >= 40 and fast.stats()["in_flight"] >= 2:
                break
            await asyncio.sleep(0.001)
        termed.set()
        sp.send(signal.SIGTERM)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
        await asyncio.gather(terminate_mid_flight(), *(worker(session) for _ in range(8)))
    assert termed.is_set()
    assert await sp.wait() == 0, sp.output()
    assert not [f for f in failures if not f[0]], failures
    assert set(statuses) <= {200, 503}, statuses
    assert ok_after_term >= 1, "requests in flight at SIGTERM must still be answered"
    rows = read_rows(str(db))
    assert len(rows) == len(statuses), (len(rows), len(statuses))
    assert sorted(r["status"] for r in rows) == sorted(statuses)
