"""The shared deadline ticker: fires as a timeout, never leaks a cancellation, yields to the app."""

from __future__ import annotations

import asyncio

import pytest

from routecar.dispatch.deadlines import TICK_S, expired, ticker


async def _wait_with_deadline(fut: asyncio.Future, seconds: float) -> str:
    loop = asyncio.get_running_loop()
    t = ticker(loop)
    d = t.arm(loop.time() + seconds)
    try:
        await fut
        return "done"
    except asyncio.CancelledError:
        if not expired(d):
            raise
        return "timeout"
    finally:
        t.disarm(d)


async def test_a_deadline_turns_into_a_timeout_not_a_cancellation() -> None:
    fut = asyncio.get_running_loop().create_future()
    assert await _wait_with_deadline(fut, 0.02) == "timeout"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(TICK_S * 3)  # nothing left over lands on a later await


async def test_a_disarmed_deadline_never_fires() -> None:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(fut.set_result, None)
    assert await _wait_with_deadline(fut, 0.001) == "done"
    await asyncio.sleep(TICK_S * 3)


async def test_an_outside_cancellation_wins_over_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    task = loop.create_task(_wait_with_deadline(fut, 0.02))
    await asyncio.sleep(0)
    task.cancel()  # the app hung up
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_task_whose_result_is_in_is_left_to_resume() -> None:
    """The race asyncio.timeout() has on 3.11: the awaited future completes, the timer fires
    before the task runs, and the cancellation lands on a later, unrelated await."""
    loop = asyncio.get_running_loop()
    t = ticker(loop)
    fut = loop.create_future()
    outcome: list[str] = []

    async def attempt() -> None:
        d = t.arm(loop.time() - 1)  # already due
        try:
            await fut
        finally:
            t.disarm(d)
        outcome.append("attempt done")
        await asyncio.sleep(TICK_S * 3)  # a later await must not be cancelled
        outcome.append("later await done")

    task = loop.create_task(attempt())
    await asyncio.sleep(0)
    fut.set_result(None)  # result in; the task is scheduled but has not run yet
    t._tick()  # the ticker fires right now, before the task resumes
    await task
    assert outcome == ["attempt done", "later await done"]


async def test_the_ticker_stops_when_nothing_is_armed() -> None:
    loop = asyncio.get_running_loop()
    t = ticker(loop)
    fut = loop.create_future()
    await _wait_with_deadline(fut, 0.01)
    await asyncio.sleep(TICK_S * 3)
    assert t._handle is None and not t._armed
