"""The dispatcher's failover paths, driven by a manual clock and a scripted caller.

No network: each deployment's caller answers from a script (a success, an HTTP failure, a
timeout that takes time on the clock), and `sleep` moves the same clock, so waits for a
rate-limit reset, backoff and deadlines are exact and instant.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from routecar.config.loader import parse_config
from routecar.dispatch.caller import Prepared
from routecar.dispatch.dispatcher import Dispatcher
from routecar.dispatch.values import AttemptFailure, DispatchRequest, UnaryAnswer
from routecar.health.clock import ManualClock
from routecar.health.registry import HealthRegistry
from routecar.providers.base import UnsupportedParam, UpstreamError, UpstreamRequest
from routecar.router.router import Router

REQUEST = DispatchRequest({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "chat", False, 10)


def ok(body: dict[str, Any] | None = None) -> UnaryAnswer:
    body = body or {"choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 3,
                                                                      "total_tokens": 8}}
    return UnaryAnswer(200, {}, body, 0.01)


def http(status: int, retry_after: float | None = None, context_length: bool = False) -> AttemptFailure:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return AttemptFailure("http", status=status, headers=headers,
                          error=UpstreamError(f"upstream said {status}", context_length=context_length))


@dataclass
class Step:
    result: Any  # UnaryAnswer | AttemptFailure | an exception to raise
    takes: float = 0.01  # seconds the attempt takes on the clock


@dataclass
class ScriptedCaller:
    """Per deployment id, the answers its attempts get, in order (the last one repeats)."""

    clock: ManualClock
    scripts: dict[str, list[Step]]
    calls: list[str] = field(default_factory=list)
    refuses: dict[str, str] = field(default_factory=dict)  # dep id -> parameter it cannot take

    def prepare(self, cand: Any, request: DispatchRequest) -> Prepared:
        param = self.refuses.get(cand.deployment.id)
        if param is not None:
            raise UnsupportedParam(param, "fake")
        return Prepared(UpstreamRequest("http://127.0.0.1:9/x", {}, b""), [])

    async def call(self, cand: Any, prepared: Prepared, request: DispatchRequest, deadline: float) -> Any:
        dep = cand.deployment.id
        self.calls.append(dep)
        script = self.scripts[dep]
        step = script.pop(0) if len(script) > 1 else script[0]
        self.clock.advance(step.takes)
        if isinstance(step.result, BaseException):
            raise step.result
        return step.result


def yaml(models: str, resilience: str = "", server: str = "") -> str:
    return f"""
providers:
  a: {{type: openai, base_url: 'http://127.0.0.1:9/v1'}}
  b: {{type: openai, base_url: 'http://127.0.0.1:9/v1'}}
  c: {{type: openai, base_url: 'http://127.0.0.1:9/v1'}}
models:
{models}
resilience:
  health_check: {{enabled: false}}
{resilience}
server: {{max_queue_wait: 5s{server}}}
route_log: {{path: ':memory:'}}
"""


THREE = """
  m:
    context_window: 8000
    deployments:
      - {provider: a, model: a1, weight: 1000}
      - {provider: b, model: b1, weight: 1}
    fallbacks: [big]
  big:
    context_window: 200000
    deployments:
      - {provider: c, model: c1}
