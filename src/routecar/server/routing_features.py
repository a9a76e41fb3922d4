"""Pipeline steps around routing and dispatch: budgets, cascades, replayed streams, settling.

The handler calls these in order: `gate_budget` after the router planned (it may downgrade
the plan or reject the request), `run_plan` instead of a bare dispatch (it runs a cascade's
steps and checks their answers), `replay` when a cascade answered a streaming request from a
checked non-streamed step, and `settle` once the row is final (spend into the ledger, the
outcome into the canary monitor).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from ..http1.server import Request, StreamResponse

from ..config.model import Config
from ..dispatch.dispatcher import Attempts, DispatchError, Dispatcher, Success
from ..providers.base import Chunk
from ..router.cascade import check_answer
from ..router.cost import actual_cost
from ..router.plan import Plan, RoutingRequest
from ..router.router import Router
from ..routelog.record import RouteRecord
from .errors import ApiError
from .features import RoutingFeatures
from .streaming import SSE_HEADERS

# Outcomes that say something about the model that served (or failed) the request; the rest
# (the app hung up, a bad request, a budget) would skew a canary's error rate.
_JUDGED = frozenset({"ok", "upstream_error", "rate_limited", "circuit_open", "timeout", "stream_broken"})


# -- budgets ----------------------------------------------------------------------------------

def gate_budget(
    features: RoutingFeatures, router: Router, config: Config, routing: RoutingRequest, plan: Plan,
    tags: dict[str, str], now: float,
) -> tuple[Plan, ApiError | None]:
    """The plan to run under the routes' budgets, and the 429 to answer instead, if any.

    An over-budget route with `when_exceeded: downgrade` is replanned on its `downgrade_to`
    route, whose own budget is then checked the same way (the config refuses cycles; the loop
    is bounded by the number of routes anyway)."""
    downgraded: list[str] = []
    for _ in range(len(config.routes) + 1):
        route = config.routes.get(plan.route) if plan.route else None
        if route is None or route.budget is None:
            return plan, None
        decision = features.ledger.check(route, tags, plan.est_cost_usd or 0.0, now)
        if decision.ok:
            return plan, None
        over = f"over budget ({decision.key}: ${decision.spent:.4f} of ${decision.limit:g})"
        if route.budget.when_exceeded != "downgrade" or route.name in downgraded:
            plan.reason = f"route '{route.name}' {over}; rejected"
            return plan, ApiError(429, decision.message(), "budget_exceeded", "budget_exceeded",
                                  outcome="budget_rejected", retry_after=decision.retry_after(now))
        passed_over = list(dict.fromkeys(c.slug for c in plan.candidates))
        downgraded.append(route.name)
        prior = plan
        plan = router.plan(routing, downgraded_from=route.name)
        plan.skipped[:0] = [{"slug": slug, "deployment": None, "why": f"route '{route.name}' {over}"}
                            for slug in passed_over] + prior.skipped
        if len(downgraded) > 1:
            plan.reason = f"route '{downgraded[0]}' over budget -> '{route.name}'; {plan.reason}"
    return plan, None


# -- cascades ---------------------------------------------------------------------------------

async def run_plan(
    dispatcher: Dispatcher, plan: Plan, body: dict[str, Any], endpoint: str, stream: bool, deadline: float,
    est_tokens: int, attempts: Attempts,
) -> Success | DispatchError:
    """Dispatch `plan`; a cascade runs step by step, each step with its own failover.

    Every step but the last runs non-streamed so its answer can be checked; the first answer
    that passes is the answer (a streaming app gets it replayed). The last step streams live
    when asked to, unchecked: its answer is final even when it would fail the checks. When a
    later step cannot answer at all, the last checked answer stands rather than an error."""
    if plan.cascade is None or endpoint == "embeddings":
        return await dispatcher.run(plan, body, endpoint, stream, deadline, est_tokens, attempts)
    checks = plan.cascade.checks
    steps = sorted({c.step for c in plan.candidates})
    kept: tuple[Success, float] | None = None  # the latest answer that failed a check, its cost
    result: Success | DispatchError | None = None
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        part = Attempts()
        sub = dataclasses.replace(plan, candidates=[c for c in plan.candidates if c.step == step])
        result = await dispatcher.run(sub, body, endpoint, stream and last, deadline, est_tokens, part,
                                      new_request=n == 0)
        attempts.absorb(part)
        if isinstance(result, DispatchError):
            if result.outcome == "bad_request":
                return result  # the request itself is refused: another step would refuse it too
            if last or result.outcome == "timeout":
                return _fall_back_to(kept, attempts, result, step)
            attempts.escalations.append(f"step {step} could not answer ({result.outcome})")
            continue
        if result.answer is None:
            return result  # the last step, streaming live
        failed = check_answer(result.answer.body, checks, body)
        attempts.checks[len(attempts.log) - 1] = "passed" if failed is None else f"failed: {failed}"
        if failed is None or last:
            return result
        cost = actual_cost(result.candidate.model, result.answer.body.get("usage"))
        attempts.extra_cost += cost
        attempts.escalations.append(f"{failed} check failed on {result.candidate.slug}")
        kept = (result, cost)
    assert result is not None  # a plan always has at least one candidate
    return result


def _fall_back_to(kept: tuple[Success, float] | None, attempts: Attempts, error: DispatchError,
                  step: int) -> Success | DispatchError:
    if kept is None:
        return error
    success, cost = kept
    attempts.extra_cost -= cost  # it is the answer now, billed as such
    attempts.escalations.append(f"step {step} could not answer ({error.outcome}); "
                                f"kept {success.candidate.slug}'s answer")
    return success


def step_first(plan: Plan, step: int) -> str:
    """The slug a cascade step planned first (an answer from another one is a failover)."""
    return next((c.slug for c in plan.candidates if c.step == step), plan.candidates[0].slug)


# -- replaying a checked answer as a stream ---------------------------------------------------

def answer_chunks(answer: dict[str, Any]) -> list[Chunk]:
    """A complete chat.completion as the chunks a stream of it would have carried."""
    base = {"id": answer.get("id") or "chatcmpl-routecar", "object": "chat.completion.chunk",
            "created": answer.get("created") or int(time.time()), "model": answer.get("model") or ""}
    chunks: list[Chunk] = []
    finals = []
    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant"}
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("refusal"):
            delta["refusal"] = message["refusal"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        chunks.append(Chunk({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}))
        finals.append({"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"})
    for final in finals:
        chunks.append(Chunk({**base, "choices": [final]}))
    if answer.get("usage"):
        chunks.append(Chunk({**base, "choices": [], "usage": answer["usage"]}))
    return chunks


async def replay(
    request: Request, answer: dict[str, Any], encoder: Any, record: RouteRecord, headers: dict[str, str],
    started: float, on_prepare: Callable[[], None],
) -> StreamResponse:
    """Writes a complete answer as an SSE stream in the entry point's protocol."""
    resp = StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    on_prepare()
    resp.headers.update(headers)
    try:
        await resp.prepare(request)
        for chunk in answer_chunks(answer):
            data = encoder.encode(chunk)
            if data:
                await resp.write(data)
                if record.ttft_ms is None and chunk.has_content:
                    record.ttft_ms = (time.perf_counter() - started) * 1000
        await resp.write(encoder.finish())
        await resp.write_eof()
    except ConnectionResetError:
        record.status = 499
        record.outcome = "client_cancelled"
        return resp
    record.outcome = "ok"
    return resp


# -- after the answer -------------------------------------------------------------------------

def settle(features: RoutingFeatures, config: Config, plan: Plan | None, record: RouteRecord,
           tags: dict[str, str], now: float) -> None:
    """Spend into the route's budget; the outcome into the canary monitor."""
    if plan is None or plan.route is None:
        return
    route = config.routes.get(plan.route)
    if route is None:
        return
    if route.budget is not None and record.cost_usd:
        features.ledger.record(route, tags, record.cost_usd, now)
    # Cache hits answer in microseconds: counting them would flatter whichever side they land on.
    if route.canary is not None and record.outcome in _JUDGED and record.cache not in ("hit", "semantic_hit"):
        ok = record.outcome == "ok"
        if plan.canary:
            # A canary that failed over to the baseline failed, whatever the row's outcome.
            ok = ok and record.chosen_model == route.canary.model
        features.canary.record(route.name, plan.canary, ok, record.latency_ms / 1000)


__all__ = ["answer_chunks", "gate_budget", "replay", "run_plan", "settle", "step_first"]
