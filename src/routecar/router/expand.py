"""From ranked models to a plan's ordered (model, deployment) candidates.

Each model expands into its deployments in health-weighted random order; models with no
admissible deployment go last (unless the order is a cascade's steps); then the fallbacks of
every considered model follow, breadth first. A model with `balancing: least_request` orders
its deployments by two weighted draws compared on in-flight requests (least_request_order). With a TTFT objective, deployments measured
slower than it are held back as they come (no Candidate is built for them) and dropped,
unless no candidate meets the objective.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Any, Callable, Sequence

from .filters import fmt_seconds, unfit
from .model_info import ModelInfo
from .plan import Candidate, RoutingRequest
from .strategies import MIN_LATENCY_SAMPLES, HealthView, Ranked, weighted_shuffle

_step = attrgetter("step")
_slow_step = itemgetter(4)
_FIRST = (0,)  # the deployment order of a single-deployment model
_PAIR, _SWAPPED = (0, 1), (1, 0)
# A deployment held back by the TTFT objective: (info, deployment index, reason, score, step, p99).
_Slow = tuple[ModelInfo, int, str, "float | None", int, float]
Skipped = list[dict[str, Any]]  # what the plan passed over, {"slug", "deployment", "why"}


class Expander:
    def __init__(self, health: HealthView, rng: Callable[[], float]) -> None:
        self._eff = health.effective_weight
        self._view = health.view
        self._rng = rng

    def expand(self, cands: list[Candidate], skipped: Skipped, ranked: Ranked, req: RoutingRequest,
               step_of: dict[str, int] | None, considered: Sequence[ModelInfo], walk: bool = True,
               objective: float | None = None, views: dict[str, Any] | None = None) -> None:
        """Appends candidates to `cands`, and what it passes over to `skipped`. `step_of`
        (cascades only) maps slug to step; a fallback inherits its model's step. `considered`
        are all models the decision looked at: one that did not fit is "unavailable", so its
        fallbacks still get their turn.
        `walk=False`: the caller knows no fallback is outside the ranked models.
        `objective`: the route's p99 TTFT objective in seconds; `views`, when given, memoizes
        health views for this decision (the strategy may have read them, the shadow may)."""
        eff, view, rng = self._eff, self._view, self._rng
        stepped = step_of is not None
        steps = step_of if stepped else {}
        append = cands.append
        slow: list[_Slow] | None = None if objective is None else []
        sick = []
        # Runs for every deployment of every request: one fused loop, no helper calls on the
        # common paths (one or two deployments); _emit is its inner loop for the rarer callers.
        for info, score, why in ranked:
            if info.single:
                if eff(info.id0, info.base0) > 0 or stepped:
                    indexes: Sequence[int] = _FIRST
                else:
                    sick.append((info, None, score, why))
                    continue
            elif info.least_request:
                ws = [eff(d, b) for d, b in zip(info.dep_ids, info.base)]
                if sum(ws) > 0 or stepped:
                    indexes = self.least_request_order(info.dep_ids, ws)
                else:
                    sick.append((info, ws, score, why))
                    continue
            else:
                ids, base = info.dep_ids, info.base
                if len(ids) == 2:  # weighted_order() inlined
                    w0, w1 = eff(ids[0], base[0]), eff(ids[1], base[1])
                    total = w0 + w1
                    if total > 0:
                        indexes = _PAIR if rng() * total < w0 else _SWAPPED
                    elif stepped:
                        indexes = _PAIR
                    else:
                        sick.append((info, [w0, w1], score, why))
                        continue
                else:
                    ws = [eff(d, b) for d, b in zip(ids, base)]
                    if sum(ws) > 0 or stepped:
                        indexes = self.weighted_order(ws)
                    else:
                        sick.append((info, ws, score, why))
                        continue
            step = steps.get(info.slug, 0) if stepped else 0
            for i in indexes:
                dep_id = info.dep_ids[i]
                if slow is not None:  # _missed_by() inlined
                    if views is None:
                        v = view(dep_id)
                    else:
                        v = views.get(dep_id)
                        if v is None:
                            v = views[dep_id] = view(dep_id)
                    p99 = v.ttft_p99
                    if (p99 is not None and p99 > objective
                            and getattr(v, "ttft_samples", v.samples) >= MIN_LATENCY_SAMPLES):
                        slow.append((info, i, why, score, step, p99))
                        continue
                append(Candidate(info.slug, info.model, info.deps[i], why + info.suffixes[i], score, step, dep_id))
        # Cascade order is semantic (escalation steps); every other order is a preference,
        # and a model with no admissible deployment should not lead.
        for info, ws, score, why in sick:
            self._emit(cands, info, ws, why, score, 0, slow, objective, views)
        if walk:
            # The models in the order they were expanded: admissible ones, then the sick.
            if sick:
                demoted = {row[0] for row in sick}
                order = [row[0] for row in ranked if row[0] not in demoted] + [row[0] for row in sick]
            else:
                order = [row[0] for row in ranked]
            self._fallbacks(cands, skipped, req, order, steps, considered, slow, objective, views)
        if stepped:
            # A fallback serves its step: it must be tried before escalating to the next one.
            cands.sort(key=_step)
            if slow:
                slow.sort(key=_slow_step)
        if slow:
            self._apply_objective(cands, skipped, slow, objective)  # type: ignore[arg-type]

    def _fallbacks(self, cands: list[Candidate], skipped: Skipped, req: RoutingRequest, order: list[ModelInfo],
                   steps: dict[str, int], considered: Sequence[ModelInfo], slow: list[_Slow] | None,
                   objective: float | None, views: dict[str, Any] | None) -> None:
        """Breadth first over fallbacks of `order` (then of the unfit `considered` models)."""
        eff = self._eff
        seen = {info.slug for info in order}
        order += [info for info in considered if info.slug not in seen]  # did not fit
        seen.update(s["slug"] for s in skipped)
        i = 0
        while i < len(order):  # bounded: every model enters the queue at most once
            parent = order[i]
            i += 1
            for info in parent.fallback_infos:
                slug = info.slug
                if slug in seen:
                    continue
                seen.add(slug)
                why_not = unfit(info, req)
                if why_not is not None:
                    skipped.append({"slug": slug, "deployment": None, "why": why_not})
                    continue
                step = steps[slug] = steps.get(parent.slug, 0)
                ws = None if info.single else [eff(d, b) for d, b in zip(info.dep_ids, info.base)]
                self._emit(cands, info, ws, "fallback of " + parent.slug, None, step, slow, objective, views)
                order.append(info)

    def _emit(self, cands: list[Candidate], info: ModelInfo, weights: list[float] | None, why: str,
              score: float | None, step: int, slow: list[_Slow] | None, objective: float | None,
              views: dict[str, Any] | None) -> None:
        """expand()'s inner loop for one model: its deployments in weighted order, each a
        Candidate unless the TTFT objective holds it back. `weights` None: single deployment."""
        ids = info.dep_ids
        if weights is None:
            order: Sequence[int] = _FIRST
        elif info.least_request:
            order = self.least_request_order(ids, weights)
        else:
            order = self.weighted_order(weights)
        for i in order:
            if slow is not None:
                p99 = self._missed_by(ids[i], objective, views)  # type: ignore[arg-type]
                if p99 is not None:
                    slow.append((info, i, why, score, step, p99))
                    continue
            cands.append(Candidate(info.slug, info.model, info.deps[i], why + info.suffixes[i], score, step, ids[i]))

    def _missed_by(self, dep_id: str, objective: float, views: dict[str, Any] | None) -> float | None:
        """The deployment's measured p99 TTFT when it misses `objective`, else None."""
        if views is None:
            v = self._view(dep_id)
        else:
            v = views.get(dep_id)
            if v is None:
                v = views[dep_id] = self._view(dep_id)
        p99 = v.ttft_p99
        if p99 is not None and p99 > objective and getattr(v, "ttft_samples", v.samples) >= MIN_LATENCY_SAMPLES:
            return p99
        return None

    @staticmethod
    def _apply_objective(cands: list[Candidate], skipped: Skipped, slow: list[_Slow], objective: float) -> None:
        """Drop the slow deployments while another candidate meets the objective; when none
        does, they are all the plan has (in the order they came)."""
        if not cands:
            cands.extend(
                Candidate(info.slug, info.model, info.deps[i], why + info.suffixes[i], score, step, info.dep_ids[i])
                for info, i, why, score, step, _ in slow)
            return
        limit = fmt_seconds(objective)
        skipped.extend(
            {"slug": info.slug, "deployment": info.dep_ids[i],
             "why": f"ttft p99 {fmt_seconds(p99)} > {limit} objective"}
            for info, i, _, _, _, p99 in slow)

    def least_request_order(self, ids: Sequence[str], weights: list[float]) -> Sequence[int]:
        """`least_request` balancing (Envoy's LEAST_REQUEST): two deployments drawn by weight,
        the one with fewer in-flight requests per unit of weight first (ties: the first draw),
        the rest in weighted order for failover. Two random choices rather than the global
        minimum, so that many pods reading slightly stale counts do not all pile onto the one
        deployment that looked idle."""
        order = list(self.weighted_order(weights))
        a, b = order[0], order[1]
        if _load(self._view(ids[b]).in_flight, weights[b]) < _load(self._view(ids[a]).in_flight, weights[a]):
            order[0], order[1] = b, a
        return order

    def weighted_order(self, weights: list[float]) -> Sequence[int]:
        """Deployment indexes in a weighted-random order (weights adjusted by live health).

        Weighted random sampling without replacement: the first pick follows the weights
        exactly (a 3:1 split gives 75/25), and the rest follow as the failover order. Random
        rather than smooth round-robin because every pod runs its own sidecar: independent
        random picks need no shared state and still add up to the configured split.
        """
        if len(weights) == 2:  # the common multi-deployment case, without the general loop
            w0, w1 = weights
            total = w0 + w1
            return _PAIR if total <= 0 or self._rng() * total < w0 else _SWAPPED
        return weighted_shuffle(weights, self._rng)


def _load(in_flight: int, weight: float) -> float:
    return in_flight / weight if weight > 0 else float("inf")
