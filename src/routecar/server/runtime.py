"""Everything a running sidecar holds, wired in one place at start-up (no globals).

A `Snapshot` bundles one validated config with the router and dispatcher built for it;
handlers take the current snapshot once per request and keep it to the end, so a reload
swaps `Runtime.snapshot` atomically and in-flight requests finish on the config they started
with. Health state and the route log outlive reloads.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ..config.model import Config, ProviderConfig
from ..dispatch.dispatcher import Dispatcher
from ..health.registry import HealthRegistry
from ..observability.jsonlog import register_secret
from ..observability.metrics import Metrics
from ..providers.base import Adapter
from ..providers.registry import load_adapters
from ..router.router import Router
from ..routelog.writer import RouteLogWriter

log = logging.getLogger("routecar.runtime")


@dataclass(frozen=True)
class Snapshot:
    config: Config
    router: Router
    dispatcher: Dispatcher


def _session_key(provider: ProviderConfig) -> tuple[Any, ...]:
    # Keys and headers travel per request, so only what shapes the pool forces a new session.
    return (provider.base_url, provider.max_connections)


class SessionPool:
    """One pooled client session per provider, created at start and on reload, never per request."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[tuple[Any, ...], aiohttp.ClientSession]] = {}

    def sync(self, config: Config) -> list[aiohttp.ClientSession]:
        """Make sessions match the config; returns the sessions that are no longer used."""
        retired = []
        for name, provider in config.providers.items():
            key = _session_key(provider)
            current = self._sessions.get(name)
            if current and current[0] == key:
                continue
            if current:
                retired.append(current[1])
            connector = aiohttp.TCPConnector(
                limit=provider.max_connections, limit_per_host=provider.max_connections,
                ttl_dns_cache=300, enable_cleanup_closed=False, keepalive_timeout=30,
            )
            session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True, raise_for_status=False, skip_auto_headers=("User-Agent",),
            )
            self._sessions[name] = (key, session)
        for name in list(self._sessions):
            if name not in config.providers:
                retired.append(self._sessions.pop(name)[1])
        return retired

    def mapping(self) -> dict[str, aiohttp.ClientSession]:
        return {name: session for name, (_, session) in self._sessions.items()}

    async def close(self) -> None:
        for _, session in self._sessions.values():
            await session.close()
        self._sessions.clear()


class Runtime:
    def __init__(self, config: Config, metrics: Metrics | None = None):
        self.metrics = metrics or Metrics()
        self.health = HealthRegistry(config)
        self.writer = RouteLogWriter(config.route_log, on_drop=None)
        self.sessions = SessionPool()
        self.adapters: dict[str, Adapter] = {}
        self.snapshot: Snapshot = self._build(config)
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._background: set[asyncio.Task[Any]] = set()
        self.metrics.set_health_source(self.health.snapshot)
        self.metrics.set_route_log_source(lambda: (self.writer.queue_depth, self.writer.dropped, self.writer.written))
        self.metrics.set_config_hash(config.hash)
        self.metrics.set_known_names(config.names())

    def _build(self, config: Config) -> Snapshot:
        for provider in config.providers.values():
            if provider.api_key:
                register_secret(provider.api_key)  # defence in depth: scrubbed from any log line
        types = {p.type for p in config.providers.values()}
        self.adapters.update(load_adapters(types - set(self.adapters)))
        retired = self.sessions.sync(config)
        for session in retired:
            self._later(self._close_session(session, config.server.drain_timeout))
        router = Router(config, self.health)
        dispatcher = Dispatcher(
            config, self.health, self.sessions.mapping(), dict(self.adapters),
            on_queue_wait=self.metrics.queue_wait, on_budget_exhausted=self.metrics.retry_budget_exhausted,
        )
        return Snapshot(config, router, dispatcher)

    async def start(self) -> None:
        await self.writer.start()

    def apply(self, config: Config) -> None:
        """Swap to a new, already validated config."""
        self.health.reconfigure(config)
        self.snapshot = self._build(config)
        self.metrics.set_known_names(config.names())
        self.metrics.config_reloaded(True, config.hash)

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight <= 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _later(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop yet (built before serving): close synchronously later
            coro.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _close_session(session: aiohttp.ClientSession, delay: float) -> None:
        await asyncio.sleep(delay)  # requests started on the old config may still use it
        await session.close()

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.sessions.close()
        await self.writer.close()
