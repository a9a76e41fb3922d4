"""Pure routing decisions: a request, a config snapshot and a read-only health view in, a Plan out.

No I/O and no awaits: a decision is a function of its inputs, so it is fast and trivially
testable. Everything that depends only on the config (compiled rules and what each rule
decides, candidate lists with their shared capabilities, static rankings, prices, priors,
deployment share labels, reason fragments) is computed once per config in `Router.__init__`
(and model_info.py); a decision pays only for what depends on the request and live health, and
reads each deployment's health view at most once. The Plan is built whole at the end of a
decision and never changed after it.

A route decision, in order: the first matching rule may replace the candidates, change the
strategy or pin one model; hard filters drop models that cannot serve the request (window,
capabilities, endpoint); the strategy ranks the rest; a canary may take the first place; the
ranked models expand into deployments and fallbacks (expand.py); deployments that miss the
route's TTFT objective are dropped while another candidate meets it; a shadow strategy's
choice is computed for the log.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..config.model import CascadeConfig, Config, ModelConfig, RouteConfig
from .canary import CanaryMonitor
from .cost import estimated_costs
from .expand import Expander, Skipped
from .filters import unfit
from .model_info import Group, ModelInfo, build_infos
from .plan import Candidate, Plan, RoutingError, RoutingRequest
from .rules import CompiledRule, compile_rules, describe_action, first_match
from .strategies import STRATEGIES, HealthView, Ranked, RankContext, Strategy

# A ranking as the router handles it: a strategy's fresh list or a group's shared static tuple.
Ranking = Sequence[tuple[ModelInfo, float | None, str]]


def closest_names(name: str, config: Config, limit: int = 3) -> list[str]:
    import difflib  # only an unknown name gets here: serving need not load it

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


@dataclass(slots=True)
class _Choice:
    """What a route decides with when a given rule (or none) matched: candidates, strategy,
    their rank contexts and the words of the reason, all resolved against the config."""

    group: Group
    strategy: Strategy
    pinned: bool  # the rule pins one model
    prefix: str  # "rules[0]: tags.team -> candidates [a, b]; " (empty without a rule)
    head: str  # "route 'support' cheapest: "
    ctx: RankContext  # prepared for `group`
    shadow_ctx: RankContext


@dataclass(slots=True)
class _RouteTable:
    """One route, resolved against the config."""

    route: RouteConfig
    default: _Choice
    rules: tuple[CompiledRule, ...]
    choices: dict[int, _Choice]  # rule index -> what the route decides with when it matches
    canary: ModelInfo | None
    canary_share: float  # fraction of decisions
    canary_why: str  # "canary (5% of traffic)"
    canary_note: str  # "canary new-model (5%); "
    shadow: Strategy | None
    shadow_reads: bool  # the shadow strategy reads health views


class Router:
    """Builds Plans. One Router per config; cheap to rebuild on reload.

    `canary` is the long-lived CanaryMonitor (it survives reloads); when given, the router
    syncs it to this config and skips canaries it has rolled back.
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
        self._expander = Expander(health, rng)
        self._model_groups = {slug: Group((info,)) for slug, info in self._infos.items()}
        self._tables = {name: self._table(route) for name, route in config.routes.items()}

    @property
    def canary_monitor(self) -> CanaryMonitor | None:
        """The long-lived monitor this router consults (None: canaries never roll back)."""
        return self._canary

    # -- per-config precomputation ----------------------------------------------------------

    def _info(self, slug: str, where: str) -> ModelInfo:
        try:
            return self._infos[slug]
        except KeyError:
            raise ValueError(f"{where}: unknown model '{slug}'") from None

    def _group(self, slugs: Sequence[str], where: str) -> Group:
        return Group([self._info(s, where) for s in slugs])

    def _choice(self, route: RouteConfig, group: Group, strategy: Strategy,
                rule: CompiledRule | None = None) -> _Choice:
        prefix = f"{rule.label} -> {describe_action(rule.action)}; " if rule is not None else ""
        return _Choice(
            group, strategy, pinned=rule is not None and rule.action.model is not None, prefix=prefix,
            head=f"route '{route.name}' {strategy.name}: ",
            ctx=RankContext(self.health, self._rng, route, models=group.infos),
            shadow_ctx=RankContext(self.health, self._rng, route, explore=False, models=group.infos),
        )

    def _table(self, route: RouteConfig) -> _RouteTable:
        where = f"routes.{route.name}"
        rules = compile_rules(route.rules, route.name)
        overrides = []  # per rule: (its candidates or pinned model, its strategy), None: the route's
        for rule in rules:
            act, at = rule.action, f"{where}.rules[{rule.index}].then"
            group = strategy = None
            if act.candidates is not None:
                group = self._group(act.candidates, f"{at}.candidates")
            if act.model is not None:
                group = self._group([act.model], f"{at}.model")
            if act.strategy is not None:
                strategy = _strategy(act.strategy, f"{at}.strategy")
            overrides.append((group, strategy))
        default = self._choice(route, self._group(route.candidates, f"{where}.candidates"),
                               _strategy(route.strategy, f"{where}.strategy"))
        choices = {
            rule.index: self._choice(route, group or default.group, strategy or default.strategy, rule)
            for rule, (group, strategy) in zip(rules, overrides)
        }
        canary = route.canary
        canary_info = self._info(canary.model, f"{where}.canary.model") if canary else None
        shadow = _strategy(route.shadow.strategy, f"{where}.shadow.strategy") if route.shadow else None
        share = canary.percent / 100.0 if canary else 0.0
        percent = share * 100
        return _RouteTable(
            route=route,
            default=default,
            rules=rules,
            choices=choices,
            canary=canary_info,
            canary_share=share,
            canary_why=f"canary ({percent:g}% of traffic)",
            canary_note=f"canary {canary.model} ({percent:g}%); " if canary else "",
            shadow=shadow,
            shadow_reads=shadow is not None and shadow.reads_health,
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
            return self._plan_route(self._tables[target], req, downgraded_from)
        table = self._tables.get(req.model)
        if table is not None:
            return self._plan_route(table, req)
        model = self.config.models.get(req.model)
        if model is None:
            raise unknown_model(req.model, self.config)
        return self._plan_model(model, req)

    def _plan_model(self, model: ModelConfig, req: RoutingRequest) -> Plan:
        group = self._model_groups[model.slug]
        skipped: Skipped = []
        eligible = group.infos if group.all_fit(req) else self._eligible(group, req, skipped)
        ranked: Ranked = [(info, None, "requested model") for info in eligible]
        cands: list[Candidate] = []
        self._expander.expand(cands, skipped, ranked, req, None, group.infos, True)
        est_cost_usd = self._first_cost(cands, skipped, req)
        reason = f"explicit model '{model.slug}'"
        if cands[0].slug != model.slug:
            reason += f", served by fallback {cands[0].slug}"
        return Plan(req.model, tuple(cands), reason=reason, skipped=tuple(skipped), est_cost_usd=est_cost_usd)

    def _plan_route(self, table: _RouteTable, req: RoutingRequest, downgraded_from: str | None = None) -> Plan:
        route = table.route
        choice = table.default
        rules_matched: tuple[str, ...] = ()
        if table.rules:
            rule = first_match(table.rules, req)
            if rule is not None:
                choice = table.choices[rule.index]
                rules_matched = (rule.label,)
        group, strategy = choice.group, choice.strategy
        cascade = step_of = None
        if strategy.name == "cascade":
            cascade = route.cascade or CascadeConfig()
            step_of = dict(group.step_of)  # a copy: fallbacks add their steps to it
        skipped: Skipped = []
        eligible = group.infos if group.all_fit(req) else self._eligible(group, req, skipped)
        # Health views read in this decision, by deployment id, when more than one step reads them.
        views: dict[str, Any] | None = {} if strategy.reads_health or table.shadow_reads else None
        ranked = self._rank(strategy, group, eligible, req, choice.ctx, views)
        if choice.pinned and ranked:
            ranked = [(ranked[0][0], None, "pinned by rule")]
        canary = False
        canary_note = ""
        if table.canary is not None and not choice.pinned:
            canary, ranked = self._apply_canary(table, ranked, req, skipped)
            if canary:
                canary_note = table.canary_note
                if step_of is not None:
                    step_of.setdefault(ranked[0][0].slug, 0)  # the canary stands in for the first step
        cands: list[Candidate] = []
        walk = not (eligible is group.infos and group.closed and not canary)
        self._expander.expand(cands, skipped, ranked, req, step_of, group.infos, walk, route.max_ttft_p99, views)
        shadow_strategy = shadow_model = None
        if table.shadow is not None and eligible:
            shadow_strategy = table.shadow.name
            shadow_model = self._rank(table.shadow, group, eligible, req, choice.shadow_ctx, views)[0][0].slug
        est_cost_usd = self._first_cost(cands, skipped, req)
        first = cands[0]
        reason = f"{choice.prefix}{canary_note}{choice.head}{first.slug} ({first.reason})"
        if downgraded_from is not None:
            reason = f"route '{downgraded_from}' over budget, downgraded to '{route.name}'; {reason}"
        return Plan(  # positional, in field order: fourteen keywords cost more on every decision
            req.model, tuple(cands), route.name, strategy.name, reason, tuple(skipped), rules_matched,
            tuple(ranked), shadow_model, cascade, canary, est_cost_usd, shadow_strategy, downgraded_from,
        )

    @staticmethod
    def _rank(strategy: Strategy, group: Group, eligible: Sequence[ModelInfo], req: RoutingRequest,
              ctx: RankContext, views: dict[str, Any] | None) -> Ranking:
        if not eligible:
            return ()
        if strategy.static and eligible is group.infos:
            return group.static_ranking(strategy)  # shared: never changed in place
        return strategy.rank(eligible, req, ctx, {} if views is None else views)

    def _eligible(self, group: Group, req: RoutingRequest, skipped: Skipped) -> Sequence[ModelInfo]:
        """The models of `group` that can take `req`, each other one recorded as skipped.
        Callers try `group.all_fit(req)` first: then `group.infos` itself is the answer."""
        out = []
        for info in group.infos:
            why = unfit(info, req)
            if why is None:
                out.append(info)
            else:
                skipped.append({"slug": info.slug, "deployment": None, "why": why})
        return out

    def _apply_canary(self, table: _RouteTable, ranked: Ranking, req: RoutingRequest,
                      skipped: Skipped) -> tuple[bool, Ranking]:
        """Puts the canary model first on its share of decisions; returns (whether it did, ranking)."""
        canary = table.canary
        if canary is None or self._rng() >= table.canary_share:
            return False, ranked
        if self._canary is not None and not self._canary.enabled(table.route.name):
            why = self._canary.disabled_reason(table.route.name) or "canary rolled back"
            skipped.append({"slug": canary.slug, "deployment": None, "why": why})
            return False, ranked
        why_not = unfit(canary, req)
        if why_not is not None:
            skipped.append({"slug": canary.slug, "deployment": None, "why": f"canary: {why_not}"})
            return False, ranked
        reordered = list(ranked)  # `ranked` may be a group's shared static ranking
        for i, row in enumerate(reordered):
            if row[0] is canary:
                del reordered[i]
                break
        reordered.insert(0, (canary, None, table.canary_why))
        return True, reordered

    def _first_cost(self, cands: list[Candidate], skipped: Skipped, req: RoutingRequest) -> float:
        """The estimated cost of the first candidate; RoutingError when there is none."""
        if not cands:
            context_only = bool(skipped) and all(s["why"].startswith("context too small") for s in skipped)
            raise RoutingError(
                f"No candidate of '{req.model}' can serve this request: "
                + "; ".join(f"{s['slug']}: {s['why']}" for s in skipped),
                status=400,
                code="context_length_exceeded" if context_only else "no_eligible_model",
            )
        return estimated_costs((self._infos[cands[0].slug],), req)[0]


__all__ = ["HealthView", "Router", "RoutingError", "closest_names", "unknown_model"]
