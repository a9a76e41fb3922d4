"""`balancing: least_request`: two draws by weight, fewer in-flight requests per weight first."""

from __future__ import annotations

import random

from routecar.config.loader import parse_config
from routecar.health.clock import ManualClock
from routecar.health.registry import HealthRegistry
from routecar.router.cost import build_routing_request
from routecar.router.router import Router

REQ = build_routing_request("chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]})


def rig(balancing: str, weights: tuple[float, float] = (1, 1)) -> tuple[Router, HealthRegistry]:
    text = f"""
providers:
  a: {{type: openai, base_url: 'http://127.0.0.1:9/v1'}}
  b: {{type: openai, base_url: 'http://127.0.0.1:9/v1'}}
models:
  m:
    balancing: {balancing}
    deployments:
      - {{provider: a, model: a1, weight: {weights[0]}}}
      - {{provider: b, model: b1, weight: {weights[1]}}}
route_log: {{path: ':memory:'}}
"""
    config = parse_config(text, env={})
    health = HealthRegistry(config, ManualClock())
    return Router(config, health, rng=random.Random(7).random), health


def firsts(router: Router, n: int = 200) -> list[str]:
    return [router.plan(REQ).candidates[0].dep_id for _ in range(n)]


def test_the_deployment_with_fewer_in_flight_requests_goes_first_and_the_other_follows() -> None:
    router, health = rig("least_request")
    health.on_start("a/a1", 10)
    plans = [router.plan(REQ) for _ in range(50)]
    assert all([c.dep_id for c in p.candidates] == ["b/b1", "a/a1"] for p in plans)


def test_in_flight_is_compared_per_unit_of_weight() -> None:
    router, health = rig("least_request", (4, 1))
    for _ in range(3):
        health.on_start("a/a1", 10)  # 3/4 < 1/1
    health.on_start("b/b1", 10)
    assert set(firsts(router)) == {"a/a1"}


def test_ties_follow_the_weights_and_weighted_ignores_in_flight() -> None:
    router, _ = rig("least_request", (3, 1))
    share = firsts(router, 400).count("a/a1") / 400
    assert 0.65 < share < 0.85  # seeded: the first draw decides a tie
    weighted, health = rig("weighted")
    health.on_start("a/a1", 10)
    assert {"a/a1", "b/b1"} == set(firsts(weighted))
