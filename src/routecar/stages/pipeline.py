"""The request path between parsing and encoding: stages → plan → execute.

Built once per config generation from the stages it needs (classify, budget, cache, canary:
each only when some route uses it). For every route name it keeps, per hook, the stages that
apply, so a request pays for exactly the policies its route has: a route with none runs the
router and the dispatcher and nothing else.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

from ..config.model import Config
from ..dispatch.dispatcher import Dispatcher
from ..dispatch.values import DispatchRequest
from ..errors import ApiError
from ..router.plan import RoutingError
from ..router.router import Router
from .base import Stage, overrides
from .exchange import Exchange

log = logging.getLogger("routecar.stages")

class RouteStages(NamedTuple):
    """The stages of one route name, by hook."""

    before_plan: tuple[Stage, ...]
    after_plan: tuple[Stage, ...]
    after_outcome: tuple[Stage, ...]


_NONE = RouteStages((), (), ())


class Pipeline:
    def __init__(self, config: Config, router: Router, dispatcher: Dispatcher, stages: Sequence[Stage]) -> None:
        self.router = router
        self.dispatcher = dispatcher
        self.stages = tuple(stages)
        self._routes: dict[str | None, RouteStages] = {}
        for name in (None, *config.routes):
            hooks = [tuple(s for s in self.stages if overrides(s, hook) and s.applies_to(name))
                     for hook in RouteStages._fields]
            if any(hooks):
                self._routes[name] = RouteStages(*hooks)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def stages_for(self, ex: Exchange) -> RouteStages:
        """Keyed by the name the app asked for: a stage that applies to a route also applies to
        the route its budget downgrades to (stages/routes.py)."""
        routing = ex.routing
        return self._routes.get(routing.model if routing is not None else None, _NONE)

    async def run(self, ex: Exchange) -> None:
        """Plan and execute `ex`: afterwards `ex.outcome` is set, or `ex.stored` when a stage
        answered instead. Raises ApiError when the request cannot be routed or is refused."""
        routing = ex.routing
        assert routing is not None
        stages = ex.stages = self.stages_for(ex)
        for stage in stages.before_plan:
            await stage.before_plan(ex)
        try:
            ex.plan = self.router.plan(routing)
        except RoutingError as exc:
            raise ApiError(exc.status, str(exc), exc.code, exc.error_type,
                           param="model" if exc.status == 404 else None) from None
        for stage in stages.after_plan:
            await stage.after_plan(ex)
            if ex.stored is not None:
                return
        request = DispatchRequest(ex.body, "embeddings" if routing.endpoint == "embeddings" else "chat",
                                  routing.stream, routing.est_prompt_tokens, ex.fleet_slot, ex.headers,
                                  ex.record.trace)
        ex.outcome = await self.dispatcher.execute(ex.plan, request, ex.deadline)

    def settle(self, ex: Exchange) -> None:
        """Tell the stages the request is over (its row is final). A stage's failure here is
        logged and never reaches the request."""
        stages = ex.stages if ex.stages is not None else self.stages_for(ex)
        for stage in stages.after_outcome:
            try:
                stage.after_outcome(ex)
            except Exception:  # noqa: BLE001
                log.exception("stage %s failed to settle a request", stage.name)

    async def close(self) -> None:
        for stage in self.stages:
            await stage.close()
