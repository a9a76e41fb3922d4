"""Ranking strategies: each ranks a route's eligible models for one request.

One small type per policy behind one method (Caddy's selection policies are the model), all
registered by name in STRATEGIES. A strategy only orders models (their ModelInfo);
the router expands each into its deployments and appends fallbacks. Scores are in the
strategy's own unit (USD, seconds, a 0..1 utility) and the reason says which unit, so
`routecar explain` reads naturally ("est cost USD" with score 0.000166). Reasons are mostly
constant strings on purpose: formatting twenty floats per decision would cost more than the
ranking itself.

A `static` strategy's order depends on the config only (ordered, quality, cascade):
the router ranks each candidate list once (`rank_static`) and reuses it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..config.model import RouteConfig
from .cost import estimated_costs
from .model_info import ModelInfo, looks_fast
from .plan import RoutingRequest

Ranked = list[tuple[ModelInfo, float | None, str]]  # None: no score (explicit model)

# Below this many samples a latency window says more about luck than about the provider.
MIN_LATENCY_SAMPLES = 3
# Share of `fastest` decisions that try a non-best model, so a provider that was slow and has
# recovered gets fresh samples instead of being judged forever on its old window.
EXPLORE_SHARE = 0.05
# Priors (seconds) before a model has measurements: small models answer sooner. Optimistic on
# purpose so an unmeasured model gets tried and measured.
PRIOR_TTFT = (0.35, 0.8)  # (small-model name, other)
PRIOR_LATENCY = (1.5, 4.0)
PRIOR_WHY = "no samples yet, name prior seconds"
UNMEASURED_WHY = "not measured yet (name prior seconds): tried first so that it gets measured"
DEFAULT_BALANCE = {"cost": 0.4, "latency": 0.3, "quality": 0.3}
# Costs span orders of magnitude, so `balanced` compares them on a log scale; this floor keeps a
# free (self-hosted) model finite.
_COST_FLOOR = 1e-7

_score = itemgetter(1)  # a C-level sort key: sorting twenty tuples is part of every decision


class HealthView(Protocol):
    """The read-only health the router sees (the registry in the sidecar; fakes in tests)."""

    def effective_weight(self, dep_id: str, base_weight: float) -> float: ...

    def view(self, dep_id: str) -> Any: ...


@dataclass(slots=True)
class RankContext:
    """What a strategy may read besides the request: route settings, health, rng. Everything
    that depends on the route alone (weights, balance) is resolved here once, and, when the
    context is made for one candidate list (`models`), what depends on that list too."""

    health: HealthView
    rng: Callable[[], float]
    route: RouteConfig | None = None
    explore: bool = True  # off for shadow decisions, which must not perturb anything
    models: Sequence[ModelInfo] | None = None  # the candidate list this context is prepared for
    weights: Mapping[str, float] = field(init=False, default_factory=dict)  # `weighted`, per slug
    balance: tuple[float, float, float] = field(init=False, default=(0.4, 0.3, 0.3))  # cost, latency, quality
    balance_why: str = field(init=False, default="")
    # `weighted` over `models`: their weights, the indexes of positive ones, and the ranking rows.
    model_weights: list[float] = field(init=False, default_factory=list)
    positive: list[int] = field(init=False, default_factory=list)
    weighted_rows: tuple[tuple[ModelInfo, float, str], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        route = self.route
        if route is not None:
            self.weights = {slug: float(w) for slug, w in route.weights.items()}
        weights = dict(DEFAULT_BALANCE)
        if route is not None and route.balance:
            weights.update(route.balance)
        wc, wl, wq = weights["cost"], weights["latency"], weights["quality"]
        self.balance = (wc, wl, wq)
        self.balance_why = f"utility: cost {wc:g}, latency {wl:g}, quality {wq:g}"
        if self.models is not None:
            self.model_weights = [self.weights.get(m.slug, 1.0) for m in self.models]
            self.positive = [i for i, w in enumerate(self.model_weights) if w > 0]
            total = sum(self.model_weights) or 1.0
            self.weighted_rows = tuple((m, w / total, "weight share")
                                       for m, w in zip(self.models, self.model_weights))


class Strategy(Protocol):
    """A ranking policy. A `static` one also has `rank_static(models)`, the same ranking
    without request or health, which the router computes once per candidate list."""

    name: str
    static: bool
    reads_health: bool  # reads health views (the router memoizes them for the decision)

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        """Best first. `views` memoizes `ctx.health.view` for this one decision."""
        ...


_POSITIONS = [f"position {i + 1}" for i in range(64)]


def position(i: int) -> str:
    return _POSITIONS[i] if i < 64 else f"position {i + 1}"


def latencies(models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
              views: dict[str, Any]) -> Ranked:
    """(model, seconds, what the number is) per model, in order: the best measured p50 (TTFT
    for streams, full latency otherwise) of the model's usable deployments, else the name
    prior. One loop for all models: this runs for every model of a fastest/balanced decision."""
    stream = req.stream
    measured = "ttft p50 seconds" if stream else "latency p50 seconds"
    small, other = PRIOR_TTFT if stream else PRIOR_LATENCY
    view = ctx.health.view
    get = views.get
    rows: Ranked = []
    for m in models:
        if m.single:  # most models: no inner loop
            v = get(m.id0)
            if v is None:
                v = views[m.id0] = view(m.id0)
            if stream:
                value = v.ttft_p50 if getattr(v, "ttft_samples", v.samples) >= MIN_LATENCY_SAMPLES else None
            else:
                value = v.latency_p50 if v.samples >= MIN_LATENCY_SAMPLES else None
            if value is None or v.state == "open":
                rows.append((m, small if m.fast else other, PRIOR_WHY))
            else:
                rows.append((m, value, measured))
            continue
        best = None
        for dep_id in m.dep_ids:
            v = get(dep_id)
            if v is None:
                v = views[dep_id] = view(dep_id)
            if stream:
                if getattr(v, "ttft_samples", v.samples) < MIN_LATENCY_SAMPLES or v.state == "open":
                    continue
                value = v.ttft_p50
            else:
                if v.samples < MIN_LATENCY_SAMPLES or v.state == "open":
                    continue
                value = v.latency_p50
            if value is not None and (best is None or value < best):
                best = value
        if best is None:
            rows.append((m, small if m.fast else other, PRIOR_WHY))
        else:
            rows.append((m, best, measured))
    return rows


def latency_of(info: ModelInfo, req: RoutingRequest, ctx: RankContext,
               views: dict[str, Any]) -> tuple[float, str]:
    """One model's (seconds, what the number is); see latencies()."""
    _, seconds, what = latencies((info,), req, ctx, views)[0]
    return seconds, what  # type: ignore[return-value]


