"""The health of every deployment in the config, in one place (docs/failure-semantics.md;
`GET /state` in docs/http-api.md).

The dispatcher asks `admit` before each attempt and reports `on_start` / `on_finish`; the
router reads `view` and `effective_weight`; `GET /state` and metrics read `snapshot` and
`breaker_states`. A hot reload calls `reconfigure`, which keeps what it knows about
deployments that survive the reload.

Requests that started on an older config may still name a deployment a reload removed:
those calls are answered as for a deployment never seen (admitted, nothing recorded)
rather than raising in the middle of a failover.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from ..config.model import Config
from .breaker import OPEN
from .clock import Clock
from .deployment import DeploymentHealth, ProviderShare
from .retry_budget import RetryBudget
from .values import ADMITTED, UNKNOWN_VIEW, Admission, AttemptResult, DeploymentView


class HealthRegistry:
    def __init__(self, config: Config, clock: Clock = time.monotonic,
                 wall_clock: Clock = time.time) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._deps: dict[str, DeploymentHealth] = {}
        self._providers: dict[str, ProviderShare] = {}
        budget = config.resilience.retry.budget
        self.retry_budget = RetryBudget(budget.ratio, budget.min_per_second, clock)
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Follow a new config: keep surviving state, add new deployments, drop removed ones."""
        providers: dict[str, ProviderShare] = {}
        for name, pc in config.providers.items():
            share = self._providers.get(name)
            if share is None:
                share = ProviderShare(pc.limits, pc.max_connections, self._clock)
            else:
                share.update(pc.limits, pc.max_connections)
            providers[name] = share

        max_cooldown = config.resilience.max_cooldown
        deps: dict[str, DeploymentHealth] = {}
        for model in config.models.values():
            for dep in model.deployments:
                if dep.id in deps:
                    continue  # the same upstream serving two slugs has one health
                breaker = config.breaker_for(dep.provider)
                share = providers[dep.provider]
                health = self._deps.get(dep.id)
                if health is None:
                    health = DeploymentHealth(dep.id, dep.provider, dep.model, dep.weight,
                                              breaker, max_cooldown, share, self._clock,
                                              self._wall)
                else:
                    health.reconfigure(breaker, max_cooldown, dep.weight, share)
                deps[dep.id] = health

        budget = config.resilience.retry.budget
        self.retry_budget.reconfigure(budget.ratio, budget.min_per_second)
        # Swapped whole, so a reader never sees half of a reload.
        self._providers = providers
        self._deps = deps

    # -- lookup ----------------------------------------------------------------------------

    def __contains__(self, dep_id: object) -> bool:
        return dep_id in self._deps

    def ids(self) -> list[str]:
        return list(self._deps)

    def get(self, dep_id: str) -> DeploymentHealth | None:
        return self._deps.get(dep_id)

    # -- the dispatcher's side -------------------------------------------------------------

    def admit(self, dep_id: str, est_tokens: int = 0) -> Admission:
        """May `dep_id` take a request of about `est_tokens` now?

        An ok admission may hold a half-open probe slot: follow it with `on_start` and
        `on_finish`, or hand it back with `release`.
        """
        health = self._deps.get(dep_id)
        return ADMITTED if health is None else health.admit(est_tokens)

    def release(self, dep_id: str, admission: Admission) -> None:
        """Give back an admission that will not be used."""
        health = self._deps.get(dep_id)
        if health is not None:
            health.release(admission)

    def on_start(self, dep_id: str, est_tokens: int = 0) -> None:
        health = self._deps.get(dep_id)
        if health is not None:
            health.on_start(est_tokens)

    def on_finish(self, dep_id: str, result: AttemptResult) -> None:
        health = self._deps.get(dep_id)
        if health is not None:
            health.on_finish(result)

    def note_fleet_headroom(self, provider: str, free: float) -> None:
        """shared_state's word on how much of `provider`'s rpm/tpm the whole fleet has left:
        it steers this pod's traffic away before a 429 as its own counts would."""
        share = self._providers.get(provider)
        if share is not None and share.limiter.note_fleet(free):
            share.version += 1  # cached weights of its deployments are stale

    def panic_pick(self, dep_ids: Sequence[str]) -> str | None:
        """When the circuit of every one of `dep_ids` is open, force a probe on the one that
        would close soonest and return it (admit it next, as usual); else None."""
        best: DeploymentHealth | None = None
        best_until = 0.0
        for dep_id in dep_ids:
            health = self._deps.get(dep_id)
            if health is None:
                return None  # never seen: nothing says its circuit is open
            if health.breaker.would_allow():
                return None
            until = health.breaker.open_until
            if until is not None and (best is None or until < best_until):
                best, best_until = health, until
        if best is None:
            return None  # every one half-open with its probe already out
        best.force_probe()
        return best.id

    def soonest_recovery(self, dep_ids: Sequence[str], est_tokens: int = 0) -> float | None:
        """Monotonic instant the first of `dep_ids` may be admitted again, when known."""
        soonest: float | None = None
        for dep_id in dep_ids:
            health = self._deps.get(dep_id)
            at = self._clock() if health is None else health.recovery_at(est_tokens)
            if at is not None and (soonest is None or at < soonest):
                soonest = at
        return soonest

    # -- active health checks --------------------------------------------------------------

    def open_by_provider(self) -> dict[str, list[str]]:
        """The deployments whose circuit is open (not half-open), by provider: what active
        health checks probe. Closed circuits are never probed."""
        out: dict[str, list[str]] = {}
        for dep_id, health in self._deps.items():
            if health.breaker.state == OPEN:
                out.setdefault(health.provider, []).append(dep_id)
        return out

    def on_health_check(self, dep_ids: Sequence[str], ok: bool, reason: str) -> list[str]:
        """Apply one probe of a provider to `dep_ids` (its deployments open when it was sent);
        returns the ids whose open period it ended."""
        ended = []
        for dep_id in dep_ids:
            health = self._deps.get(dep_id)  # a reload may have removed it meanwhile
            if health is not None and health.on_health_check(ok, reason):
                ended.append(dep_id)
        return ended

    # -- the router's side -----------------------------------------------------------------

    def view(self, dep_id: str) -> DeploymentView:
        health = self._deps.get(dep_id)
        return UNKNOWN_VIEW if health is None else health.view()

    def effective_weight(self, dep_id: str, base_weight: float) -> float:
        """`base_weight` shrunk by low headroom and a busy pool; 0 when not admissible now.

        Like `view`, it may lag by up to VIEW_MAX_AGE on changes that only time makes."""
        health = self._deps.get(dep_id)
        return base_weight if health is None else health.effective_weight(base_weight)

    # -- observability ---------------------------------------------------------------------

    def breaker_states(self) -> dict[str, str]:
        return {dep_id: health.breaker.state for dep_id, health in self._deps.items()}

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready live state for `GET /state`; durations in seconds from now, latencies
        in milliseconds."""
        return {
            "deployments": {dep_id: h.snapshot() for dep_id, h in self._deps.items()},
            "providers": {
                name: {"in_flight": share.in_flight, "max_connections": share.max_connections,
                       **share.limiter.snapshot()}
                for name, share in self._providers.items()
            },
            "retry_budget": self.retry_budget.snapshot(),
        }
