"""What a stage is: a request policy with hooks around planning and dispatch.

A stage implements only the hooks it needs; the pipeline calls only those, and only for the
routes the stage `applies_to`, so a route without classifiers, caches or budgets pays nothing.

- `before_plan`: before the router plans (classifiers label the request for rules);
- `after_plan`: with the plan in hand, before dispatch: may replace `ex.plan` (a budget
  downgrade), answer instead of dispatching (`ex.stored`, a cache hit), or refuse
  (raise `routecar.errors.ApiError`, over budget);
- `after_outcome`: once the answer is complete and the row final (spend into the budget, an
  answer into the cache, a canary's result into its monitor). Never raises, never awaits.
- `close`: the generation is retired (background work stops).
"""

from __future__ import annotations

from .exchange import Exchange


class Stage:
    name = "stage"

    def applies_to(self, route: str | None) -> bool:
        """Whether requests to `route` (None: an explicit model slug) go through this stage."""
        return True

    async def before_plan(self, ex: Exchange) -> None:
        return None

    async def after_plan(self, ex: Exchange) -> None:
        return None

    def after_outcome(self, ex: Exchange) -> None:
        return None

    async def close(self) -> None:
        return None


def overrides(stage: Stage, hook: str) -> bool:
    """Whether `stage` implements `hook` itself (the pipeline skips the base class's no-ops)."""
    return getattr(type(stage), hook) is not getattr(Stage, hook)
