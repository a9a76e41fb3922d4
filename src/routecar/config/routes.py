"""The `routes` section: named routing policies that apps address like model slugs."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .fields import Issues, Node, join, unknown
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
from .models_section import valid_names
from .rules import parse_cascade, parse_rules

ROUTE_KEYS = (
    "strategy", "candidates", "rules", "cascade", "budget", "canary", "shadow", "cache",
    "balance", "max_ttft_p99",
)  # fmt: skip
ROLLBACK_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {"max_error_rate_delta": 0.05, "max_p95_ratio": 1.5, "min_requests": 100}
)


def _candidates(
    r: Node, strategy: str | None, models: Mapping[str, ModelConfig]
) -> tuple[tuple[str, ...], dict[str, float]]:
    raw = r.get("candidates")
    if not isinstance(raw, dict):
        candidates = r.names("candidates", "model", models, required=True)
        weights = {slug: 1.0 for slug in candidates} if strategy == "weighted" else {}
        return candidates, weights
    if strategy != "weighted":
        r.error("candidates", "a {model: weight} mapping needs strategy: weighted; use a list")
    c = r.node("candidates", None)
    weights: dict[str, float] = {}
    if c is None:
        return (), weights
    if not c.data:
        r.error("candidates", "must not be empty")
    for slug in c.data:
        if not isinstance(slug, str) or slug not in models:
            c.issues.error(join(c.path, slug), unknown("model", slug, models))
            continue
        weight = c.number(slug, 1.0, min=0)
        weights[slug] = weight if weight is not None else 1.0
    if weights and not any(weights.values()):
        r.error("candidates", "at least one weight must be > 0")
    return tuple(weights), weights


def _budget(r: Node, name: str, route_names: list[str]) -> BudgetConfig | None:
    keys = ("period", "usd", "when_exceeded", "downgrade_to", "per_tag")
    b = r.section("budget", keys, required=("period", "usd"))
    if b is None:
        return None
    when = b.str("when_exceeded", "reject", choices=("reject", "downgrade")) or "reject"
    target = b.str("downgrade_to")
    if when == "downgrade" and not b.has("downgrade_to"):
        b.error("downgrade_to", "is required when when_exceeded is downgrade")
    elif when != "downgrade" and target is not None:
        b.error("downgrade_to", "only applies with when_exceeded: downgrade")
    elif target is not None and target not in route_names:
        b.error("downgrade_to", unknown("route", target, route_names))
    elif target == name:
        b.error("downgrade_to", "a route cannot downgrade to itself")
    return BudgetConfig(
        period=b.str("period", "day", choices=("hour", "day", "month")) or "day",
        usd=b.number("usd", 0.0, gt=0) or 0.0,
        when_exceeded=when,
        downgrade_to=target,
        per_tag=b.str("per_tag"),
    )


def _canary(r: Node, models: Mapping[str, ModelConfig]) -> CanaryConfig | None:
    c = r.section("canary", ("model", "percent", "rollback"), required=("model", "percent"))
    if c is None:
        return None
    model = c.str("model") or ""
    if model and model not in models:
        c.error("model", unknown("model", model, models))
    rollback = None
    rb = c.section("rollback", tuple(ROLLBACK_DEFAULTS))
    if rb is not None:
        d = ROLLBACK_DEFAULTS
        rollback = MappingProxyType({
            # Roll back when the canary's error rate exceeds the baseline's by this much...
            "max_error_rate_delta": rb.rate("max_error_rate_delta", d["max_error_rate_delta"]),
            # ...or its p95 latency exceeds the baseline's times this...
            "max_p95_ratio": rb.number("max_p95_ratio", d["max_p95_ratio"], min=1),
            # ...judged only once the canary has served this many requests.
            "min_requests": rb.int("min_requests", int(d["min_requests"]), min=1),
        })
    return CanaryConfig(model=model, percent=c.number("percent", 0.0, min=0, max=100) or 0.0, rollback=rollback)


def _cache(r: Node, models: Mapping[str, ModelConfig]) -> CacheConfig | None:
    c = r.section("cache", ("exact", "semantic"))
    if c is None:
        return None
    exact = None
    raw = c.get("exact")
    if raw is True or isinstance(raw, dict):
        base = ExactCacheConfig()
        e = c.node("exact", ("ttl", "max_entries", "max_bytes", "shared")) if raw is not True else None
        exact = base if e is None else ExactCacheConfig(
            ttl=e.duration("ttl", base.ttl, positive=True) or base.ttl,
            max_entries=e.int("max_entries", base.max_entries, min=1) or base.max_entries,
            max_bytes=e.size("max_bytes", base.max_bytes),
            shared=e.bool("shared", base.shared),
        )
    elif raw not in (None, False):
        c.error("exact", "must be a mapping (ttl, max_entries, max_bytes, shared) or true/false")
    semantic = None
    if c.has("semantic"):
        keys = ("model", "min_similarity", "ttl", "max_entries")
        s = c.section("semantic", keys, required=("model",))
        if s is not None:
            model = s.str("model") or ""
            if model and model not in models:
                s.error("model", unknown("model", model, models))
            elif model and not models[model].is_embedding:
                s.error("model", f"must be an embeddings model (capabilities: [embeddings]); {model!r} is not one")
            base_s = SemanticCacheConfig(model=model)
            semantic = SemanticCacheConfig(
                model=model,
                min_similarity=s.rate("min_similarity", base_s.min_similarity),
                ttl=s.duration("ttl", base_s.ttl, positive=True) or base_s.ttl,
                max_entries=s.int("max_entries", base_s.max_entries, min=1) or base_s.max_entries,
            )
    return CacheConfig(exact=exact, semantic=semantic) if exact or semantic else None


def _balance(r: Node) -> Mapping[str, float]:
    b = r.section("balance", ("cost", "latency", "quality"))
    if b is None:
        return MappingProxyType({})
    weights = {key: b.number(key, 0.0, min=0) or 0.0 for key in ("cost", "latency", "quality")}
    if not any(weights.values()):
        r.error("balance", "at least one of cost, latency, quality must be > 0")
    return MappingProxyType(weights)


def _kind_check(r: Node, route: RouteConfig, models: Mapping[str, ModelConfig]) -> None:
    # An embeddings request cannot be answered by a chat model, nor the reverse.
    slugs = [*route.candidates, *([route.canary.model] if route.canary else [])]
    kinds = {models[s].is_embedding for s in slugs if s in models}
    if len(kinds) > 1:
        r.error("candidates", "mixes embeddings models and chat models")


def parse_route(
    issues: Issues,
    name: str,
    value: Any,
    route_names: list[str],
    models: Mapping[str, ModelConfig],
    classifiers: Mapping[str, ClassifierConfig],
) -> RouteConfig | None:
    r = Node.of(issues, value, f"routes.{name}", ROUTE_KEYS, required=("strategy", "candidates"))
    if r is None:
        return None
    strategy = r.str("strategy", choices=STRATEGIES)
    candidates, weights = _candidates(r, strategy, models)
    rules = parse_rules(r, models, classifiers)
    cascade = parse_cascade(r)
    if strategy == "cascade":
        if r.has("candidates") and len(candidates) < 2:
            r.error("candidates", "a cascade needs at least 2 candidates (cheapest first)")
        cascade = cascade or CascadeConfig()
    elif cascade is not None and not any(rule.then.strategy == "cascade" for rule in rules):
        issues.warn(r.path_of("cascade"), "ignored: the route's strategy is not cascade and no rule switches to it")
    shadow = None
    s = r.section("shadow", ("strategy",), required=("strategy",))
    if s is not None:
        shadow = ShadowConfig(strategy=s.str("strategy", "ordered", choices=STRATEGIES) or "ordered")
    route = RouteConfig(
        name=name,
        strategy=strategy or "ordered",
        candidates=candidates,
        weights=MappingProxyType(weights),
        rules=rules,
        cascade=cascade,
        budget=_budget(r, name, route_names),
        canary=_canary(r, models),
        shadow=shadow,
        cache=_cache(r, models),
        balance=_balance(r),
        max_ttft_p99=r.duration("max_ttft_p99", None, positive=True),
    )
    _kind_check(r, route, models)
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


def parse_routes(
    issues: Issues,
    value: Any,
    models: Mapping[str, ModelConfig],
    classifiers: Mapping[str, ClassifierConfig],
) -> dict[str, RouteConfig]:
    n = Node.of(issues, value, "routes", None)
    out: dict[str, RouteConfig] = {}
    if n is None:
        return out
    names = valid_names(issues, "routes", n.data)
    for name in names:
        if name in models:
            message = f"route name {name!r} is also a model slug; requests could not tell them apart"
            issues.error(f"routes.{name}", message)
            continue
        route = parse_route(issues, name, n.data[name], names, models, classifiers)
        if route is not None:
            out[name] = route
    _downgrade_cycles(issues, out)
    return out
