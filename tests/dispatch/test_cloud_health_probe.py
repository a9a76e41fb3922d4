"""Active health checks of a cloud provider are authenticated like its requests: the probe is
signed (SigV4, verified for real by the local server's recorder) or answers "no credentials"."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from aiohttp import web

from routecar.config.model import ProviderConfig
from routecar.dispatch.health_probe import probe_provider
from routecar.health.checker import ProbeResult
from routecar.http1 import DeadlineTicker, Pool
from routecar.providers.aws_credentials import AwsCredentials
from routecar.providers.bedrock import BedrockAdapter
from routecar.providers.credentials import NoCredentials
from routecar.providers.base import UpstreamRequest
from tests.providers.sigv4_check import check_sigv4

SECRET = "probe-secret-key-0123456789"


@pytest.fixture
async def runtime_host() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.raw_path, {k.lower(): v for k, v in request.headers.items()}))
        return web.json_response({"asyncInvokeSummaries": []})

    app = web.Application()
    app.router.add_get("/async-invoke", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_the_bedrock_probe_is_signed(runtime_host) -> None:
    url, seen = runtime_host
    provider = ProviderConfig(name="br", type="bedrock", base_url=url, region="us-west-2",
                              aws_access_key_id="AKIDPROBE", aws_secret_access_key=SECRET)
    creds = AwsCredentials(provider)
    await creds.start()
    pool = Pool(url, max_connections=1)
    try:
        result = await probe_provider(pool, BedrockAdapter(), provider, 2.0,
                                      DeadlineTicker(asyncio.get_running_loop()), creds)
        assert result == ProbeResult(True, "HTTP 200")
        (path, headers), = seen
        assert path == "/async-invoke?maxResults=1"
        check_sigv4("GET", url + path, headers, b"", "AKIDPROBE", SECRET, "us-west-2")
    finally:
        await pool.close()
        await creds.close()


class _Never:
    identity = ("never",)

    def apply(self, wire: UpstreamRequest) -> None:
        raise NoCredentials("not yet")


async def test_a_probe_without_credentials_is_unhealthy_and_sends_nothing(runtime_host) -> None:
    url, seen = runtime_host
    provider = ProviderConfig(name="br", type="bedrock", base_url=url, region="us-west-2")
    pool = Pool(url, max_connections=1)
    try:
        result = await probe_provider(pool, BedrockAdapter(), provider, 2.0,
                                      DeadlineTicker(asyncio.get_running_loop()), _Never())  # type: ignore[arg-type]
        assert result == ProbeResult(False, "no credentials") and seen == []
    finally:
        await pool.close()
