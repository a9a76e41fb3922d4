"""What the fast decision path must keep: a plan built whole, its scores described on demand,
each health read at most once per decision, slow deployments held back without reordering
anything, and the config's shared rankings never changed by a decision."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from types import MappingProxyType

from routecar.config.model import CanaryConfig, CascadeConfig, Rule, RuleAction, ShadowConfig
from routecar.router.plan import Plan
from routecar.router.router import Router


class CountingHealth:
    """The kit's health, counting reads per deployment."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.views: Counter[str] = Counter()
        self.weights: Counter[str] = Counter()

    def view(self, dep_id: str):
        self.views[dep_id] += 1
        return self.inner.view(dep_id)

    def effective_weight(self, dep_id: str, base_weight: float) -> float:
        self.weights[dep_id] += 1
        return self.inner.effective_weight(dep_id, base_weight)


def test_the_plan_describes_its_ranking_on_demand_and_survives_replace(kit):
    cfg = kit.config([kit.model("a", price=(1, 1)), kit.model("b", price=(2, 2))],
                     [kit.route("r", "cheapest", ["b", "a"])])
    plan = kit.router(cfg).plan(kit.request("r"))
    expected = [{"slug": "a", "score": plan.candidates[0].score, "reason": "est cost USD", "rank": 0},
                {"slug": "b", "score": plan.candidates[1].score, "reason": "est cost USD", "rank": 1}]
    assert plan.scores() == expected
    assert all(isinstance(getattr(plan, name), tuple) for name in ("candidates", "skipped", "rules_matched", "ranking"))
    copy = dataclasses.replace(plan, candidates=plan.candidates[:1])  # how a later step decides otherwise
    assert copy.scores() == expected and copy.candidates == plan.candidates[:1]
    assert Plan("m", ()).scores() == []


def test_each_deployment_is_read_once_per_decision(kit):
    models = [kit.model("a", ("p1", "a", 1), ("p2", "a", 1), fallbacks=["c"]), kit.model("b", "p3"),
              kit.model("c", "p4")]
    for dep in ("p1/a", "p2/a", "p3/b", "p4/c"):
        kit.health.measured(dep, 0.3)
    for strategy, shadow in (("fastest", "balanced"), ("balanced", "fastest"), ("cheapest", "fastest"),
                             ("ordered", None)):
        route = kit.route("r", strategy, ["a", "b"], max_ttft_p99=5.0,
                          shadow=ShadowConfig(shadow) if shadow else None)
        health = CountingHealth(kit.health)
        router = Router(kit.config(models, [route]), health, rng=random.Random(1).random)
        plan = router.plan(kit.request("r", stream=True))
        assert len(plan.candidates) == 4
        assert set(health.views.values()) == {1}, (strategy, health.views)
        assert set(health.weights.values()) == {1}, (strategy, health.weights)


def test_slow_deployments_are_held_back_in_plan_order(kit):
    # a's first deployment and c (a fallback) are slow; their skips follow the filter's.
    models = [kit.model("a", ("p1", "a", 1), ("p2", "a", 0), fallbacks=["c", "big"]),
              kit.model("b", "p3"), kit.model("c", "p4"), kit.model("big", "p5", context_window=10)]
    kit.health.measured("p1/a", 0.5, p99=2.0)
    kit.health.measured("p4/c", 0.5, p99=3.0)
    cfg = kit.config(models, [kit.route("r", "ordered", ["a", "b"], max_ttft_p99=1.0)])
    plan = kit.router(cfg).plan(kit.request("r", "hello " * 20))
    assert [c.dep_id for c in plan.candidates] == ["p2/a", "p3/b"]
    assert [(s["slug"], s["deployment"]) for s in plan.skipped] == [("big", None), ("a", "p1/a"), ("c", "p4/c")]
    assert plan.skipped[1]["why"] == "ttft p99 2.0s > 1.0s objective"
    assert plan.candidates[0].reason == "position 1; weight 0/1"


def test_when_every_deployment_is_slow_all_stay_in_step_order(kit):
    models = [kit.model("s", "p1", fallbacks=["f"]), kit.model("l", "p2"), kit.model("f", "p3")]
    for dep in ("p1/s", "p2/l", "p3/f"):
        kit.health.measured(dep, 1.0, p99=4.0)
    route = kit.route("r", "cascade", ["s", "l"], max_ttft_p99=1.0, cascade=CascadeConfig())
    plan = kit.router(kit.config(models, [route])).plan(kit.request("r"))
    assert [(c.slug, c.step, c.reason) for c in plan.candidates] == [
        ("s", 0, "cascade step; only deployment"), ("f", 0, "fallback of s; only deployment"),
        ("l", 1, "cascade step; only deployment")]
    assert plan.skipped == ()


def test_a_canary_never_changes_the_snapshots_shared_ranking(kit):
    models = [kit.model("a"), kit.model("b"), kit.model("c")]
    route = kit.route("r", "ordered", ["a", "b", "c"], canary=CanaryConfig(model="c", percent=50.0),
                      shadow=ShadowConfig("quality"))
    router = kit.router(kit.config(models, [route]), seed=9)
    seen = Counter()
    for _ in range(200):
        plan = router.plan(kit.request("r"))
        order = [s["slug"] for s in plan.scores()]
        seen[plan.canary] += 1
        assert order == (["c", "a", "b"] if plan.canary else ["a", "b", "c"])
        assert [c.slug for c in plan.candidates] == order
    assert seen[True] > 50 and seen[False] > 50


def test_weighted_shares_over_the_models_that_fit(kit):
    models = [kit.model("a"), kit.model("b"), kit.model("small", context_window=400)]
    route = kit.route("r", "weighted", ["a", "b", "small"], weights={"a": 1, "b": 1, "small": 2})
    router = kit.router(kit.config(models, [route]))
    whole = router.plan(kit.request("r"))
    assert sorted(s["score"] for s in whole.scores()) == [0.25, 0.25, 0.5]
    narrowed = router.plan(kit.request("r", "word " * 200))
    assert sorted(s["score"] for s in narrowed.scores()) == [0.5, 0.5]
    assert narrowed.skipped[0]["slug"] == "small"


def test_rule_shapes_compile_to_one_test_each(kit):
    def rule(when: dict, **then) -> Rule:
        return Rule(MappingProxyType(when), RuleAction(**then))

    rules = [
        rule({"matches": "Refund"}, model="b"),  # one word, case kept
        rule({"matches": "(?i)alpha|beta|gamma"}, model="c"),  # several words, folded
        rule({"tags.team": "x", "prompt_tokens_gt": 1, "has_tools": False}, model="d"),  # three conditions
        rule({}, model="e"),  # no condition: always
    ]
    models = [kit.model(s) for s in "abcde"]
    router = kit.router(kit.config(models, [kit.route("r", "ordered", ["a"], rules=rules)]))

    def pinned(text: str, **kw) -> str:
        return router.plan(kit.request("r", text, **kw)).candidates[0].slug

    assert pinned("a Refund please") == "b"
    assert pinned("a refund please") == "e"
    assert pinned("say GAMMA") == "c"
    assert pinned("hello there", tags={"team": "x"}) == "d"
    assert pinned("hello there", tags={"team": "y"}) == "e"
