from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecar.config.model import BreakerConfig
from routecar.health import CircuitBreaker, ManualClock

RATE_ONLY = BreakerConfig(window=30, min_requests=10, failure_rate=0.5,
                          consecutive_failures=1000, open_for=30, max_open_for=300)


def tripped(cfg: BreakerConfig = BreakerConfig()) -> tuple[CircuitBreaker, ManualClock]:
    clock = ManualClock()
    b = CircuitBreaker(cfg, clock)
    for _ in range(cfg.consecutive_failures):
        b.record_failure()
    assert b.state == "open"
    return b, clock


def test_min_requests_respected_before_judging_the_rate() -> None:
    b = CircuitBreaker(RATE_ONLY, ManualClock())
    for _ in range(9):
        b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open"
    assert not b.allow()


def test_trips_on_failure_rate_once_the_ratio_is_met() -> None:
    b = CircuitBreaker(RATE_ONLY, ManualClock())
    for _ in range(6):
        b.record_success()
    for _ in range(5):
        b.record_failure()  # 5/11 < 0.5
    assert b.state == "closed"
    b.record_failure()  # 6/12 == 0.5
    assert b.state == "open"


def test_old_failures_leave_the_window() -> None:
    clock = ManualClock()
    b = CircuitBreaker(RATE_ONLY, clock)
    for _ in range(9):
        b.record_failure()
    clock.advance(31)
    b.record_failure()
    assert b.state == "closed"
    assert b.snapshot()["window_requests"] == 1


def test_consecutive_failures_trip_below_min_requests() -> None:
    b = CircuitBreaker(BreakerConfig(consecutive_failures=3, min_requests=100), ManualClock())
    b.record_failure()
    b.record_failure()
    b.record_success()  # breaks the run
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open"


def test_open_then_half_open_after_open_for() -> None:
    b, clock = tripped()
    assert b.open_until == pytest.approx(clock() + 30)
    clock.advance(29.9)
    assert b.state == "open" and not b.allow()
    clock.advance(0.1)
    assert b.state == "half_open"
    assert b.open_until is None


def test_half_open_admits_only_the_configured_probes() -> None:
    b, clock = tripped(BreakerConfig(half_open_probes=2))
    clock.advance(30)
    assert b.allow() and b.allow()
    assert not b.allow()
    b.release_probe()
    assert b.allow()
    assert not b.allow()


def test_failed_probe_grows_open_time_with_a_later_deadline_up_to_the_cap() -> None:
    b, clock = tripped(BreakerConfig(open_for=30, max_open_for=200))
    deadlines = [b.open_until]
    for _ in range(5):
        clock.set(b.open_until)  # type: ignore[arg-type]
        assert b.allow()
        b.record_failure()
        assert b.state == "open"
        deadlines.append(b.open_until)
    periods = [later - earlier for earlier, later in zip(deadlines, deadlines[1:])]
    assert periods == [60, 120, 200, 200, 200]
    assert b.trips == 6


def test_probe_success_closes_and_resets_trips_and_window() -> None:
    b, clock = tripped()
    clock.advance(30)
    assert b.allow()
    b.record_failure()  # re-trip: 60 s
    clock.advance(60)
    assert b.allow()
    b.record_success()
    assert b.state == "closed"
    assert b.trips == 0
    assert b.snapshot()["window_requests"] == 0
    for _ in range(5):
        b.record_failure()
    assert b.open_until == pytest.approx(clock() + 30)  # back to the base open time


def test_every_probe_must_succeed_to_close() -> None:
    b, clock = tripped(BreakerConfig(half_open_probes=2))
    clock.advance(30)
    assert b.allow() and b.allow()
    b.record_success()
    assert b.state == "half_open"
    b.record_success()
    assert b.state == "closed"


def test_results_while_open_change_nothing() -> None:
    b, clock = tripped()
    until = b.open_until
    b.record_failure()
    b.record_success()
    assert b.state == "open" and b.open_until == until


def test_stragglers_marked_non_probe_do_not_decide_half_open() -> None:
    b, clock = tripped()
    clock.advance(30)
    assert b.allow()
    b.record_success(probe=False)
    b.record_failure(probe=False)
    assert b.state == "half_open" and not b.allow()
    b.record_failure(probe=True)
    assert b.state == "open"


def test_force_probe_admits_one_and_a_failure_reopens_without_growing() -> None:
    b, clock = tripped()
    clock.advance(5)
    b.force_probe()
    assert b.state == "half_open"
    assert b.allow() and not b.allow()
    b.record_failure()
    assert b.state == "open"
    assert b.open_until == pytest.approx(clock() + 30)  # from now, for the current open time
    assert b.trips == 1


