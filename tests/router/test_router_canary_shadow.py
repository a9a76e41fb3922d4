"""Canary split and automatic rollback, shadow decisions, and budget downgrades."""

from __future__ import annotations

import random
from collections import Counter
from types import MappingProxyType

import pytest

from routecar.config.model import BudgetConfig, CanaryConfig, ShadowConfig
from routecar.router.canary import CanaryMonitor


def canary_config(kit, percent=10.0, rollback=None, model="new-model"):
    models = [kit.model("old-model", "p1", price=(1, 1)), kit.model("other", "p2", price=(2, 2)),
              kit.model("new-model", "p3", price=(5, 5), fallbacks=["spare"]), kit.model("newer", "p5"),
              kit.model("spare", "p4")]
    canary = CanaryConfig(model=model, percent=percent,
                          rollback=MappingProxyType(rollback) if rollback else None)
    return kit.config(models, [kit.route("chat", "cheapest", ["old-model", "other"], canary=canary)])


def test_canary_gets_its_percent_of_decisions(kit):
    router = kit.router(canary_config(kit, percent=10.0), seed=42)
    plans = [router.plan(kit.request("chat")) for _ in range(5000)]
    canaries = [p for p in plans if p.canary]
    assert 0.085 < len(canaries) / 5000 < 0.115
    sample = canaries[0]
    assert [c.slug for c in sample.candidates] == ["new-model", "old-model", "other", "spare"]
    assert sample.reason.startswith("canary new-model (10%); route 'chat' cheapest: new-model")
    assert all(p.candidates[0].slug == "old-model" for p in plans if not p.canary)
    assert all("new-model" not in [c.slug for c in p.candidates] for p in plans if not p.canary)


def test_canary_is_reproducible_with_a_seeded_rng(kit):
    cfg = canary_config(kit, percent=25.0)
    r1, r2 = kit.router(cfg, seed=9), kit.router(cfg, seed=9)
    first = [r1.plan(kit.request("chat")).canary for _ in range(200)]
    assert first == [r2.plan(kit.request("chat")).canary for _ in range(200)]
    assert 20 < sum(first) < 80


def feed(monitor, route, n_canary, n_base, canary_err=0.0, base_err=0.0, canary_lat=1.0, base_lat=1.0, seed=0):
    rng = random.Random(seed)
    for _ in range(n_base):
        monitor.record(route, False, rng.random() >= base_err, base_lat)
    for _ in range(n_canary):
        monitor.record(route, True, rng.random() >= canary_err, canary_lat)


def test_rollback_on_error_rate_then_router_skips_the_canary(kit):
    monitor = CanaryMonitor()
    cfg = canary_config(kit, percent=50.0, rollback={"max_error_rate_delta": 0.1, "max_p95_ratio": 2.0,
                                                     "min_requests": 50})
    router = kit.router(cfg, seed=1, canary=monitor)
    feed(monitor, "chat", 49, 200, canary_err=0.5)
    assert monitor.enabled("chat")  # not judged before min_requests canary outcomes
    feed(monitor, "chat", 30, 0, canary_err=0.5, seed=1)
    assert not monitor.enabled("chat")
    assert "error rate" in monitor.disabled_reason("chat")
    plans = [router.plan(kit.request("chat")) for _ in range(200)]
    assert not any(p.canary for p in plans)
    rolled = [p for p in plans if any(s["slug"] == "new-model" for s in p.skipped)]
    assert rolled and "rolled back" in rolled[0].skipped[0]["why"]


def test_rollback_on_p95_latency_ratio(kit):
    monitor = CanaryMonitor()
    monitor.configure(canary_config(kit, rollback={"max_error_rate_delta": 0.1, "max_p95_ratio": 2.0,
                                                   "min_requests": 20}))
    feed(monitor, "chat", 20, 20, canary_lat=1.9, base_lat=1.0)
    assert monitor.enabled("chat")
    feed(monitor, "chat", 20, 0, canary_lat=5.0)
    assert "p95" in monitor.disabled_reason("chat")