"""


class Rig:
    def __init__(self, text: str, scripts: dict[str, list[Step]], seed: float = 0.0) -> None:
        self.config = parse_config(text, env={})
        self.clock = ManualClock()
        self.health = HealthRegistry(self.config, self.clock)
        self.caller = ScriptedCaller(self.clock, scripts)
        self.slept: list[float] = []
        self.router = Router(self.config, self.health, rng=lambda: seed)
        self.dispatcher = Dispatcher(self.config, self.health, self.caller, clock=self.clock, sleep=self._sleep,
                                     rng=lambda: 0.5)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)

    async def run(self, model: str = "m", timeout: float = 60.0, request: DispatchRequest = REQUEST):
        from routecar.router.cost import build_routing_request

        plan = self.router.plan(build_routing_request("chat", {**request.body, "model": model}))
        return await self.dispatcher.execute(plan, request, self.clock() + timeout)


async def test_the_first_candidate_answers() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(ok())]})
    out = await rig.run()
    assert out.error is None and out.candidate.slug == "m" and not out.fallback
    assert [a.provider for a in out.attempts] == ["a"] and out.attempts[0].status == 200
    assert rig.caller.calls == ["a/a1"]


async def test_a_5xx_fails_over_to_the_next_deployment_then_the_fallback() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(http(503))], "b/b1": [Step(http(500))], "c/c1": [Step(ok())]})
    out = await rig.run()
    assert out.candidate.slug == "big" and out.fallback
    assert [(a.provider, a.error) for a in out.attempts] == [("a", "http_5xx"), ("b", "http_5xx"), ("c", None)]


async def test_a_non_retryable_400_is_the_answer_with_the_providers_message() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(http(400))], "b/b1": [Step(ok())]})
    out = await rig.run()
    assert out.error is not None and out.error.status == 400 and out.error.outcome == "bad_request"
    assert "upstream said 400" in out.error.message
    assert rig.caller.calls == ["a/a1"]


async def test_context_length_moves_to_a_larger_window_only() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(http(400, context_length=True))], "b/b1": [Step(ok())],
                            "c/c1": [Step(ok())]})
    out = await rig.run()
    assert out.candidate.slug == "big"
    assert rig.caller.calls == ["a/a1", "c/c1"]  # b1 has the same small window: skipped
    assert any(s["deployment"] == "b/b1" and "context too small" in s["why"] for s in out.skipped)


async def test_context_length_with_no_larger_window_is_the_providers_400() -> None:
    models = """
  m:
    context_window: 8000
    deployments: [{provider: a, model: a1}]
"""
    rig = Rig(yaml(models), {"a/a1": [Step(http(400, context_length=True))]})
    out = await rig.run()
    assert out.error.status == 400 and "upstream said 400" in out.error.message


async def test_max_attempts_cuts_the_chain() -> None:
    rig = Rig(yaml(THREE, "  retry: {max_attempts: 2}"),
              {"a/a1": [Step(http(503))], "b/b1": [Step(http(503))], "c/c1": [Step(ok())]})
    out = await rig.run()
    assert out.error.status == 502 and len(out.attempts) == 2
    assert rig.caller.calls == ["a/a1", "b/b1"]


async def test_an_exhausted_retry_budget_stops_failover() -> None:
    rig = Rig(yaml(THREE, "  retry: {budget: {ratio: 0.0, min_per_second: 0}}"),
              {"a/a1": [Step(http(503))], "b/b1": [Step(ok())]})
    out = await rig.run()
    assert out.error.status == 502 and "Retry budget exhausted" in out.error.message
    assert rig.caller.calls == ["a/a1"]
    assert any(s["why"] == "retry budget exhausted" for s in out.skipped)


async def test_the_deadline_passing_before_an_attempt_ends_the_request() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(AttemptFailure("first_token_timeout"), takes=3.0)], "b/b1": [Step(ok())]})
    out = await rig.run(timeout=2.0)
    assert out.error.status == 504 and out.error.outcome == "timeout"
    assert rig.caller.calls == ["a/a1"]  # b1 was never started: no time was left


async def test_every_candidate_cooling_down_waits_for_the_soonest_reset() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(ok())], "b/b1": [Step(ok())], "c/c1": [Step(ok())]})
    for dep, wait in (("a/a1", 2.0), ("b/b1", 3.0), ("c/c1", 4.0)):
        rig.health.on_start(dep)
        rig.health.on_finish(dep, _rate_limited(wait))
    out = await rig.run()
    assert out.error is None and out.candidate.deployment.id == "a/a1"
    assert out.queue_wait == pytest.approx(2.001, abs=0.01) and rig.slept == [pytest.approx(2.001, abs=0.01)]


async def test_the_request_that_meets_a_short_429_waits_for_the_reset_itself() -> None:
    models = """
  m:
    deployments: [{provider: a, model: a1}]
