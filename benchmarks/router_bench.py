"""Decision time of the router: microseconds per `Router.plan()` call.

A route with 20 candidates (16 models, 4 of them with two deployments), three rules (none
matches, so every rule is evaluated; the last one a keyword regex over a ~1.5k-character
prompt), fallbacks, a p99 TTFT objective, and a health view with measured latency windows.
Target: <= 20 us per decision on one core.

The default health view is a dict lookup per call (cheap and stable, so the numbers measure
the router); `--health real` reads the production HealthRegistry instead, fed with latency
samples, to show what a decision costs in the sidecar.

    python benchmarks/router_bench.py [--iterations N] [--models N] [--strategy NAME ...]
                                      [--health fake|real] [--against SRC [--rounds N]]

`--against SRC` compares another tree's router with this one's in the same run: this script
runs alternately under PYTHONPATH=SRC ("before", e.g. an unpacked `git archive HEAD src`) and
under this checkout's src ("after"), `--rounds` times each, and prints the fastest of each.
Alternating spreads the machine's other load over both sides alike.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from dataclasses import dataclass
from types import MappingProxyType

from routecar.config.model import (
    Config, Deployment, ModelConfig, Price, ProviderConfig, ResilienceConfig, RouteConfig,
    RouteLogConfig, Rule, RuleAction, ServerConfig, ShadowConfig,
)
from routecar.health.registry import HealthRegistry
from routecar.health.values import AttemptResult
from routecar.router.cost import build_routing_request
from routecar.router.router import Router
from routecar.router.strategies import STRATEGIES

N_MODELS = 16


@dataclass
class _View:
    state: str = "closed"
    in_flight: int = 0
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    ttft_p99: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    samples: int = 0
    ttft_samples: int = 0
    headroom_fraction: float | None = None
    cooling_until: float | None = None
    error_rate: float | None = None


class _Health:
    """Dict lookups: measures the router itself (the registry reads cost more: `--health real`)."""

    def __init__(self, views: dict[str, _View]) -> None:
        self._views = views
        self._empty = _View()

    def effective_weight(self, dep_id: str, base_weight: float) -> float:
        return base_weight

    def view(self, dep_id: str) -> _View:
        return self._views.get(dep_id, self._empty)


def real_health(config: Config, views: dict[str, _View]) -> HealthRegistry:
    """The production registry, with a latency window per deployment like the fake's views."""
    registry = HealthRegistry(config)
    rng = random.Random(3)
    for dep_id, view in views.items():
        for _ in range(20):
            ttft = view.ttft_p50 * (0.5 + rng.random())  # type: ignore[operator]
            registry.on_start(dep_id)
            registry.on_finish(dep_id, AttemptResult("success", status=200, latency=ttft * 4, ttft=ttft))
    return registry


def build(strategy: str, shadow: str | None, n_models: int = N_MODELS,
          health: str = "fake") -> tuple[Router, object]:
    rng = random.Random(7)
    models, views = [], {}
    for i in range(n_models):
        deps = [Deployment(f"prov{i % 4}", f"model-{i}", 1.0 + i % 3)]
        if i % 4 == 0:
            deps.append(Deployment(f"prov{(i + 1) % 4}", f"model-{i}-alt", 1.0))
        for d in deps:
            p50 = 0.2 + rng.random()
            views[d.id] = _View(ttft_p50=p50, ttft_p99=p50 * 3, latency_p50=p50 * 4, samples=100,
                                ttft_samples=100)
        models.append(ModelConfig(
            slug=f"model-{i}", deployments=tuple(deps),
            price=Price(0.1 + rng.random() * 5, 0.4 + rng.random() * 20),
            context_window=128000, quality=rng.random(),
            fallbacks=(f"model-{(i + 1) % n_models}",),
        ))
    rules = (
        Rule(MappingProxyType({"tags.team": "billing"}), RuleAction(candidates=("model-1", "model-2"))),
        Rule(MappingProxyType({"prompt_tokens_gt": 100000}), RuleAction(strategy="quality")),
        Rule(MappingProxyType({"matches": r"(?i)passport|social security"}), RuleAction(model="model-3")),
    )
    route = RouteConfig(
        name="bench", strategy=strategy, candidates=tuple(m.slug for m in models), rules=rules,
        shadow=ShadowConfig(shadow) if shadow else None, max_ttft_p99=5.0,
    )
    providers = {f"prov{i}": ProviderConfig(f"prov{i}", "openai", "http://127.0.0.1:9/v1") for i in range(4)}
    config = Config(
        server=ServerConfig(), providers=MappingProxyType(providers),
        models=MappingProxyType({m.slug: m for m in models}),
        routes=MappingProxyType({"bench": route}), resilience=ResilienceConfig(),
        route_log=RouteLogConfig(),
    )
    body = {"model": "bench", "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 10},
        {"role": "user", "content": "Summarize the following text please. " * 40},
    ]}
    req = build_routing_request("chat", body, {"team": "search"})
    reader = real_health(config, views) if health == "real" else _Health(views)
    return Router(config, reader, rng=random.Random(1).random), req


