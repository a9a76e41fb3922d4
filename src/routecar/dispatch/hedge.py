"""Hedged first tokens: one more attempt races a first one that is slow to start.

When the primary attempt has no first content token (a unary answer, or a stream's first
content event) after `after`, the dispatcher starts one more attempt on the next candidate;
the first of the two to produce content wins and the other is cancelled at once (its
cancellation closes its upstream connection: attempt.py's `finally` blocks). A failure does
not win: while the other attempt still runs, it is awaited. At most one hedge per request.

This module owns only the race and the decision of when a hedge applies; the attempts
themselves, health and the log stay the dispatcher's.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, NamedTuple

from ..config.model import Config, HedgeConfig
from ..router.cost import actual_cost, est_prompt_tokens
from ..router.plan import Candidate
from .attempt_log import Answered, AttemptLog
from .values import AttemptFailure, DispatchRequest

_PER_TOKEN = 1e-6  # prices are USD per 1M tokens
LOST = "hedge_lost"  # the error class of the attempt that lost the race


def hedge_config(config: Config, route: str | None, cand: Candidate) -> HedgeConfig | None:
    """The hedge that applies: the model's own, else the route's, else resilience.hedge."""
    if cand.model.hedge is not None:
        return cand.model.hedge
    if route is not None:
        rc = config.routes.get(route)
        if rc is not None and rc.hedge is not None:
            return rc.hedge
    return config.resilience.hedge


def hedge_delay(hedge: HedgeConfig, ttft_p95: Callable[[], float | None]) -> float | None:
    """Seconds to wait before hedging; None when `p95` has no measurement yet (no hedge)."""
    if hedge.after == "p95":
        return ttft_p95()
    return float(hedge.after)


class RaceResult(NamedTuple):
    result: Answered | AttemptFailure
    hedged: bool  # a hedge was started


async def race(primary: Awaitable[Answered | AttemptFailure],
               start_hedge: Callable[[], Awaitable[Answered | AttemptFailure] | None],
               after: float, sleep: Callable[[float], Awaitable[Any]],
               on_lost: Callable[[bool, Answered | AttemptFailure | None], None]) -> RaceResult:
    """Runs `primary`; after `after` seconds without its result, `start_hedge()` (None: no
    hedge could start, e.g. the retry budget is spent) races it. Returns the winner (else
    the last failure). `on_lost(is_hedge, result)` is told about the loser once it has
    settled: `result` is its answer when it finished too, None when it was cancelled."""
    first = asyncio.ensure_future(primary)
    timer = asyncio.ensure_future(sleep(after))
    tasks: list[asyncio.Future[Any]] = [first]
    try:
        await asyncio.wait((first, timer), return_when=asyncio.FIRST_COMPLETED)
        if first.done():
            return RaceResult(first.result(), False)
        hedge = start_hedge()
        if hedge is None:
            return RaceResult(await first, False)
        second = asyncio.ensure_future(hedge)
        tasks.append(second)
        pending = {first, second}
        last: Answered | AttemptFailure | None = None
        while pending:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # The primary first when both finished in the same turn: it was asked first.
            for task in tasks:
                if task not in pending or not task.done():
                    continue
                pending.discard(task)
                result = task.result()
                if isinstance(result, Answered):
                    await _settle_loser(tasks, task, on_lost)
                    return RaceResult(result, True)
                last = result
        assert last is not None
        return RaceResult(last, True)
    except BaseException:
        # The app hung up (or the sidecar stops): no attempt outlives the request.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        timer.cancel()


async def _settle_loser(tasks: list[asyncio.Future[Any]], winner: asyncio.Future[Any],
                        on_lost: Callable[[bool, Any], None]) -> None:
    for i, task in enumerate(tasks):
        if task is winner:
            continue
        if task.done():
            result = task.result()
            if isinstance(result, Answered):  # both answered at once: this one is discarded
                on_lost(i == 1, result)
            return  # a failure lost nothing: its own record says why it ended
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        on_lost(i == 1, None)


def loser_cost(cand: Candidate, request: DispatchRequest, result: Any) -> tuple[float, bool]:
    """USD the losing attempt cost and whether it is an estimate: a finished unary answer's
    usage, else (cancelled, or a stream dropped before its usage) the prompt at input price."""
    if isinstance(result, Answered) and result.answer is not None:
        usage = result.answer.body.get("usage")
        if isinstance(usage, dict) and usage:
            return actual_cost(cand.model, usage), False
    prompt = est_prompt_tokens(request.body, request.endpoint)
    return prompt * cand.model.price.input * _PER_TOKEN, True


def mark_lost(log: AttemptLog, cand: Candidate, hedge: bool, cost: float, estimated: bool) -> None:
    """The loser's record says it lost, with its cost; the request is billed for it."""
    dep = cand.deployment
    for i in range(len(log.attempts) - 1, -1, -1):
        rec = log.attempts[i]
        if rec.provider == dep.provider and rec.model == dep.model and rec.hedge == hedge and not rec.lost:
            log.attempts[i] = rec._replace(error=LOST, lost=True, cost_usd=cost, cost_estimated=estimated)
            break
    log.extra_cost += cost


def winner_last(log: AttemptLog, cand: Candidate, hedge: bool) -> None:
    """Moves the winner's record to the end of the log: the committed attempt is the last one
    (a stream's final record replaces the last entry when it ends; server/row.py)."""
    dep = cand.deployment
    for i in range(len(log.attempts) - 1, -1, -1):
        rec = log.attempts[i]
        if rec.provider == dep.provider and rec.model == dep.model and rec.hedge == hedge and not rec.lost:
            log.attempts.append(log.attempts.pop(i))
            return
