"""The schedule of active health checks (health/checker.py): which providers are due a probe,
and what a probe's result does to their open circuits. Manual clock, seeded jitter."""

from __future__ import annotations

import random

import pytest

from routecar.config.model import Deployment
from routecar.health import AttemptResult, HealthRegistry, ManualClock
from routecar.health.checker import JITTER, HealthChecker, ProbeResult, ProbeTarget

from .builders import config, provider, two_provider_config

FAIL = AttemptResult("failure", status=500)
INTERVAL = 5.0
PASSED = ProbeResult(True, "HTTP 200")
FAILED = ProbeResult(False, "HTTP 503")


def setup(seed: int = 7) -> tuple[HealthRegistry, HealthChecker, ManualClock]:
    clock = ManualClock()
    reg = HealthRegistry(two_provider_config(), clock=clock, wall_clock=lambda: 1_700_000_000.0 + clock())
    return reg, HealthChecker(reg, INTERVAL, clock, random.Random(seed).random), clock


def run(reg: HealthRegistry, dep: str, result: AttemptResult) -> None:
    adm = reg.admit(dep)
    assert adm.ok, adm
    reg.on_start(dep)
    reg.on_finish(dep, AttemptResult(result.kind, status=result.status, probe=adm.probe))


def trip(reg: HealthRegistry, dep: str) -> None:
    for _ in range(5):
        run(reg, dep, FAIL)
    assert reg.view(dep).state == "open"


