from __future__ import annotations

import orjson
import pytest

from routecar.config.model import BreakerConfig, Deployment, RetryBudget
from routecar.health import Admission, AttemptResult, HealthRegistry, ManualClock

from .builders import config, provider, two_provider_config

FAIL = AttemptResult("failure", status=500, latency=0.2)
OK = AttemptResult("success", status=200, latency=0.5, ttft=0.1)


def registry(**kwargs: object) -> tuple[HealthRegistry, ManualClock]:
    clock = ManualClock()
    return HealthRegistry(two_provider_config(**kwargs), clock=clock,
                          wall_clock=lambda: 1_700_000_000.0 + clock()), clock


def run(reg: HealthRegistry, dep: str, result: AttemptResult, est: int = 0) -> Admission:
    adm = reg.admit(dep, est)
    assert adm.ok, adm
    reg.on_start(dep, est)
    reg.on_finish(dep, result)
    return adm


def trip(reg: HealthRegistry, dep: str) -> None:
    for _ in range(5):
        run(reg, dep, FAIL)
    assert reg.view(dep).state == "open"


def test_one_health_per_deployment_id() -> None:
    reg, _ = registry()
    assert sorted(reg.ids()) == ["a/m-up", "b/m-up", "b/n-up"]
    assert reg.breaker_states() == dict.fromkeys(reg.ids(), "closed")


def test_circuit_open_then_probe_then_close() -> None:
    reg, clock = registry()
    trip(reg, "a/m-up")
    adm = reg.admit("a/m-up")
    assert adm == Admission(False, "circuit_open", clock() + 30, False)
    clock.advance(30)
    probe = reg.admit("a/m-up")
    assert probe.ok and probe.probe
    assert reg.admit("a/m-up").reason == "circuit_open"
    reg.release("a/m-up", probe)
    probe = reg.admit("a/m-up")
    assert probe.probe
    reg.on_start("a/m-up", 0)
    reg.on_finish("a/m-up", AttemptResult("success", probe=True))
    assert reg.view("a/m-up").state == "closed"


def test_neutral_result_frees_the_probe_without_a_verdict() -> None:
    reg, clock = registry()
    trip(reg, "a/m-up")
    clock.advance(30)
    run(reg, "a/m-up", AttemptResult("neutral", status=400))
    assert reg.view("a/m-up").state == "half_open"
    assert reg.admit("a/m-up").probe


def test_429_cools_down_without_touching_the_breaker() -> None:
    reg, clock = registry()
    for _ in range(6):
        clock.advance(60)
        run(reg, "a/m-up", AttemptResult("rate_limited", status=429,
                                         headers={"Retry-After": "20"}))
    view = reg.view("a/m-up")
    assert view.state == "closed" and view.error_rate == 0.0
    assert view.cooling_until == pytest.approx(clock() + 20)
    adm = reg.admit("a/m-up")
    assert (adm.ok, adm.reason, adm.retry_at) == (False, "cooling_down", clock() + 20)
    assert reg.effective_weight("a/m-up", 3.0) == 0.0
    assert reg.admit("b/m-up").ok  # the other deployment is not affected


def test_overloaded_cools_and_counts_as_failure() -> None:
    reg, clock = registry()
    run(reg, "a/m-up", AttemptResult("overloaded", status=529, headers={"retry-after": "3"}))
    assert reg.admit("a/m-up").reason == "cooling_down"
    assert reg.view("a/m-up").error_rate == 1.0


def test_reported_headroom_steers_weight_before_a_429() -> None:
    reg, clock = registry()
    headers = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "50",
               "x-ratelimit-reset-requests": "30s"}
    run(reg, "a/m-up", AttemptResult("success", headers=headers))
    assert reg.effective_weight("a/m-up", 3.0) == 3.0
    headers["x-ratelimit-remaining-requests"] = "5"
    run(reg, "a/m-up", AttemptResult("success", headers=headers))
    assert reg.view("a/m-up").headroom_fraction == pytest.approx(0.05)
    assert 0 < reg.effective_weight("a/m-up", 3.0) == pytest.approx(3.0 * 0.25)
    headers["x-ratelimit-remaining-requests"] = "0"
    run(reg, "a/m-up", AttemptResult("success", headers=headers))
    adm = reg.admit("a/m-up")
    assert (adm.reason, adm.retry_at) == ("no_headroom", pytest.approx(clock() + 30))
    assert reg.effective_weight("a/m-up", 3.0) == 0.0
    clock.advance(30)
    assert reg.admit("a/m-up").ok


