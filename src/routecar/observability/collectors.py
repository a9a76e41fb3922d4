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
                                "Rows dropped because the route-log queue was full.", value=dropped),
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
