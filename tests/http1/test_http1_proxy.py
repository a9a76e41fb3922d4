"""The upstream client through an HTTP forward proxy: CONNECT tunnels (TLS with the origin inside
them, its name and certificate), absolute-form requests for http origins, the proxy's refusals
as connect errors that never show its credentials, and client certificates (mTLS)."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import AsyncIterator

import pytest
import trustme
from aiohttp import web

from routecar.http1 import ConnectError, Pool, Proxy
from routecar.http1.proxy import MAX_PROXY_HEAD

from .conftest import PoolFactory
from .connect_proxy import ConnectProxy

UPSTREAM = "upstream.test"  # resolvable only by the proxy


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _serve(app: web.Application, ctx: ssl.SSLContext | None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, runner.addresses[0][1]


def _app(seen: list[dict[str, str]]) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        seen.append({"path": request.path, "host": request.headers.get("Host", ""),
                     "proxy-authorization": request.headers.get("Proxy-Authorization", ""),
                     "client": ",".join(v for _, v in peer.get("subjectAltName", ())) if peer else ""})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture
async def proxies() -> AsyncIterator[list[ConnectProxy]]:
    started: list[ConnectProxy] = []
    yield started
    for proxy in started:
        await proxy.stop()


async def _proxy(started: list[ConnectProxy], status: int = 200) -> ConnectProxy:
    proxy = await ConnectProxy(status=status, hosts={UPSTREAM: "127.0.0.1"}).start()
    started.append(proxy)
    return proxy


@pytest.fixture
async def tls_upstream(ca: trustme.CA) -> AsyncIterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(UPSTREAM).configure_cert(ctx)
    runner, port = await _serve(_app(seen), ctx)
    yield port, seen
    await runner.cleanup()


def _client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def test_https_goes_through_a_connect_tunnel_with_the_origins_tls(
        tls_upstream: tuple[int, list[dict[str, str]]], ca: trustme.CA, proxies: list[ConnectProxy],
        make_pool: PoolFactory) -> None:
    port, seen = tls_upstream
    proxy = await _proxy(proxies)
    base = f"https://{UPSTREAM}:{port}/v1"
    pool = make_pool(base, ssl_context=_client_ctx(ca), proxy=Proxy.basic("127.0.0.1", proxy.port, "u", "p:w"))
    for _ in range(2):
        resp = await pool.request("POST", base + "/chat/completions", {"content-type": "application/json"}, b"{}")
        assert resp.status == 200 and json.loads(await resp.read()) == {"ok": True}
    # One tunnel, kept alive; the CONNECT names the origin and carries the credentials.
    assert [s.line for s in proxy.seen] == [f"CONNECT {UPSTREAM}:{port} HTTP/1.1"]
    assert proxy.seen[0].headers["host"] == f"{UPSTREAM}:{port}"
    assert proxy.seen[0].headers["proxy-authorization"] == "Basic dTpwOnc="  # u:p:w
    # Inside the tunnel: origin-form requests, and the credentials stay with the proxy.
    assert seen == [{"path": "/v1/chat/completions", "host": f"{UPSTREAM}:{port}", "proxy-authorization": "",
                     "client": ""}] * 2


async def test_the_origins_certificate_is_verified_inside_the_tunnel(
        tls_upstream: tuple[int, list[dict[str, str]]], proxies: list[ConnectProxy], make_pool: PoolFactory) -> None:
    port, seen = tls_upstream
    proxy = await _proxy(proxies)
    base = f"https://{UPSTREAM}:{port}"
    pool = make_pool(base, ssl_context=ssl.create_default_context(), proxy=Proxy.basic("127.0.0.1", proxy.port, None, None))
    with pytest.raises(ConnectError):
        await pool.request("POST", base + "/v1/chat/completions", {}, b"{}")
    assert seen == [] and pool.open_connections == 0


async def test_plain_http_goes_to_the_proxy_in_absolute_form(proxies: list[ConnectProxy],
                                                            make_pool: PoolFactory) -> None:
    seen: list[dict[str, str]] = []
    runner, port = await _serve(_app(seen), None)
    try:
        proxy = await _proxy(proxies)
        base = f"http://{UPSTREAM}:{port}/v1"
        pool = make_pool(base, proxy=Proxy.basic("127.0.0.1", proxy.port, "user", "pw"))
        resp = await pool.request("POST", base + "/chat/completions",
                                  {"content-type": "application/json", "Proxy-Authorization": "Basic app"}, b"{}")
        assert resp.status == 200 and json.loads(await resp.read()) == {"ok": True}
        assert [s.line for s in proxy.seen] == [f"POST http://{UPSTREAM}:{port}/v1/chat/completions HTTP/1.1"]
        # The pool's own credentials, never a caller's header of the same name.
        assert proxy.seen[0].headers["proxy-authorization"] == "Basic dXNlcjpwdw=="
        assert seen[0]["path"] == "/v1/chat/completions" and seen[0]["host"] == f"{UPSTREAM}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [407, 502])
async def test_a_refusing_proxy_is_a_connect_error_without_its_credentials(
        status: int, proxies: list[ConnectProxy], make_pool: PoolFactory) -> None:
    proxy = await _proxy(proxies, status=status)
    base = f"https://{UPSTREAM}:443"
    pool = make_pool(base, proxy=Proxy.basic("127.0.0.1", proxy.port, "alice", "s3cret-pw"))
    with pytest.raises(ConnectError) as err:
        await pool.request("POST", base + "/v1/chat/completions", {}, b"{}")
    text = str(err.value)
    assert f"answered {status}" in text and f"127.0.0.1:{proxy.port}" in text
    assert "s3cret" not in text and "alice" not in text and "s3cret" not in repr(pool.proxy)
    assert pool.open_connections == 0


async def test_a_407_to_a_plain_http_request_is_a_connect_error(proxies: list[ConnectProxy],
                                                                make_pool: PoolFactory) -> None:
    proxy = await _proxy(proxies, status=407)
    pool = make_pool(f"http://{UPSTREAM}", proxy=Proxy.basic("127.0.0.1", proxy.port, "alice", "s3cret-pw"))
    with pytest.raises(ConnectError) as err:
        await pool.request("POST", f"http://{UPSTREAM}/v1/chat/completions", {}, b"{}")
    assert str(err.value) == f"proxy 127.0.0.1:{proxy.port} answered 407 to POST {UPSTREAM}"
    assert proxy.seen[0].headers["proxy-authorization"] == "Basic YWxpY2U6czNjcmV0LXB3"


async def test_an_endless_proxy_answer_is_cut_at_its_budget(raw_server, make_pool: PoolFactory) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: object) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(MAX_PROXY_HEAD // 1000 + 2):
            writer.write(b"X-Pad: " + b"a" * 990 + b"\r\n")
        await writer.drain()
        await reader.read()  # until the client gives up

    srv = await raw_server(endless)
    pool = make_pool("https://origin.test", proxy=Proxy("127.0.0.1", srv.port))
    with pytest.raises(ConnectError, match="over 16 KiB"):
        await pool.request("POST", "https://origin.test/x", {}, b"{}")
    assert pool.open_connections == 0


async def test_a_silent_proxy_is_bounded_by_the_connect_timeout(raw_server, make_pool: PoolFactory) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: object) -> None:
        await reader.read()  # never answers the CONNECT

    srv = await raw_server(silent)
    pool = make_pool("https://origin.test", proxy=Proxy("127.0.0.1", srv.port))
    with pytest.raises(ConnectError) as err:
        await pool.request("POST", "https://origin.test/x", {}, b"{}", connect_timeout=0.2)
    assert err.value.timeout and pool.open_connections == 0


async def test_a_client_certificate_is_presented_to_an_upstream_that_requires_one(
        ca: trustme.CA, make_pool: PoolFactory) -> None:
    seen: list[dict[str, str]] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    runner, port = await _serve(_app(seen), server_ctx)
    try:
        base = f"https://localhost:{port}"
        without = make_pool(base, ssl_context=_client_ctx(ca))
        with pytest.raises(Exception):  # refused in the handshake, or the socket closed right after it
            resp = await without.request("POST", base + "/v1/chat/completions", {}, b"{}")
            await resp.read()
        with_cert = _client_ctx(ca)
        ca.issue_cert("client.test").configure_cert(with_cert)
        pool = make_pool(base, ssl_context=with_cert)
        resp = await pool.request("POST", base + "/v1/chat/completions", {}, b"{}")
        assert resp.status == 200
        assert seen[-1]["client"] == "client.test"
    finally:
        await runner.cleanup()
