"""Metrics: what one scrape shows after real RouteRecords, parsed with prometheus-client's parser."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from routecar.observability.metrics import Metrics
from routecar.routelog.record import RouteRecord


def scrape(m: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    families: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            families.setdefault(s.name, []).append((s.name, dict(s.labels), s.value))
    return families


def value(fams: dict[str, Any], name: str, **labels: str) -> float | None:
    for _, got, v in fams.get(name, []):
        if got == labels:
            return v
    return None


def attempt(provider: str, model: str, slug: str, status: int | None, error: str | None,
            latency_ms: float, ttft_ms: float | None = None) -> dict[str, Any]:
    """One `attempt_log` entry, as the route log stores it."""
    return {"provider": provider, "model": model, "slug": slug, "status": status, "error": error,
            "latency_ms": latency_ms, "ttft_ms": ttft_ms}


class Detail:
    """A RowDetail double: the plan and dispatch outcome a server hands the record."""

    def __init__(self, outcomes: list[tuple[str, str, str]]) -> None:
        self.outcomes = outcomes
        self.asked = 0

    def columns(self) -> dict[str, Any]:
        return {"candidates": [], "rules_matched": [], "skipped": [], "attempt_log": []}

    def attempt_outcomes(self) -> list[tuple[str, str, str]]:
        self.asked += 1
        return self.outcomes


def ok_record(**kw: Any) -> RouteRecord:
    base: dict[str, Any] = dict(
        ts=0.0, request_id="r1", endpoint="chat", requested_model="fast", route="fast",
        strategy="fastest", chosen_model="gpt-4o-mini", provider="openai",
        upstream_model="gpt-4o-mini", status=200, outcome="ok", attempts=2,
        attempt_log=[
            attempt("anthropic", "claude-3-5-haiku", "claude-haiku", 503, "http_5xx", 40.0),
            attempt("openai", "gpt-4o-mini", "gpt-4o-mini", 200, None, 300.0, 120.0),
        ],
        latency_ms=350.0, ttft_ms=120.0, prompt_tokens=100, completion_tokens=40,
        cost_usd=0.002, overhead_ms=0.3, fallback=True,
    )
    base.update(kw)
    return RouteRecord(**base)


def test_observe_counts_every_per_request_metric() -> None:
    m = Metrics(version="9.9.9")
    m.observe(ok_record())
    m.observe(ok_record(request_id="r2", fallback=False, escalations=2, attempt_log=[
        {"provider": "openai", "model": "gpt-4o-mini", "slug": "gpt-4o-mini", "status": 200,
         "error": None, "latency_ms": 10.0},
    ]))
    # Explicit slug, nothing chosen: rate limited before any provider answered.
    m.observe(RouteRecord(ts=0.0, request_id="r3", endpoint="chat", requested_model="claude-haiku",
                          status=429, outcome="rate_limited", latency_ms=2.0, overhead_ms=0.1))
    f = scrape(m)

    req = "routecar_requests_total"
    assert value(f, req, route="fast", model="gpt-4o-mini", provider="openai", status="200", outcome="ok") == 2
    assert value(f, req, route="", model="claude-haiku", provider="", status="429",
                 outcome="rate_limited") == 1
    dur = "routecar_request_duration_seconds"
    assert value(f, dur + "_count", route="fast", model="gpt-4o-mini", provider="openai") == 2
    assert value(f, dur + "_sum", route="fast", model="gpt-4o-mini", provider="openai") == pytest.approx(0.7)
    assert value(f, dur + "_bucket", route="fast", model="gpt-4o-mini", provider="openai", le="0.25") == 0
    assert value(f, dur + "_bucket", route="fast", model="gpt-4o-mini", provider="openai", le="0.5") == 2
    assert value(f, "routecar_ttft_seconds_count", route="fast", model="gpt-4o-mini", provider="openai") == 2
    # No ttft for the rejected request: it must not be observed as zero.
    assert value(f, "routecar_ttft_seconds_count", route="", model="claude-haiku", provider="") is None
    assert value(f, "routecar_overhead_seconds_count") == 3
    assert value(f, "routecar_overhead_seconds_bucket", le="0.0005") == 3
    tok = "routecar_tokens_total"
    assert value(f, tok, model="gpt-4o-mini", provider="openai", direction="prompt") == 200
    assert value(f, tok, model="gpt-4o-mini", provider="openai", direction="completion") == 80
    assert value(f, "routecar_cost_usd_total", route="fast", model="gpt-4o-mini",
                 provider="openai") == pytest.approx(0.004)
    att = "routecar_attempts_total"
    assert value(f, att, provider="anthropic", model="claude-haiku", outcome="http_5xx") == 1
    assert value(f, att, provider="openai", model="gpt-4o-mini", outcome="ok") == 2
    assert value(f, "routecar_fallbacks_total", route="fast", model="gpt-4o-mini") == 1
    assert value(f, "routecar_escalations_total", route="fast") == 2
    assert value(f, "routecar_build_info", version="9.9.9") == 1
    # Reload counters exist at zero before the first reload.
    assert value(f, "routecar_config_reloads_total", result="error") == 0
    assert not f.get("routecar_cache_total")


def test_every_metric_name_is_prefixed() -> None:
    m = Metrics()
    m.observe(ok_record(cache="miss"))
    names = {name for name in scrape(m)}
    assert names and all(n.startswith("routecar_") for n in names)


def test_cache_hit_counts_savings_not_spend() -> None:
    m = Metrics()
    m.observe(ok_record(cache="miss"))
    m.observe(ok_record(cache="hit", est_cost_usd=0.002, cost_usd=0.0, attempt_log=[]))
    m.observe(ok_record(cache="semantic_hit", est_cost_usd=0.001, cost_usd=None, attempt_log=[]))
    f = scrape(m)
    assert value(f, "routecar_cache_total", route="fast", result="miss") == 1
    assert value(f, "routecar_cache_total", route="fast", result="hit") == 1
    assert value(f, "routecar_cache_total", route="fast", result="semantic_hit") == 1
    assert value(f, "routecar_cache_saved_usd_total", route="fast") == pytest.approx(0.003)
    # Only the miss reached a provider.
    assert value(f, "routecar_cost_usd_total", route="fast", model="gpt-4o-mini",
                 provider="openai") == pytest.approx(0.002)
    assert value(f, "routecar_tokens_total", model="gpt-4o-mini", provider="openai",
                 direction="prompt") == 100


def test_attempts_come_from_the_records_detail_when_it_has_one() -> None:
    """The server hands the record its dispatch outcome: metrics count its attempt outcomes,
    and an entry without a slug is counted under its upstream model."""
    m = Metrics()
    detail = Detail([("anthropic", "claude-haiku", "http_5xx"), ("openai", "gpt-4o-mini", "ok")])
    m.observe(ok_record(attempt_log=[], detail=detail))
    m.observe(ok_record(attempt_log=[{"provider": "openai", "model": "gpt-4o-mini", "error": "connect"}]))
    f = scrape(m)
    assert detail.asked == 1
    att = "routecar_attempts_total"
    assert value(f, att, provider="anthropic", model="claude-haiku", outcome="http_5xx") == 1
    assert value(f, att, provider="openai", model="gpt-4o-mini", outcome="ok") == 1
    assert value(f, att, provider="openai", model="gpt-4o-mini", outcome="connect") == 1


def test_health_source_read_at_scrape_time() -> None:
    m = Metrics()
    snapshot: dict[str, Any] = {"deployments": {
        "openai/gpt-4o-mini": {"state": "closed", "cooldown_remaining": None, "in_flight": 3},
        "anthropic/claude": {"state": "open", "cooldown_remaining": 12.5, "in_flight": 0},
    }}
    calls = []

    def source() -> dict[str, Any]:
        calls.append(1)
        return snapshot

    m.set_health_source(source)
    m.observe(ok_record())
    assert calls == []  # nothing is read per request
    f = scrape(m)
    assert value(f, "routecar_circuit_state", deployment="openai/gpt-4o-mini") == 0
    assert value(f, "routecar_circuit_state", deployment="anthropic/claude") == 2
    assert value(f, "routecar_cooldown_seconds", deployment="anthropic/claude") == 12.5
    assert value(f, "routecar_cooldown_seconds", deployment="openai/gpt-4o-mini") == 0
    assert value(f, "routecar_in_flight", deployment="openai/gpt-4o-mini") == 3

    snapshot["deployments"]["anthropic/claude"] = {"state": "half_open", "cooldown_remaining": 0.0,
                                                  "in_flight": 1}
    f = scrape(m)
    assert value(f, "routecar_circuit_state", deployment="anthropic/claude") == 1
    assert value(f, "routecar_in_flight", deployment="anthropic/claude") == 1


def test_broken_sources_do_not_break_the_scrape() -> None:
    m = Metrics()

    def broken() -> Any:
        raise RuntimeError("registry gone")

    m.set_health_source(broken)
    m.set_route_log_source(broken)
    m.observe(ok_record())
    f = scrape(m)
    assert "routecar_circuit_state" not in f
    assert "routecar_route_log_queue_depth" not in f
    assert value(f, "routecar_requests_total", route="fast", model="gpt-4o-mini", provider="openai",
                 status="200", outcome="ok") == 1


def test_route_log_source_read_at_scrape_time() -> None:
    m = Metrics()
    assert "routecar_route_log_queue_depth" not in scrape(m)
    stats = [(4, 0, 10)]
    m.set_route_log_source(lambda: stats[-1])
    f = scrape(m)
    assert value(f, "routecar_route_log_queue_depth") == 4
    assert value(f, "routecar_route_log_dropped_total") == 0
    assert value(f, "routecar_route_log_written_total") == 10
    stats.append((0, 2, 25))
    f = scrape(m)
    assert value(f, "routecar_route_log_queue_depth") == 0
    assert value(f, "routecar_route_log_dropped_total") == 2
    assert value(f, "routecar_route_log_written_total") == 25


def test_config_hash_swap_keeps_only_the_new_label() -> None:
    m = Metrics()
    m.set_config_hash("aaaaaaaaaaaa")
    m.config_reloaded(True, "bbbbbbbbbbbb")
    m.config_reloaded(False, None)
    m.config_reloaded(False, "cccccccccccc")  # a refused file never becomes the current hash
    f = scrape(m)
    assert f["routecar_config_info"] == [("routecar_config_info", {"hash": "bbbbbbbbbbbb"}, 1.0)]
    assert value(f, "routecar_config_reloads_total", result="ok") == 1
    assert value(f, "routecar_config_reloads_total", result="error") == 2


def test_queue_wait_and_retry_budget() -> None:
    m = Metrics()
    m.queue_wait(0.02)
    m.queue_wait(0.3)
    m.retry_budget_exhausted()
    f = scrape(m)
    assert value(f, "routecar_queue_waits_total") == 2
    assert value(f, "routecar_queue_wait_seconds_count") == 2
    assert value(f, "routecar_queue_wait_seconds_bucket", le="0.025") == 1
    assert value(f, "routecar_retry_budget_exhausted_total") == 1


def test_instances_do_not_share_a_registry() -> None:
    a, b = Metrics(), Metrics()
    a.observe(ok_record())
    assert value(scrape(b), "routecar_requests_total", route="fast", model="gpt-4o-mini",
                 provider="openai", status="200", outcome="ok") is None


def test_client_input_never_becomes_a_label() -> None:
    m = Metrics()
    rejected = dict(ts=0.0, request_id="r", endpoint="chat", status=404, outcome="bad_request")
    m.observe(RouteRecord(requested_model="sk-proj-abcdefghijklmnop", **rejected))
    m.set_known_names(["fast", "gpt-4o-mini"])
    m.observe(RouteRecord(requested_model="gpt-5-turbo-typo", **rejected))
    m.observe(RouteRecord(requested_model="gpt-4o-mini", **rejected))
    body = m.render()[0].decode()
    assert "sk-proj" not in body and "typo" not in body
    f = scrape(m)
    req = "routecar_requests_total"
    assert value(f, req, route="", model="_redacted", provider="", status="404", outcome="bad_request") == 1
    assert value(f, req, route="", model="_unknown", provider="", status="404", outcome="bad_request") == 1
    assert value(f, req, route="", model="gpt-4o-mini", provider="", status="404",
                 outcome="bad_request") == 1


def test_label_cache_is_capped() -> None:
    m = Metrics(max_series=5)
    for i in range(40):
        m.observe(ok_record(route=f"r{i}", attempt_log=[{"provider": f"p{i}", "slug": "s", "error": None}],
                            cache="miss"))
    f = scrape(m)
    routes = {labels["route"] for _, labels, _ in f["routecar_requests_total"]}
    assert len(routes) <= 6 and "_overflow" in routes
    total = sum(v for _, _, v in f["routecar_requests_total"])
    assert total == 40  # nothing is lost, only folded together
    assert sum(v for _, _, v in f["routecar_attempts_total"]) == 40
    assert sum(v for _, _, v in f["routecar_cache_total"]) == 40
    keyed = ("routecar_requests_total", "routecar_attempts_total", "routecar_cache_total")
    assert sum(len(f[name]) for name in keyed) <= 8
    # The series that hang off those keys are bounded by them.
    assert len(f["routecar_request_duration_seconds_count"]) <= 6
    assert len(f["routecar_cache_saved_usd_total"]) <= 6


def test_series_appear_when_first_counted_with_their_creation_time() -> None:
    """As prometheus-client's children did: a series exists from its first count, `_created`
    is when that happened, and unlabelled series exist from the start."""
    now = [1000.0]
    m = Metrics(process_metrics=False, clock=lambda: now[0])
    f = scrape(m)
    assert value(f, "routecar_overhead_seconds_count") == 0
    assert value(f, "routecar_overhead_seconds_created") == 1000.0
    assert value(f, "routecar_queue_waits_total") == 0
    assert "routecar_requests_total" not in f and "routecar_tokens_total" not in f
    now[0] = 1005.0
    m.observe(ok_record(prompt_tokens=None))
    f = scrape(m)
    labels = dict(route="fast", model="gpt-4o-mini", provider="openai")
    assert value(f, "routecar_requests_created", **labels, status="200", outcome="ok") == 1005.0
    assert value(f, "routecar_request_duration_seconds_created", **labels) == 1005.0
    assert value(f, "routecar_tokens_total", model="gpt-4o-mini", provider="openai", direction="prompt") is None
    now[0] = 1010.0
    m.observe(ok_record())
    f = scrape(m)
    assert value(f, "routecar_tokens_created", model="gpt-4o-mini", provider="openai", direction="prompt") == 1010.0
    assert value(f, "routecar_requests_created", **labels, status="200", outcome="ok") == 1005.0


def test_exposition_text_is_the_classic_format() -> None:
    m = Metrics(process_metrics=False, clock=lambda: 1.5)
    m.observe(ok_record(latency_ms=300.0, attempt_log=[]))
    body = m.render()[0].decode()
    labels = 'model="gpt-4o-mini",provider="openai",route="fast"'
    # The classic format sorts label names: `le` comes first.
    assert "# TYPE routecar_request_duration_seconds histogram\n" in body
    assert f'routecar_request_duration_seconds_bucket{{le="0.25",{labels}}} 0.0\n' in body
    assert f'routecar_request_duration_seconds_bucket{{le="0.5",{labels}}} 1.0\n' in body
    assert f'routecar_request_duration_seconds_bucket{{le="+Inf",{labels}}} 1.0\n' in body
    assert f"routecar_request_duration_seconds_count{{{labels}}} 1.0\n" in body
    assert f"routecar_request_duration_seconds_sum{{{labels}}} 0.3\n" in body
    assert "# TYPE routecar_request_duration_seconds_created gauge\n" in body
    assert f"routecar_request_duration_seconds_created{{{labels}}} 1.5\n" in body
    assert "# HELP routecar_requests_total Finished requests.\n# TYPE routecar_requests_total counter\n" in body
    assert 'routecar_overhead_seconds_bucket{le="5e-05"} 0.0\n' in body
