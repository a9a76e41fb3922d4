"""Prometheus metrics for routecar (the `routecar_*` names the Helm dashboard reads).

One `Metrics` per process, built at start-up and handed to the server. It owns its own
`CollectorRegistry` (never the global default) so tests can make as many as they like.

Per-request cost matters: `observe()` runs once per finished request and must stay in the
low microseconds. prometheus-client's `.labels()` validates and hashes on every call, so the
labelled children are cached in plain dicts keyed by the label tuple and reused. And every
`inc`/`observe` of a child takes a lock: `observe()` only adds to plain numbers kept beside
the children (one event-loop thread, no lock needed), and `render()` folds them into the
children before it writes the exposition, so a scrape always sees every finished request.

Live state (circuit breakers, cooldowns, in-flight counts, the route-log queue) is not pushed
per request: the server registers callables that are read only when Prometheus scrapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest

from routecar import __version__
from routecar.observability.collectors import HealthCollector, HealthSource, RouteLogCollector, RouteLogSource
from routecar.observability.pending import PendingHistogram, SeriesBundle
from routecar.routelog.record import RouteRecord


# LLM calls take from tens of milliseconds (small, cached, local) to minutes (long generations).
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
# routecar's own time per request; the target is well under a millisecond.
OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05)
# Backpressure waits are capped by server.max_queue_wait (seconds, default 5).
QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Label combinations are bounded by config (routes x models x providers x statuses), but a
# bug or hostile input must not grow memory or the scrape without limit: past this many cached
# label tuples, new combinations are counted under the "_overflow" label value instead.
MAX_CACHED_CHILDREN = 10_000
OVERFLOW = "_overflow"
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
    """Every routecar metric, on a private registry. Build once; call from the event loop."""

    def __init__(self, version: str | None = None, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter("routecar_requests_total", "Finished requests.",
                                 ["route", "model", "provider", "status", "outcome"], registry=r)
        self._duration = Histogram("routecar_request_duration_seconds",
                                   "Whole request time, failover included.",
                                   ["route", "model", "provider"], buckets=LLM_BUCKETS, registry=r)
        self._ttft = Histogram("routecar_ttft_seconds", "Time to the first content byte.",
                               ["route", "model", "provider"], buckets=LLM_BUCKETS, registry=r)
        self._overhead = Histogram("routecar_overhead_seconds",
                                   "Time spent inside routecar per request, upstream excluded.",
                                   buckets=OVERHEAD_BUCKETS, registry=r)
        self._tokens = Counter("routecar_tokens_total", "Tokens processed by providers.",
                               ["model", "provider", "direction"], registry=r)
        self._cost = Counter("routecar_cost_usd_total", "Spend in USD, from usage.",
                             ["route", "model", "provider"], registry=r)
        self._attempts = Counter("routecar_attempts_total",
                                 "Upstream attempts; outcome is ok or the error class.",
                                 ["provider", "model", "outcome"], registry=r)
        self._fallbacks = Counter("routecar_fallbacks_total",
                                  "Answers served by a model other than the first planned.",
                                  ["route", "model"], registry=r)
        self._escalations = Counter("routecar_escalations_total", "Cascade escalations.",
                                    ["route"], registry=r)
        self._cache = Counter("routecar_cache_total", "Cache lookups by result.",
                              ["route", "result"], registry=r)
        self._cache_saved = Counter("routecar_cache_saved_usd_total",
                                    "Estimated spend avoided by cache hits.", ["route"], registry=r)
        self._queue_waits = Counter("routecar_queue_waits_total",
                                    "Requests that waited for capacity (backpressure).", registry=r)
        self._queue_wait = Histogram("routecar_queue_wait_seconds", "Backpressure wait time.",
                                     buckets=QUEUE_WAIT_BUCKETS, registry=r)
        self._budget_exhausted = Counter("routecar_retry_budget_exhausted_total",
                                         "Retries refused because the retry budget was spent.",
                                         registry=r)
        self._health_checks = Counter("routecar_health_checks_total",
                                      "Active health checks of providers with an open circuit, "
                                      "by result (ok or failed).",
                                      ["provider", "result"], registry=r)
        self._reloads = Counter("routecar_config_reloads_total", "Config reloads by result.",
                                ["result"], registry=r)
        self._config_info = Gauge("routecar_config_info", "Hash of the config serving now.",
                                  ["hash"], registry=r)
        self._build_info = Gauge("routecar_build_info", "routecar version.", ["version"],
                                 registry=r)
        # Present at 0 from the start so increase() and alerts work on the first failure.
        self._reload_ok = self._reloads.labels("ok")
        self._reload_error = self._reloads.labels("error")
        self._build_info.labels(version or __version__).set(1)
        self._config_hash: str | None = None

        self._health = HealthCollector()
        self._route_log = RouteLogCollector()
        r.register(self._health)
        r.register(self._route_log)
        if process_metrics:
            # Reading /proc costs ~0.1 ms per scrape (measured), negligible at scrape intervals,
            # and memory/CPU/fds per sidecar are what the platform team asks about first.
            ProcessCollector(namespace="routecar", registry=r)

        self._bundles: dict[tuple[Any, ...], SeriesBundle] = {}
        self._overhead_h = PendingHistogram(tuple(self._overhead._upper_bounds))
        # (provider, model, outcome) -> [counter child, attempts since the last fold]
        self._attempt_children: dict[tuple[Any, ...], list[Any]] = {}
        # (route, result) -> [lookup counter child, saved-USD child of that route,
        #                     lookups and saved USD since the last fold]
        self._cache_children: dict[tuple[str, str], list[Any]] = {}
        self._known_names: frozenset[str] | None = None

    # -- sources read at scrape time ------------------------------------------------------

    def set_health_source(self, fn: HealthSource | None) -> None:
        """`fn()` returns the health registry snapshot: {"deployments": {id: {"state", ...}}}."""
        self._health.source = fn

    def set_route_log_source(self, fn: RouteLogSource | None) -> None:
        """`fn()` returns the route-log writer's (queue depth, rows dropped, rows written)."""
        self._route_log.source = fn

    def set_known_names(self, names: Iterable[str]) -> None:
        """Model slugs and route names of the live config (`Config.names()`).

        When set, a requested model outside it is labelled "_unknown": client input never
        becomes a label value, so it can neither carry a secret nor grow cardinality.
        """
        self._known_names = frozenset(names)

    # -- per request ------------------------------------------------------------------------

    def observe(self, record: RouteRecord) -> None:
        """Count one finished request: every per-request metric comes from this call.

        Only plain additions here; `render()` folds them into prometheus-client."""
        route = record.route or ""
        provider = record.provider or ""
        model = record.chosen_model or self._requested_label(record.requested_model)
        key = (route, model, provider, record.status, record.outcome)
        b = self._bundles.get(key)
        if b is None:
            b = self._new_bundle(key)
        b.n += 1
        b.dur.add(record.latency_ms / 1000.0)
        if record.ttft_ms is not None:
            if b.ttft is None:
                self._lazy(b, "ttft")
            b.ttft_h.add(record.ttft_ms / 1000.0)
        if record.overhead_ms is not None:
            self._overhead_h.add(record.overhead_ms / 1000.0)

        cache = record.cache
        hit = cache in _CACHE_HITS
        # A cache hit costs nothing upstream: its usage would overstate spend and tokens.
        # Counters never go down: a negative amount (a broken upstream's usage) counts nothing.
        if not hit:
            n = record.prompt_tokens
            if n and n > 0:
                if b.prompt is None:
                    self._lazy(b, "prompt")
                b.prompt_n += n
            n = record.completion_tokens
            if n and n > 0:
                if b.completion is None:
                    self._lazy(b, "completion")
                b.completion_n += n
            cost = record.cost_usd
            if cost and cost > 0:
                if b.cost is None:
                    self._lazy(b, "cost")
                b.cost_n += cost
        if record.fallback:
            if b.fallbacks is None:
                self._lazy(b, "fallbacks")
            b.fallbacks_n += 1
        n = record.escalations
        if n and n > 0:
            if b.escalations is None:
                self._lazy(b, "escalations")
            b.escalations_n += n

        for attempt in record.attempt_entries():
            self._attempt_child(attempt)[1] += 1

        if cache:
            slot = self._cache_children.get((route, cache))
            if slot is None:
                slot = self._new_cache_children(route, cache)
            slot[2] += 1
            if hit:
                # What the answer would have cost: the server's estimate, else its usage cost.
                saved = record.est_cost_usd or record.cost_usd
                if saved and saved > 0:
                    slot[3] += saved

    def _fold(self) -> None:
        """Moves every amount observed since the last fold into prometheus-client."""
        for b in self._bundles.values():
            b.fold()
        self._overhead_h.fold_into(self._overhead)
        for slot in self._attempt_children.values():
            if slot[1]:
                slot[0].inc(slot[1])
                slot[1] = 0
        for slot in self._cache_children.values():
            if slot[2]:
                slot[0].inc(slot[2])
                slot[2] = 0
            if slot[3]:
                slot[1].inc(slot[3])
                slot[3] = 0.0

    def queue_wait(self, seconds: float) -> None:
        """A request waited `seconds` for capacity (backpressure)."""
        self._queue_waits.inc()
        self._queue_wait.observe(seconds)

    def retry_budget_exhausted(self) -> None:
        self._budget_exhausted.inc()

    def health_check(self, provider: str, ok: bool) -> None:
        """One active health check of `provider` (a config name, so labels stay bounded).

        At most one per provider per interval, off the request path: no need for the folded
        plain counters the per-request metrics use."""
        self._health_checks.labels(provider, "ok" if ok else "failed").inc()

    # -- config ---------------------------------------------------------------------------

    def config_reloaded(self, ok: bool, config_hash: str | None) -> None:
        """Count a reload; on success the info gauge moves to the new hash."""
        if ok:
            self._reload_ok.inc()
            if config_hash:
                self.set_config_hash(config_hash)
        else:
            self._reload_error.inc()

    def set_config_hash(self, config_hash: str) -> None:
        """Mark the config serving now (the first load too) without counting a reload."""
        if config_hash == self._config_hash:
            return
        if self._config_hash is not None:
            self._config_info.remove(self._config_hash)
        self._config_info.labels(config_hash).set(1)
        self._config_hash = config_hash

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type, for GET /metrics."""
        self._fold()
        return generate_latest(self.registry), CONTENT_TYPE

    # -- child cache ----------------------------------------------------------------------

    def _requested_label(self, requested: str | None) -> str:
        if not requested:
            return ""
        known = self._known_names
        if known is not None:
            return requested if requested in known else UNKNOWN_MODEL
        if _KEYLIKE.search(requested):
            return REDACTED
        return requested[:_MAX_LABEL_LEN]

    def _cache_full(self) -> bool:
        size = len(self._bundles) + len(self._attempt_children) + len(self._cache_children)
        return size >= MAX_CACHED_CHILDREN

    def _new_bundle(self, key: tuple[Any, ...]) -> SeriesBundle:
        route, model, provider, status, outcome = key
        if self._cache_full():
            # Not cached under the raw key: that is what would grow. The overflow bundle
            # itself is bounded by statuses x outcomes.
            key = (OVERFLOW, OVERFLOW, OVERFLOW, status, outcome)
            b = self._bundles.get(key)
            if b is not None:
                return b
            route = model = provider = OVERFLOW
        b = SeriesBundle(
            (route, model, provider),
            self._requests.labels(route, model, provider, str(status), outcome),
            self._duration.labels(route, model, provider),
        )
        self._bundles[key] = b
        return b

    def _lazy(self, b: SeriesBundle, name: str) -> Any:
        route, model, provider = b.labels3
        metric, labels = {
            "ttft": (self._ttft, (route, model, provider)),
            "prompt": (self._tokens, (model, provider, "prompt")),
            "completion": (self._tokens, (model, provider, "completion")),
            "cost": (self._cost, (route, model, provider)),
            "fallbacks": (self._fallbacks, (route, model)),
            "escalations": (self._escalations, (route,)),
        }[name]
        child = metric.labels(*labels)
        setattr(b, name, child)
        return child

    def _attempt_child(self, attempt: Any) -> Any:
        if isinstance(attempt, dict):
            provider = attempt.get("provider") or ""
            model = attempt.get("slug") or attempt.get("model") or ""
            error = attempt.get("error")
        else:  # an AttemptRecord not yet turned into a dict
            provider = attempt.provider or ""
            model = attempt.slug or attempt.model or ""
            error = attempt.error
        key = (provider, model, error or "ok")
        slot = self._attempt_children.get(key)
        if slot is None:
            if self._cache_full():
                key = (OVERFLOW, OVERFLOW, key[2])
                slot = self._attempt_children.get(key)
                if slot is not None:
                    return slot
            slot = [self._attempts.labels(*key), 0]
            self._attempt_children[key] = slot
        return slot

    def _new_cache_children(self, route: str, result: str) -> list[Any]:
        key = (route, result)
        if self._cache_full():
            key = (OVERFLOW, result)
            slot = self._cache_children.get(key)
            if slot is not None:
                return slot
        slot = [self._cache.labels(*key), self._cache_saved.labels(key[0]), 0, 0.0]
        self._cache_children[key] = slot
        return slot