"""
    rig = Rig(yaml(models), {"a/a1": [Step(http(429, retry_after=1)), Step(ok())]})
    out = await rig.run()
    assert out.error is None and [a.status for a in out.attempts] == [429, 200]
    assert out.queue_wait == pytest.approx(1.0, abs=0.05)


async def test_a_reset_beyond_max_queue_wait_answers_429_with_retry_after() -> None:
    models = """
  m:
    deployments: [{provider: a, model: a1}]
"""
    rig = Rig(yaml(models), {"a/a1": [Step(http(429, retry_after=30))]})
    out = await rig.run()
    assert out.error.status == 429 and out.error.retry_after == pytest.approx(30, abs=1)
    assert rig.slept == []


async def test_every_circuit_open_sends_one_panic_probe_to_the_soonest() -> None:
    rig = Rig(yaml(THREE, "  circuit_breaker: {consecutive_failures: 1, open_for: 30s}"),
              {"a/a1": [Step(ok())], "b/b1": [Step(ok())], "c/c1": [Step(ok())]})
    for dep in ("b/b1", "c/c1", "a/a1"):  # a1 tripped last: it reopens last
        rig.health.on_start(dep)
        rig.health.on_finish(dep, _failure())
        rig.clock.advance(1.0)
    out = await rig.run()
    assert out.error is None and out.panic and rig.caller.calls == ["b/b1"]


async def test_a_single_deployment_is_retried_after_backoff() -> None:
    models = """
  m:
    deployments: [{provider: a, model: a1}]
"""
    rig = Rig(yaml(models, "  retry: {backoff: {base: 100ms, max: 1s}}"), {"a/a1": [Step(http(503)), Step(ok())]})
    out = await rig.run()
    assert out.error is None and len(out.attempts) == 2
    assert out.slept == pytest.approx(0.075) and rig.slept == [pytest.approx(0.075)]  # base x jitter 0.75


async def test_a_parameter_one_provider_cannot_take_goes_to_another() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(ok())], "b/b1": [Step(ok())], "c/c1": [Step(ok())]})
    rig.caller.refuses = {"a/a1": "logit_bias"}
    out = await rig.run()
    assert out.candidate.deployment.id == "b/b1"
    rig.caller.refuses = {"a/a1": "logit_bias", "b/b1": "logit_bias", "c/c1": "logit_bias"}
    out = await rig.run()
    assert out.error.status == 400 and out.error.param == "logit_bias" and not out.attempts


async def test_the_app_hanging_up_records_a_cancelled_attempt_and_tells_health_nothing_bad() -> None:
    rig = Rig(yaml(THREE), {"a/a1": [Step(asyncio.CancelledError())]})
    with pytest.raises(asyncio.CancelledError):
        await rig.run()
    view = rig.health.get("a/a1")
    assert view.breaker.state == "closed" and view.in_flight == 0


async def test_a_cascade_escalates_when_a_check_fails_and_bills_the_discarded_answer() -> None:
    models = """
  cheap:
    price: {input: 1, output: 1}
    deployments: [{provider: a, model: a1}]
  strong:
    price: {input: 2, output: 2}
    deployments: [{provider: b, model: b1}]
routes:
  extract: {strategy: cascade, candidates: [cheap, strong], cascade: {checks: [json]}}
