"""The availability state machine and the reconnect backoff, on an injected clock: no sleeping."""

import pytest

from routecar.shared.availability import Availability, Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_transition_per_outage_and_the_seconds_add_up() -> None:
    clock = Clock()
    a = Availability(clock)
    assert a.up and a.unavailable_seconds() == 0.0
    assert a.fail() is True  # the transition: log it
    assert a.fail() is False and a.fail() is False  # the same outage: already logged
    clock.now += 2.5
    assert a.unavailable_seconds() == pytest.approx(2.5)  # the current outage counts while it lasts
    assert a.recover() == pytest.approx(2.5)
    assert a.recover() is None  # already up: nothing to log
    clock.now += 10
    assert a.unavailable_seconds() == pytest.approx(2.5)  # time up is not counted
    a.fail()
    clock.now += 1
    assert a.unavailable_seconds() == pytest.approx(3.5)
    assert a.outages == 2


def test_backoff_doubles_to_its_cap_jittered_down_by_at_most_half() -> None:
    top = Backoff(0.25, 10.0, rng=lambda: 1.0)  # no jitter: the steps themselves
    assert [top.delay() for _ in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    low = Backoff(0.25, 10.0, rng=lambda: 0.0)  # the most jitter: half of each step
    assert [low.delay() for _ in range(3)] == [0.125, 0.25, 0.5]
    low.reset()
    assert low.delay() == 0.125


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
