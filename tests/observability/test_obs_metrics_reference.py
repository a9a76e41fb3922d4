"""`observe()` adds to plain numbers that a collector turns into families at scrape time: a
scrape sees every request, with the values prometheus-client's own metrics would show.

The reference for every value is prometheus-client itself, fed the same observations one
`inc`/`observe` per request.
"""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from routecar.observability.metrics import (
    LLM_BUCKETS,
    OVERHEAD_BUCKETS,
    QUEUE_WAIT_BUCKETS,
    Metrics,
)
from routecar.redaction import Redactor
from routecar.routelog.rows import to_row
from tests.observability.test_obs_metrics import Detail, ok_record, scrape, value

LABELS = dict(route="fast", model="gpt-4o-mini", provider="openai")


def test_a_scrape_right_after_n_requests_sees_exactly_n() -> None:
    m = Metrics(process_metrics=False)
    for n in (1, 7, 250):
        for _ in range(n):
            m.observe(ok_record())
        f = scrape(m)
        total = {1: 1, 7: 8, 250: 258}[n]
        assert value(f, "routecar_requests_total", **LABELS, status="200", outcome="ok") == total
        assert value(f, "routecar_request_duration_seconds_count", **LABELS) == total
        assert value(f, "routecar_ttft_seconds_count", **LABELS) == total
        assert value(f, "routecar_overhead_seconds_count") == total
        assert value(f, "routecar_attempts_total", provider="openai", model="gpt-4o-mini", outcome="ok") == total
        assert value(f, "routecar_fallbacks_total", route="fast", model="gpt-4o-mini") == total
        assert value(f, "routecar_tokens_total", model="gpt-4o-mini", provider="openai",
                     direction="prompt") == 100 * total


def test_histograms_match_prometheus_clients_own_observe() -> None:
    rng = random.Random(7)
    latencies = [rng.choice((0.0, 0.05, 0.1, 120.0, 500.0)) if i % 5 == 0 else rng.uniform(0, 150)
                 for i in range(400)]  # bucket edges, zero and past the last bound included
    overheads = [rng.uniform(0, 0.08) for _ in latencies]
    m = Metrics(process_metrics=False)
    ref = CollectorRegistry()
    dur = Histogram("routecar_request_duration_seconds", "d", ["route", "model", "provider"],
                    buckets=LLM_BUCKETS, registry=ref)
    ovh = Histogram("routecar_overhead_seconds", "o", buckets=OVERHEAD_BUCKETS, registry=ref)
    for i, (lat, over) in enumerate(zip(latencies, overheads)):
        m.observe(ok_record(latency_ms=lat * 1000, overhead_ms=over * 1000, ttft_ms=None))
        dur.labels("fast", "gpt-4o-mini", "openai").observe(lat * 1000 / 1000.0)
        ovh.observe(over * 1000 / 1000.0)
        if i in (0, 99, 250):
            m.render()  # scrapes in between must not change anything
    got, want = scrape(m), _parse(generate_latest(ref))
    for name in ("routecar_request_duration_seconds_bucket", "routecar_overhead_seconds_bucket",
                 "routecar_request_duration_seconds_count", "routecar_overhead_seconds_count"):
        assert sorted((tuple(sorted(lb.items())), v) for _, lb, v in got[name]) == \
            sorted((tuple(sorted(lb.items())), v) for _, lb, v in want[name]), name
    assert value(got, "routecar_request_duration_seconds_sum", **LABELS) == \
        pytest.approx(value(want, "routecar_request_duration_seconds_sum", **LABELS))


def test_counters_match_after_mixed_traffic() -> None:
    m = Metrics(process_metrics=False)
    ref = CollectorRegistry()
    cost = Counter("routecar_cost_usd_total", "c", ["route", "model", "provider"], registry=ref)
    for i in range(300):
        c = 0.0001 * (i % 7)
        m.observe(ok_record(cost_usd=c, cache="hit" if i % 10 == 0 else "miss", est_cost_usd=0.01,
                            escalations=i % 3, fallback=i % 2 == 0))
        if i % 10 and c:
            cost.labels("fast", "gpt-4o-mini", "openai").inc(c)
    f = scrape(m)
    assert value(f, "routecar_cost_usd_total", **LABELS) == pytest.approx(
        value(_parse(generate_latest(ref)), "routecar_cost_usd_total", **LABELS))
    assert value(f, "routecar_cache_total", route="fast", result="hit") == 30
    assert value(f, "routecar_cache_total", route="fast", result="miss") == 270
    assert value(f, "routecar_cache_saved_usd_total", route="fast") == pytest.approx(0.3)
    assert value(f, "routecar_escalations_total", route="fast") == sum(i % 3 for i in range(300))
    assert value(f, "routecar_fallbacks_total", route="fast", model="gpt-4o-mini") == 150


def test_a_record_with_a_detail_is_counted_once_and_never_changed() -> None:
    """Metrics read the detail's attempt outcomes; the writer may build the row (from the same
    detail, in its own thread) before or after, and neither writes into the record."""
    m = Metrics(process_metrics=False)
    detail = Detail([("anthropic", "claude-haiku", "http_5xx"), ("openai", "gpt-4o-mini", "ok")])
    rec = ok_record(attempt_log=[], detail=detail)
    to_row(rec, False, Redactor())
    m.observe(rec)
    to_row(rec, False, Redactor())
    f = scrape(m)
    assert value(f, "routecar_attempts_total", provider="anthropic", model="claude-haiku", outcome="http_5xx") == 1
    assert value(f, "routecar_attempts_total", provider="openai", model="gpt-4o-mini", outcome="ok") == 1
    assert rec.attempt_log == [] and rec.detail is detail


def test_queue_wait_histogram_matches_prometheus_clients_own_observe() -> None:
    waits = [0.0, 0.001, 0.0011, 0.3, 5.0, 29.9, 30.0, 31.0, float("nan")]
    m = Metrics(process_metrics=False)
    ref = CollectorRegistry()
    h = Histogram("routecar_queue_wait_seconds", "q", buckets=QUEUE_WAIT_BUCKETS, registry=ref)
    for w in waits:
        m.queue_wait(w)
        h.observe(w)
    got, want = scrape(m), _parse(generate_latest(ref))
    assert got["routecar_queue_wait_seconds_bucket"] == want["routecar_queue_wait_seconds_bucket"]
    assert value(got, "routecar_queue_wait_seconds_count") == 8


def test_negative_amounts_count_nothing_and_never_break_a_scrape() -> None:
    m = Metrics(process_metrics=False)
    m.observe(ok_record(prompt_tokens=-5, completion_tokens=-1, cost_usd=-0.5, escalations=-1))
    f = scrape(m)
    assert value(f, "routecar_requests_total", **LABELS, status="200", outcome="ok") == 1
    assert value(f, "routecar_tokens_total", model="gpt-4o-mini", provider="openai", direction="prompt") is None
    assert value(f, "routecar_cost_usd_total", **LABELS) is None


def test_a_nan_latency_counts_in_no_bucket() -> None:
    m = Metrics(process_metrics=False)
    m.observe(ok_record(latency_ms=float("nan")))
    f = scrape(m)
    buckets = [v for _, lb, v in f["routecar_request_duration_seconds_bucket"] if lb["route"] == "fast"]
    assert buckets and all(v == 0 for v in buckets)
    assert value(f, "routecar_request_duration_seconds_count", **LABELS) == 0


def _parse(body: bytes) -> dict:
    out: dict = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.name, dict(s.labels), s.value))
    return out
