"""Each strategy, deployment ordering within a model, fallbacks, and health demotion."""

from __future__ import annotations

from collections import Counter

import pytest

from routecar.router.strategies import EXPLORE_SHARE, STRATEGIES, weighted_shuffle


def slugs(plan):
    out = []
    for c in plan.candidates:
        if c.slug not in out:
            out.append(c.slug)
    return out


def test_every_strategy_named_in_the_spec_is_registered():
    assert set(STRATEGIES) == {"ordered", "weighted", "cheapest", "fastest", "balanced", "quality", "cascade"}


def test_ordered_keeps_config_order(kit):
    cfg = kit.config([kit.model("a"), kit.model("b"), kit.model("c")],
                     [kit.route("r", "ordered", ["c", "a", "b"])])
    plan = kit.router(cfg).plan(kit.request("r"))
    assert slugs(plan) == ["c", "a", "b"]
    assert plan.strategy == "ordered" and plan.route == "r"
    assert [s["slug"] for s in plan.scores()] == ["c", "a", "b"]
    assert "route 'r' ordered: c" in plan.reason


def test_weighted_splits_first_choice_by_route_weights(kit):
    cfg = kit.config([kit.model("a"), kit.model("b"), kit.model("z")],
                     [kit.route("r", "weighted", ["a", "b", "z"], weights={"a": 3, "b": 1, "z": 0})])
    router = kit.router(cfg, seed=11)
    firsts = Counter(slugs(router.plan(kit.request("r")))[0] for _ in range(4000))
    assert firsts["z"] == 0
    assert 0.72 < firsts["a"] / 4000 < 0.78
    plan = router.plan(kit.request("r"))
    assert slugs(plan)[-1] == "z"  # zero weight: still a last resort, never first


def test_weighted_shuffle_matches_sequential_draws():
    import random

    rng = random.Random(5).random
    seconds = Counter()
    for _ in range(6000):
        order = weighted_shuffle([2.0, 1.0, 1.0], rng)
        if order[0] == 0:
            seconds[order[1]] += 1
    # Given 0 went first, 1 and 2 (equal weights) share second place evenly.
    assert abs(seconds[1] - seconds[2]) < 0.1 * (seconds[1] + seconds[2])


def test_cheapest_uses_this_requests_token_mix(kit):
    # cheap_in is cheap on input, dear on output; cheap_out the reverse.
    cfg = kit.config([kit.model("cheap_in", price=(0.1, 20.0)), kit.model("cheap_out", price=(5.0, 0.5))],
                     [kit.route("r", "cheapest", ["cheap_in", "cheap_out"])])
    router = kit.router(cfg)
    long_prompt = router.plan(kit.request("r", "word " * 20000, max_tokens=10))
    assert slugs(long_prompt)[0] == "cheap_in"
    long_answer = router.plan(kit.request("r", "hi", max_tokens=8000))
    assert slugs(long_answer)[0] == "cheap_out"
    assert long_answer.scores()[0]["reason"] == "est cost USD"
    assert long_answer.est_cost_usd == pytest.approx(long_answer.scores()[0]["score"])


def test_fastest_uses_measured_p50_stream_vs_non_stream(kit):
    cfg = kit.config([kit.model("a", "pa"), kit.model("b", "pb")], [kit.route("r", "fastest", ["a", "b"])])
    h = kit.health
    h.measured("pa/a", 0.9)
    h.measured("pb/b", 0.3)
    # Non-stream reads full latency; make a's total latency the better one.
    h.views["pa/a"].latency_p50 = 0.5
    router = kit.router(cfg, seed=3)
    assert slugs(router.plan(kit.request("r", stream=True)))[0] == "b"
    plan = router.plan(kit.request("r"))
    assert slugs(plan)[0] == "a"
    assert plan.scores()[0]["reason"] == "latency p50 seconds"


def test_fastest_prior_before_samples_prefers_small_model_names(kit):
    cfg = kit.config([kit.model("big-model", "p1"), kit.model("tiny", ("p2", "llama-3.1-8b", 1)),
                      kit.model("gpt-4o-mini", "p3")],
                     [kit.route("r", "fastest", ["big-model", "tiny", "gpt-4o-mini"])])
    kit.health.measured("p1/big-model", 0.2, samples=2)  # too few samples to trust
    plan = kit.router(cfg, seed=3).plan(kit.request("r", stream=True))
    assert slugs(plan)[-1] == "big-model"
    assert all("prior" in s["reason"] for s in plan.scores())


