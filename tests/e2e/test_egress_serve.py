"""Egress through a real `routecar serve`: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from its
environment, `providers.NAME.proxy` overriding them, CONNECT tunnels to an https upstream
verified with `tls.ca_file`, absolute-form requests to a plain-http one, mutual TLS with
`tls.cert_file`/`key_file`, and proxies that refuse (407, 502) failing over to the next
candidate without their credentials showing anywhere.

The https upstreams are named `upstream.test` (their certificate's name), which only the test
proxy resolves (to 127.0.0.1): an answer from them proves the request went through the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sqlite3
import ssl
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest
import trustme
from aiohttp import web

from tests.e2e.recording_upstream import Recorder, recording_app
from tests.helpers import read_rows
from tests.http1.connect_proxy import ConnectProxy
from tests.lifecycle.conftest import SidecarProcess, write_atomically

UPSTREAM = "upstream.test"
BODY = {"messages": [{"role": "user", "content": "hi"}]}
SECRET = "s3cret-proxy-pw"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class Upstreams:
    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.proxies: list[ConnectProxy] = []

    async def serve(self, ctx: ssl.SSLContext | None = None) -> tuple[Recorder, int]:
        rec = Recorder()
        runner = web.AppRunner(recording_app(rec), access_log=None)
        await runner.setup()
        self.runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx).start()
        return rec, runner.addresses[0][1]

    async def proxy(self, status: int = 200) -> ConnectProxy:
        proxy = await ConnectProxy(status=status, hosts={UPSTREAM: "127.0.0.1"}).start()
        self.proxies.append(proxy)
        return proxy


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    u = Upstreams()
    yield u
    for proxy in u.proxies:
        await proxy.stop()
    for runner in u.runners:
        await runner.cleanup()


def _server_ctx(ca: trustme.CA, require_client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(UPSTREAM).configure_cert(ctx)
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _write_pems(ca: trustme.CA, d: Path) -> None:
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    client = ca.issue_cert("routecar.client.test")
    client.cert_chain_pems[0].write_to_path(str(d / "client.pem"))
    client.private_key_pem.write_to_path(str(d / "client.key"))


def _yaml(db: Path, providers: str, models: str, routes: str = "") -> str:
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
{providers}
models:
{models}
{routes}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


async def _rows(db: Path, expected: int) -> list[dict]:
    for _ in range(100):  # bounded: 5 s
        try:
            found = read_rows(str(db))
        except sqlite3.OperationalError:
            found = []
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {expected} route-log rows")


async def _chat(http: aiohttp.ClientSession, sidecar: SidecarProcess, model: str) -> tuple[int, dict, dict]:
    async with http.post(sidecar.data_url + "/v1/chat/completions", json={**BODY, "model": model}) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_environment_proxies_no_proxy_overrides_and_tls_files(
        ca: trustme.CA, upstreams: Upstreams, tmp_path: Path) -> None:
    _write_pems(ca, tmp_path)
    tls_rec, tls_port = await upstreams.serve(_server_ctx(ca))
    mtls_rec, mtls_port = await upstreams.serve(_server_ctx(ca, require_client_cert=True))
    plain_rec, plain_port = await upstreams.serve()
    env_proxy = await upstreams.proxy()
    own_proxy = await upstreams.proxy()
    providers = f"""
  viaenv: {{type: openai, base_url: 'https://{UPSTREAM}:{tls_port}/v1', api_key: k1, tls: {{ca_file: ca.pem}}}}
  plain: {{type: openai, base_url: 'http://{UPSTREAM}:{plain_port}/v1', api_key: k2}}
  direct: {{type: openai, base_url: 'http://127.0.0.1:{plain_port}/v1', api_key: k3}}
  mtls: {{type: openai, base_url: 'https://{UPSTREAM}:{mtls_port}/v1', api_key: k4, proxy: '{own_proxy.url}',
          tls: {{ca_file: ca.pem, cert_file: client.pem, key_file: client.key}}}}
  nocert: {{type: openai, base_url: 'https://{UPSTREAM}:{mtls_port}/v1', api_key: k5, proxy: '{own_proxy.url}',
            tls: {{ca_file: ca.pem}}, retry_on: []}}"""
    models = "\n".join(f"  {p}: {{deployments: [{{provider: {p}, model: up-{p}}}]}}"
                       for p in ("viaenv", "plain", "direct", "mtls", "nocert"))
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(_yaml(tmp_path / "routes.db", providers, models))
    env = {**os.environ, "HTTPS_PROXY": env_proxy.url_with("envuser", SECRET), "http_proxy": env_proxy.url,
           "NO_PROXY": f"localhost, 127.0.0.1:{plain_port}"}
    sidecar = SidecarProcess(cfg, env=env)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            for model in ("viaenv", "plain", "direct", "mtls"):
                status, headers, answer = await _chat(http, sidecar, model)
                assert status == 200 and headers["x-routecar-provider"] == model, answer
            status, _, answer = await _chat(http, sidecar, "nocert")  # the upstream wants a client certificate
            assert status >= 500, answer

        token = base64.b64encode(f"envuser:{SECRET}".encode()).decode()
        assert [(s.line, s.headers.get("proxy-authorization")) for s in env_proxy.seen] == [
            (f"CONNECT {UPSTREAM}:{tls_port} HTTP/1.1", f"Basic {token}"),
            (f"POST http://{UPSTREAM}:{plain_port}/v1/chat/completions HTTP/1.1", None),
        ]  # `direct` is in NO_PROXY: never seen by the proxy
        assert [s.line for s in own_proxy.seen] == [f"CONNECT {UPSTREAM}:{mtls_port} HTTP/1.1"] * 2
        assert tls_rec.last("/v1/chat/completions").json["model"] == "up-viaenv"
        assert mtls_rec.last("/v1/chat/completions").json["model"] == "up-mtls"
        hosts = [s.headers["host"] for s in plain_rec.seen]
        assert hosts == [f"{UPSTREAM}:{plain_port}", f"127.0.0.1:{plain_port}"]
        assert SECRET not in "\n".join(sidecar.lines)
    finally:
        await sidecar.kill()


async def test_a_refusing_proxy_fails_over_and_never_shows_its_credentials(
        ca: trustme.CA, upstreams: Upstreams, tmp_path: Path) -> None:
    _write_pems(ca, tmp_path)
    rec, port = await upstreams.serve(_server_ctx(ca))
    good = await upstreams.proxy()
    refuses = await upstreams.proxy(407)
    broken = await upstreams.proxy(502)
    base = f"https://{UPSTREAM}:{port}/v1"
    providers = f"""
  auth: {{type: openai, base_url: '{base}', api_key: k1, proxy: '{refuses.url_with("alice", SECRET)}',
          tls: {{ca_file: ca.pem}}}}
  gateway: {{type: openai, base_url: '{base}', api_key: k2, proxy: '{broken.url}', tls: {{ca_file: ca.pem}}}}
  good: {{type: openai, base_url: '{base}', api_key: k3, proxy: '{good.url}', tls: {{ca_file: ca.pem}}}}"""
    models = "\n".join(f"  {p}: {{deployments: [{{provider: {p}, model: up-{p}}}]}}" for p in ("auth", "gateway", "good"))
    routes = "routes:\n  r: {strategy: ordered, candidates: [auth, gateway, good]}"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(_yaml(tmp_path / "routes.db", providers, models, routes))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    sidecar = SidecarProcess(cfg, env=env)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            status, headers, answer = await _chat(http, sidecar, "r")
            assert status == 200 and headers["x-routecar-provider"] == "good", answer
            assert headers["x-routecar-attempts"] == "3"
            status, _, answer = await _chat(http, sidecar, "auth")  # nothing to fail over to
            assert status >= 500 and "(connect: proxy " in answer["error"]["message"]
            assert "answered 407 to CONNECT" in answer["error"]["message"]  # the app sees why
            message = answer["error"]["message"]
            async with http.get(sidecar.admin_url + "/state") as resp:
                state = await resp.text()
        assert [s.line for s in refuses.seen][0] == f"CONNECT {UPSTREAM}:{port} HTTP/1.1"
        assert refuses.seen[0].headers["proxy-authorization"] == \
            "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
        assert broken.seen and good.seen and rec.last("/v1/chat/completions").json["model"] == "up-good"
        rows = await _rows(tmp_path / "routes.db", 2)
        assert [a["provider"] for a in rows[0]["attempt_log"]] == ["auth", "gateway", "good"]
        assert [a["error"] for a in rows[0]["attempt_log"]] == ["connect", "connect", None]
        auth, gateway = rows[0]["attempt_log"][:2]
        assert "answered 407 to CONNECT" in auth["detail"] and "answered 502 to CONNECT" in gateway["detail"]
        assert "detail" not in rows[0]["attempt_log"][2]
        for text in ("\n".join(sidecar.lines), state, repr(rows), message):
            assert SECRET not in text and "alice:" not in text
    finally:
        await sidecar.kill()


async def test_a_reload_keeps_the_pool_unless_the_proxy_or_tls_files_change(
        ca: trustme.CA, upstreams: Upstreams, tmp_path: Path) -> None:
    _write_pems(ca, tmp_path)
    rec, port = await upstreams.serve(_server_ctx(ca))
    first, second = await upstreams.proxy(), await upstreams.proxy()
    models = "  m: {deployments: [{provider: p, model: up}]}"

    def config(proxy: ConnectProxy, header: str) -> str:
        return _yaml(tmp_path / "routes.db", f"""
  p: {{type: openai, base_url: 'https://{UPSTREAM}:{port}/v1', api_key: k, proxy: '{proxy.url}',
      headers: {{x-step: '{header}'}}, tls: {{ca_file: ca.pem}}}}""", models)

    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(first, "1"))
    sidecar = SidecarProcess(cfg, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            async def reload(text: str) -> None:
                async with http.get(sidecar.admin_url + "/readyz") as resp:
                    before = (await resp.json())["config_hash"]
                write_atomically(cfg, text)
                sidecar.send(signal.SIGHUP)
                for _ in range(200):  # bounded: 10 s
                    async with http.get(sidecar.admin_url + "/readyz") as resp:
                        if (await resp.json())["config_hash"] != before:
                            return
                    await asyncio.sleep(0.05)
                raise AssertionError("the reload did not happen:\n" + sidecar.output())

            async def step(expect_first: int, expect_second: int, header: str) -> None:
                status, _, answer = await _chat(http, sidecar, "m")
                assert status == 200, answer
                assert rec.last("/v1/chat/completions").headers["x-step"] == header
                assert (len(first.seen), len(second.seen)) == (expect_first, expect_second)

            await step(1, 0, "1")
            await reload(config(first, "2"))  # headers travel per request: the warm tunnel stays
            await step(1, 0, "2")
            await reload(config(second, "3"))  # another proxy: a new pool
            await step(1, 1, "3")
            (tmp_path / "ca.pem").write_bytes((tmp_path / "ca.pem").read_bytes() + b"\n")  # a rotated bundle
            await reload(config(second, "4"))
            await step(1, 2, "4")
    finally:
        await sidecar.kill()
