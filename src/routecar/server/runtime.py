"""Everything a running sidecar holds, wired in one place at start-up (no globals).

A `Snapshot` bundles one validated config with the router and dispatcher built for it;
handlers take the current snapshot once per request and keep it to the end, so a reload
swaps `Runtime.snapshot` atomically and in-flight requests finish on the config they started
with. Health state and the route log outlive reloads. Provider sessions a reload retires stay
open until the last request on an older config has finished.

The runtime also knows which answers are streaming right now, so a drain whose budget runs
out can end each one with its protocol's error event instead of cutting the socket.

Active health checks of open circuits run here as one background task (started by `start`,
following reloads in `apply`, stopped by `close`), never on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable


from ..config.model import Config, ProviderConfig
from ..dispatch.dispatcher import Dispatcher
from ..dispatch.health_probe import ActiveHealthChecks, probe_provider
from ..health.checker import HealthChecker, ProbeResult
from ..health.clock import Clock
from ..health.registry import HealthRegistry
from ..http1 import Pool
from ..observability.jsonlog import register_secret
from ..observability.metrics import Metrics
from ..providers.base import Adapter
from ..providers.registry import load_adapters
from ..router.router import Router
from ..routelog.writer import RouteLogWriter
from .features import RoutingFeatures

log = logging.getLogger("routecar.runtime")


_CONTENT_STAGE = f"{__package__}.content_stage"

# The config generation the current request runs on; each request runs in its own task, so
# this is per request without any lookup table.
_REQUEST_GENERATION: ContextVar[int] = ContextVar("routecar_request_generation", default=-1)


@dataclass(frozen=True)
class Snapshot:
    config: Config
    router: Router
    dispatcher: Dispatcher
    generation: int = 0  # 0 for the config loaded at start, +1 per applied reload
    # Some route may classify or cache: only then does a request go through `content_stage`
    # (whose modules are not even imported for a config that needs none of it).
    content: bool = False


def uses_content(config: Config) -> bool:
    """Whether `content_stage` can matter for any request on `config`: there are classifiers
    (it prepares them and labels requests) or a route caches answers. The same conditions under
    which `content_stage.ContentState` gives a route any needs."""
    if config.classifiers:
        return True
    return any(r.cache is not None and (r.cache.exact is not None or r.cache.semantic is not None)
               for r in config.routes.values())


@dataclass(slots=True, eq=False)
class OpenStream:
    """A stream being written to the app; `stop_reason` is set when routecar ends it early."""

    task: asyncio.Task[Any]
    stop_reason: str | None = None


def _session_key(provider: ProviderConfig) -> tuple[Any, ...]:
    # Keys and headers travel per request, so only what shapes the pool forces a new session.
    return (provider.base_url, provider.max_connections)


_Entry = tuple[tuple[Any, ...], Pool]


@dataclass
class PoolChange:
    """The sessions a config needs, prepared but not yet in use."""

    pool: dict[str, _Entry]
    created: list[Pool] = field(default_factory=list)
    retired: list[Pool] = field(default_factory=list)

    def mapping(self) -> dict[str, Pool]:
        return {name: session for name, (_, session) in self.pool.items()}


def _new_session(provider: ProviderConfig) -> Pool:
    return Pool(provider.base_url, max_connections=provider.max_connections, keepalive=30.0)


class SessionPool:
    """One pooled client session per provider, created at start and on reload, never per request."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Entry] = {}

    def prepare(self, config: Config) -> PoolChange:
        """The sessions `config` needs, reusing the unchanged ones; nothing changes until commit()."""
        change = PoolChange(pool={})
        for name, provider in config.providers.items():
            key = _session_key(provider)
            current = self._sessions.get(name)
            if current is None or current[0] != key:
                current = (key, _new_session(provider))
                change.created.append(current[1])
            change.pool[name] = current
        kept = {id(session) for _, session in change.pool.values()}
        change.retired = [s for _, s in self._sessions.values() if id(s) not in kept]
        return change

    def commit(self, change: PoolChange) -> None:
        self._sessions = dict(change.pool)

    def mapping(self) -> dict[str, Pool]:
        return {name: session for name, (_, session) in self._sessions.items()}

    def get(self, name: str) -> Pool | None:
        entry = self._sessions.get(name)
        return None if entry is None else entry[1]

    async def close(self) -> None:
        for _, session in self._sessions.values():
            await session.close()
        self._sessions.clear()