def test_fastest_tries_an_unmeasured_model_before_measured_ones(kit):
    cfg = kit.config([kit.model("known", "p1"), kit.model("new", "p2")],
                     [kit.route("r", "fastest", ["known", "new"])])
    kit.health.measured("p1/known", 0.05, samples=20)  # fast, but "new" has never been measured
    plan = kit.router(cfg, seed=3).plan(kit.request("r", stream=True))
    assert slugs(plan) == ["new", "known"]
    assert "not measured yet" in plan.scores()[0]["reason"]


def test_fastest_follows_a_provider_that_slows_down_and_recovers(kit):
    cfg = kit.config([kit.model("a", "pa"), kit.model("b", "pb")], [kit.route("r", "fastest", ["a", "b"])])
    h = kit.health
    router = kit.router(cfg, seed=8)

    def first_share(n=400):
        return Counter(slugs(router.plan(kit.request("r", stream=True)))[0] for _ in range(n))

    h.measured("pa/a", 0.2)
    h.measured("pb/b", 0.5)
    assert first_share()["a"] > 360
    h.measured("pa/a", 2.5)  # provider A degrades
    assert first_share()["b"] > 360
    h.measured("pa/a", 0.2)  # ...and recovers (the exploration share re-measured it)
    assert first_share()["a"] > 360


def test_fastest_explores_a_non_best_model_on_a_small_share(kit):
    cfg = kit.config([kit.model("a", "pa"), kit.model("b", "pb"), kit.model("c", "pc")],
                     [kit.route("r", "fastest", ["a", "b", "c"])])
    for dep, p50 in (("pa/a", 0.1), ("pb/b", 0.5), ("pc/c", 0.9)):
        kit.health.measured(dep, p50)
    router = kit.router(cfg, seed=21)
    n = 4000
    firsts = Counter(slugs(router.plan(kit.request("r", stream=True)))[0] for _ in range(n))
    explored = firsts["b"] + firsts["c"]
    assert 0.5 * EXPLORE_SHARE * n < explored < 1.6 * EXPLORE_SHARE * n
    assert firsts["b"] > 0 and firsts["c"] > 0


@pytest.mark.parametrize("name,fast", [
    ("gpt-4o-mini", True), ("gemini-2.0-flash", True), ("claude-3-5-haiku-latest", True),
    ("meta-llama/Llama-3.1-8B-Instruct", True), ("qwen2.5:7b", True), ("gpt-4.1-nano", True),
    ("gemini-2.5-pro", False), ("llama-3.1-70b", False), ("claude-opus-4-1", False), ("gpt-4o", False),
])
def test_small_model_name_prior(name, fast):
    from routecar.router.strategies import looks_fast

    assert looks_fast(name) is fast


def test_fastest_ignores_open_circuits_windows(kit):
    cfg = kit.config([kit.model("a", "pa"), kit.model("b", "pb")], [kit.route("r", "fastest", ["a", "b"])])
    kit.health.measured("pa/a", 0.05)
    kit.health.measured("pb/b", 0.4)
    kit.health.views["pa/a"].state = "open"
    kit.health.factors["pa/a"] = 0.0
    plan = kit.router(cfg, seed=2).plan(kit.request("r", stream=True))
    assert slugs(plan) == ["b", "a"]  # a is demoted but kept as a last resort


def test_quality_ranks_by_quality_with_catalog_prior(kit):
    cfg = kit.config(
        [kit.model("mine", quality=0.7),
         kit.model("opus", ("anthropic", "claude-opus-4-1-20250805", 1)),  # catalog says 0.92
         kit.model("unknown", ("local", "acme-llm", 1))],  # no prior: 0.5
        [kit.route("r", "quality", ["unknown", "mine", "opus"])])
    plan = kit.router(cfg).plan(kit.request("r"))
    assert slugs(plan) == ["opus", "mine", "unknown"]
    assert [s["score"] for s in plan.scores()] == [0.92, 0.7, 0.5]