def due_after(checker: HealthChecker, clock: ManualClock, seconds: float, step: float = 0.1) -> list[ProbeTarget]:
    """Rounds every `step` seconds for `seconds`; the targets of the first round with any."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        targets = checker.due()
        if targets:
            return targets
    return []


def test_closed_circuits_are_never_probed() -> None:
    reg, checker, clock = setup()
    for _ in range(100):
        clock.advance(1)
        assert checker.due() == []
    assert checker.next_due() is None


def test_first_probe_one_jittered_interval_after_the_circuit_is_seen_open() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    seen = clock()
    assert checker.due() == []  # the trip itself is the latest news
    first = checker.next_due()
    assert first is not None
    assert INTERVAL * (1 - JITTER) <= first - seen <= INTERVAL * (1 + JITTER)
    clock.set(first - 0.01)
    assert checker.due() == []
    clock.set(first)
    assert checker.due() == [ProbeTarget("a", ("a/m-up",))]


def test_one_probe_per_provider_for_all_its_open_deployments() -> None:
    reg, checker, clock = setup()
    trip(reg, "b/m-up")
    trip(reg, "b/n-up")
    trip(reg, "a/m-up")
    checker.due()
    clock.advance(INTERVAL * (1 + JITTER))
    targets = sorted(checker.due(), key=lambda t: t.provider)
    assert targets == [ProbeTarget("a", ("a/m-up",)), ProbeTarget("b", ("b/m-up", "b/n-up"))]


def test_a_due_round_schedules_the_next_so_a_late_round_never_probes_twice() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    clock.advance(INTERVAL * (1 + JITTER))
    assert len(checker.due()) == 1
    assert checker.due() == []  # same instant, result not in yet: nothing more to send
    nxt = checker.next_due()
    assert nxt is not None and INTERVAL * (1 - JITTER) <= nxt - clock() <= INTERVAL * (1 + JITTER)


def test_successful_probe_ends_the_open_period_and_the_next_request_closes() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    [target] = due_after(checker, clock, 6)
    assert checker.record(target, PASSED) == ["a/m-up"]
    health = reg.get("a/m-up")
    assert health is not None and health.breaker.state == "half_open"
    adm = reg.admit("a/m-up")
    assert adm.ok and adm.probe  # the next real request is the probe
    assert not reg.admit("a/m-up").ok  # and only one
    reg.on_start("a/m-up")
    reg.on_finish("a/m-up", AttemptResult("success", status=200, probe=True))
    assert health.breaker.state == "closed"


def test_probe_success_then_failed_real_request_reopens_without_growing() -> None:
    # A models list proves the provider answers, not that inference works: real traffic decides.
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    [target] = due_after(checker, clock, 6)
    checker.record(target, PASSED)
    run(reg, "a/m-up", FAIL)
    health = reg.get("a/m-up")
    assert health is not None
    assert health.breaker.state == "open" and health.breaker.trips == 1
    assert health.breaker.open_until == pytest.approx(clock() + 30)


def test_failed_probe_changes_nothing() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    health = reg.get("a/m-up")
    assert health is not None
    until = health.breaker.open_until
    checker.due()
    [target] = due_after(checker, clock, 6)
    assert checker.record(target, FAILED) == []
    assert health.breaker.state == "open"
    assert (health.breaker.open_until, health.breaker.trips) == (until, 1)


def test_result_applies_only_to_deployments_open_when_the_probe_was_due() -> None:
    reg, checker, clock = setup()
    trip(reg, "b/m-up")
    checker.due()
    [target] = due_after(checker, clock, 6)
    trip(reg, "b/n-up")  # opened while the probe was out: its own trip is newer evidence
    assert checker.record(target, PASSED) == ["b/m-up"]
    n = reg.get("b/n-up")
    assert n is not None and n.breaker.state == "open"


def test_result_after_a_reload_removed_the_deployment_is_ignored() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    [target] = due_after(checker, clock, 6)
    reg.reconfigure(config([provider("a"), provider("b")], {"n": [Deployment("b", "n-up")]}))
    assert "a/m-up" not in reg
    assert checker.record(target, PASSED) == []


def test_provider_with_no_open_circuit_left_is_forgotten() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    assert checker.next_due() is not None
    clock.advance(30)  # the open period ran out by itself: half-open is not probed
    assert checker.due() == []
    assert checker.next_due() is None


def test_probes_repeat_every_interval_while_the_circuit_stays_open() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    checker.due()
    times = []
    for _ in range(250):  # 25 s: the default open time is 30 s
        clock.advance(0.1)
        for target in checker.due():
            times.append(clock())
            checker.record(target, FAILED)
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(times) >= 4
    assert all(INTERVAL * (1 - JITTER) - 0.1 <= g <= INTERVAL * (1 + JITTER) + 0.1 for g in gaps)


def test_jitter_is_seeded_and_spreads_a_fleet() -> None:
    def first_due(seed: int) -> float:
        reg, checker, clock = setup(seed)
        trip(reg, "a/m-up")
        checker.due()
        due = checker.next_due()
        assert due is not None
        return due - clock()

    assert first_due(1) == first_due(1)  # reproducible
    assert len({first_due(seed) for seed in range(10)}) > 1  # pods do not probe in lockstep


def test_reconfigure_changes_the_interval_from_the_next_schedule_on() -> None:
    reg, checker, clock = setup()
    checker.reconfigure(60.0)
    trip(reg, "a/m-up")
    checker.due()
    due = checker.next_due()
    assert due is not None and due - clock() >= 60.0 * (1 - JITTER)


def test_snapshot_shows_the_last_health_check() -> None:
    reg, checker, clock = setup()
    trip(reg, "a/m-up")
    assert reg.snapshot()["deployments"]["a/m-up"]["health_check"] is None
    checker.due()
    [target] = due_after(checker, clock, 6)
    checker.record(target, FAILED)
    clock.advance(2)
    check = reg.snapshot()["deployments"]["a/m-up"]["health_check"]
    assert check["ok"] is False and check["reason"] == "HTTP 503"
    assert check["age_s"] == pytest.approx(2.0)
    assert check["at"] == pytest.approx(1_700_000_000.0 + clock() - 2, abs=1e-3)
    assert reg.snapshot()["deployments"]["b/m-up"]["health_check"] is None  # never probed