class Runtime:
    """`clock` (monotonic seconds, for health state and its checks) and `rng` (routing picks,
    backoff and probe jitter) are seams for deterministic tests. With `background_checks`
    False the owner runs health-check rounds itself (`health_checks.run_round()`)."""

    def __init__(self, config: Config, metrics: Metrics | None = None, *, clock: Clock = time.monotonic,
                 rng: random.Random | None = None, background_checks: bool = True):
        self.metrics = metrics or Metrics()
        self.health = HealthRegistry(config, clock)
        self._pick: Callable[[], float] = rng.random if rng is not None else random.random
        # Its own stream of jitter, so routing picks do not shift the probe schedule (and back).
        jitter = random.Random(rng.random()) if rng is not None else random.Random()
        hc = config.resilience.health_check
        self.health_checks = ActiveHealthChecks(
            HealthChecker(self.health, hc.interval, clock, jitter.random), self._probe, hc.timeout,
            on_result=lambda provider, result: self.metrics.health_check(provider, result.ok))
        self._background_checks = background_checks
        self._started = False
        self.writer = RouteLogWriter(config.route_log, on_drop=None)
        self.sessions = SessionPool()
        self.adapters: dict[str, Adapter] = {}
        self._background: set[asyncio.Task[Any]] = set()
        # Routing state kept across reloads (budget ledger, canary monitor), closed at shutdown
        # so the last spend is written.
        self.features = RoutingFeatures(config)
        snapshot, change = self._build(config, 0)
        self.sessions.commit(change)
        self.snapshot: Snapshot = snapshot
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._live: dict[int, int] = {}  # config generation -> requests running on it
        self._retired: list[tuple[int, list[Pool]]] = []
        self._streams: set[OpenStream] = set()
        self.metrics.set_health_source(self.health.snapshot)
        self.metrics.set_route_log_source(lambda: (self.writer.queue_depth, self.writer.dropped, self.writer.written))
        self.metrics.set_config_hash(config.hash)
        self.metrics.set_known_names(config.names())

    def _build(self, config: Config, generation: int) -> tuple[Snapshot, PoolChange]:
        """Everything a config needs, built aside: the serving snapshot is not touched."""
        for provider in config.providers.values():
            if provider.api_key:
                register_secret(provider.api_key)  # defence in depth: scrubbed from any log line
        types = {p.type for p in config.providers.values()}
        self.adapters.update(load_adapters(types - set(self.adapters)))
        change = self.sessions.prepare(config)
        try:
            router = Router(config, self.health, rng=self._pick, canary=self.features.canary)
            dispatcher = Dispatcher(
                config, self.health, change.mapping(), dict(self.adapters),
                on_queue_wait=self.metrics.queue_wait, on_budget_exhausted=self.metrics.retry_budget_exhausted,
                rng=self._pick,
            )
        except BaseException:
            self._close_later(change.created)
            raise
        return Snapshot(config, router, dispatcher, generation, uses_content(config)), change

    async def start(self) -> None:
        await self.writer.start()
        await self.features.start()
        self._started = True
        self._follow_health_checks(self.snapshot.config)

    def apply(self, config: Config) -> None:
        """Swap to a new, already validated config; on any error the old one keeps serving."""
        snapshot, change = self._build(config, self.snapshot.generation + 1)
        try:
            self.health.reconfigure(config)
        except BaseException:
            self._close_later(change.created)
            raise
        self.sessions.commit(change)
        self.snapshot = snapshot
        self._follow_health_checks(config)
        if change.retired:
            self._retired.append((snapshot.generation, change.retired))
            self._release_retired()
        self.metrics.set_known_names(config.names())
        self.metrics.config_reloaded(True, config.hash)
        if not snapshot.content:
            self._retire_content()

    def _retire_content(self) -> None:
        """Requests on a config without classifiers or caches never reach `content_stage`. When
        an earlier config loaded it, its state moves on here as a request on this config would
        have moved it: the replaced config's classifiers and caches stay for the requests still
        running on it, and the ones before that are closed."""
        content_stage = sys.modules.get(_CONTENT_STAGE)
        if content_stage is not None:
            content_stage.state_of(self)

    # -- active health checks ----------------------------------------------------------------

    def _follow_health_checks(self, config: Config) -> None:
        """Run the background rounds as `config` says (on, off, new interval or timeout)."""
        hc = config.resilience.health_check
        self.health_checks.reconfigure(hc.interval, hc.timeout)
        if hc.enabled and self._started and self._background_checks:
            self.health_checks.start()
        elif not hc.enabled:
            task = self.health_checks.stop()
            if task is not None:  # awaited by close(), like other background work
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _probe(self, name: str) -> ProbeResult:
        """One provider's probe on the live config, through its live pool: a reload between
        two rounds (new key, new base URL) applies to the next probe."""
        provider = self.snapshot.config.providers.get(name)
        pool = self.sessions.get(name)
        adapter = self.adapters.get(provider.type) if provider is not None else None
        if provider is None or pool is None or adapter is None:
            return ProbeResult(False, "provider not in the live config")
        return await probe_provider(pool, adapter, provider, self.health_checks.timeout)

    # -- requests ----------------------------------------------------------------------------

    def request_started(self) -> None:
        """Count a request in; call it in the same step as reading `snapshot` (no await between),
        so the request is counted on the config generation it runs on."""
        gen = self.snapshot.generation
        _REQUEST_GENERATION.set(gen)
        self._live[gen] = self._live.get(gen, 0) + 1
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        gen = _REQUEST_GENERATION.get()
        left = self._live.get(gen, 0) - 1
        if left > 0:
            self._live[gen] = left
        else:
            self._live.pop(gen, None)
            if self._retired and gen != self.snapshot.generation:
                self._release_retired()
        self.in_flight -= 1
        if self.in_flight <= 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _release_retired(self) -> None:
        """Close retired sessions once no request runs on a config older than their retirement."""
        oldest = min(self._live, default=self.snapshot.generation)
        keep = []
        for gen, sessions in self._retired:
            if oldest < gen:
                keep.append((gen, sessions))
            else:
                self._close_later(sessions)
        self._retired = keep

    # -- streams -----------------------------------------------------------------------------

    def stream_opened(self) -> OpenStream | None:
        """Register the current task's stream so a drain can end it; None outside a task."""
        task = asyncio.current_task()
        if task is None:
            return None
        handle = OpenStream(task)
        self._streams.add(handle)
        return handle

    def stream_closed(self, handle: OpenStream) -> None:
        self._streams.discard(handle)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def end_streams(self, reason: str) -> int:
        """Tell every open stream to stop now; returns how many were told.

        The stream's task is cancelled with `stop_reason` set first, so the per-chunk path pays
        nothing for this; the stream tells it from the app hanging up by that reason, writes its
        protocol's error event and ends.
        """
        told = 0
        for handle in list(self._streams):
            if handle.stop_reason is None and not handle.task.done():
                handle.stop_reason = reason
                handle.task.cancel(reason)
                told += 1
        return told

    # -- background ---------------------------------------------------------------------------

    def _close_later(self, sessions: list[Pool]) -> None:
        for session in sessions:
            self._later(session.close())

    def _later(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (built outside one): nothing was opened yet
            coro.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        await self.health_checks.close()  # before the pools its probes use
        # Loaded only once a config used classifiers or caches; never loaded, nothing to stop.
        content_stage = sys.modules.get(_CONTENT_STAGE)
        if content_stage is not None:
            await content_stage.close(self)  # stops background classifier preparation
        for _, sessions in self._retired:
            self._close_later(sessions)
        self._retired.clear()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.sessions.close()
        if self.features is not None:
            await self.features.close()
        await self.writer.close()
