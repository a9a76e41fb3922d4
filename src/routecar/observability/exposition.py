"""The `routecar_*` families of one `SeriesStore`, built when Prometheus scrapes.

Names, help texts and labels are the Helm dashboard's contract: they and the order of the
families are what the prometheus-client `Counter`/`Histogram`/`Gauge` objects this replaced
wrote, `_created` samples included, so a scrape reads the same as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from routecar.observability.series import Buckets, Count, SeriesStore

R_M_P = ("route", "model", "provider")


class SeriesCollector:
    """prometheus-client's `Collector` protocol over a `SeriesStore`.

    `collect()` runs on the event-loop thread (`Metrics.render`), like every update of the
    store: it reads plain numbers, so a scrape always sees every finished request.
    """

    def __init__(self, store: SeriesStore) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        # The registry asks for the names once, to refuse a second collector of the same ones.
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        s = self._store
        requests = CounterMetricFamily("routecar_requests_total", "Finished requests.",
                                       labels=["route", "model", "provider", "status", "outcome"])
        for b in s.bundles.values():
            requests.add_metric(b.labels, b.n, created=b.created)
        yield requests
        yield histogram("routecar_request_duration_seconds", "Whole request time, failover included.",
                        R_M_P, s.durations)
        yield histogram("routecar_ttft_seconds", "Time to the first content byte.", R_M_P, s.ttfts)
        yield histogram("routecar_overhead_seconds",
                        "Time spent inside routecar per request, upstream excluded.", (), {(): s.overhead})
        yield counter("routecar_tokens_total", "Tokens processed by providers.",
                      ("model", "provider", "direction"), s.tokens)
        yield counter("routecar_cost_usd_total", "Spend in USD, from usage.", R_M_P, s.costs)
        yield counter("routecar_attempts_total", "Upstream attempts; outcome is ok or the error class.",
                      ("provider", "model", "outcome"), s.attempts)
        yield counter("routecar_fallbacks_total", "Answers served by a model other than the first planned.",
                      ("route", "model"), s.fallbacks)
        yield counter("routecar_escalations_total", "Cascade escalations.", ("route",), s.escalations)
        yield counter("routecar_cache_total", "Cache lookups by result.", ("route", "result"),
                      {key: slot.lookups for key, slot in s.cache.items()})
        yield counter("routecar_cache_saved_usd_total", "Estimated spend avoided by cache hits.", ("route",),
                      s.cache_saved)
        yield counter("routecar_queue_waits_total", "Requests that waited for capacity (backpressure).", (),
                      {(): s.queue_waits})
        yield histogram("routecar_queue_wait_seconds", "Backpressure wait time.", (), {(): s.queue_wait})
        yield counter("routecar_retry_budget_exhausted_total",
                      "Retries refused because the retry budget was spent.", (), {(): s.budget_exhausted})
        yield counter("routecar_health_checks_total",
                      "Active health checks of providers with an open circuit, by result (ok or failed).",
                      ("provider", "result"), s.health_checks)
        yield counter("routecar_config_reloads_total", "Config reloads by result.", ("result",),
                      {(result,): c for result, c in s.reloads.items()})
        info = GaugeMetricFamily("routecar_config_info", "Hash of the config serving now.", labels=["hash"])
        if s.config_hash is not None:
            info.add_metric([s.config_hash], 1)
        yield info
        build = GaugeMetricFamily("routecar_build_info", "routecar version.", labels=["version"])
        build.add_metric([s.version], 1)
        yield build


def counter(name: str, doc: str, labelnames: Sequence[str], series: Mapping[tuple[str, ...], Count]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labelnames)
    for labels, c in series.items():
        family.add_metric(labels, c.value, created=c.created)
    return family


def histogram(name: str, doc: str, labelnames: Sequence[str],
              series: Mapping[tuple[str, ...], Buckets]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=labelnames)
    les: list[str] | None = None
    for labels, h in series.items():
        if les is None:  # every series of a family has the same bounds
            les = [floatToGoString(b) for b in h.bounds]
        family.add_metric(labels, list(zip(les, h.cumulative())), h.total)
        # HistogramMetricFamily has no `created` argument: the sample prometheus-client's own
        # Histogram writes, added the public way.
        family.add_sample(name + "_created", dict(zip(labelnames, labels)), h.created)
    return family
