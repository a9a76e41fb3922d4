"""Pure routing decisions: a request, a config snapshot and a read-only health view in, a Plan out.

No I/O and no awaits: a decision is a function of its inputs, so it is fast and trivially
testable. Everything that depends only on the config (compiled rules, candidate lists, priors,
deployment share labels) is computed once per snapshot in `Router.__init__`.

A route decision, in order: the first matching rule may replace the candidates, change the
strategy or pin one model; hard filters drop models that cannot serve the request (window,
capabilities, endpoint); the strategy ranks the rest; a canary may take the first place; the
ranked models expand into deployments and fallbacks (expand.py); deployments that miss the
route's TTFT objective are dropped while another candidate meets it; a shadow strategy's
choice is computed for the log.
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..config.model import CascadeConfig, Config, ModelConfig, RouteConfig
from .canary import CanaryMonitor
from .expand import Expander
from .filters import unfit
from .plan import Plan, RoutingError, RoutingRequest
from .rules import CompiledRule, compile_rules, describe_action, first_match
from .cost import DEFAULT_OUTPUT_TOKENS
from .snapshot import ModelInfo, build_infos
from .strategies import STRATEGIES, Ranked, RankContext, Strategy, est_cost


class HealthView(Protocol):
    def effective_weight(self, dep_id: str, base_weight: float) -> float: ...

    def view(self, dep_id: str) -> Any: ...


def closest_names(name: str, config: Config, limit: int = 3) -> list[str]:
    return difflib.get_close_matches(name, config.names(), n=limit, cutoff=0.4)


def unknown_model(name: str, config: Config) -> RoutingError:
    close = closest_names(name, config)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return RoutingError(
        f"The model '{name}' does not exist in this routecar's catalog.{hint}",
        status=404,
        code="model_not_found",
    )


def _strategy(name: str, where: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"{where}: unknown strategy '{name}' (one of: {', '.join(STRATEGIES)})") from None


class _Group:
    """A candidate list with what all its models share, so the common request (it fits every
    model) skips the per-model filter."""

    __slots__ = ("models", "min_window", "chat", "embed", "tools", "vision", "schema", "closed")

    def __init__(self, models: list[ModelConfig], infos: dict[str, ModelInfo]) -> None:
        self.models = models
        mi = [infos[m.slug] for m in models]
        windows = [i.window for i in mi if i.window is not None]
        self.min_window = min(windows) if windows else None
        self.chat = not any(i.embedding for i in mi)
        self.embed = all(i.embedding for i in mi)
        self.tools = all(i.tools for i in mi)
        self.vision = all(i.vision for i in mi)
        self.schema = all(i.schema_ok for i in mi)
        # Every fallback is itself in the list: expanding it never adds a fallback.
        slugs = {m.slug for m in models}
        self.closed = all(f in slugs for i in mi for f in i.fallbacks)

    def all_fit(self, req: RoutingRequest) -> bool:
        if req.endpoint == "embeddings":
            if not self.embed:
                return False
            need = req.est_prompt_tokens
        else:
            if not self.chat:
                return False
            need = req.est_prompt_tokens + (req.est_output_tokens or DEFAULT_OUTPUT_TOKENS)
        return (
            (self.min_window is None or need <= self.min_window)
            and (self.tools or not req.has_tools)
            and (self.vision or not req.has_images)
            and (self.schema or not req.json_schema)
        )


@dataclass(slots=True)
class _RouteTable:
    """One route, resolved against the snapshot."""

    route: RouteConfig
    models: _Group
    strategy: Strategy
    rules: tuple[CompiledRule, ...]
    rule_models: dict[int, _Group]  # rule index -> its `candidates`, or its pinned `model`
    rule_strategies: dict[int, Strategy]
    canary_model: ModelConfig | None
    canary_share: float  # fraction of decisions
    shadow: Strategy | None
    ctx: RankContext
    shadow_ctx: RankContext


class Router:
    """Builds Plans. One Router per config snapshot; cheap to rebuild on reload.

    `canary` is the long-lived CanaryMonitor (it survives reloads); when given, the router
    syncs it to this snapshot and skips canaries it has rolled back.
    """

    def __init__(
        self,
        config: Config,
        health: HealthView,
        rng: Callable[[], float] = random.random,
        canary: CanaryMonitor | None = None,
    ):
        self.config = config
        self.health = health
        self._rng = rng
        self._canary = canary
        if canary is not None:
            canary.configure(config)
        self._infos = build_infos(config.models)
        self._quality = {s: i.quality for s, i in self._infos.items()}
        self._fast = {s: i.fast for s, i in self._infos.items()}
        self._dep_ids = {s: i.dep_ids for s, i in self._infos.items()}
        self._expander = Expander(health, rng, self._infos)
        self._model_groups = {slug: self._group([m]) for slug, m in config.models.items()}
        self._tables = {name: self._table(route) for name, route in config.routes.items()}

    @property
    def canary_monitor(self) -> CanaryMonitor | None:
        """The long-lived monitor this router consults (None: canaries never roll back)."""
        return self._canary

    # -- snapshot precomputation ------------------------------------------------------------

    def _model(self, slug: str, where: str) -> ModelConfig:
        try:
            return self.config.models[slug]
        except KeyError:
            raise ValueError(f"{where}: unknown model '{slug}'") from None

    def _group(self, models: list[ModelConfig]) -> _Group:
        return _Group(models, self._infos)

    def _table(self, route: RouteConfig) -> _RouteTable:
        where = f"routes.{route.name}"
        rules = compile_rules(route.rules, route.name)
        rule_models, rule_strategies = {}, {}
        for rule in rules:
            act, at = rule.action, f"{where}.rules[{rule.index}].then"
            if act.candidates is not None:
                rule_models[rule.index] = self._group([self._model(s, f"{at}.candidates") for s in act.candidates])
            if act.model is not None:
                rule_models[rule.index] = self._group([self._model(act.model, f"{at}.model")])
            if act.strategy is not None:
                rule_strategies[rule.index] = _strategy(act.strategy, f"{at}.strategy")
        canary = route.canary
        ctx_args = dict(health=self.health, rng=self._rng, route=route, quality=self._quality,
                        fast_prior=self._fast, dep_ids=self._dep_ids)
        return _RouteTable(
            route=route,
            models=self._group([self._model(s, f"{where}.candidates") for s in route.candidates]),
            strategy=_strategy(route.strategy, f"{where}.strategy"),
            rules=rules,
            rule_models=rule_models,
            rule_strategies=rule_strategies,
            canary_model=self._model(canary.model, f"{where}.canary.model") if canary else None,
            canary_share=(canary.percent / 100.0) if canary else 0.0,
            shadow=_strategy(route.shadow.strategy, f"{where}.shadow.strategy") if route.shadow else None,
            ctx=RankContext(**ctx_args),
            shadow_ctx=RankContext(**ctx_args, explore=False),
        )

    # -- decisions --------------------------------------------------------------------------

    def plan(self, req: RoutingRequest, downgraded_from: str | None = None) -> Plan:
        """The Plan for `req`; raises RoutingError (404 unknown name, 400 nothing fits).

        `downgraded_from`: the server found route NAME over its budget with
        `when_exceeded: downgrade`; plan the same request on that budget's `downgrade_to`
        route instead (whatever `req.model` says). The plan records `downgraded_from`.
        """
        if downgraded_from is not None:
            route = self.config.routes.get(downgraded_from)
            target = route.budget.downgrade_to if route is not None and route.budget else None
            if target not in self._tables:
                raise ValueError(f"route '{downgraded_from}' has no downgrade_to route")
            plan = self._plan_route(self._tables[target], req)
            plan.downgraded_from = downgraded_from
            plan.reason = f"route '{downgraded_from}' over budget, downgraded to '{target}'; {plan.reason}"
            return plan
        table = self._tables.get(req.model)
        if table is not None:
            return self._plan_route(table, req)
        model = self.config.models.get(req.model)
        if model is None:
            raise unknown_model(req.model, self.config)
        return self._plan_model(model, req)

    def _plan_model(self, model: ModelConfig, req: RoutingRequest) -> Plan:
        plan = Plan(requested=req.model, candidates=[])
        eligible = self._eligible(self._model_groups[model.slug], req, plan)
        self._expander.expand(plan, [(m, None, "requested model") for m in eligible], req, None, [model], True)
        self._finish(plan, req)
        plan.reason = f"explicit model '{model.slug}'"
        if plan.candidates[0].slug != model.slug:
            plan.reason += f", served by fallback {plan.candidates[0].slug}"
        return plan

    def _plan_route(self, table: _RouteTable, req: RoutingRequest) -> Plan:
        route = table.route
        plan = Plan(requested=req.model, candidates=[], route=route.name)
        group, strategy, pinned, prefix = table.models, table.strategy, False, ""
        rule = first_match(table.rules, req) if table.rules else None
        if rule is not None:
            plan.rules_matched.append(rule.label)
            prefix = f"{rule.label} -> {describe_action(rule.action)}; "
            group = table.rule_models.get(rule.index, group)
            pinned = rule.action.model is not None
            strategy = table.rule_strategies.get(rule.index, strategy)
        plan.strategy = strategy.name
        step_of = None
        if strategy.name == "cascade":
            plan.cascade = route.cascade or CascadeConfig()
            # Steps are config positions, so an unfit step leaves a gap instead of renumbering.
            step_of = {m.slug: i for i, m in enumerate(group.models)}
        eligible = self._eligible(group, req, plan)
        ranked: Ranked = strategy.rank(eligible, req, table.ctx) if eligible else []
        if pinned and ranked:
            ranked = [(ranked[0][0], None, "pinned by rule")]
        canary_note = "" if pinned else self._apply_canary(table, ranked, req, plan)
        if step_of is not None and plan.canary:
            step_of.setdefault(ranked[0][0].slug, 0)  # the canary stands in for the first step
        plan.scores = [{"slug": m.slug, "score": s, "reason": why, "rank": i}
                       for i, (m, s, why) in enumerate(ranked)]
        walk = not (eligible is group.models and group.closed and not plan.canary)
        self._expander.expand(plan, ranked, req, step_of, group.models, walk)
        if route.max_ttft_p99 is not None:
            self._expander.apply_ttft_objective(plan, route.max_ttft_p99)
        if table.shadow is not None and eligible:
            plan.shadow_strategy = table.shadow.name
            plan.shadow_model = table.shadow.rank(eligible, req, table.shadow_ctx)[0][0].slug
        self._finish(plan, req)
        first = plan.candidates[0]
        plan.reason = f"{prefix}{canary_note}route '{route.name}' {strategy.name}: {first.slug} ({first.reason})"
        return plan

    def _eligible(self, group: _Group, req: RoutingRequest, plan: Plan) -> list[ModelConfig]:
        if group.all_fit(req):
            return group.models  # shared, read-only: strategies build new lists
        infos, out = self._infos, []
        for m in group.models:
            why = unfit(infos[m.slug], req)
            if why is None:
                out.append(m)
            else:
                plan.skipped.append({"slug": m.slug, "deployment": None, "why": why})
        return out

    def _apply_canary(self, table: _RouteTable, ranked: Ranked, req: RoutingRequest, plan: Plan) -> str:
        """Puts the canary model first on its share of decisions; returns a reason prefix."""
        canary = table.canary_model
        if canary is None or self._rng() >= table.canary_share:
            return ""
        if self._canary is not None and not self._canary.enabled(table.route.name):
            why = self._canary.disabled_reason(table.route.name) or "canary rolled back"
            plan.skipped.append({"slug": canary.slug, "deployment": None, "why": why})
            return ""
        why_not = unfit(self._infos[canary.slug], req)
        if why_not is not None:
            plan.skipped.append({"slug": canary.slug, "deployment": None, "why": f"canary: {why_not}"})
            return ""
        for i, (m, _, _) in enumerate(ranked):
            if m is canary:
                del ranked[i]
                break
        percent = table.canary_share * 100
        ranked.insert(0, (canary, None, f"canary ({percent:g}% of traffic)"))
        plan.canary = True
        return f"canary {canary.slug} ({percent:g}%); "

    def _finish(self, plan: Plan, req: RoutingRequest) -> None:
        if not plan.candidates:
            context_only = bool(plan.skipped) and all(
                s["why"].startswith("context too small") for s in plan.skipped)
            raise RoutingError(
                f"No candidate of '{req.model}' can serve this request: "
                + "; ".join(f"{s['slug']}: {s['why']}" for s in plan.skipped),
                status=400,
                code="context_length_exceeded" if context_only else "no_eligible_model",
            )
        plan.est_cost_usd = est_cost(plan.candidates[0].model, req)


__all__ = ["HealthView", "Router", "RoutingError", "closest_names", "unknown_model"]