def test_client_rpm_is_shared_by_a_providers_deployments() -> None:
    reg, clock = registry(limits={"b": {"rpm": 2}})
    run(reg, "b/m-up", OK)
    run(reg, "b/n-up", OK)
    adm = reg.admit("b/m-up")
    assert adm.reason == "rpm_limit" and adm.retry_at == pytest.approx(clock() + 60)
    assert reg.admit("b/n-up").reason == "rpm_limit"
    assert reg.admit("a/m-up").ok
    clock.advance(60)
    assert reg.admit("b/n-up").ok


def test_client_tpm_counts_estimates_and_overshoots() -> None:
    reg, clock = registry(limits={"a": {"tpm": 1000}})
    run(reg, "a/m-up", AttemptResult("success", tokens=700, est_tokens=500), est=500)
    assert reg.admit("a/m-up", 301).reason == "tpm_limit"
    assert reg.admit("a/m-up", 301).retry_at == pytest.approx(clock() + 60)
    assert reg.admit("a/m-up", 300).ok


def test_busy_pool_lowers_weight() -> None:
    clock = ManualClock()
    cfg = config([provider("p", max_connections=10)], {"m": [Deployment("p", "x")]})
    reg = HealthRegistry(cfg, clock=clock)
    for _ in range(8):
        reg.on_start("p/x", 0)
    assert reg.view("p/x").in_flight == 8
    assert reg.effective_weight("p/x", 1.0) == pytest.approx(0.4)
    for _ in range(8):
        reg.on_finish("p/x", AttemptResult("neutral"))
    assert reg.effective_weight("p/x", 1.0) == 1.0


def test_view_has_latency_and_ttft_percentiles() -> None:
    reg, _ = registry()
    for i in range(1, 11):
        run(reg, "a/m-up", AttemptResult("success", latency=i / 10, ttft=i / 100))
    run(reg, "a/m-up", AttemptResult("failure", latency=0.001))  # not a latency sample
    view = reg.view("a/m-up")
    assert view.samples == 10 and view.ttft_samples == 10
    assert view.latency_p50 == pytest.approx(0.55)
    assert view.ttft_p99 is not None and view.ttft_p99 <= 0.1
    assert view.in_flight == 0


def test_reconfigure_keeps_surviving_state() -> None:
    reg, clock = registry(limits={"a": {"rpm": 100}})
    trip(reg, "a/m-up")
    run(reg, "b/m-up", AttemptResult("rate_limited", headers={"retry-after": "50"}))
    until = reg.view("a/m-up").cooling_until, reg.get("a/m-up").breaker.open_until  # type: ignore[union-attr]
    new = config(
        [provider("a", rpm=100, breaker=BreakerConfig(min_requests=20)), provider("b"),
         provider("c")],
        {"m": [Deployment("a", "m-up"), Deployment("b", "m-up"), Deployment("c", "m-up")]},
        budget=RetryBudget(ratio=0.5, min_per_second=1),
    )
    reg.reconfigure(new)
    assert sorted(reg.ids()) == ["a/m-up", "b/m-up", "c/m-up"]
    assert reg.admit("b/n-up").ok  # removed: treated as never seen
    a = reg.get("a/m-up")
    assert a is not None and a.breaker.state == "open"
    assert (reg.view("a/m-up").cooling_until, a.breaker.open_until) == until
    assert a.breaker.config.min_requests == 20
    assert reg.admit("b/m-up").reason == "cooling_down"
    assert reg.view("c/m-up").state == "closed"
    assert reg.get("a/m-up").share.limiter.snapshot()["requests_last_60s"] == 5  # type: ignore[union-attr]
    assert reg.retry_budget.ratio == 0.5