def measure(strategy: str, iterations: int, shadow: str | None = None, n_models: int = N_MODELS,
            health: str = "fake") -> float:
    router, req = build(strategy, shadow, n_models, health)
    for _ in range(min(iterations, 1000)):  # warm up
        router.plan(req)
    # Many short batches, keep the fastest: on a shared machine the minimum is the batch the
    # scheduler left alone, which is the number we want (the decision's own cost).
    batch = max(1, min(500, iterations // 20))
    best = float("inf")
    plan = router.plan
    for _ in range(max(1, iterations // batch)):
        start = time.perf_counter()
        for _ in range(batch):
            plan(req)
        best = min(best, (time.perf_counter() - start) / batch)
    return best * 1e6


_ROW = re.compile(r"^  (.+?)\s+([\d.]+) us/(decision|request)$")


def compare(against: str, rounds: int, passed: list[str]) -> None:
    """Alternate runs of this script under `against` and under this checkout; fastest of each."""
    trees = {"before": str(Path(against).resolve()), "after": str(Path(__file__).resolve().parents[1] / "src")}
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for tree, src in trees.items():
            env = {**os.environ, "PYTHONPATH": src}
            done = subprocess.run([sys.executable, __file__, *passed], env=env, capture_output=True, text=True,
                                  check=True)
            for line in done.stdout.splitlines():
                match = _ROW.match(line)
                if match:
                    row = best.setdefault(match.group(1), {})
                    row[tree] = min(row.get(tree, float("inf")), float(match.group(2)))
    print(f"before: {trees['before']}\nafter:  {trees['after']}\nfastest of {rounds} alternating runs, us")
    print(f"  {'':<26}{'before':>8}{'after':>8}{'change':>9}")
    for name, row in best.items():
        before, after = row.get("before", float("nan")), row.get("after", float("nan"))
        print(f"  {name:<26}{before:8.1f}{after:8.1f}{(after - before) / before:+9.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--models", type=int, default=N_MODELS)
    parser.add_argument("--strategy", action="append", choices=sorted(STRATEGIES))
    parser.add_argument("--health", choices=("fake", "real"), default="fake")
    parser.add_argument("--against", metavar="SRC", help="another tree's src directory, to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per tree with --against")
    args = parser.parse_args()
    if args.against:
        passed, skip = [], False  # the runs themselves measure one tree each: without these two
        for arg in sys.argv[1:]:
            if skip or arg.startswith(("--against=", "--rounds=")):
                skip = False
            elif arg in ("--against", "--rounds"):
                skip = True
            else:
                passed.append(arg)
        compare(args.against, args.rounds, passed)
        return
    router, req = build("ordered", None, args.models, args.health)
    n_cands = len(router.plan(req).candidates)
    print(f"{args.models} models = {n_cands} candidates, 3 rules, fallbacks, TTFT objective; "
          f"prompt ~{len(req.last_user_text)} chars; {args.health} health; {args.iterations} decisions, "
          "fastest batch")
    for name in args.strategy or list(STRATEGIES):
        print(f"  {name:<24} {measure(name, args.iterations, None, args.models, args.health):7.1f} us/decision")
    shadowed = measure("cheapest", args.iterations, "fastest", args.models, args.health)
    print(f"  {'cheapest + shadow fastest':<24} {shadowed:7.1f} us/decision")
    start = time.perf_counter()
    body = req.body
    for _ in range(args.iterations):
        build_routing_request("chat", body, {"team": "search"})
    per = (time.perf_counter() - start) / args.iterations * 1e6
    print(f"  {'build_routing_request':<24} {per:7.1f} us/request")


if __name__ == "__main__":
    main()
