"""A stream attempt over AWS event-stream framing (Bedrock) takes the same path as SSE: the first
content chunk opens it, first-token and idle deadlines fire, an oversized frame is malformed.
Against a real local server writing real frames; stalls wait on an event the test releases."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from aiohttp import web

from routecar.config.model import ProviderConfig, Timeouts
from routecar.dispatch.attempt import OpenedStream, StreamBroken, open_stream
from routecar.dispatch.values import AttemptFailure
from routecar.http1 import DeadlineTicker, Pool
from routecar.providers.base import ChatCall, Translation
from routecar.providers.bedrock import BedrockAdapter
from tests.providers.eventstream_frames import CONVERSE_STREAM, event

ADAPTER = BedrockAdapter()
START = event("messageStart", {"role": "assistant"})
TEXT = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
BIG = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x" * 8000}})
SCRIPTS = {
    "whole": CONVERSE_STREAM,
    "stall_before_content": [START],
    "stall_after_content": [START, TEXT],
    "too_big": [START, BIG],
}
FAST = Timeouts(connect=2.0, first_token=0.3, idle=0.3, total=10.0)


class Upstream:
    def __init__(self) -> None:
        self.url = ""
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            script = request.match_info["script"]
            resp = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
            await resp.prepare(request)
            for frame in SCRIPTS[script]:
                await resp.write(frame)
            if script.startswith("stall"):
                await self.release.wait()  # released at teardown
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_post("/model/{script}/converse-stream", handle)
        return app


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    runner = web.AppRunner(up.app(), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield up
    up.release.set()
    await runner.cleanup()


async def attempt(up: Upstream, script: str, max_event: int = 1 << 20) -> OpenedStream | AttemptFailure:
    provider = ProviderConfig(name="b", type="bedrock", base_url=up.url, region="us-east-1")
    wire = ADAPTER.chat_request(ChatCall(provider, script, {"messages": [{"role": "user", "content": "x"}]}, True),
                                Translation())
    loop = asyncio.get_running_loop()
    pool = Pool(up.url, max_connections=2)
    try:
        result = await open_stream(pool, wire, ADAPTER, script, FAST, loop.time() + 10, max_event,
                                   DeadlineTicker(loop))
        if isinstance(result, OpenedStream):
            rest = []
            try:
                async for chunk in result.rest():
                    rest.append(chunk)
            except StreamBroken as exc:
                return AttemptFailure(exc.kind, detail="after open")
            result.head.extend(rest)
        return result
    finally:
        await pool.close()


async def test_a_whole_stream_opens_on_content_and_ends_with_usage(upstream: Upstream) -> None:
    result = await attempt(upstream, "whole")
    assert isinstance(result, OpenedStream)
    texts = [c.data["choices"][0]["delta"].get("content") for c in result.head if c.data["choices"]]
    assert "".join(t or "" for t in texts) == "Hello there"
    assert result.head[-1].usage["completion_tokens"] == 3 and result.decoder.done


async def test_no_content_in_time_is_a_first_token_timeout(upstream: Upstream) -> None:
    result = await attempt(upstream, "stall_before_content")
    assert isinstance(result, AttemptFailure) and result.kind == "first_token_timeout"


async def test_silence_after_content_is_an_idle_timeout(upstream: Upstream) -> None:
    result = await attempt(upstream, "stall_after_content")
    assert isinstance(result, AttemptFailure) and (result.kind, result.detail) == ("idle_timeout", "after open")


async def test_a_frame_over_max_event_bytes_is_malformed(upstream: Upstream) -> None:
    result = await attempt(upstream, "too_big", max_event=4096)
    assert isinstance(result, AttemptFailure) and result.kind == "malformed"