"""
    not_json = ok({"choices": [{"index": 0, "message": {"role": "assistant", "content": "sure!"},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1000000, "completion_tokens": 0}})
    json_answer = ok({"choices": [{"index": 0, "message": {"role": "assistant", "content": '{"a": 1}'},
                                   "finish_reason": "stop"}]})
    rig = Rig(yaml(models), {"a/a1": [Step(not_json)], "b/b1": [Step(json_answer)]})
    out = await rig.run("extract")
    assert out.candidate.slug == "strong" and out.escalations == ("json check failed on cheap",)
    assert [a.check for a in out.attempts] == ["failed: json", "passed"]
    assert out.extra_cost == pytest.approx(1.0)  # 1M prompt tokens at $1/M
    assert not out.fallback  # an escalation is not a failover


def _rate_limited(seconds: float):
    from routecar.health.values import AttemptResult

    return AttemptResult("rate_limited", status=429, headers={"retry-after": str(seconds)})


def _failure():
    from routecar.health.values import AttemptResult

    return AttemptResult("failure", status=503)


class _FakeOpened:
    """An OpenedStream stand-in: a head, then the rest (or a break), then closed."""

    def __init__(self, rest: list[Any], broken: str | None = None) -> None:
        from routecar.providers.base import Chunk

        self.head = [Chunk({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]})]
        self._rest = [Chunk(d) for d in rest]
        self._broken = broken
        self.ttft = 0.05
        self.closed = False
        self.resp = type("R", (), {"headers": {}, "status": 200})()

    async def rest(self):
        from routecar.dispatch.attempt import StreamBroken

        for chunk in self._rest:
            yield chunk
        if self._broken:
            raise StreamBroken(self._broken, "cut")

    def close(self) -> None:
        self.closed = True


def _live(rig: Rig, opened: _FakeOpened):
    from routecar.dispatch.stream import LiveStream
    from routecar.dispatch.values import AttemptRecord

    rig.health.on_start("a/a1")
    record = AttemptRecord("a", "a1", "m", 200, None, 50.0, ttft_ms=50.0)
    return LiveStream(opened, rig.health, "a/a1", None, 10, record, rig.clock, rig.clock())


async def test_a_stream_reports_its_own_end_to_health_once() -> None:
    rig = Rig(yaml(THREE, "  circuit_breaker: {consecutive_failures: 1}"), {"a/a1": [Step(ok())]})
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    live = _live(rig, _FakeOpened([{"choices": [], "usage": usage}]))
    rig.clock.advance(2.0)
    got = [c async for c in live.chunks()]
    assert len(got) == 2 and live.result.outcome == "ok" and live.result.usage == usage
    assert live.result.attempt.latency_ms == pytest.approx(2000.0) and live.result.attempt.error is None
    live.abandon()  # already over: changes nothing, tells health nothing more
    health = rig.health.get("a/a1")
    assert health.in_flight == 0 and health.breaker.state == "closed" and health.latency.count == 1


async def test_a_stream_that_breaks_after_the_first_byte_is_a_failure_for_health() -> None:
    from routecar.dispatch.attempt import StreamBroken

    rig = Rig(yaml(THREE, "  circuit_breaker: {consecutive_failures: 1}"), {"a/a1": [Step(ok())]})
    opened = _FakeOpened([], broken="idle_timeout")
    live = _live(rig, opened)
    with pytest.raises(StreamBroken):
        async for _ in live.chunks():
            pass
    assert live.result.outcome == "stream_broken" and live.result.attempt.error == "idle_timeout"
    assert opened.closed and rig.health.get("a/a1").breaker.state == "open"


async def test_an_app_that_hangs_up_is_not_the_upstreams_fault() -> None:
    rig = Rig(yaml(THREE, "  circuit_breaker: {consecutive_failures: 1}"), {"a/a1": [Step(ok())]})
    opened = _FakeOpened([{"choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": None}]}])
    live = _live(rig, opened)
    async for _ in live.chunks():
        break  # the app is gone after the first chunk
    live.abandon()
    assert live.result.outcome == "client_cancelled" and live.result.attempt.error is None
    health = rig.health.get("a/a1")
    assert opened.closed and health.in_flight == 0 and health.breaker.state == "closed"
