"""Shared fixtures: real fake providers and a real sidecar on 127.0.0.1, in the test's loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from routecar.config.loader import parse_config
from routecar.config.model import Config, Listen
from routecar.fake.server import FakeProvider
from routecar.server.app import Sidecar

SidecarFactory = Callable[..., Awaitable[Sidecar]]


def loopback(config: Config) -> Config:
    """Bind the sidecar to free loopback ports so tests never collide."""
    server = dataclasses.replace(config.server, listen=Listen("127.0.0.1", 0), admin_listen=Listen("127.0.0.1", 0))
    return dataclasses.replace(config, server=server)


@pytest.fixture
async def fake_factory() -> AsyncIterator[Callable[..., Awaitable[FakeProvider]]]:
    started: list[FakeProvider] = []

    async def make(name: str = "fake", **kwargs: Any) -> FakeProvider:
        fp = FakeProvider(name=name, **kwargs)
        await fp.start()
        started.append(fp)
        return fp

    yield make
    for fp in started:
        await fp.stop()


@pytest.fixture
async def sidecar_factory(tmp_path: Path) -> AsyncIterator[SidecarFactory]:
    started: list[Sidecar] = []

    async def make(yaml_text: str, env: dict[str, str] | None = None, config_path: str | None = None) -> Sidecar:
        env = {"DB": str(tmp_path / "routes.db"), **(env or {})}
        config = loopback(parse_config(yaml_text, source="test.yaml", env=env))
        sidecar = Sidecar(config, config_path)
        await sidecar.start()
        started.append(sidecar)
        return sidecar

    yield make
    for sc in started:
        await sc.close()


def one_model_yaml(*urls: str, extra: str = "", timeouts: str = "{connect: 1s, first_token: 2s, idle: 2s, total: 10s}",
                   provider_type: str = "openai") -> str:
    """A config with model `m` served by one deployment per URL (providers p0, p1, ...)."""
    providers = "\n".join(
        f"  p{i}: {{type: {provider_type}, base_url: '{u}', api_key: 'sk-test-{i}', timeouts: {timeouts}}}"
        for i, u in enumerate(urls)
    )
    deployments = "\n".join(f"      - {{provider: p{i}, model: up-{i}}}" for i in range(len(urls)))
    return f"""
providers:
{providers}
models:
  m:
    price: {{input: 1.0, output: 2.0}}
    context_window: 100000
    deployments:
{deployments}
  embed:
    capabilities: [embeddings]
    price: {{input: 0.02, output: 0}}
    deployments:
      - {{provider: p0, model: emb-up}}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
{extra}
"""