class _Static(ABC):
    """A ranking that depends on the config only; `rank` serves it for any model list."""

    static = True
    reads_health = False

    @abstractmethod
    def rank_static(self, models: Sequence[ModelInfo]) -> Ranked:
        """The ranking of `models`, whatever the request and health."""

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        return self.rank_static(models)


class Ordered(_Static):
    name = "ordered"

    def rank_static(self, models: Sequence[ModelInfo]) -> Ranked:
        return [(m, float(i), position(i)) for i, m in enumerate(models)]


class Cascade(_Static):
    """Config order as escalation steps; the router stamps Candidate.step with the rank."""

    name = "cascade"

    def rank_static(self, models: Sequence[ModelInfo]) -> Ranked:
        return [(m, float(i), "cascade step") for i, m in enumerate(models)]


class Quality(_Static):
    name = "quality"

    def rank_static(self, models: Sequence[ModelInfo]) -> Ranked:
        # sorted() is stable, so ties keep config order (the operator's tie-break).
        return sorted([(m, m.quality, "quality") for m in models], key=_score, reverse=True)


def weighted_shuffle(weights: list[float], rng: Callable[[], float]) -> list[int]:
    """Indexes in weighted random order without replacement (zero weights last, in order).

    Efraimidis-Spirakis: sort by an exponential clock -ln(u)/w. Same distribution as drawing
    one by one in proportion to the remaining weights, in O(n log n) with n rng calls.
    """
    return _shuffle(weights, [i for i, w in enumerate(weights) if w > 0], rng)


def _shuffle(weights: list[float], positive: list[int], rng: Callable[[], float]) -> list[int]:
    """weighted_shuffle() given the indexes of the positive weights."""
    # Sorting indexes by a list of float keys stays on CPython's float-compare fast path;
    # sorting (clock, index) tuples costs several times more. Ties keep index order either way.
    log = math.log
    clocks = [-log(1.0 - rng()) / weights[i] for i in positive]
    order = sorted(range(len(positive)), key=clocks.__getitem__)
    if len(positive) == len(weights):
        return order
    return [positive[k] for k in order] + [i for i, w in enumerate(weights) if not w > 0]


