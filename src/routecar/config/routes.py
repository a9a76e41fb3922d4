"""The `routes` section: named routing policies that apps address like model slugs."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .alternatives import Either
from .fields import Issues, join, unknown
from .kinds import INVALID, Bool, Duration, Enum, Int, Number, Rate, Size, Str
from .model import (
    STRATEGIES,
    BudgetConfig,
    CacheConfig,
    CanaryConfig,
    CascadeConfig,
    ClassifierConfig,
    ExactCacheConfig,
    ModelConfig,
    RouteConfig,
    SemanticCacheConfig,
    ShadowConfig,
)
from .hedge_section import HEDGE, build_hedge
from .models_section import SLUG_MESSAGE, SLUG_PATTERN
from .rules import CASCADE, RULES, build_cascade, build_rules
from .shapes import Entries, Items, Key, List, Map, Object, Values

ROLLBACK_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {"max_error_rate_delta": 0.05, "max_p95_ratio": 1.5, "min_requests": 100}
)
BALANCE_KEYS = ("cost", "latency", "quality")

CANDIDATES = Either(
    List(Str(), min_items=1, unique=True),
    Map(Number(min=0), placeholder="SLUG", min_items=1, entry_doc="the model's weight (strategy: weighted)"),
)

BUDGET = Object(
    Key("period", Enum(("hour", "day", "month")), "the spend resets every hour, day or month", required=True),
    Key("usd", Number(gt=0), "spend cap in USD per period", required=True),
    Key("when_exceeded", Enum(("reject", "downgrade")), "reject (429 budget_exceeded) or downgrade to another route"),
    Key("downgrade_to", Str(), "the route that takes over (with when_exceeded: downgrade)"),
    Key("per_tag", Str(), "one budget per value of this request tag (e.g. team)"),
    defaults=BudgetConfig,
    name="budget",
)

ROLLBACK = Object(
    # Roll back when the canary's error rate exceeds the baseline's by this much...
    Key("max_error_rate_delta", Rate(), "roll back when the canary's error rate exceeds the baseline's by this much..."),
    # ...or its p95 latency exceeds the baseline's times this...
    Key("max_p95_ratio", Number(min=1), "...or its p95 latency exceeds the baseline's times this..."),
    # ...judged only once the canary has served this many requests.
    Key("min_requests", Int(min=1), "...judged once the canary has served this many requests"),
    defaults=ROLLBACK_DEFAULTS,
    name="rollback",
)

CANARY = Object(
    Key("model", Str(), "the model that gets a share of the route's traffic", required=True),
    Key("percent", Number(min=0, max=100), "share of the route's requests sent to it", required=True),
    Key("rollback", ROLLBACK, "automatic rollback when the canary does worse than the baseline"),
    name="canary",
)

SHADOW = Object(
    Key("strategy", Enum(STRATEGIES), "the strategy whose choice is computed and logged, never enforced",
        required=True),
    name="shadow",
)

EXACT_CACHE = Object(
    Key("ttl", Duration(positive=True), "how long an answer is reused"),
    Key("max_entries", Int(min=1), "most answers kept"),
    Key("max_bytes", Size(), "most bytes of answers kept"),
    Key("shared", Bool(), "one cache for every pod, in shared_state's Redis, instead of one per pod"),
    defaults=ExactCacheConfig,
    name="exact_cache",
)

SEMANTIC_CACHE = Object(
    Key("model", Str(), "embeddings model that compares requests", required=True),
    Key("min_similarity", Rate(), "cosine similarity from which a cached answer is reused"),
    Key("ttl", Duration(positive=True), "how long an answer is reused"),
    Key("max_entries", Int(min=1), "most answers kept"),
    defaults=SemanticCacheConfig,
    name="semantic_cache",
)

CACHE = Object(
    Key("exact", Either(Bool(), EXACT_CACHE, message="must be a mapping (ttl, max_entries, max_bytes, shared) or true/false"),
        "repeat answers to identical requests (true: with the defaults)"),
    Key("semantic", SEMANTIC_CACHE, "repeat answers to similar requests"),
    name="cache",
)

BALANCE = Object(
    *(Key(k, Number(min=0), f"weight of {k} in the balanced strategy", default=0.0) for k in BALANCE_KEYS),
    name="balance",
)

ROUTE = Object(
    Key("strategy", Enum(STRATEGIES), "how candidates are ranked", required=True),
    Key("candidates", CANDIDATES, "the models the strategy ranks (weighted also takes {slug: weight})", required=True),
    Key("rules", RULES, "first-match rules, applied before the strategy"),
    Key("cascade", CASCADE, "with strategy cascade: the checks that send a request on to the next candidate"),
    Key("budget", BUDGET, "spend cap per period"),
    Key("canary", CANARY, "send a share of traffic to a new model"),
    Key("shadow", SHADOW, "log what another strategy would have chosen"),
    Key("cache", CACHE, "answer repeats from memory: only deterministic requests (temperature 0), or those "
                        "sending x-routecar-cache: use; Cache-Control: no-cache bypasses it"),
    Key("balance", BALANCE, "weights of the balanced strategy; a key left out weighs 0 "
                            "(without this mapping, the strategy's own defaults apply)"),
    Key("max_ttft_p99", Duration(positive=True), "skip deployments whose p99 time to first token exceeds this, "
                                                 "while another meets it"),
    Key("hedge", HEDGE, "race a second attempt when the first has no first token after `after` "
                        "(a model's own hedge wins; default: resilience.hedge)"),
    defaults=RouteConfig,
    name="route",
    doc="a routing policy apps name like a model",
)

ROUTES = Map(
    ROUTE,
    key_pattern=SLUG_PATTERN,
    key_message=SLUG_MESSAGE,
    example="""\
