"""The upstream client over TLS, as it talks to real providers: verification, SNI, keep-alive."""

from __future__ import annotations

import json
import ssl
from typing import AsyncIterator

import pytest
import trustme
from aiohttp import web

from routecar.http1 import ConnectError, Pool

from .conftest import PoolFactory


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[tuple[int, list[str]]]:
    peers: list[str] = []

    async def chat(request: web.Request) -> web.Response:
        peers.append(str(request.transport.get_extra_info("peername")[1]) if request.transport else "?")
        return web.json_response({"choices": [], "sni_ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    yield port, peers
    await runner.cleanup()


def _client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def test_https_answers_and_keeps_the_connection(tls_server: tuple[int, list[str]], ca: trustme.CA,
                                                      make_pool: PoolFactory) -> None:
    port, peers = tls_server
    pool = make_pool(f"https://localhost:{port}/v1", ssl_context=_client_ctx(ca))
    for _ in range(3):
        resp = await pool.request("POST", f"https://localhost:{port}/v1/chat/completions",
                                  {"Content-Type": "application/json"}, b"{}")
        assert resp.status == 200
        assert json.loads(await resp.read())["sni_ok"] is True
    assert len(set(peers)) == 1  # one TLS handshake, then keep-alive
    assert pool.open_connections == 1


async def test_an_untrusted_certificate_is_a_connect_error(tls_server: tuple[int, list[str]],
                                                           make_pool: PoolFactory) -> None:
    port, _ = tls_server
    pool = make_pool(f"https://localhost:{port}", ssl_context=ssl.create_default_context())
    with pytest.raises(ConnectError):
        await pool.request("POST", f"https://localhost:{port}/v1/chat/completions", {}, b"{}")
    assert pool.open_connections == 0


async def test_a_certificate_for_another_name_is_a_connect_error(tls_server: tuple[int, list[str]], ca: trustme.CA,
                                                                make_pool: PoolFactory) -> None:
    port, _ = tls_server
    # 127.0.0.1 is not a name on the certificate (it was issued for "localhost")
    pool = make_pool(f"https://127.0.0.1:{port}", ssl_context=_client_ctx(ca))
    with pytest.raises(ConnectError):
        await pool.request("POST", f"https://127.0.0.1:{port}/v1/chat/completions", {}, b"{}")


def test_a_lone_https_pool_verifies_by_default() -> None:
    a = Pool("https://a.example/v1")
    assert a._ssl.verify_mode == ssl.CERT_REQUIRED and a._ssl.check_hostname
    assert Pool("http://c.example")._ssl is None


def test_the_sidecars_https_pools_share_one_verifying_context() -> None:
    from routecar.config.loader import parse_config
    from routecar.server.pools import ProviderPools

    config = parse_config("""
providers:
  a: {type: openai, base_url: 'https://a.example/v1'}
  b: {type: anthropic, base_url: 'https://b.example'}
  c: {type: openai, base_url: 'http://c.example/v1'}
models:
  m: {deployments: [{provider: a, model: x}, {provider: b, model: y}, {provider: c, model: z}]}
route_log: {path: ':memory:'}
""", env={})
    change = ProviderPools().prepare(config)
    pools = change.mapping()
    assert pools["a"]._ssl is pools["b"]._ssl and pools["a"]._ssl.verify_mode == ssl.CERT_REQUIRED
    assert pools["c"]._ssl is None
