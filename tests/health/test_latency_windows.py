from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routecar.health import LatencyWindow, ManualClock


def test_percentiles_count_and_mean() -> None:
    w = LatencyWindow(ManualClock())
    assert (w.p50, w.count, w.mean) == (None, 0, None)
    for v in range(1, 101):
        w.add(v / 100)
    assert w.count == 100
    assert w.mean == pytest.approx(0.505)
    assert w.p50 == pytest.approx(0.505)
    assert w.p95 == pytest.approx(0.9505)
    assert w.p99 == pytest.approx(0.9901)


def test_only_the_last_n_samples_are_kept() -> None:
    w = LatencyWindow(ManualClock(), size=8)
    for v in range(100):
        w.add(float(v))
    assert w.count == 8
    assert len(w._arrivals) == len(w._sorted) == 8
    assert w.percentile(0) == 92 and w.percentile(100) == 99


def test_old_samples_age_out() -> None:
    clock = ManualClock()
    w = LatencyWindow(clock, max_age=300)
    for _ in range(10):
        w.add(5.0)
    assert w.p50 == 5.0
    clock.advance(200)
    w.add(0.1)
    assert w.p99 == pytest.approx(5.0)
    clock.advance(101)  # the slow ones are older than 5 minutes now
    assert w.count == 1 and w.p99 == pytest.approx(0.1)


def test_bad_values_are_ignored() -> None:
    w = LatencyWindow(ManualClock())
    for v in (float("nan"), float("inf"), -1.0):
        w.add(v)
    assert w.count == 0


@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=300))
def test_percentiles_are_ordered_and_within_range(values: list[float]) -> None:
    w = LatencyWindow(ManualClock(), size=64)
    for v in values:
        w.add(v)
    kept = values[-64:]
    assert min(kept) <= w.p50 <= w.p95 <= w.p99 <= max(kept)  # type: ignore[operator]