def test_panic_pick_forces_a_probe_on_the_soonest_to_close() -> None:
    reg, clock = registry()
    trip(reg, "b/m-up")
    clock.advance(10)
    trip(reg, "a/m-up")
    assert reg.panic_pick(["a/m-up", "n/none"]) is None  # unknown: nothing says it is open
    assert reg.panic_pick(["a/m-up", "b/n-up"]) is None  # b/n-up is still admissible
    assert reg.panic_pick(["a/m-up", "b/m-up"]) == "b/m-up"
    adm = reg.admit("b/m-up")
    assert adm.ok and adm.probe
    reg.on_start("b/m-up", 0)
    reg.on_finish("b/m-up", AttemptResult("failure", probe=True))
    # A failed panic probe re-opens from now for the same open time: no escalation.
    assert reg.get("b/m-up").breaker.open_until == pytest.approx(clock() + 30)  # type: ignore[union-attr]
    assert reg.get("b/m-up").breaker.trips == 1  # type: ignore[union-attr]


def test_soonest_recovery_over_all_blockers() -> None:
    reg, clock = registry()
    trip(reg, "a/m-up")  # open until +30
    run(reg, "b/m-up", AttemptResult("rate_limited", headers={"retry-after-ms": "12000"}))
    assert reg.soonest_recovery(["a/m-up", "b/m-up"]) == pytest.approx(clock() + 12)
    assert reg.soonest_recovery(["a/m-up"]) == pytest.approx(clock() + 30)
    assert reg.soonest_recovery(["b/n-up"]) == clock()  # admissible now


def test_retry_budget_comes_from_config() -> None:
    reg, _ = registry(budget=RetryBudget(ratio=0.1, min_per_second=0.3))
    assert sum(reg.retry_budget.try_acquire_retry() for _ in range(10)) == 3


def test_snapshot_is_json_ready_and_secret_free() -> None:
    reg, clock = registry(limits={"a": {"rpm": 60, "tpm": 1000}})
    run(reg, "a/m-up", OK, est=10)
    trip(reg, "b/m-up")
    clock.advance(5)
    body = orjson.dumps(reg.snapshot())
    assert b"sk-test-secret" not in body
    snap = orjson.loads(body)
    b = snap["deployments"]["b/m-up"]
    assert b["state"] == "open" and b["open_until"] == pytest.approx(25)
    assert b["trips"] == 1 and b["effective_weight"] == 0.0
    a = snap["deployments"]["a/m-up"]
    assert a["latency_ms"]["p50"] == pytest.approx(500.0)
    assert a["ttft_ms"]["p99"] == pytest.approx(100.0)
    assert a["headroom"]["client"]["rpm"] == 60
    assert a["provider"] == "a" and a["model"] == "m-up"
    assert snap["retry_budget"]["ratio"] == 0.2


def test_cached_view_follows_events_and_deadlines() -> None:
    reg, clock = registry(limits={"b": {"rpm": 10}})
    assert reg.view("b/n-up").headroom_fraction == 1.0
    run(reg, "b/m-up", OK)  # a sibling on the same provider uses the shared rpm
    assert reg.view("b/n-up").headroom_fraction == pytest.approx(0.9)
    run(reg, "b/n-up", AttemptResult("rate_limited", headers={"retry-after": "2.5"}))
    assert reg.effective_weight("b/n-up", 1.0) == 0.0
    clock.advance(2.49)
    assert reg.view("b/n-up").cooling_until is not None
    clock.advance(0.01)
    assert reg.view("b/n-up").cooling_until is None
    assert reg.effective_weight("b/n-up", 1.0) == 1.0
    trip(reg, "a/m-up")
    clock.advance(30)
    assert reg.view("a/m-up").state == "half_open"
    assert reg.effective_weight("a/m-up", 1.0) == 1.0
    probe = reg.admit("a/m-up")
    assert reg.effective_weight("a/m-up", 1.0) == 0.0  # its probe slot is taken
    reg.release("a/m-up", probe)
    assert reg.effective_weight("a/m-up", 1.0) == 1.0
