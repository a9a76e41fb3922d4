from __future__ import annotations

from routecar.health import ManualClock, RetryBudget


def take_all(budget: RetryBudget, limit: int = 10_000) -> int:
    taken = 0
    while taken < limit and budget.try_acquire_retry():
        taken += 1
    return taken


def test_floor_allows_retries_without_traffic() -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0.5, clock=ManualClock())
    assert take_all(budget) == 5  # 0.5/s over 10 s


def test_ratio_of_live_traffic() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.2, min_per_second=0.1, clock=clock)
    for _ in range(200):
        budget.record_request()
    assert take_all(budget) == 40
    assert budget.snapshot()["retries"] == 40


def test_budget_refills_as_the_window_moves() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.2, min_per_second=0.2, clock=clock)
    assert take_all(budget) == 2
    clock.advance(5)
    assert take_all(budget) == 0
    clock.advance(6)
    assert take_all(budget) == 2


def test_reconfigure_keeps_counts() -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0, clock=ManualClock())
    for _ in range(10):
        budget.record_request()
    assert take_all(budget) == 5
    budget.reconfigure(ratio=1.0, min_per_second=0)
    assert take_all(budget) == 5