def test_a_healthy_canary_stays_and_defaults_come_from_the_loader(kit):
    from routecar.config.routes import ROLLBACK_DEFAULTS

    monitor = CanaryMonitor()
    monitor.configure(canary_config(kit))
    n = int(ROLLBACK_DEFAULTS["min_requests"])
    feed(monitor, "chat", n * 2, n * 2, canary_err=0.01, base_err=0.01)
    assert monitor.enabled("chat")
    assert monitor.snapshot()["chat"]["canary_samples"] == n * 2


def test_rollback_holds_until_the_canary_config_changes(kit):
    monitor = CanaryMonitor()
    rb = {"max_error_rate_delta": 0.1, "max_p95_ratio": 2.0, "min_requests": 10}
    monitor.configure(canary_config(kit, rollback=rb))
    feed(monitor, "chat", 10, 10, canary_err=1.0)
    assert not monitor.enabled("chat")
    monitor.configure(canary_config(kit, rollback=rb))  # same canary reloaded: still off
    assert not monitor.enabled("chat")
    monitor.configure(canary_config(kit, rollback=rb, model="newer"))  # a new canary starts afresh
    assert monitor.enabled("chat")
    monitor.reset("chat")
    assert monitor.snapshot()["chat"]["canary_samples"] == 0


def test_canary_respects_filters_and_pinning_rules(kit):
    from routecar.config.model import Rule, RuleAction

    cfg = canary_config(kit, percent=100.0)
    route = cfg.routes["chat"]
    models = list(cfg.models.values())
    small_canary = [m if m.slug != "new-model" else kit.model("new-model", "p3", context_window=100) for m in models]
    router = kit.router(kit.config(small_canary, [route]))
    plan = router.plan(kit.request("chat", "word " * 200))
    assert not plan.canary
    assert plan.skipped[0]["why"].startswith("canary: context too small")
    pin = Rule(MappingProxyType({"tags.pii": "yes"}), RuleAction(model="old-model"))
    from dataclasses import replace

    pinned = kit.router(kit.config(models, [replace(route, rules=(pin,))]))
    plan = pinned.plan(kit.request("chat", tags={"pii": "yes"}))
    assert not plan.canary and [c.slug for c in plan.candidates] == ["old-model"]


def test_shadow_reports_another_strategys_choice_without_using_it(kit):
    models = [kit.model("cheap", "p1", price=(0.1, 0.1)), kit.model("quick", "p2", price=(5, 5))]
    kit.health.measured("p1/cheap", 1.0)
    kit.health.measured("p2/quick", 0.1)
    route = kit.route("r", "cheapest", ["cheap", "quick"], shadow=ShadowConfig("fastest"))
    router = kit.router(kit.config(models, [route]), seed=5)
    for _ in range(300):  # shadow decisions never explore
        plan = router.plan(kit.request("r"))
        assert plan.candidates[0].slug == "cheap"
        assert plan.shadow_model == "quick" and plan.shadow_strategy == "fastest"
    plain = kit.router(kit.config(models, [kit.route("r", "cheapest", ["cheap", "quick"])]))
    assert plain.plan(kit.request("r")).shadow_model is None


def test_downgrade_plans_the_budget_target_route(kit):
    models = [kit.model("premium", price=(10, 30)), kit.model("budget", price=(0.1, 0.4))]
    routes = [kit.route("support", "ordered", ["premium"],
                        budget=BudgetConfig(period="day", usd=50, when_exceeded="downgrade", downgrade_to="cheap")),
              kit.route("cheap", "ordered", ["budget"])]
    router = kit.router(kit.config(models, routes))
    plan = router.plan(kit.request("support"), downgraded_from="support")
    assert plan.route == "cheap" and plan.downgraded_from == "support"
    assert [c.slug for c in plan.candidates] == ["budget"]
    assert plan.reason.startswith("route 'support' over budget, downgraded to 'cheap'; ")
    with pytest.raises(ValueError):
        router.plan(kit.request("cheap"), downgraded_from="cheap")


def test_zero_percent_canary_never_fires(kit):
    router = kit.router(canary_config(kit, percent=0.0), seed=3)
    assert Counter(router.plan(kit.request("chat")).canary for _ in range(500))[True] == 0
