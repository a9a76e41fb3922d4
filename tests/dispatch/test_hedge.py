"""Hedged first tokens in the dispatcher, on virtual time.

Each deployment's attempt takes a scripted time on a manual clock; `VirtualTime` runs the
dispatcher and, whenever every task is waiting, moves the clock to the soonest wake-up. So a
"2 s" attempt racing a "50 ms" hedge is decided by order alone, instantly and exactly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from routecar.config.loader import parse_config
from routecar.dispatch.caller import Prepared
from routecar.dispatch.dispatcher import Dispatcher
from routecar.dispatch.hedge import LOST
from routecar.dispatch.values import DispatchRequest
from routecar.health.clock import ManualClock
from routecar.health.registry import HealthRegistry
from routecar.providers.base import UpstreamRequest
from routecar.router.cost import build_routing_request
from routecar.router.router import Router
from tests.dispatch.test_dispatcher import REQUEST, http, ok, yaml


class VirtualTime:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._wakeups: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._wakeups, (self.clock() + seconds, next(self._seq), fut))
        await fut

    async def run(self, coro: Any) -> Any:
        task = asyncio.ensure_future(coro)
        while not task.done():
            for _ in range(50):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if task.done():
                break
            while self._wakeups and self._wakeups[0][2].cancelled():
                heapq.heappop(self._wakeups)
            assert self._wakeups, "deadlock: nothing to wake"
            when, _, fut = heapq.heappop(self._wakeups)
            self.clock.set(max(when, self.clock()))
            fut.set_result(None)
        return task.result()


@dataclass
class TimedCaller:
    """Per deployment id: (seconds the attempt takes, its result)."""

    time: VirtualTime
    scripts: dict[str, tuple[float, Any]]
    calls: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def prepare(self, cand: Any, request: DispatchRequest) -> Prepared:
        return Prepared(UpstreamRequest("http://127.0.0.1:9/x", {}, b""), [])

    async def call(self, cand: Any, prepared: Prepared, request: DispatchRequest, deadline: float) -> Any:
        dep = cand.deployment.id
        self.calls.append(dep)
        takes, result = self.scripts[dep]
        try:
            await self.time.sleep(takes)
        except asyncio.CancelledError:
            self.cancelled.append(dep)  # a real attempt closes its connection here
            raise
        return result


def models(hedge: str = "{after: 200ms}") -> str:
    return f"""
  m:
    price: {{input: 1.0, output: 2.0}}
    deployments:
      - {{provider: a, model: a1, weight: 1000}}
      - {{provider: b, model: b1, weight: 1}}
    hedge: {hedge}