routes:
  fast:  {strategy: fastest,  candidates: [gpt-4o-mini, claude-haiku]}
  cheap: {strategy: cheapest, candidates: [gpt-4o-mini, claude-haiku]}
  support:
    strategy: cheapest
    candidates: [gpt-4o-mini, claude-haiku]
    rules:                                            # first match wins, before the strategy
      - when: {tags.team: billing}
        then: {candidates: [claude-haiku]}
      - when: {matches: "(?i)passport|social security"}
        then: {model: gpt-4o-mini}                    # pin one model
      - when: {class.difficulty: complex}
        then: {strategy: quality}
    budget: {period: day, usd: 50, when_exceeded: downgrade, downgrade_to: cheap}
    canary: {model: claude-haiku, percent: 5}
    shadow: {strategy: fastest}
    cache: {exact: {ttl: 10m, max_entries: 10000}}
  extract:
    strategy: cascade
    candidates: [gpt-4o-mini, claude-haiku]           # the steps, cheapest first
    cascade: {checks: [json, finish_reason, non_empty]}
""",
)


def _candidates(
    issues: Issues, r: Values, strategy: str | None, models: Mapping[str, ModelConfig]
) -> tuple[tuple[str, ...], dict[str, float]]:
    raw = r["candidates"]
    path = r.path_of("candidates")
    if isinstance(raw, Entries):
        if strategy != "weighted":
            issues.error(path, "a {model: weight} mapping needs strategy: weighted; use a list")
        weights: dict[str, float] = {}
        for slug in raw.names:
            if slug not in models:
                issues.error(join(path, slug), unknown("model", slug, models))
            else:
                weights[slug] = raw.get(slug, 1.0)
        if weights and not any(weights.values()):
            issues.error(path, "at least one weight must be > 0")
        return tuple(weights), weights
    candidates: list[str] = []
    for item_path, slug in r.located("candidates") if isinstance(raw, Items) else ():
        if slug in models:
            candidates.append(slug)
        else:
            issues.error(item_path, unknown("model", slug, models))
    return tuple(candidates), ({slug: 1.0 for slug in candidates} if strategy == "weighted" else {})


def _budget(issues: Issues, r: Values, name: str, route_names: list[str]) -> BudgetConfig | None:
    b = r["budget"]
    if "budget" not in r.given or b["period"] is None or b["usd"] is None:
        return None
    when, target = b["when_exceeded"], b["downgrade_to"]
    if when == "downgrade" and b.raw.get("downgrade_to") is None:
        issues.error(b.path_of("downgrade_to"), "is required when when_exceeded is downgrade")
    elif when != "downgrade" and target is not None:
        issues.error(b.path_of("downgrade_to"), "only applies with when_exceeded: downgrade")
    elif target is not None and target not in route_names:
        issues.error(b.path_of("downgrade_to"), unknown("route", target, route_names))
    elif target == name:
        issues.error(b.path_of("downgrade_to"), "a route cannot downgrade to itself")
    return BudgetConfig(**b)


def _canary(issues: Issues, r: Values, models: Mapping[str, ModelConfig]) -> CanaryConfig | None:
    c = r["canary"]
    if "canary" not in r.given:
        return None
    model = c["model"] or ""
    if model and model not in models:
        issues.error(c.path_of("model"), unknown("model", model, models))
    rollback = MappingProxyType(dict(c["rollback"])) if "rollback" in c.given else None
    return CanaryConfig(model=model, percent=c["percent"] or 0.0, rollback=rollback)


def _cache(issues: Issues, r: Values, models: Mapping[str, ModelConfig]) -> CacheConfig | None:
    if "cache" not in r.given:
        return None
    c = r["cache"]
    exact = c["exact"]
    if exact is True:
        exact = ExactCacheConfig()
    elif isinstance(exact, Values):
        exact = ExactCacheConfig(**exact)
    else:
        exact = None  # false, or left out
    semantic = None
    s = c["semantic"]
    if "semantic" in c.given:
        model = s["model"] or ""
        if model and model not in models:
            issues.error(s.path_of("model"), unknown("model", model, models))
        elif model and not models[model].is_embedding:
            issues.error(s.path_of("model"),
                         f"must be an embeddings model (capabilities: [embeddings]); {model!r} is not one")
        semantic = SemanticCacheConfig(**{**s, "model": model})
    return CacheConfig(exact=exact, semantic=semantic) if exact or semantic else None


def _balance(issues: Issues, r: Values) -> Mapping[str, float]:
    if "balance" not in r.given:
        return MappingProxyType({})
    weights = dict(r["balance"])
    if not any(weights.values()):
        issues.error(r.path_of("balance"), "at least one of cost, latency, quality must be > 0")
    return MappingProxyType(weights)


def _kind_check(issues: Issues, r: Values, route: RouteConfig, models: Mapping[str, ModelConfig]) -> None:
    # An embeddings request cannot be answered by a chat model, nor the reverse.
    slugs = [*route.candidates, *([route.canary.model] if route.canary else [])]
    kinds = {models[s].is_embedding for s in slugs if s in models}
    if len(kinds) > 1:
        issues.error(r.path_of("candidates"), "mixes embeddings models and chat models")


def _route(
    issues: Issues,
    name: str,
    r: Values,
    route_names: list[str],
    models: Mapping[str, ModelConfig],
    classifiers: Mapping[str, ClassifierConfig],
) -> RouteConfig:
    strategy = r["strategy"]
    candidates, weights = _candidates(issues, r, strategy, models)
    rules = build_rules(issues, r, models, classifiers)
    cascade = build_cascade(r)
    if strategy == "cascade":
        if r.raw.get("candidates") is not None and len(candidates) < 2:
            issues.error(r.path_of("candidates"), "a cascade needs at least 2 candidates (cheapest first)")
        cascade = cascade or CascadeConfig()
    elif cascade is not None and not any(rule.then.strategy == "cascade" for rule in rules):
        issues.warn(r.path_of("cascade"), "ignored: the route's strategy is not cascade and no rule switches to it")
    route = RouteConfig(
        name=name,
        strategy=strategy or "ordered",
        candidates=candidates,
        weights=MappingProxyType(weights),
        rules=rules,
        cascade=cascade,
        budget=_budget(issues, r, name, route_names),
        canary=_canary(issues, r, models),
        shadow=ShadowConfig(strategy=r["shadow"]["strategy"] or "ordered") if "shadow" in r.given else None,
        cache=_cache(issues, r, models),
        balance=_balance(issues, r),
        max_ttft_p99=r["max_ttft_p99"],
        hedge=build_hedge(r["hedge"], "hedge" in r.given),
    )
    _kind_check(issues, r, route, models)
    return route


def _downgrade_cycles(issues: Issues, routes: Mapping[str, RouteConfig]) -> None:
    reported: set[frozenset[str]] = set()
    for start in routes:
        trail = [start]
        current = start
        # A chain visits each route at most once before it ends or repeats.
        for _ in range(len(routes)):
            budget = routes[current].budget
            target = budget.downgrade_to if budget and budget.when_exceeded == "downgrade" else None
            if target is None or target not in routes:
                break
            if target in trail:
                cycle = trail[trail.index(target):] + [target]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    issues.error(f"routes.{cycle[0]}.budget.downgrade_to", "downgrade cycle " + " -> ".join(cycle))
                break
            trail.append(target)
            current = target


def build_routes(
    issues: Issues,
    value: Any,
    models: Mapping[str, ModelConfig],
    classifiers: Mapping[str, ClassifierConfig],
) -> dict[str, RouteConfig]:
    entries = ROUTES.parse(value, "routes", issues)
    if entries is INVALID:
        return {}
    assert isinstance(entries, Entries)
    out: dict[str, RouteConfig] = {}
    for name, r in entries.items():
        if name in models:
            message = f"route name {name!r} is also a model slug; requests could not tell them apart"
            issues.error(f"routes.{name}", message)
            continue
        out[name] = _route(issues, name, r, entries.names, models, classifiers)
    _downgrade_cycles(issues, out)
    return out
