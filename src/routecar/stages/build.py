"""The stages one config generation needs, built by the runtime when it builds the generation.

Long-lived state (the budget ledger, the canary monitor) comes from the runtime and outlives
generations; a route's caches are carried over from the previous generation when its cache
settings did not change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..budget import BudgetLedger
from ..config.model import Config
from ..dispatch.dispatcher import Dispatcher
from ..router.canary import CanaryMonitor
from ..router.router import Router
from .base import Stage

if TYPE_CHECKING:
    from ..shared.state import SharedState
from .pipeline import Pipeline


def uses_content(config: Config) -> bool:
    """Some route may classify or cache: only then are the content modules loaded at all."""
    if config.classifiers:
        return True
    return any(r.cache is not None and (r.cache.exact is not None or r.cache.semantic is not None)
               for r in config.routes.values())


def build_pipeline(config: Config, router: Router, dispatcher: Dispatcher, ledger: BudgetLedger,
                   canary: CanaryMonitor, previous: Pipeline | None = None,
                   shared: SharedState | None = None) -> Pipeline:
    """`shared`: the fleet-wide store when `shared_state` is set (budgets, limits, caches)."""
    stages: list[Stage] = []
    if uses_content(config):
        # Loaded only for a config that classifies or caches (start-up time and memory).
        from .cache import CacheStage
        from .classify import ClassifyStage
        from .content_calls import ContentCalls

        chat_limit = max((c.timeout for c in config.classifiers.values()), default=1.0)
        calls = ContentCalls(router, dispatcher, chat_limit)
        if config.classifiers:
            stages.append(ClassifyStage(config, calls))
    if any(r.budget is not None for r in config.routes.values()):
        from .budget import BudgetStage

        stages.append(BudgetStage(config, router, ledger, shared.budgets if shared is not None else None,
                                  clock=dispatcher.clock,
                                  admission=shared.admission if shared is not None else None))
    if uses_content(config):
        old = previous.stage("cache") if previous is not None else None
        cache = CacheStage(config, calls, old, shared.cache if shared is not None else None,  # type: ignore[arg-type]
                           clock=dispatcher.clock)
        if cache.caches:
            stages.append(cache)
    if shared is not None and any(p.limits.tpm for p in config.providers.values()):
        from .limits import TokenUsageStage

        stages.append(TokenUsageStage(config, shared.limits))
    if any(r.canary is not None for r in config.routes.values()):
        from .canary import CanaryStage

        stages.append(CanaryStage(config, canary))
    return Pipeline(config, router, dispatcher, stages)