"""


class Rig:
    def __init__(self, text: str, scripts: dict[str, tuple[float, Any]]) -> None:
        self.config = parse_config(text, env={})
        self.clock = ManualClock()
        self.t0 = self.clock()
        self.time = VirtualTime(self.clock)
        self.health = HealthRegistry(self.config, self.clock)
        self.caller = TimedCaller(self.time, scripts)
        self.router = Router(self.config, self.health, rng=lambda: 0.0)  # a1 planned first
        self.dispatcher = Dispatcher(self.config, self.health, self.caller, clock=self.clock,
                                     sleep=self.time.sleep, rng=lambda: 0.5)

    async def run(self, timeout: float = 60.0):
        plan = self.router.plan(build_routing_request("chat", {**REQUEST.body, "model": "m"}))
        return await self.time.run(self.dispatcher.execute(plan, REQUEST, self.clock() + timeout))


def rows(out) -> list[tuple[str, str | None, bool, bool]]:
    return [(a.provider, a.error, a.hedge, a.lost) for a in out.attempts]


async def test_a_slow_first_attempt_is_hedged_and_the_fast_hedge_wins() -> None:
    rig = Rig(yaml(models()), {"a/a1": (2.0, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert out.error is None and out.candidate.deployment.id == "b/b1"
    assert rig.caller.calls == ["a/a1", "b/b1"] and rig.caller.cancelled == ["a/a1"]
    # The committed attempt is the last entry (a stream's final record replaces it).
    assert rows(out) == [("a", LOST, False, True), ("b", None, True, False)]
    lost = next(a for a in out.attempts if a.lost)
    assert lost.cost_estimated and lost.cost_usd is not None and lost.cost_usd > 0
    assert out.extra_cost == lost.cost_usd  # billed to the request with the winner's usage
    assert abs(rig.clock() - rig.t0 - 0.25) < 1e-9  # answered at 200 ms + 50 ms, not at 2 s


async def test_a_fast_first_attempt_is_not_hedged() -> None:
    rig = Rig(yaml(models()), {"a/a1": (0.1, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert out.candidate.deployment.id == "a/a1" and rig.caller.calls == ["a/a1"]
    assert rows(out) == [("a", None, False, False)]


async def test_the_primary_can_still_win_after_the_hedge_started() -> None:
    rig = Rig(yaml(models()), {"a/a1": (0.3, ok()), "b/b1": (1.0, ok())})
    out = await rig.run()
    assert out.candidate.deployment.id == "a/a1" and rig.caller.cancelled == ["b/b1"]
    assert sorted(rows(out)) == [("a", None, False, False), ("b", LOST, True, True)]


async def test_a_failing_hedge_does_not_win_the_slow_primary_answers() -> None:
    rig = Rig(yaml(models()), {"a/a1": (2.0, ok()), "b/b1": (0.05, http(500))})
    out = await rig.run()
    assert out.error is None and out.candidate.deployment.id == "a/a1"
    assert sorted(rows(out)) == [("a", None, False, False), ("b", "http_5xx", True, False)]
    assert rig.caller.cancelled == []


async def test_no_hedge_when_the_retry_budget_is_spent() -> None:
    text = yaml(models(), "  retry: {budget: {ratio: 0, min_per_second: 0}}")
    rig = Rig(text, {"a/a1": (2.0, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert out.candidate.deployment.id == "a/a1" and rig.caller.calls == ["a/a1"]
    assert rows(out) == [("a", None, False, False)]


async def test_p95_without_measurements_does_not_hedge() -> None:
    rig = Rig(yaml(models("{after: p95}")), {"a/a1": (2.0, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert rig.caller.calls == ["a/a1"] and out.candidate.deployment.id == "a/a1"


async def test_resilience_hedge_applies_when_the_model_has_none() -> None:
    text = yaml(models().replace("    hedge: {after: 200ms}\n", ""), "  hedge: {after: 500ms}")
    rig = Rig(text, {"a/a1": (2.0, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert out.candidate.deployment.id == "b/b1" and abs(rig.clock() - rig.t0 - 0.55) < 1e-9


async def test_no_hedge_configured_means_none() -> None:
    text = yaml(models().replace("    hedge: {after: 200ms}\n", ""))
    rig = Rig(text, {"a/a1": (2.0, ok()), "b/b1": (0.05, ok())})
    out = await rig.run()
    assert rig.caller.calls == ["a/a1"] and out.candidate.deployment.id == "a/a1"


async def test_the_app_hanging_up_cancels_both_attempts() -> None:
    rig = Rig(yaml(models()), {"a/a1": (2.0, ok()), "b/b1": (2.0, ok())})
    plan = rig.router.plan(build_routing_request("chat", {**REQUEST.body, "model": "m"}))
    task = asyncio.ensure_future(rig.dispatcher.execute(plan, REQUEST, rig.clock() + 60))

    async def hang_up() -> None:
        await rig.time.sleep(0.5)  # both attempts are running by now
        task.cancel()

    await rig.time.run(asyncio.gather(task, hang_up(), return_exceptions=True))
    assert task.cancelled()
    assert sorted(rig.caller.cancelled) == ["a/a1", "b/b1"]
