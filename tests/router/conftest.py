"""Builders for router tests: Config objects straight from the dataclasses, and a small
in-memory stand-in for the health registry (the two methods the router reads)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest

from routecar.config.model import (
    Config, Deployment, ModelConfig, Price, ResilienceConfig, RouteConfig, RouteLogConfig,
    ServerConfig,
)
from routecar.router.cost import build_routing_request
from routecar.router.router import Router


@dataclass
class View:
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


@dataclass
class FakeHealth:
    """Per-deployment views and weight multipliers the test sets directly."""

    views: dict[str, View] = field(default_factory=dict)
    factors: dict[str, float] = field(default_factory=dict)  # dep_id -> multiplier (0 = down)

    def effective_weight(self, dep_id: str, base_weight: float) -> float:
        return base_weight * self.factors.get(dep_id, 1.0)

    def view(self, dep_id: str) -> View:
        return self.views.get(dep_id) or View()

    def measured(self, dep_id: str, p50: float, p99: float | None = None, samples: int = 50) -> None:
        """Both TTFT and latency windows at `p50` (p99 defaults to 2x)."""
        p99 = p99 if p99 is not None else 2 * p50
        self.views[dep_id] = View(ttft_p50=p50, ttft_p95=p99, ttft_p99=p99, latency_p50=p50 * 3,
                                  latency_p95=p99 * 3, latency_p99=p99 * 3, samples=samples,
                                  ttft_samples=samples)


class Kit:
    def __init__(self) -> None:
        self.health = FakeHealth()

    @staticmethod
    def model(slug: str, *deps: tuple[str, str, float] | str, price: tuple[float, float] = (1.0, 1.0),
              **kw: Any) -> ModelConfig:
        """deps: "provider" (upstream = slug) or (provider, upstream, weight)."""
        deployments = tuple(
            Deployment(d, slug) if isinstance(d, str) else Deployment(*d) for d in (deps or ("p",))
        )
        if "capabilities" in kw:
            kw["capabilities"] = frozenset(kw["capabilities"])
        if "fallbacks" in kw:
            kw["fallbacks"] = tuple(kw["fallbacks"])
        return ModelConfig(slug=slug, deployments=deployments, price=Price(*price), **kw)

    @staticmethod
    def route(name: str, strategy: str, candidates: list[str], **kw: Any) -> RouteConfig:
        for key in ("weights", "balance"):
            if key in kw:
                kw[key] = MappingProxyType(dict(kw[key]))
        if "rules" in kw:
            kw["rules"] = tuple(kw["rules"])
        return RouteConfig(name=name, strategy=strategy, candidates=tuple(candidates), **kw)

    @staticmethod
    def config(models: list[ModelConfig], routes: list[RouteConfig] = ()) -> Config:
        return Config(
            server=ServerConfig(),
            providers=MappingProxyType({}),
            models=MappingProxyType({m.slug: m for m in models}),
            routes=MappingProxyType({r.name: r for r in routes}),
            resilience=ResilienceConfig(),
            route_log=RouteLogConfig(),
        )

    def router(self, config: Config, seed: int = 1, **kw: Any) -> Router:
        return Router(config, self.health, rng=random.Random(seed).random, **kw)

    @staticmethod
    def request(model: str, text: str = "hello", endpoint: str = "chat", tags: dict | None = None,
                classes: dict | None = None, **body: Any):
        if endpoint == "embeddings":
            payload = {"model": model, "input": text, **body}
        else:
            payload = {"model": model, "messages": [{"role": "user", "content": text}], **body}
        req = build_routing_request(endpoint, payload, tags or {})
        if classes:
            req.classes = dict(classes)
        return req


@pytest.fixture
def kit() -> Kit:
    return Kit()
