"""Ranking strategies: each ranks a route's eligible models for one request.

One small type per policy behind one method (Caddy's selection policies are the model), all
registered by name in STRATEGIES. A strategy only orders models; the router expands each into
its deployments and appends fallbacks. Scores are in the strategy's own unit (USD, seconds, a
0..1 utility) and the reason says which unit, so `routecar explain` reads naturally ("est cost
USD" with score 0.000166). Reasons are mostly constant strings on purpose: formatting twenty
floats per decision would cost more than the ranking itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..config.model import EMPTY_MAP, ModelConfig, RouteConfig
from .cost import DEFAULT_OUTPUT_TOKENS
from .plan import RoutingRequest

Ranked = list[tuple[ModelConfig, float | None, str]]  # None: no score (explicit model)

# Below this many samples a latency window says more about luck than about the provider.
MIN_LATENCY_SAMPLES = 5
# Share of `fastest` decisions that try a non-best model, so a provider that was slow and has
# recovered gets fresh samples instead of being judged forever on its old window.
EXPLORE_SHARE = 0.05
# Priors (seconds) before a model has measurements: small models answer sooner. Optimistic on
# purpose so an unmeasured model gets tried and measured.
PRIOR_TTFT = (0.35, 0.8)  # (small-model name, other)
PRIOR_LATENCY = (1.5, 4.0)
DEFAULT_BALANCE = {"cost": 0.4, "latency": 0.3, "quality": 0.3}
# Costs span orders of magnitude, so `balanced` compares them on a log scale; this floor keeps a
# free (self-hosted) model finite.
_COST_FLOOR = 1e-7

# Small-model name parts ("gpt-4o-mini", "gemini-2.0-flash", "llama-3.1-8b"), not inside a
# longer word ("gemini" is not "mini").
_FAST_NAME = re.compile(
    r"(?<![a-z])(?:mini|nano|flash|fast|haiku|lite|small|instant|turbo)|(?<![\d.])(?:0\.5|1\.5|[1-9])b\b",
    re.I,
)


def looks_fast(*names: str) -> bool:
    return any(_FAST_NAME.search(n) for n in names)


class HealthReader(Protocol):
    def effective_weight(self, dep_id: str, base_weight: float) -> float: ...

    def view(self, dep_id: str) -> Any: ...


@dataclass(slots=True)
class RankContext:
    """What a strategy may read besides the request: route settings, health, priors, rng."""

    health: HealthReader
    rng: Callable[[], float]
    route: RouteConfig | None = None
    quality: Mapping[str, float] = field(default_factory=dict)  # slug -> 0..1 (catalog prior)
    fast_prior: Mapping[str, bool] = field(default_factory=dict)  # slug -> small-model name
    dep_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # slug -> deployment ids
    explore: bool = True  # off for shadow decisions, which must not perturb anything


class Strategy(Protocol):
    name: str

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked: ...


def est_cost(model: ModelConfig, req: RoutingRequest) -> float:
    """Estimated USD of this request on `model` (inlined: it runs for every candidate)."""
    out = 0 if req.endpoint == "embeddings" else (req.est_output_tokens or DEFAULT_OUTPUT_TOKENS)
    cap = model.max_output_tokens
    if cap is not None and out > cap:
        out = cap
    price = model.price
    return (req.est_prompt_tokens * price.input + out * price.output) * 1e-6


_POSITIONS = [f"position {i + 1}" for i in range(64)]


def position(i: int) -> str:
    return _POSITIONS[i] if i < 64 else f"position {i + 1}"


def latency_of(model: ModelConfig, req: RoutingRequest, ctx: RankContext) -> tuple[float, str]:
    """Best measured p50 (TTFT for streams, full latency otherwise) of the model's usable
    deployments, else the name prior. Returns (seconds, what the number is)."""
    best = None
    view = ctx.health.view
    stream = req.stream
    ids = ctx.dep_ids.get(model.slug) or [d.id for d in model.deployments]
    for dep_id in ids:
        v = view(dep_id)
        samples = getattr(v, "ttft_samples", v.samples) if stream else v.samples
        if samples < MIN_LATENCY_SAMPLES or v.state == "open":
            continue
        value = v.ttft_p50 if stream else v.latency_p50
        if value is not None and (best is None or value < best):
            best = value
    if best is not None:
        return best, ("ttft p50 seconds" if req.stream else "latency p50 seconds")
    prior = PRIOR_TTFT if req.stream else PRIOR_LATENCY
    small = ctx.fast_prior.get(model.slug, False)
    return (prior[0] if small else prior[1]), "no samples yet, name prior seconds"


def _score(t: tuple) -> float:
    return t[1]


def _stable_sort(scored: Ranked, reverse: bool = False) -> Ranked:
    # sorted() is stable, so ties keep config order (the operator's tie-break).
    return sorted(scored, key=_score, reverse=reverse)


class Ordered:
    name = "ordered"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        return [(m, float(i), position(i)) for i, m in enumerate(models)]


class Cascade:
    """Config order as escalation steps; the router stamps Candidate.step with the rank."""

    name = "cascade"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        return [(m, float(i), "cascade step") for i, m in enumerate(models)]


def weighted_shuffle(weights: list[float], rng: Callable[[], float]) -> list[int]:
    """Indexes in weighted random order without replacement (zero weights last, in order).

    Efraimidis-Spirakis: sort by an exponential clock -ln(u)/w. Same distribution as drawing
    one by one in proportion to the remaining weights, in O(n log n) with n rng calls.
    """
    keyed = []
    zero = []
    for i, w in enumerate(weights):
        if w > 0:
            keyed.append((-math.log(1.0 - rng()) / w, i))
        else:
            zero.append(i)
    keyed.sort()
    return [i for _, i in keyed] + zero


class Weighted:
    """Route-level weights over models, as a weighted random order (without replacement)."""

    name = "weighted"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        cfg = ctx.route.weights if ctx.route is not None else EMPTY_MAP
        weights = [float(cfg.get(m.slug, 1.0)) for m in models]
        total = sum(weights) or 1.0
        return [(models[i], weights[i] / total, "weight share") for i in weighted_shuffle(weights, ctx.rng)]


class Cheapest:
    name = "cheapest"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        # est_cost() inlined: this loop is most of the strategy's cost.
        prompt = req.est_prompt_tokens
        want = 0 if req.endpoint == "embeddings" else (req.est_output_tokens or DEFAULT_OUTPUT_TOKENS)
        scored = []
        for m in models:
            cap, price = m.max_output_tokens, m.price
            out = cap if cap is not None and want > cap else want
            scored.append((m, (prompt * price.input + out * price.output) * 1e-6, "est cost USD"))
        scored.sort(key=_score)
        return scored


class Fastest:
    name = "fastest"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        ranked = _stable_sort([(m, *latency_of(m, req, ctx)) for m in models])
        if ctx.explore and len(ranked) > 1 and ctx.rng() < EXPLORE_SHARE:
            j = 1 + min(int(ctx.rng() * (len(ranked) - 1)), len(ranked) - 2)
            m, s, why = ranked.pop(j)
            ranked.insert(0, (m, s, why + ", exploring (re-measure a non-best model)"))
        return ranked


class Quality:
    name = "quality"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        quality = ctx.quality
        return _stable_sort([(m, quality.get(m.slug, 0.5), "quality") for m in models], reverse=True)


def _normalize(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    span = hi - lo
    return [0.0 if span <= 0 else (v - lo) / span for v in values]


class Balanced:
    """Weighted sum of normalized cheapness, speed and quality (higher is better)."""

    name = "balanced"

    def rank(self, models: list[ModelConfig], req: RoutingRequest, ctx: RankContext) -> Ranked:
        weights = dict(DEFAULT_BALANCE)
        if ctx.route is not None and ctx.route.balance:
            weights.update(ctx.route.balance)
        wc, wl, wq = weights["cost"], weights["latency"], weights["quality"]
        why = f"utility: cost {wc:g}, latency {wl:g}, quality {wq:g}"
        log = math.log
        costs = _normalize([log(est_cost(m, req) + _COST_FLOOR) for m in models])
        lats = _normalize([latency_of(m, req, ctx)[0] for m in models])
        quality = ctx.quality
        scored = [
            (m, wc * (1.0 - costs[i]) + wl * (1.0 - lats[i]) + wq * quality.get(m.slug, 0.5), why)
            for i, m in enumerate(models)
        ]
        return _stable_sort(scored, reverse=True)


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Ordered(), Weighted(), Cheapest(), Fastest(), Balanced(), Quality(), Cascade())
}
