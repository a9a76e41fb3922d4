"""Everything a running sidecar holds, wired in one place at start-up (no globals).

A `Generation` bundles one validated config with what is built for it (router, dispatcher,
the pipeline of stages); a request takes the current generation once and keeps it to the end,
so a reload swaps `Runtime.generation` atomically and in-flight requests finish on the config
they started with. Health state, the route log, routing state (budgets, canary verdicts) and
provider pools outlive reloads; a retired generation's pools and stages close once no request
runs on it any more.

Active health checks of open circuits run here as one background task (started by `start`,
following reloads in `apply`, stopped by `close`), never on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, NamedTuple

from ..budget import period_bounds
from ..config.model import Config
from ..dispatch.caller import UpstreamCaller
from ..dispatch.dispatcher import Dispatcher
from ..dispatch.health_probe import ActiveHealthChecks, probe_provider
from ..health.checker import HealthChecker, ProbeResult
from ..health.clock import Clock
from ..health.registry import HealthRegistry
from ..http1 import DeadlineTicker, Pool
from ..observability.jsonlog import log_request
from ..observability.metrics import Metrics
from ..providers.base import Adapter
from ..redaction import Redactor
from ..providers.registry import load_adapters
from ..router.router import Router
from ..routelog.writer import RouteLogWriter
from ..stages.build import build_pipeline
from ..stages.exchange import Exchange
from ..stages.pipeline import Pipeline
from .credentials import CredentialChange, ProviderCredentials
from .open_streams import OpenStreams
from .pools import PoolChange, ProviderPools
from .routing_state import RoutingState
from .row import attach_detail, overhead_ms

log = logging.getLogger("routecar.runtime")


class Retired(NamedTuple):
    """What a reload replaced, closed once no request runs on the older generation."""

    number: int  # the generation that replaced it
    pools: list[Pool]
    pipeline: Pipeline
    shared: Any  # a SharedState the reload replaced, or None


@dataclass(frozen=True, eq=False)
class Generation:
    config: Config
    router: Router
    dispatcher: Dispatcher
    pipeline: Pipeline
    number: int = 0  # 0 for the config loaded at start, +1 per applied reload


def _telemetry_for(config: Config, redactor: Redactor) -> Any:
    """The exporter when telemetry is configured; its modules load only then."""
    if not config.telemetry.enabled:
        return None
    from ..telemetry.exporter import TelemetryExporter

    return TelemetryExporter(config.telemetry, record_prompts=config.route_log.record_prompts, redactor=redactor)


class Runtime:
    """`clock` (monotonic seconds, for health state, its checks and the dispatcher) and `rng`
    (routing picks, backoff and probe jitter) are seams for deterministic tests. With
    `background_checks` False the owner runs health-check rounds itself
    (`health_checks.run_round()`)."""

    def __init__(self, config: Config, metrics: Metrics | None = None, *, clock: Clock = time.monotonic,
                 rng: random.Random | None = None, background_checks: bool = True, redactor: Redactor | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.metrics = metrics or Metrics()
        # Provider keys are registered here as configs load: rows, logs and error bodies are
        # scrubbed of them whatever path their text took.
        self.redactor = redactor if redactor is not None else Redactor()
        self.clock = clock
        self._sleep = sleep  # the dispatcher's waits (backoff, rate-limit resets): a seam for tests
        # One per loop: finds every upstream exchange's deadline due (http1/deadline.py).
        self.deadlines = DeadlineTicker(asyncio.get_running_loop())
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
        self.writer = RouteLogWriter(config.route_log, on_drop=None, redactor=self.redactor)
        # Spans and exported route rows, built off the request path; None (nothing imported)
        # without a `telemetry` section. Set at start: a reload does not change it.
        self.telemetry = _telemetry_for(config, self.redactor)
        # With spans exported, every request's trace is decided on arrival with this share
        # sampled, and upstream requests carry its traceparent; None: no trace, no header.
        otlp = config.telemetry.otlp
        self.trace_ratio: float | None = otlp.sample_ratio if otlp is not None else None
        self.pools = ProviderPools()
        # Cloud providers' credentials (bedrock, vertex), refreshed in the background; like the
        # pools they outlive reloads that leave them unchanged. Started by start().
        self.credentials = ProviderCredentials()
        self._credential_change: CredentialChange | None = None  # set by _build, used on commit
        self.adapters: dict[str, Adapter] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.routing_state = RoutingState(config)
        # Fleet-wide budgets, limits and shared caches (shared_state), or None: per pod only.
        self.shared = self._shared_for(config)
        self.generation, change = self._build(config, 0, None)
        self.pools.commit(change)
        self._initial_credentials = self._commit_credentials()
        self.draining = False
        self.streams = OpenStreams()  # answers streaming now, for the drain
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._live: dict[int, int] = {}  # generation number -> requests running on it
        self._retired: list[Retired] = []
        self.metrics.set_health_source(self.health.snapshot)
        self.metrics.set_route_log_source(lambda: (self.writer.queue_depth, self.writer.dropped, self.writer.written))
        telemetry = self.telemetry
        self.metrics.set_telemetry_source(
            None if telemetry is None else lambda: (dict(telemetry.counts), telemetry.queue_depth))
        self.metrics.set_config_hash(config.hash)
        self.metrics.set_known_names(config.names())
        self.metrics.set_budget_source(self._budget_spend)
        self.metrics.set_shared_source(lambda: self.shared.stats() if self.shared is not None else None)

    def _build(self, config: Config, number: int, previous: Generation | None) -> tuple[Generation, PoolChange]:
        """Everything a config needs, built aside: the serving generation is not touched."""
        for provider in config.providers.values():
            for secret in provider.secrets():
                self.redactor.register(secret)  # defence in depth: scrubbed from any text we write
        if config.shared_state is not None:
            for secret in config.shared_state.redis.secrets():
                self.redactor.register(secret)
        shared = self.shared
        types = {p.type for p in config.providers.values()}
        self.adapters.update(load_adapters(types - set(self.adapters)))
        change = self.pools.prepare(config)
        creds = self._credential_change = self.credentials.prepare(config)  # no I/O: nothing started
        try:
            router = Router(config, self.health, rng=self._pick, canary=self.routing_state.canary)
            dispatcher = Dispatcher(
                config, self.health, UpstreamCaller(config, change.mapping(), dict(self.adapters), self.deadlines,
                                                     creds.mapping),
                clock=self.clock, sleep=self._sleep, rng=self._pick, redact=self.redactor.text,
                on_queue_wait=self.metrics.queue_wait, on_budget_exhausted=self.metrics.retry_budget_exhausted,
                limits=shared.limits if shared is not None else None,
            )
            pipeline = build_pipeline(config, router, dispatcher, self.routing_state.ledger,
                                      self.routing_state.canary, previous.pipeline if previous else None, shared)
        except BaseException:
            self._close_later(change.created)
            raise
        return Generation(config, router, dispatcher, pipeline, number), change

    def _commit_credentials(self) -> list[Any]:
        """Put the credentials the last _build prepared in use; close the retired ones and
        return the new ones, for the caller to start."""
        change = self._credential_change
        self._credential_change = None
        if change is None:
            return []
        self.credentials.commit(change)
        for creds in change.retired:
            self._later(creds.close())
        return change.created

    @staticmethod
    def _shared_for(config: Config) -> Any:
        if config.shared_state is None:
            return None
        from ..shared.state import SharedState  # loads redis: only for a config that shares state

        return SharedState(config.shared_state)

    async def start(self) -> None:
        # Each waits a bounded time for its first fetch, so the first requests are signed.
        initial, self._initial_credentials = self._initial_credentials, []
        await asyncio.gather(*(creds.start() for creds in initial))
        await self.writer.start()
        if self.telemetry is not None:
            self.telemetry.start()
        await self.routing_state.start()
        if self.shared is not None:
            await self.shared.start()  # bounded; an absent Redis is retried in the background
            self._watch_budgets(self.generation.config)
        self._started = True
        self._follow_health_checks(self.generation.config)

    def apply(self, config: Config) -> None:
        """Swap to a new, already validated config; on any error the old one keeps serving."""
        old = self.generation
        old_shared = self.shared
        redis_of = (lambda c: c.shared_state.redis if c.shared_state is not None else None)
        if redis_of(config) != redis_of(old.config):  # another Redis, or none: another store
            self.shared = self._shared_for(config)
        try:
            new, change = self._build(config, old.number + 1, old)
            try:
                self.health.reconfigure(config)
            except BaseException:
                self._close_later(change.created)
                self._later(new.pipeline.close())
                raise
        except BaseException:
            if self.shared is not old_shared:
                self.shared = old_shared  # the new store never started: nothing to close
            raise
        retired_shared = None
        if self.shared is not old_shared:
            retired_shared = old_shared  # closes with the old generation, once its requests end
            if self.shared is not None:
                self._later(self.shared.start())
        self.pools.commit(change)
        for creds in self._commit_credentials():
            self._later(creds.start())  # until the first fetch, its attempts fail over
        self.generation = new
        self._follow_health_checks(config)
        self._watch_budgets(config)
        self._retired.append(Retired(new.number, change.retired, old.pipeline, retired_shared))
        self._release_retired()
        self.metrics.set_known_names(config.names())
        self.metrics.config_reloaded(True, config.hash)

    # -- what /state and /metrics show of budgets and shared state ---------------------------

    def _budget_spend(self) -> dict[str, tuple[str, float]]:
        """Each budget key's spend this period: the fleet's when shared_state keeps it, else
        this pod's ledger. Never awaits (the fleet figures are the store's cached copy)."""
        if self.shared is not None:
            return {key: ("fleet", spend.spent_usd) for key, spend in self.shared.budgets.cached().items()}
        out: dict[str, tuple[str, float]] = {}
        now = time.time()
        for name, route in self.generation.config.routes.items():
            if route.budget is not None:
                start, _ = period_bounds(route.budget.period, now)
                for key, usd in self.routing_state.ledger.spend_in_period(f"{name}/{route.budget.period}",
                                                                          start).items():
                    out[key] = ("pod", usd)
        return out

    def _watch_budgets(self, config: Config) -> None:
        """The fleet-wide spend of every route budget shows in /state and /metrics from the
        start, before this pod reserves on it (per-tag keys show once a request makes them)."""
        if self.shared is None:
            return
        now = time.time()
        for name, route in config.routes.items():
            budget = route.budget
            if budget is not None and not budget.per_tag:
                self.shared.budgets.watch(f"{name}/{budget.period}", period_bounds(budget.period, now)[1])

    def shared_state_view(self) -> dict[str, Any] | None:
        """For GET /state: availability, calls and fleet-wide budget spend (None: per pod)."""
        if self.shared is None:
            return None
        view = dict(self.shared.stats())
        view["budgets"] = {key: {"spent_usd": round(spend.spent_usd, 6), "reserved_usd": round(spend.reserved_usd, 6)}
                           for key, spend in sorted(self.shared.budgets.cached().items())}
        return view

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
        provider = self.generation.config.providers.get(name)
        pool = self.pools.get(name)
        adapter = self.adapters.get(provider.type) if provider is not None else None
        if provider is None or pool is None or adapter is None:
            return ProbeResult(False, "provider not in the live config")
        return await probe_provider(pool, adapter, provider, self.health_checks.timeout, self.deadlines,
                                    self.credentials.get(name))

    # -- requests ----------------------------------------------------------------------------

    def request_started(self) -> None:
        """Count a request in on the generation it took (call it with no await in between)."""
        number = self.generation.number
        self._live[number] = self._live.get(number, 0) + 1
        self.in_flight += 1
        self._idle.clear()

    def finish(self, gen: Generation, ex: Exchange) -> None:
        """The request is over: its row is completed, the stages settle, the row is queued and
        counted. Never raises into the request."""
        try:
            record = ex.record
            record.latency_ms = (time.perf_counter() - ex.started) * 1000
            if record.overhead_ms is None:
                record.overhead_ms = overhead_ms(ex, record.latency_ms / 1000)
            attach_detail(ex, self.clock())
            gen.pipeline.settle(ex)
            self.writer.submit(record)
            if self.telemetry is not None:
                self.telemetry.submit(record)
            self.metrics.observe(record)
            if gen.config.server.log_requests:
                log_request(record)
        except Exception:  # noqa: BLE001 - bookkeeping must never turn an answer into an error
            log.exception("could not finish the route-log row", extra={"request_id": ex.record.request_id})
        finally:
            self._request_finished(gen.number)

    def _request_finished(self, number: int) -> None:
        left = self._live.get(number, 0) - 1
        if left > 0:
            self._live[number] = left
        else:
            self._live.pop(number, None)
            if self._retired and number != self.generation.number:
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
        """Close what a retired generation alone used (pools, stages, a replaced shared store)
        once no request runs on a generation older than its retirement."""
        oldest = min(self._live, default=self.generation.number)
        keep = []
        for retired in self._retired:
            if oldest < retired.number:
                keep.append(retired)
            else:
                self._close_retired(retired)
        self._retired = keep

    def _close_retired(self, retired: Retired) -> None:
        self._close_later(retired.pools)
        self._later(retired.pipeline.close())
        if retired.shared is not None:
            self._later(retired.shared.close())

    @property
    def open_streams(self) -> int:
        return len(self.streams)

    def end_streams(self, reason: str) -> int:
        return self.streams.end_all(reason)

    # -- background ---------------------------------------------------------------------------

    def _close_later(self, pools: list[Pool]) -> None:
        for pool in pools:
            self._later(pool.close())

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
        for retired in self._retired:
            self._close_retired(retired)
        self._retired.clear()
        await self.generation.pipeline.close()  # stops background classifier preparation
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.pools.close()
        await self.credentials.close()
        await self.routing_state.close()
        if self.shared is not None:
            await self.shared.close()  # queued reconciliations get their last bounded send
        await self.writer.close()
        if self.telemetry is not None:
            await self.telemetry.close()
