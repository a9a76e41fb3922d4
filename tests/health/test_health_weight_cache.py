"""The router's reads stay exact while routine traffic no longer clears the cache.

A start or a success on a closed breaker with no rate-limit news keeps the cached weight
(the pool's load is applied live) and only drops the view; everything else clears it. The
property test replays random traffic and checks, after every event, that the cached answers
equal ones computed from scratch.
"""

from __future__ import annotations

import random

import pytest

from routecar.config.model import BreakerConfig, Deployment
from routecar.health import AttemptResult, HealthRegistry, ManualClock
from routecar.health.deployment import STATS_MAX_AGE, STATS_SAMPLE_SHARE, VIEW_MAX_AGE
from routecar.health.ratelimit_headers import NO_INFO, RateLimitInfo, parse_rate_limit

from .builders import config, provider

DEPS = ("p/x", "p/y", "q/z")


def registry(clock: ManualClock) -> HealthRegistry:
    cfg = config(
        [provider("p", rpm=40, tpm=4000, max_connections=4), provider("q", max_connections=3)],
        {"m": [Deployment("p", "x"), Deployment("p", "y"), Deployment("q", "z")]},
        breaker=BreakerConfig(min_requests=4, consecutive_failures=3, open_for=5.0, half_open_probes=1),
        max_cooldown=8.0,
    )
    return HealthRegistry(cfg, clock=clock, wall_clock=lambda: 1_700_000_000.0 + clock())


def fresh_weight(reg: HealthRegistry, dep: str) -> float:
    h = reg.get(dep)
    assert h is not None
    return 2.0 * (h._weight_factor() * h.share.pool_factor())


def test_routine_traffic_keeps_the_cached_weight() -> None:
    clock = ManualClock()
    reg = registry(clock)
    h = reg.get("q/z")
    assert h is not None
    assert reg.effective_weight("q/z", 1.0) == 1.0
    cached = h._cached
    reg.on_start("q/z", 10)
    reg.on_start("q/z", 10)
    assert reg.effective_weight("q/z", 1.0) == pytest.approx(max((1 - 2 / 3) / 0.5, 0.05))  # load applied live
    assert reg.view("q/z").in_flight == 2
    reg.on_finish("q/z", AttemptResult("success", latency=0.3, headers={"content-type": "application/json"}))
    assert h._cached is cached  # not recomputed
    assert reg.view("q/z").in_flight == 1 and reg.view("q/z").samples == 1
    reg.on_finish("q/z", AttemptResult("failure", status=500))
    assert h._cached is None  # a failure may trip the breaker: recomputed on the next read
    assert reg.effective_weight("q/z", 1.0) == 1.0


def test_a_siblings_traffic_reaches_a_limited_providers_weight() -> None:
    clock = ManualClock()
    reg = registry(clock)
    assert reg.effective_weight("p/y", 1.0) == 1.0
    for _ in range(40):  # rpm 40, counted on the provider both deployments share
        reg.on_start("p/x", 0)
        reg.on_finish("p/x", AttemptResult("success", latency=0.1))
    assert reg.effective_weight("p/y", 1.0) == 0.0


def test_cached_reads_equal_fresh_ones_under_random_traffic() -> None:
    rng = random.Random(20240611)
    clock = ManualClock()
    reg = registry(clock)
    open_attempts: dict[str, int] = dict.fromkeys(DEPS, 0)
    for step in range(3000):
        dep = rng.choice(DEPS)
        roll = rng.random()
        if roll < 0.3:
            if reg.admit(dep, 20).ok:
                reg.on_start(dep, 20)
                open_attempts[dep] += 1
        elif roll < 0.75 and open_attempts[dep]:
            open_attempts[dep] -= 1
            reg.on_finish(dep, _result(rng))
        elif roll < 0.85:
            # Changes only time makes (windows rolling on) may lag up to VIEW_MAX_AGE, before as
            # now: steps of at least that long make every cached answer due for a refresh.
            clock.advance(rng.choice((VIEW_MAX_AGE, 1.5, 6.0)))
        for d in DEPS:
            assert reg.effective_weight(d, 2.0) == fresh_weight(reg, d), (step, d)
            h = reg.get(d)
            assert h is not None
            assert reg.view(d) == h._build_view(), (step, d)


