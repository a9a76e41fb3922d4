"""The route-log row of a finished request, built from what the request path produced.

The scalar columns are set from the exchange's plan, outcome and stream end when the request
is over. The list columns (candidates, rules, skips, the attempt log) are left to the writer:
the record carries a `RowDetail` over the immutable plan and outcome, built into lists off the
request path. A stream's committed attempt takes its final form (latency to its end, its
error) from the stream's own end record, never by editing the outcome.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..dispatch.outcome import Outcome
from ..dispatch.values import AttemptRecord
from ..router.cost import actual_cost
from ..router.plan import Plan, RoutingRequest
from ..routelog.record import RouteRecord
from ..stages.exchange import Exchange


class PlanDetail:
    """The list columns of a row, from the plan and the outcome (both immutable)."""

    __slots__ = ("plan", "attempts", "skipped", "checked_at")

    def __init__(self, plan: Plan, outcome: Outcome | None, final: AttemptRecord | None, checked_at: float):
        self.plan = plan
        attempts = outcome.attempts if outcome is not None else ()
        if final is not None and attempts:
            attempts = attempts[:-1] + (final,)
        self.attempts: tuple[AttemptRecord, ...] = attempts
        self.skipped = outcome.skipped if outcome is not None else ()
        # The skips' `retry_at` are on the health clock (monotonic): made relative to this.
        self.checked_at = checked_at

    def columns(self) -> Mapping[str, Any]:
        plan = self.plan
        skipped = list(plan.skipped)
        now = self.checked_at
        for s in self.skipped:  # the router's skips (window, capabilities, canary, budget), then the dispatcher's
            entry = {k: v for k, v in s.items() if k != "retry_at"}
            if s.get("retry_at"):
                entry["retry_in_s"] = round(max(0.0, s["retry_at"] - now), 3)
            skipped.append(entry)
        return {
            "candidates": [c.describe() for c in plan.candidates],
            "rules_matched": list(plan.rules_matched),
            "skipped": skipped,
            "attempt_log": [a.as_dict() for a in self.attempts],
        }

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        return [(a.provider, a.slug or a.model, a.error or "ok") for a in self.attempts]


def record_inputs(record: RouteRecord, req: RoutingRequest) -> None:
    """The router's inputs the parsing already computed, for `routecar replay` (six stores)."""
    record.est_prompt_tokens = req.est_prompt_tokens
    record.est_output_tokens = req.est_output_tokens
    record.has_tools = req.has_tools
    record.has_images = req.has_images
    record.json_mode = req.json_mode
    record.json_schema = req.json_schema


def record_plan(record: RouteRecord, plan: Plan) -> None:
    record.route = plan.route
    record.strategy = plan.strategy
    record.reason = plan.reason
    record.shadow_model = plan.shadow_model
    record.est_cost_usd = plan.est_cost_usd
    record.canary = plan.canary


def record_answerer(record: RouteRecord, plan: Plan, outcome: Outcome) -> None:
    """Who answered (or, for a total failure, where the request last went), and why."""
    record.attempts = len(outcome.attempts)
    record.escalations = len(outcome.escalations)
    cand = outcome.candidate
    if cand is None:
        if outcome.attempts:
            # A request that failed everywhere is still attributed to where it last went, so
            # `logs --errors --where provider=X` finds the failures `stats --by provider` counts.
            last = outcome.attempts[-1]
            record.provider, record.upstream_model, record.chosen_model = last.provider, last.model, last.slug
        return
    record.chosen_model = cand.slug
    record.provider = cand.deployment.provider
    record.upstream_model = cand.deployment.model
    record.fallback = outcome.fallback
    if outcome.escalations:
        record.reason = (f"{plan.reason}; escalated: {'; '.join(outcome.escalations)}; answered by "
                         f"{cand.slug} (step {cand.step})" + (" after failover" if outcome.fallback else ""))
    elif outcome.fallback:
        record.reason = f"{plan.reason}; answered by {cand.slug} ({cand.reason}) after failover"


def record_usage(ex: Exchange, usage: Mapping[str, Any] | None) -> None:
    """Tokens and the true cost: the answer's usage, plus discarded cascade answers and the
    request's own classifier and embedding calls."""
    record, outcome = ex.record, ex.outcome
    ex.usage = usage
    if usage:
        record.prompt_tokens = usage.get("prompt_tokens")
        record.completion_tokens = usage.get("completion_tokens")
    cost: float | None = None
    if usage and outcome is not None and outcome.candidate is not None:
        cost = actual_cost(outcome.candidate.model, usage) + outcome.extra_cost
    if ex.side_cost or ex.stored is not None:  # a cache hit costs its lookups, often nothing
        cost = (cost or 0.0) + ex.side_cost
    record.cost_usd = cost


def overhead_ms(ex: Exchange, elapsed: float) -> float:
    """Time spent inside routecar: elapsed less upstream attempts (a stream's committed one up
    to its first content), waits for resets, backoff and the request's own side calls."""
    outside = ex.side_seconds
    outcome = ex.outcome
    if outcome is not None:
        outside += outcome.upstream_seconds + outcome.queue_wait + outcome.slept
    return round(max(0.0, elapsed - outside) * 1000, 3)


def attach_detail(ex: Exchange, now: float) -> None:
    """The row's list columns, built by the writer from the plan and outcome."""
    if ex.plan is None:
        return
    final = ex.stream_end.attempt if ex.stream_end is not None else None
    ex.record.detail = PlanDetail(ex.plan, ex.outcome, final, now)
