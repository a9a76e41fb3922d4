"""Small real `Config` objects for the health tests (built directly, no YAML)."""

from __future__ import annotations

from routecar.config.model import (
    BreakerConfig,
    Config,
    Deployment,
    Limits,
    ModelConfig,
    ProviderConfig,
    ResilienceConfig,
    RetryBudget,
    RetryConfig,
    RouteLogConfig,
    ServerConfig,
)


def provider(name: str, *, rpm: int | None = None, tpm: int | None = None,
             breaker: BreakerConfig | None = None, max_connections: int = 100) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        type="openai",
        base_url=f"http://127.0.0.1:9/{name}",
        api_key="sk-test-secret-never-shown",
        limits=Limits(rpm=rpm, tpm=tpm),
        circuit_breaker=breaker,
        max_connections=max_connections,
    )


def config(
    providers: list[ProviderConfig],
    models: dict[str, list[Deployment]],
    *,
    breaker: BreakerConfig = BreakerConfig(),
    max_cooldown: float = 300.0,
    budget: RetryBudget = RetryBudget(),
) -> Config:
    return Config(
        server=ServerConfig(),
        providers={p.name: p for p in providers},
        models={slug: ModelConfig(slug=slug, deployments=tuple(deps))
                for slug, deps in models.items()},
        routes={},
        resilience=ResilienceConfig(
            retry=RetryConfig(budget=budget), circuit_breaker=breaker, max_cooldown=max_cooldown
        ),
        route_log=RouteLogConfig(),
    )


def two_provider_config(**kwargs: object) -> Config:
    """Model `m` on providers a and b; model `n` on b only."""
    limits = kwargs.pop("limits", {})
    assert isinstance(limits, dict)
    return config(
        [provider("a", **limits.get("a", {})), provider("b", **limits.get("b", {}))],
        {
            "m": [Deployment("a", "m-up", 3.0), Deployment("b", "m-up", 1.0)],
            "n": [Deployment("b", "n-up")],
        },
        **kwargs,  # type: ignore[arg-type]
    )
