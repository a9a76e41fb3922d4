"""Prometheus metrics for routecar (the `routecar_*` names the Helm dashboard reads).

One `Metrics` per process, built at start-up and handed to the server. It owns its own
`CollectorRegistry` (never the global default) so tests can make as many as they like.

Per-request cost matters: `observe()` runs once per finished request and must stay in the
low microseconds. So the amounts are plain numbers (series.py) that `observe()` adds to, with
the label tuples cached in dicts, and a collector (exposition.py) turns them into Prometheus
families only when Prometheus scrapes. No locks: call every method, `render()` included, from
the event-loop thread.

Live state (circuit breakers, cooldowns, in-flight counts, the route-log queue) is not pushed
per request: the server registers callables that are read only when Prometheus scrapes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import generate_latest

from routecar import __version__
from routecar.observability.collectors import (
    BudgetCollector,
    BudgetSource,
    SharedSource,
    SharedStateCollector,
    HealthCollector,
    HealthSource,
    RouteLogCollector,
    RouteLogSource,
    TelemetryCollector,
    TelemetrySource,
)
from routecar.observability.exposition import SeriesCollector
from routecar.observability.series import MAX_CACHED_CHILDREN, OVERFLOW, SeriesStore
from routecar.routelog.record import RouteRecord

__all__ = [
    "CONTENT_TYPE",
    "LLM_BUCKETS",
    "MAX_CACHED_CHILDREN",
    "OVERFLOW",
    "OVERHEAD_BUCKETS",
    "QUEUE_WAIT_BUCKETS",
    "REDACTED",
    "UNKNOWN_MODEL",
    "Metrics",
]

# LLM calls take from tens of milliseconds (small, cached, local) to minutes (long generations).
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
# routecar's own time per request; the target is well under a millisecond.
OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05)
# Backpressure waits are capped by server.max_queue_wait (seconds, default 5).
QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UNKNOWN_MODEL = "_unknown"
REDACTED = "_redacted"

_CACHE_HITS = frozenset({"hit", "semantic_hit"})
# A requested model is client input; if it looks like a credential it never becomes a label.
_KEYLIKE = re.compile(r"sk-|AIza|[Bb]earer\s")
_MAX_LABEL_LEN = 128
# The classic text format, which generate_latest() writes for our names and which every
# Prometheus version parses (the library's CONTENT_TYPE_LATEST advertises 1.0.0 in new releases).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Every routecar metric, on a private registry. Build once; call from the event loop.

    `max_series` caps the cached label combinations (past it, new ones are counted under the
    "_overflow" label values); `clock` stamps each series' `_created` sample.
    """

    def __init__(self, version: str | None = None, process_metrics: bool = True, *,
                 max_series: int = MAX_CACHED_CHILDREN, clock: Callable[[], float] = time.time) -> None:
        self._store = store = SeriesStore(LLM_BUCKETS, OVERHEAD_BUCKETS, QUEUE_WAIT_BUCKETS,
                                          version=version or __version__, clock=clock, max_series=max_series)
        # The maps observe() reads on every request, bound once.
        self._bundles = store.bundles
        self._attempts = store.attempts
        self._cache = store.cache
        self._overhead = store.overhead
        self._known_names: frozenset[str] | None = None

        self.registry = r = CollectorRegistry()
        self._health = HealthCollector()
        self._route_log = RouteLogCollector()
        self._budgets = BudgetCollector()
        self._shared = SharedStateCollector()
        self._telemetry = TelemetryCollector()
        r.register(SeriesCollector(store))
        r.register(self._health)
        r.register(self._route_log)
        r.register(self._budgets)
        r.register(self._shared)
        r.register(self._telemetry)
        if process_metrics:
            # Reading /proc costs ~0.1 ms per scrape (measured), negligible at scrape intervals,
            # and memory/CPU/fds per sidecar are what the platform team asks about first.
            ProcessCollector(namespace="routecar", registry=r)

    # -- sources read at scrape time ------------------------------------------------------

    def set_health_source(self, fn: HealthSource | None) -> None:
        """`fn()` returns the health registry snapshot: {"deployments": {id: {"state", ...}}}."""
        self._health.source = fn

    def set_route_log_source(self, fn: RouteLogSource | None) -> None:
        """`fn()` returns the route-log writer's (queue depth, rows dropped, rows written)."""
        self._route_log.source = fn

    def set_budget_source(self, fn: BudgetSource | None) -> None:
        """`fn()` returns {budget key: (scope "fleet" or "pod", spent USD this period)}."""
        self._budgets.source = fn

    def set_shared_source(self, fn: SharedSource | None) -> None:
        """`fn()` returns shared_state's stats(), or None without shared_state."""
        self._shared.source = fn

    def set_telemetry_source(self, fn: TelemetrySource | None) -> None:
        """`fn()` returns the telemetry exporter's ({(signal, result): items}, queue depth)."""
        self._telemetry.source = fn

    def set_known_names(self, names: Iterable[str]) -> None:
        """Model slugs and route names of the live config (`Config.names()`).

        When set, a requested model outside it is labelled "_unknown": client input never
        becomes a label value, so it can neither carry a secret nor grow cardinality.
        """
        self._known_names = frozenset(names)

    # -- per request ------------------------------------------------------------------------

    def observe(self, record: RouteRecord) -> None:
        """Count one finished request: every per-request metric comes from this call."""
        store = self._store
        route = record.route or ""
        provider = record.provider or ""
        model = record.chosen_model or self._requested_label(record.requested_model)
        key = (route, model, provider, record.status, record.outcome)
        b = self._bundles.get(key)
        if b is None:
            b = store.bundle(key)
        b.n += 1
        b.duration.add(record.latency_ms / 1000.0)
        ms = record.ttft_ms
        if ms is not None:
            h = b.ttft
            if h is None:
                h = store.ttft(b)
            h.add(ms / 1000.0)
        ms = record.overhead_ms
        if ms is not None:
            self._overhead.add(ms / 1000.0)

        cache = record.cache
        hit = cache in _CACHE_HITS
        # A cache hit costs nothing upstream: its usage would overstate spend and tokens.
        # Counters never go down: a negative amount (a broken upstream's usage) counts nothing.
        if not hit:
            n = record.prompt_tokens
            if n and n > 0:
                c = b.prompt
                if c is None:
                    c = store.prompt(b)
                c.value += n
            n = record.completion_tokens
            if n and n > 0:
                c = b.completion
                if c is None:
                    c = store.completion(b)
                c.value += n
            cost = record.cost_usd
            if cost and cost > 0:
                c = b.cost
                if c is None:
                    c = store.cost(b)
                c.value += cost
        if record.fallback:
            c = b.fallbacks
            if c is None:
                c = store.fallback(b)
            c.value += 1
        n = record.escalations
        if n and n > 0:
            c = b.escalations
            if c is None:
                c = store.escalation(b)
            c.value += n

        attempts = self._attempts
        for outcome in record.attempt_outcomes():
            c = attempts.get(outcome)
            if c is None:
                c = store.attempt(outcome)
            c.value += 1

        if cache:
            slot = self._cache.get((route, cache))
            if slot is None:
                slot = store.cache_slot(route, cache)
            slot.lookups.value += 1
            if hit:
                # What the answer would have cost: the server's estimate, else its usage cost.
                saved = record.est_cost_usd or record.cost_usd
                if saved and saved > 0:
                    slot.saved.value += saved

    def queue_wait(self, seconds: float) -> None:
        """A request waited `seconds` for capacity (backpressure)."""
        self._store.queue_waits.value += 1
        self._store.queue_wait.add(seconds)

    def retry_budget_exhausted(self) -> None:
        self._store.budget_exhausted.value += 1

    def health_check(self, provider: str, ok: bool) -> None:
        """One active health check of `provider` (a config name, so labels stay bounded)."""
        self._store.health_check(provider, "ok" if ok else "failed").value += 1

    # -- config ---------------------------------------------------------------------------

    def config_reloaded(self, ok: bool, config_hash: str | None) -> None:
        """Count a reload; on success the info gauge moves to the new hash."""
        self._store.reloads["ok" if ok else "error"].value += 1
        if ok and config_hash:
            self.set_config_hash(config_hash)

    def set_config_hash(self, config_hash: str) -> None:
        """Mark the config serving now (the first load too) without counting a reload.

        Only the serving hash is a series: the info gauge never accumulates old ones."""
        self._store.config_hash = config_hash

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type, for GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE

    def _requested_label(self, requested: str | None) -> str:
        if not requested:
            return ""
        known = self._known_names
        if known is not None:
            return requested if requested in known else UNKNOWN_MODEL
        if _KEYLIKE.search(requested):
            return REDACTED
        return requested[:_MAX_LABEL_LEN]
