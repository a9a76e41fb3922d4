"""From ranked models to the Plan's ordered (model, deployment) candidates.

Each model expands into its deployments in health-weighted random order; models with no
admissible deployment go last (unless the order is a cascade's steps); then the fallbacks of
every considered model follow, breadth first; last, deployments that miss a TTFT objective
are dropped while another candidate meets it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .filters import fmt_seconds, unfit
from .plan import Candidate, Plan, RoutingRequest
from .snapshot import ModelInfo
from .strategies import MIN_LATENCY_SAMPLES, Ranked, weighted_shuffle


class Expander:
    def __init__(self, health: Any, rng: Callable[[], float], infos: Mapping[str, ModelInfo]) -> None:
        self._eff = health.effective_weight
        self._view = health.view
        self._rng = rng
        self._infos = infos

    def expand(self, plan: Plan, ranked: Ranked, req: RoutingRequest,
               step_of: dict[str, int] | None, considered: list[Any], walk: bool = True) -> None:
        """Appends candidates to `plan`. `step_of` (cascades only) maps slug to step; a
        fallback inherits its model's step. `considered` are all models the decision looked
        at: one that did not fit is "unavailable", so its fallbacks still get their turn.
        `walk=False`: the caller knows no fallback is outside the ranked models."""
        infos, eff, add = self._infos, self._eff, self._add
        stepped = step_of is not None
        steps = step_of if stepped else {}
        cands = plan.candidates
        append = cands.append
        order: list[ModelInfo] = []
        sick = []
        # Runs for every model of every request: one fused loop, no per-model helper calls
        # on the common path (single deployment, healthy, not a cascade).
        for m, score, why in ranked:
            info = infos[m.slug]
            step = steps.get(info.slug, 0) if stepped else 0
            if info.single:
                if eff(info.id0, info.base0) > 0 or stepped:
                    order.append(info)
                    append(Candidate(info.slug, m, info.dep0, why + "; " + info.shares[0], score, step, info.id0))
                    continue
                ws = None
            else:
                ws = [eff(d, b) for d, b in zip(info.dep_ids, info.base)]
                if sum(ws) > 0 or stepped:
                    order.append(info)
                    deps, ids, shares = info.deps, info.dep_ids, info.shares
                    for i in self.weighted_order(ws):
                        append(Candidate(info.slug, m, deps[i], why + "; " + shares[i], score, step, ids[i]))
                    continue
            # Cascade order is semantic (escalation steps); every other order is a preference,
            # and a model with no admissible deployment should not lead.
            sick.append((info, ws, score, why))
        for info, ws, score, why in sick:
            order.append(info)
            add(cands, info, ws, why, score, 0)
        if walk:
            self._fallbacks(plan, req, order, steps, considered)
        if stepped:
            # A fallback serves its step: it must be tried before escalating to the next one.
            cands.sort(key=lambda c: c.step)

    def _fallbacks(self, plan: Plan, req: RoutingRequest, order: list[ModelInfo],
                   steps: dict[str, int], considered: list[Any]) -> None:
        """Breadth first over fallbacks of `order` (then of the unfit `considered` models)."""
        infos, eff, cands = self._infos, self._eff, plan.candidates
        seen = {info.slug for info in order}
        order += [infos[m.slug] for m in considered if m.slug not in seen]  # did not fit
        seen.update(s["slug"] for s in plan.skipped)
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
                    plan.skipped.append({"slug": slug, "deployment": None, "why": why_not})
                    continue
                step = steps[slug] = steps.get(parent.slug, 0)
                ws = None if info.single else [eff(d, b) for d, b in zip(info.dep_ids, info.base)]
                self._add(cands, info, ws, "fallback of " + parent.slug, None, step)
                order.append(info)

    def _add(self, cands: list[Candidate], info: ModelInfo, weights: list[float] | None, why: str,
             score: float | None, step: int) -> None:
        model, deps, shares, ids = info.model, info.deps, info.shares, info.dep_ids
        if weights is None:  # single deployment
            cands.append(Candidate(info.slug, model, info.dep0, why + "; " + shares[0], score, step, info.id0))
            return
        for i in self.weighted_order(weights):
            cands.append(Candidate(info.slug, model, deps[i], why + "; " + shares[i], score, step, ids[i]))

    def weighted_order(self, weights: list[float]) -> list[int]:
        """Deployment indexes in a weighted-random order (weights adjusted by live health).

        Weighted random sampling without replacement: the first pick follows the weights
        exactly (a 3:1 split gives 75/25), and the rest follow as the failover order. Random
        rather than smooth round-robin because every pod runs its own sidecar: independent
        random picks need no shared state and still add up to the configured split.
        """
        if len(weights) == 2:  # the common multi-deployment case, without the general loop
            w0, w1 = weights
            total = w0 + w1
            if total <= 0:
                return [0, 1]
            return [0, 1] if self._rng() * total < w0 else [1, 0]
        return weighted_shuffle(weights, self._rng)

    def apply_ttft_objective(self, plan: Plan, objective: float) -> None:
        """Drop deployments measured slower than the p99 TTFT objective, unless none meets it."""
        view = self._view
        slow: list[tuple[Candidate, float]] = []
        keep: list[Candidate] = []
        for c in plan.candidates:
            v = view(c.dep_id)
            p99 = v.ttft_p99 if getattr(v, "ttft_samples", v.samples) >= MIN_LATENCY_SAMPLES else None
            if p99 is not None and p99 > objective:
                slow.append((c, p99))
            else:
                keep.append(c)
        if not slow or not keep:
            return
        plan.candidates = keep
        for c, p99 in slow:
            plan.skipped.append({
                "slug": c.slug, "deployment": c.dep_id,
                "why": f"ttft p99 {fmt_seconds(p99)} > {fmt_seconds(objective)} objective",
            })
