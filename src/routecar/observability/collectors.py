"""Collectors read at scrape time: live state is not pushed per request.

The server registers callables (the health registry's snapshot, the route-log writer's
counts) that `Metrics` reads only when Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("routecar.observability")

CIRCUIT_STATES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}

HealthSource = Callable[[], Mapping[str, Any]]
RouteLogSource = Callable[[], tuple[int, int, int]]


class HealthCollector(Collector):
    """Reads the health registry's snapshot at scrape time (nothing is updated per request)."""

    def __init__(self) -> None:
        self.source: HealthSource | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("routecar_circuit_state",
                              "Circuit breaker state per deployment: 0 closed, 1 half_open, 2 open.",
                              labels=["deployment"]),
            GaugeMetricFamily("routecar_cooldown_seconds",
                              "Seconds left in a deployment's rate-limit cooldown (0 when none).",
                              labels=["deployment"]),
            GaugeMetricFamily("routecar_in_flight", "Requests in flight per deployment.",
                              labels=["deployment"]),
        )

    def collect(self) -> Iterator[Metric]:
        state, cooldown, in_flight = self._families()
        source = self.source
        if source is not None:
            try:
                deployments = source().get("deployments") or {}
                for dep_id, dep in deployments.items():
                    labels = [str(dep_id)]
                    code = CIRCUIT_STATES.get(dep.get("state", ""))
                    if code is not None:
                        state.add_metric(labels, code)
                    cooldown.add_metric(labels, float(dep.get("cooldown_s", dep.get("cooldown_remaining")) or 0.0))
                    in_flight.add_metric(labels, float(dep.get("in_flight") or 0))
            except Exception:  # a broken source must not turn /metrics into a 500
                log.exception("health snapshot for metrics failed")
        yield from (state, cooldown, in_flight)


class RouteLogCollector(Collector):
    """Reads the route-log writer's (depth, dropped, written) at scrape time."""

    def __init__(self) -> None:
        self.source: RouteLogSource | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families(0, 0, 0)

    @staticmethod
    def _families(depth: int, dropped: int, written: int) -> tuple[Metric, Metric, Metric]:
        return (
            GaugeMetricFamily("routecar_route_log_queue_depth",
                              "Rows waiting in the route-log queue.", value=depth),
            CounterMetricFamily("routecar_route_log_dropped",
                                "Rows dropped: the route-log queue was full, or a batch failed to write "
                                "after its retries.", value=dropped),
            CounterMetricFamily("routecar_route_log_written",
                                "Rows written to the route-log SQLite file.", value=written),
        )

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        try:
            depth, dropped, written = self.source()
        except Exception:
            log.exception("route log stats for metrics failed")
            return
        yield from self._families(depth, dropped, written)


# {budget key: (scope, spent USD)}: "fleet" from shared_state, "pod" from the local ledger.
BudgetSource = Callable[[], Mapping[str, tuple[str, float]]]
# shared_state's stats(): {"available", "unavailable_seconds", "calls": {result: n}, ...}, or None.
SharedSource = Callable[[], Mapping[str, Any] | None]


class BudgetCollector(Collector):
    """Each budget's spend in its current period, read at scrape time (never awaiting Redis:
    the fleet-wide figures are the shared store's cached copy, refreshed in the background)."""

    def __init__(self) -> None:
        self.source: BudgetSource | None = None

    def describe(self) -> Iterable[Metric]:
        return (self._family(),)

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("routecar_budget_spent_usd",
                                 "Spend in the current period per budget key; scope is fleet (shared_state) "
                                 "or pod.", labels=["budget", "scope"])

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        if self.source is not None:
            try:
                for key, (scope, usd) in self.source().items():
                    family.add_metric([key, scope], usd)
            except Exception:
                log.exception("budget spend for metrics failed")
        yield family


class SharedStateCollector(Collector):
    """shared_state's availability and calls, read at scrape time."""

    def __init__(self) -> None:
        self.source: SharedSource | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families({})

    @staticmethod
    def _families(stats: Mapping[str, Any]) -> tuple[Metric, Metric, Metric]:
        up = GaugeMetricFamily("routecar_shared_state_up", "1 while shared_state's Redis answers, 0 while "
                               "this pod falls back (or rejects) per shared_state.on_unavailable.")
        down = CounterMetricFamily("routecar_shared_state_unavailable_seconds",
                                   "Seconds this pod has spent without shared_state's Redis.")
        calls = CounterMetricFamily("routecar_shared_state_calls", "Calls to shared_state's Redis by result.",
                                    labels=["result"])
        if stats:
            up.add_metric([], 1.0 if stats.get("available") else 0.0)
            down.add_metric([], float(stats.get("unavailable_seconds") or 0.0))
            for result, n in (stats.get("calls") or {}).items():
                calls.add_metric([str(result)], float(n))
        return up, down, calls

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        try:
            stats = self.source()
        except Exception:
            log.exception("shared_state stats for metrics failed")
            return
        if stats:
            yield from self._families(stats)


# The telemetry exporter's ({(signal, result): items}, queue depth), or None when it is off.
TelemetrySource = Callable[[], tuple[Mapping[tuple[str, str], int], int] | None]


class TelemetryCollector(Collector):
    """The telemetry exporter's counts, read at scrape time (routecar.telemetry.exporter)."""

    def __init__(self) -> None:
        self.source: TelemetrySource | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families()

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, GaugeMetricFamily]:
        return (
            CounterMetricFamily("routecar_telemetry_exported",
                                "Spans' requests and route rows per signal (traces, logs, stdout) and result: "
                                "exported, failed (collector down, slow or refusing) or dropped (queue full).",
                                labels=["signal", "result"]),
            GaugeMetricFamily("routecar_telemetry_queue_depth", "Route records waiting to be exported."),
        )

    def collect(self) -> Iterator[Metric]:
        source = self.source
        if source is None:
            return
        try:
            got = source()
        except Exception:
            log.exception("telemetry stats for metrics failed")
            return
        if got is None:
            return
        counts, depth = got
        exported, queue = self._families()
        for (signal, result), n in sorted(counts.items()):
            exported.add_metric([signal, result], float(n))
        queue.add_metric([], float(depth))
        yield exported
        yield queue