class Weighted:
    """Route-level weights over models, as a weighted random order (without replacement)."""

    name = "weighted"
    static = False
    reads_health = False

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        if models is ctx.models:  # the whole list: its weights and rows are ready
            rows = ctx.weighted_rows
            return [rows[i] for i in _shuffle(ctx.model_weights, ctx.positive, ctx.rng)]
        get = ctx.weights.get
        weights = [get(m.slug, 1.0) for m in models]
        total = sum(weights) or 1.0
        return [(models[i], weights[i] / total, "weight share") for i in weighted_shuffle(weights, ctx.rng)]


class Cheapest:
    name = "cheapest"
    static = False
    reads_health = False

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        # zip() over repeat(): rows built in C, without a Python loop per model.
        scored = list(zip(models, estimated_costs(models, req), repeat("est cost USD")))
        scored.sort(key=_score)
        return scored


def _measured_first(row: tuple[ModelInfo, float | None, str]) -> tuple[bool, float]:
    return row[2] != PRIOR_WHY, row[1]  # type: ignore[return-value]


class Fastest:
    """Lowest p50 (TTFT for streams, latency otherwise) first; a model not measured yet (or
    whose samples have aged out) first of all, so it is measured within a few requests instead
    of being judged on a name prior: optimistic initialisation, as a bandit starts. Its prior
    only orders the unmeasured among themselves. A share of decisions still re-measures a
    non-best model, so a slow one that recovers is noticed."""

    name = "fastest"
    static = False
    reads_health = True

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        ranked = latencies(models, req, ctx, views)
        if any(row[2] == PRIOR_WHY for row in ranked):
            ranked.sort(key=_measured_first)
            ranked = [(m, sc, UNMEASURED_WHY) if why == PRIOR_WHY else (m, sc, why) for m, sc, why in ranked]
        else:
            ranked.sort(key=_score)
        if ctx.explore and len(ranked) > 1 and ctx.rng() < EXPLORE_SHARE:
            j = 1 + min(int(ctx.rng() * (len(ranked) - 1)), len(ranked) - 2)
            m, s, why = ranked.pop(j)
            ranked.insert(0, (m, s, why + ", exploring (re-measure a non-best model)"))
        return ranked


class Balanced:
    """Weighted sum of normalized cheapness, speed and quality (higher is better)."""

    name = "balanced"
    static = False
    reads_health = True

    def rank(self, models: Sequence[ModelInfo], req: RoutingRequest, ctx: RankContext,
             views: dict[str, Any]) -> Ranked:
        wc, wl, wq = ctx.balance
        why = ctx.balance_why
        log = math.log
        floor = _COST_FLOOR
        # Costs on a log scale through map() (no Python loop per model); both axes are then
        # normalized to 0..1 (min-max) inline, so a decision makes no call per model.
        costs = list(map(log, map(floor.__add__, estimated_costs(models, req))))
        lats = [row[1] for row in latencies(models, req, ctx, views)]
        c_lo, l_lo = min(costs), min(lats)
        c_span, l_span = max(costs) - c_lo, max(lats) - l_lo  # type: ignore[operator]
        if c_span > 0 and l_span > 0:  # the common case, without two tests per model
            scored = [(m, wc * (1.0 - (c - c_lo) / c_span) + wl * (1.0 - (lat - l_lo) / l_span) + wq * m.quality, why)
                      for m, c, lat in zip(models, costs, lats)]
        else:
            scored = [
                (m, wc * (1.0 - (0.0 if c_span <= 0 else (c - c_lo) / c_span))
                 + wl * (1.0 - (0.0 if l_span <= 0 else (lat - l_lo) / l_span)) + wq * m.quality, why)
                for m, c, lat in zip(models, costs, lats)
            ]
        scored.sort(key=_score, reverse=True)  # stable: ties keep config order
        return scored


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Ordered(), Weighted(), Cheapest(), Fastest(), Balanced(), Quality(), Cascade())
}

__all__ = ["EXPLORE_SHARE", "MIN_LATENCY_SAMPLES", "STRATEGIES", "HealthView", "RankContext", "Ranked", "Strategy",
           "latencies", "latency_of", "looks_fast", "position", "weighted_shuffle"]
