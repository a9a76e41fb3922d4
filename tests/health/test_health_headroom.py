from __future__ import annotations

import pytest

from routecar.config.model import Limits
from routecar.health import ClientLimiter, ManualClock, RateLimitInfo, ReportedHeadroom


def test_reported_remaining_blocks_until_reset_then_refills() -> None:
    clock = ManualClock()
    h = ReportedHeadroom(clock)
    h.update(RateLimitInfo(remaining_requests=0, limit_requests=100, reset_requests=7))
    assert h.has_headroom() == (False, pytest.approx(clock() + 7))
    clock.advance(7)
    assert h.has_headroom() == (True, None)
    assert h.headroom_fraction() is None  # past the reset: nothing known


def test_tokens_remaining_compared_with_the_estimate() -> None:
    clock = ManualClock()
    h = ReportedHeadroom(clock)
    h.update(RateLimitInfo(remaining_tokens=1000, limit_tokens=10000, reset_tokens=30))
    assert h.has_headroom(900)[0]
    assert h.has_headroom(1001) == (False, pytest.approx(clock() + 30))
    assert h.headroom_fraction() == pytest.approx(0.1)


def test_started_requests_are_subtracted_locally() -> None:
    clock = ManualClock()
    h = ReportedHeadroom(clock)
    h.update(RateLimitInfo(remaining_requests=2, limit_requests=10, reset_requests=5))
    h.consume(0)
    assert h.has_headroom()[0]
    h.consume(0)
    assert not h.has_headroom()[0]
    h.update(RateLimitInfo(remaining_requests=8, reset_requests=5))  # a fresh answer
    assert h.has_headroom()[0] and h.headroom_fraction() == pytest.approx(0.8)


def test_remaining_without_reset_goes_stale_and_reset_is_capped() -> None:
    clock = ManualClock()
    h = ReportedHeadroom(clock, horizon=20)
    h.update(RateLimitInfo(remaining_requests=0))
    assert h.has_headroom() == (False, pytest.approx(clock() + 20))
    clock.advance(20)
    assert h.has_headroom()[0]


def test_rpm_sliding_window() -> None:
    clock = ManualClock(0)
    lim = ClientLimiter(Limits(rpm=3), clock)
    for _ in range(3):
        assert lim.check() == (None, None)
        lim.record()
        clock.advance(10)
    # requests at t=0, 10, 20; now t=30
    reason, retry_at = lim.check()
    assert reason == "rpm_limit" and retry_at == pytest.approx(60)
    clock.set(59.5)
    assert lim.check()[0] == "rpm_limit"
    clock.set(60)
    assert lim.check() == (None, None)
    assert lim.fraction() == pytest.approx(1 / 3)


def test_tpm_window_and_oversized_request() -> None:
    clock = ManualClock(0)
    lim = ClientLimiter(Limits(tpm=1000), clock)
    lim.record(600)
    clock.advance(5)
    lim.record(300)
    assert lim.check(100) == (None, None)
    reason, retry_at = lim.check(200)
    assert reason == "tpm_limit" and retry_at == pytest.approx(60)  # the 600 leave at t=60
    reason, retry_at = lim.check(5000)
    assert reason == "tpm_limit" and retry_at == pytest.approx(65)  # only an empty window
    clock.set(65)
    assert lim.check(5000) == (None, None)
    lim.add_tokens(-50)  # an overestimate is not taken back
    lim.add_tokens(70)
    assert lim.snapshot()["tokens_last_60s"] == 70


def test_window_memory_is_bounded() -> None:
    clock = ManualClock(0)
    lim = ClientLimiter(Limits(rpm=10**9), clock)
    for _ in range(5000):
        lim.record(1)
        clock.advance(0.37)
    assert len(lim._window._slots) == 60
    assert lim.snapshot()["requests_last_60s"] <= 60 / 0.37 + 3
