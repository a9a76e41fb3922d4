"""Routing features end to end: a real sidecar in front of real fake providers.

Helpers shared by the tests of this package: a config builder (one provider per fake) and a
bare aiohttp client for the many small requests strategy and canary tests send.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from multidict import CIMultiDict

TIMEOUTS = "{connect: 1s, first_token: 3s, idle: 3s, total: 10s}"


def sidecar_yaml(providers: dict[str, tuple[str, str]], models: str, routes: str, extra: str = "") -> str:
    """`providers`: name -> (type, base_url); `models` and `routes` are indented YAML bodies."""
    provs = "\n".join(
        f"  {name}: {{type: {kind}, base_url: '{url}', api_key: 'sk-test-{name}', timeouts: {TIMEOUTS}}}"
        for name, (kind, url) in providers.items()
    )
    return f"""
providers:
{provs}
models:
{models}
routes:
{routes}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
{extra}
"""


Answer = tuple[int, CIMultiDict, dict[str, Any]]


async def chat(session: aiohttp.ClientSession, sc: Any, model: str, content: str = "hi",
               headers: dict[str, str] | None = None, **extra: Any) -> Answer:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    async with session.post(sc.data_url + "/v1/chat/completions", json=body, headers=headers or {}) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.json()


async def burst(session: aiohttp.ClientSession, sc: Any, model: str, n: int, **kwargs: Any) -> list[Answer]:
    """`n` concurrent requests: they are all routed on the same health state."""
    return list(await asyncio.gather(*(chat(session, sc, model, **kwargs) for _ in range(n))))


def models_of(answers: list[Answer]) -> list[str]:
    return [h.get("x-routecar-model", "") for _, h, _ in answers]
