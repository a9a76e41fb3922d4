"""A cascade route's steps, run by the dispatcher: cheapest first, escalate when an answer
fails its checks (docs/configuration.md, `routes.NAME.cascade`).

Every step but the last runs non-streamed so its answer can be checked; the first answer that
passes is the answer (a streaming app gets it replayed as a stream by the server). The last
step streams live when asked to, unchecked: its answer is final even when it would fail the
checks. Each step fails over within itself (its own `max_attempts`); when a later step cannot
answer at all, the last checked answer stands rather than an error. Answers discarded by an
escalation were real spend: their cost is billed to the request (`Outcome.extra_cost`).
"""

from __future__ import annotations

from typing import Awaitable, Protocol, Sequence

from ..router.cascade import check_answer
from ..router.cost import actual_cost
from ..router.plan import Plan
from ..router.plan import Candidate
from .attempt_log import Answered, AttemptLog
from .outcome import Outcome
from .values import DispatchError, DispatchRequest


class Failover(Protocol):
    """The dispatcher's failover loop over one step's candidates."""

    def __call__(self, planned: Sequence[Candidate], request: DispatchRequest, deadline: float, log: AttemptLog,
                 new_request: bool = True) -> Awaitable[Answered | DispatchError]: ...


async def run_cascade(failover: Failover, plan: Plan, request: DispatchRequest, deadline: float) -> Outcome:
    assert plan.cascade is not None
    checks = plan.cascade.checks
    steps = sorted({c.step for c in plan.candidates})
    log = AttemptLog()
    kept: tuple[Answered, float, str] | None = None  # the latest answer that failed a check, its cost, step head
    result: Answered | DispatchError | None = None
    first_of_step = plan.candidates[0].slug
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        candidates = [c for c in plan.candidates if c.step == step]
        first_of_step = candidates[0].slug
        part = AttemptLog()
        step_request = request._replace(stream=request.stream and last)
        result = await failover(candidates, step_request, deadline, part, new_request=n == 0)
        log.absorb(part)
        if isinstance(result, DispatchError):
            if result.outcome == "bad_request":
                break  # the request itself is refused: another step would refuse it too
            if last or result.outcome == "timeout":
                if kept is not None:
                    result = _fall_back_to(kept, log, result, step)
                    first_of_step = kept[2]
                break
            log.escalations.append(f"step {step} could not answer ({result.outcome})")
            continue
        if result.answer is None:
            break  # the last step, streaming live
        failed = check_answer(result.answer.body, checks, request.body)
        log.mark_last("passed" if failed is None else f"failed: {failed}")
        if failed is None or last:
            break
        cost = actual_cost(result.candidate.model, result.answer.body.get("usage"))
        log.extra_cost += cost
        log.escalations.append(f"{failed} check failed on {result.candidate.slug}")
        kept = (result, cost, first_of_step)
    assert result is not None  # a plan always has at least one candidate
    return log.outcome(result, first_of_step)


def _fall_back_to(kept: tuple[Answered, float, str], log: AttemptLog, error: DispatchError,
                  step: int) -> Answered:
    answered, cost, _ = kept
    log.extra_cost -= cost  # it is the answer now, billed as such
    log.escalations.append(f"step {step} could not answer ({error.outcome}); "
                           f"kept {answered.candidate.slug}'s answer")
    return answered