def test_panic_probes_through_a_long_outage_never_escalate() -> None:
    # Every request of a full outage forces a probe; none of their failures is a real trip.
    b, clock = tripped(BreakerConfig(open_for=30, max_open_for=300))
    for _ in range(50):
        clock.advance(0.5)
        b.force_probe()
        assert b.allow()
        b.record_failure()
        assert b.open_until == pytest.approx(clock() + 30)
    assert b.trips == 1
    clock.advance(30)  # the deployment is back: benched for one open time, not five minutes
    assert b.state == "half_open" and b.allow()
    b.record_success()
    assert b.state == "closed"


def test_open_time_grows_only_per_real_trip() -> None:
    b, clock = tripped(BreakerConfig(open_for=30, max_open_for=300))
    clock.advance(1)
    b.force_probe()
    assert b.allow()
    b.record_failure()  # early probe: 30 s from now, trips unchanged
    assert (b.trips, b.open_until) == (1, pytest.approx(clock() + 30))
    clock.set(b.open_until)  # type: ignore[arg-type]
    assert b.allow()  # a natural half-open probe
    b.record_failure()  # a real trip: the open time doubles
    assert (b.trips, b.open_until) == (2, pytest.approx(clock() + 60))
    clock.advance(10)
    b.force_probe()
    assert b.allow()
    b.record_failure()  # early again: the current (grown) open time, not grown further
    assert (b.trips, b.open_until) == (2, pytest.approx(clock() + 60))


def test_failed_early_probe_never_sets_a_sooner_deadline_than_the_real_trip() -> None:
    b, clock = tripped(BreakerConfig(open_for=30, max_open_for=300))
    real_deadline = b.open_until
    b.reconfigure(BreakerConfig(open_for=10, max_open_for=300))  # current open time now 10 s
    clock.advance(1)
    b.force_probe()
    assert b.allow()
    b.record_failure()
    assert b.open_until == real_deadline  # 1 + 10 would be sooner than the trip's 30


def test_early_probe_failing_after_the_open_period_ran_out_is_a_real_trip() -> None:
    b, clock = tripped()
    clock.advance(5)
    b.force_probe()
    assert b.allow()
    clock.advance(40)  # the probe outlived the open period it cut short
    b.record_failure()
    assert (b.trips, b.open_until) == (2, pytest.approx(clock() + 60))


def test_stragglers_do_not_decide_a_forced_half_open() -> None:
    b, clock = tripped()
    clock.advance(5)
    b.force_probe()
    assert b.allow()
    b.record_failure(probe=False)  # admitted before the trip
    b.record_success(probe=False)
    assert b.state == "half_open" and not b.allow()
    b.record_success(probe=True)
    assert b.state == "closed" and b.trips == 0


def test_force_probe_only_acts_on_an_open_circuit() -> None:
    b = CircuitBreaker(BreakerConfig(), ManualClock())
    b.force_probe()
    assert b.state == "closed"
    b, clock = tripped()
    clock.advance(30)
    assert b.allow()  # natural half-open, its probe out
    b.force_probe()
    assert not b.allow()  # no second probe slot


def test_reconfigure_keeps_state() -> None:
    b, clock = tripped()
    b.reconfigure(BreakerConfig(open_for=10, max_open_for=20))
    assert b.state == "open"
    assert b.open_until == pytest.approx(clock() + 20)  # a shorter cap applies now
    assert b.trips == 1


def test_snapshot_reports_state() -> None:
    b, clock = tripped()
    clock.advance(10)
    snap = b.snapshot()
    assert snap["state"] == "open"
    assert snap["open_until"] == pytest.approx(20)
    assert snap["trips"] == 1 and snap["error_rate"] == 1.0


OPS = st.lists(
    st.one_of(
        st.just(("allow",)),
        st.just(("force",)),
        st.just(("ok",)),
        st.just(("fail",)),
        st.just(("release",)),
        st.tuples(st.just("advance"), st.floats(0, 90)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, probes=st.integers(1, 3))
def test_never_more_than_half_open_probes_outstanding(ops: list[tuple], probes: int) -> None:
    clock = ManualClock()
    cfg = BreakerConfig(window=10, min_requests=3, consecutive_failures=2, open_for=5,
                        max_open_for=40, half_open_probes=probes)
    b = CircuitBreaker(cfg, clock)
    outstanding: list[bool] = []  # admitted requests, True for probes, oldest first
    for op in ops:
        if op[0] == "allow":
            was_half_open = b.state == "half_open"
            if b.allow():
                outstanding.append(was_half_open)
        elif op[0] == "advance":
            clock.advance(op[1])
        elif op[0] == "force":
            b.force_probe()
        elif outstanding:
            probe = outstanding.pop(0)
            if op[0] == "ok":
                b.record_success(probe)
            elif op[0] == "fail":
                b.record_failure(probe)
            elif probe:
                b.release_probe()
        assert 0 <= b.probes_in_flight <= probes
        if b.state == "half_open" and probes == 1:
            assert sum(outstanding) <= 1
        if b.state == "open":
            assert b.open_until is not None and b.open_until > clock()
            assert b.open_until - clock() <= cfg.max_open_for  # never past the cap