def _result(rng: random.Random) -> AttemptResult:
    kind = rng.choices(("success", "failure", "rate_limited", "overloaded", "neutral"),
                       weights=(70, 10, 8, 4, 8))[0]
    headers: dict[str, str] = {"content-type": "application/json"}
    if rng.random() < 0.2:
        headers.update({"x-ratelimit-limit-requests": "100",
                        "x-ratelimit-remaining-requests": str(rng.randint(0, 30)),
                        "x-ratelimit-reset-requests": f"{rng.randint(1, 9)}s"})
    if kind == "rate_limited" and rng.random() < 0.5:
        headers["retry-after"] = str(rng.randint(1, 4))
    return AttemptResult(kind, status=200 if kind == "success" else 500, latency=rng.uniform(0.05, 2.0),
                         ttft=rng.uniform(0.01, 0.5) if rng.random() < 0.5 else None, headers=headers,
                         tokens=rng.randint(0, 60), est_tokens=20, probe=rng.choice((None, False, True)))


def test_empty_rate_limit_info_is_shared_and_empty_means_every_field_none() -> None:
    assert parse_rate_limit({"Content-Type": "text/plain", "Date": "x"}, 0.0) is NO_INFO
    assert NO_INFO.empty
    for name in RateLimitInfo.__dataclass_fields__:
        assert not RateLimitInfo(**{name: 1}).empty, name


def test_headers_are_matched_whatever_their_case() -> None:
    info = parse_rate_limit({"X-RateLimit-Remaining-Requests": "3", "Retry-After": "2",
                             "Anthropic-RateLimit-Tokens-Remaining": "9"}, 0.0)
    assert (info.remaining_requests, info.retry_after, info.remaining_tokens) == (3, 2.0, 9)


def test_view_percentiles_are_exact_on_small_windows_and_bounded_on_large_ones() -> None:
    clock = ManualClock()
    reg = registry(clock)
    for i in range(1, 31):  # 30 latency samples: every one shows at once
        reg.on_start("q/z", 0)
        reg.on_finish("q/z", AttemptResult("success", latency=i / 10))
        assert reg.view("q/z").samples == i
    for _ in range(226):  # the window fills up (256)
        reg.on_start("q/z", 0)
        reg.on_finish("q/z", AttemptResult("success", latency=0.1))
    clock.advance(VIEW_MAX_AGE)
    assert reg.view("q/z").samples == 256
    before = reg.view("q/z").latency_p99
    slow = 0
    for _ in range(256 // STATS_SAMPLE_SHARE):  # a few slow answers: not yet a refresh
        reg.on_start("q/z", 0)
        reg.on_finish("q/z", AttemptResult("success", latency=50.0))
        slow += 1
        view = reg.view("q/z")
        assert view.in_flight == 0  # load is always live
        if view.latency_p99 != before:
            break
    # Not on the first slow answer, but within 1/32 of the window (a full window's sample
    # replaces one: two changes).
    assert view.latency_p99 != before and 1 < slow <= 256 // STATS_SAMPLE_SHARE
    reg.on_start("q/z", 0)
    reg.on_finish("q/z", AttemptResult("success", latency=0.0))
    clock.advance(STATS_MAX_AGE)  # and after STATS_MAX_AGE at the latest, whatever changed
    h = reg.get("q/z")
    assert h is not None
    view = reg.view("q/z")
    assert (view.latency_p50, view.latency_p95, view.latency_p99, view.samples) == h.latency.summary()


def test_window_summary_is_its_percentiles() -> None:
    rng = random.Random(3)
    clock = ManualClock()
    reg = registry(clock)
    h = reg.get("p/x")
    assert h is not None
    assert h.latency.summary() == (None, None, None, 0)
    for _ in range(600):
        h.latency.add(rng.uniform(0, 3))
        clock.advance(rng.uniform(0, 2))
        w = h.latency
        assert w.summary() == (w.p50, w.p95, w.p99, w.count)
