from __future__ import annotations

import pytest

from routecar.health import Cooldown, ManualClock, RateLimitInfo


def test_retry_after_sets_the_deadline() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    assert c.on_rate_limited(RateLimitInfo(retry_after=12)) == pytest.approx(clock() + 12)
    assert c.is_cooling() and c.remaining() == pytest.approx(12)
    clock.advance(12)
    assert not c.is_cooling() and c.cooling_until is None


def test_exhausted_limit_reset_is_used_without_retry_after() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    info = RateLimitInfo(remaining_requests=5, reset_requests=2, remaining_tokens=0,
                         reset_tokens=40)
    assert c.on_rate_limited(info) == pytest.approx(clock() + 40)


def test_nothing_exhausted_uses_the_soonest_reset() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    info = RateLimitInfo(remaining_tokens=100, reset_tokens=9, reset_requests=3)
    assert c.on_rate_limited(info) == pytest.approx(clock() + 3)


def test_default_grows_with_consecutive_429s() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    delays = []
    for _ in range(4):
        delays.append(c.on_rate_limited(None) - clock())
        clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8]
    c.on_success()  # after the cooldown ended: the streak is forgotten
    assert c.on_rate_limited(None) - clock() == 1


def test_capped_at_max_cooldown() -> None:
    clock = ManualClock()
    c = Cooldown(30, clock)
    assert c.on_rate_limited(RateLimitInfo(retry_after=86400)) == pytest.approx(clock() + 30)


def test_a_new_429_never_shortens_the_cooldown() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    c.on_rate_limited(RateLimitInfo(retry_after=60))
    clock.advance(1)
    assert c.on_rate_limited(RateLimitInfo(retry_after=2)) == pytest.approx(clock() + 59)
    assert c.on_rate_limited(RateLimitInfo(retry_after=100)) == pytest.approx(clock() + 100)


def test_overloaded_cools_briefly_or_for_retry_after() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    assert c.on_overloaded(None) == pytest.approx(clock() + 1)
    assert c.on_overloaded(5) == pytest.approx(clock() + 5)
    assert c.streak == 0  # overload is not a rate-limit streak


def test_success_while_cooling_keeps_the_streak() -> None:
    clock = ManualClock()
    c = Cooldown(300, clock)
    c.on_rate_limited(None)
    c.on_success()
    assert c.streak == 1
