"""Fleet-wide tpm limits learn what a request really used (`providers.NAME.limits.tpm` with
`shared_state`): the dispatcher counted the estimate when it let the attempt go; once the
answer's usage is known, the difference is added (or given back) in Redis, off the request
path. Per pod, the health registry does the same for its own limiter."""

from __future__ import annotations

from ..config.model import Config
from ..shared.limits import SharedLimits  # no redis import: see shared/
from .base import Stage
from .exchange import Exchange


class TokenUsageStage(Stage):
    name = "token_usage"

    def __init__(self, config: Config, limits: SharedLimits) -> None:
        self.config = config
        self.limits = limits

    def after_outcome(self, ex: Exchange) -> None:
        outcome, usage, routing = ex.outcome, ex.usage, ex.routing
        if outcome is None or outcome.candidate is None or not usage or routing is None:
            return
        provider = self.config.providers.get(outcome.candidate.deployment.provider)
        total = usage.get("total_tokens")
        if provider is None or not provider.limits.tpm or not isinstance(total, int):
            return
        self.limits.add_tokens(provider.name, provider.limits.tpm, total - routing.est_prompt_tokens)