def test_balanced_default_and_custom_weights(kit):
    # cheap: cheap, slow, weak. premium: dear, fast, strong.
    models = [kit.model("cheap", "pc", price=(0.1, 0.4), quality=0.4),
              kit.model("premium", "pp", price=(10.0, 40.0), quality=0.95)]
    kit.health.measured("pc/cheap", 1.5)
    kit.health.measured("pp/premium", 0.3)
    default = kit.config(models, [kit.route("r", "balanced", ["cheap", "premium"])])
    plan = kit.router(default).plan(kit.request("r"))
    assert [s["slug"] for s in plan.scores()] == ["premium", "cheap"]  # 0.3 + 0.3 beats 0.4
    cost_first = kit.config(models, [kit.route("r", "balanced", ["cheap", "premium"],
                                               balance={"cost": 1.0, "latency": 0.0, "quality": 0.1})])
    plan = kit.router(cost_first).plan(kit.request("r"))
    assert [s["slug"] for s in plan.scores()] == ["cheap", "premium"]
    assert "cost 1" in plan.scores()[0]["reason"]


def test_cascade_steps_follow_config_order(kit):
    from routecar.config.model import CascadeConfig

    cfg = kit.config([kit.model("small", ("p", "small", 1), ("q", "small", 1), fallbacks=["spare"]),
                      kit.model("large"), kit.model("spare")],
                     [kit.route("extract", "cascade", ["small", "large"],
                                cascade=CascadeConfig(checks=("json", "non_empty")))])
    plan = kit.router(cfg).plan(kit.request("extract"))
    assert [(c.slug, c.step) for c in plan.candidates] == [
        ("small", 0), ("small", 0), ("spare", 0), ("large", 1)]
    assert plan.cascade.checks == ("json", "non_empty")


def test_cascade_without_config_gets_default_checks(kit):
    cfg = kit.config([kit.model("a"), kit.model("b")], [kit.route("r", "cascade", ["a", "b"])])
    plan = kit.router(cfg).plan(kit.request("r"))
    assert plan.cascade is not None and "non_empty" in plan.cascade.checks


def test_deployments_follow_weights_and_health(kit):
    cfg = kit.config([kit.model("m", ("p1", "m", 3), ("p2", "m", 1))], [])
    router = kit.router(cfg, seed=4)
    firsts = Counter(router.plan(kit.request("m")).candidates[0].deployment.provider for _ in range(4000))
    assert 0.72 < firsts["p1"] / 4000 < 0.78
    kit.health.factors["p1/m"] = 0.0  # breaker open: never first while p2 is admissible
    plans = [router.plan(kit.request("m")) for _ in range(50)]
    assert all(p.candidates[0].deployment.provider == "p2" for p in plans)
    assert all(len(p.candidates) == 2 for p in plans)
    assert plans[0].candidates[0].reason.endswith("weight 1/4")


def test_fallbacks_are_appended_once_breadth_first(kit):
    cfg = kit.config([kit.model("a", fallbacks=["c", "b"]), kit.model("b", fallbacks=["d"]),
                      kit.model("c", fallbacks=["a"]), kit.model("d")],
                     [kit.route("r", "ordered", ["a", "b"])])
    plan = kit.router(cfg).plan(kit.request("r"))
    assert slugs(plan) == ["a", "b", "c", "d"]
    assert plan.candidates[2].reason.startswith("fallback of a")
    assert plan.candidates[3].reason.startswith("fallback of b")
    assert plan.candidates[2].score is None


def test_model_without_admissible_deployment_moves_last(kit):
    cfg = kit.config([kit.model("cheap", "p1", price=(0.1, 0.1)), kit.model("dear", "p2", price=(9, 9))],
                     [kit.route("r", "cheapest", ["cheap", "dear"])])
    kit.health.factors["p1/cheap"] = 0.0
    plan = kit.router(cfg).plan(kit.request("r"))
    assert slugs(plan) == ["dear", "cheap"]
    assert [s["slug"] for s in plan.scores()] == ["cheap", "dear"]  # the ranking itself is kept


def test_explicit_model_plan(kit):
    cfg = kit.config([kit.model("m", fallbacks=["n"]), kit.model("n")], [])
    plan = kit.router(cfg).plan(kit.request("m"))
    assert slugs(plan) == ["m", "n"] and plan.route is None
    assert plan.reason == "explicit model 'm'"
    assert plan.est_cost_usd > 0
