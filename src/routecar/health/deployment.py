"""All the health state of one deployment, and of the provider its deployments share."""

from __future__ import annotations

from typing import Any, Iterator

from ..config.model import BreakerConfig, Limits
from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from .clock import Clock
from .cooldown import Cooldown
from .headroom import ClientLimiter, ReportedHeadroom
from .ratelimit_headers import RateLimitInfo, parse_rate_limit
from .values import ADMITTED, ADMITTED_PROBE, Admission, AttemptResult, DeploymentView
from .windows import LatencyWindow

# Below this share of reported headroom, weight shrinks in proportion, so traffic drifts to
# other deployments before this one answers 429.
LOW_HEADROOM = 0.2
# Provider in-flight above this share of its connection pool starts to shed weight.
BUSY_POOL = 0.5
# Pressure never takes the weight of an admissible deployment to zero: zero means "not now".
MIN_WEIGHT_SHARE = 0.05


class ProviderShare:
    """State every deployment of one provider shares: rpm/tpm window and in-flight count.

    `version` moves whenever the client limiter's answers may have changed, so a deployment's
    cached weight can tell that a sibling deployment's traffic changed its headroom. Without
    `limits` nothing a request does moves it: the in-flight count (pool load) is read live.
    """

    __slots__ = ("limiter", "max_connections", "in_flight", "version")

    def __init__(self, limits: Limits, max_connections: int, clock: Clock) -> None:
        self.limiter = ClientLimiter(limits, clock)
        self.max_connections = max_connections
        self.in_flight = 0
        self.version = 0

    def update(self, limits: Limits, max_connections: int) -> None:
        self.limiter.configure(limits)
        self.max_connections = max_connections
        self.version += 1

    def started(self, est_tokens: int) -> None:
        self.in_flight += 1
        if self.limiter.limited:  # without rpm/tpm limits nothing needs counting
            self.limiter.record(est_tokens)
            self.version += 1

    def finished(self, extra_tokens: int) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if extra_tokens > 0 and self.limiter.limited:
            self.limiter.add_tokens(extra_tokens)
            self.version += 1

    def pool_factor(self) -> float:
        """Weight share left by the pool's load: 1.0 until it is more than BUSY_POOL busy."""
        pool = self.max_connections
        if pool > 0:
            load = self.in_flight / pool
            if load > BUSY_POOL:
                return max((1.0 - load) / (1.0 - BUSY_POOL), MIN_WEIGHT_SHARE)
        return 1.0


class _Cached:
    """What the router reads, computed once and kept until something changes.

    The pool's load is not in it (it moves with every request): `effective_weight` applies it
    live, and a view whose `in_flight` is no longer the deployment's is rebuilt on read."""

    __slots__ = ("view", "weight_factor", "until", "share_version")

    def __init__(self, view: DeploymentView | None, weight_factor: float, until: float,
                 share_version: int) -> None:
        self.view = view
        self.weight_factor = weight_factor  # blockers and headroom; 0.0 when not admissible
        self.until = until
        self.share_version = share_version


# Longest a cached view may lag behind changes that only time makes (samples ageing out,
# rolling windows moving); deadlines such as the end of a cooldown are never missed.
VIEW_MAX_AGE = 1.0
# Percentiles move little per sample once a window holds many: under load they are refreshed
# after 1/STATS_SAMPLE_SHARE of the window has changed or STATS_MAX_AGE has passed, whichever
# comes first, rather than on every answer. While the two windows hold fewer than
# 2*STATS_SAMPLE_SHARE samples together, every change is seen at once.
STATS_SAMPLE_SHARE = 32
STATS_MAX_AGE = 0.1


class _Stats:
    """Latency and TTFT percentiles as last computed, and how far the windows were then."""

    __slots__ = ("latency", "ttft", "latency_changes", "ttft_changes", "at")

    def __init__(self, latency: tuple[float | None, float | None, float | None, int],
                 ttft: tuple[float | None, float | None, float | None, int],
                 latency_changes: int, ttft_changes: int, at: float) -> None:
        self.latency, self.ttft = latency, ttft
        self.latency_changes, self.ttft_changes = latency_changes, ttft_changes
        self.at = at


class DeploymentHealth:
    """One deployment's breaker, cooldown, headroom, windows and in-flight count.

    The router reads `view()` and `effective_weight()` for every candidate of every request,
    so both come from a cache that expires at the next deadline (open period, cooldown, reset)
    or after VIEW_MAX_AGE, and that the events able to change what it holds clear: a routine
    start or success (closed breaker, no rate-limit news) only drops the view's statistics,
    never the weight, so concurrent traffic does not recompute weights on every decision.
    """

    def __init__(
        self,
        dep_id: str,
        provider: str,
        model: str,
        base_weight: float,
        breaker: BreakerConfig,
        max_cooldown: float,
        share: ProviderShare,
        clock: Clock,
        wall_clock: Clock,
    ) -> None:
        self.id = dep_id
        self.provider = provider
        self.model = model
        self.base_weight = base_weight
        self.share = share
        self.breaker = CircuitBreaker(breaker, clock)
        self.cooldown = Cooldown(max_cooldown, clock)
        self.headroom = ReportedHeadroom(clock, horizon=max_cooldown)
        self.latency = LatencyWindow(clock)
        self.ttft = LatencyWindow(clock)
        self.in_flight = 0
        self._clock = clock
        self._wall = wall_clock
        self._cached: _Cached | None = None
        self._stats: _Stats | None = None
        # The last active health check of this deployment's provider while its circuit was
        # open: (wall-clock time, monotonic time, ok, reason); None until there is one.
        self._last_check: tuple[float, float, bool, str] | None = None

    def reconfigure(self, breaker: BreakerConfig, max_cooldown: float, base_weight: float,
                    share: ProviderShare) -> None:
        self.breaker.reconfigure(breaker)
        self.cooldown.max_cooldown = max_cooldown
        self.headroom.horizon = max_cooldown
        self.base_weight = base_weight
        self.share = share
        self._cached = None

    # -- admission -------------------------------------------------------------------------

    def blockers(self, est_tokens: int = 0) -> Iterator[tuple[str, float | None]]:
        """Each reason this deployment may not take a request now, most severe first.

        Lazy, so admission stops at the first one; nothing is reserved.
        """
        breaker = self.breaker
        state = breaker.state
        if state == OPEN:
            yield "circuit_open", breaker.open_until
        elif state == HALF_OPEN and not breaker.would_allow():
            yield "circuit_open", None  # a probe is out; its result decides
        until = self.cooldown.cooling_until
        if until is not None:
            yield "cooling_down", until
        ok, reset_at = self.headroom.has_headroom(est_tokens)
        if not ok:
            yield "no_headroom", reset_at
        reason, retry_at = self.share.limiter.check(est_tokens)
        if reason is not None:
            yield reason, retry_at

    def admit(self, est_tokens: int = 0) -> Admission:
        if (self.breaker.state == CLOSED and self.cooldown.cooling_until is None
                and self.headroom.has_headroom(est_tokens)[0] and not self.share.limiter.limited):
            return ADMITTED  # the common case, without walking the blockers
        for reason, retry_at in self.blockers(est_tokens):
            return Admission(False, reason, retry_at, False)
        probe = self.breaker.state == HALF_OPEN
        if not self.breaker.allow():
            return Admission(False, "circuit_open", None, False)
        if probe:
            self._cached = None  # a taken probe slot makes it inadmissible for the next one
            return ADMITTED_PROBE
        return ADMITTED

    def release(self, admission: Admission) -> None:
        if admission.ok and admission.probe:
            self.breaker.release_probe()
            self._cached = None

    def force_probe(self) -> None:
        self.breaker.force_probe()
        self._cached = None

    def on_health_check(self, ok: bool, reason: str) -> bool:
        """An active health check of the provider while this circuit was open; True when it
        ended the open period. A success only lets the next real request in as the probe
        (a models list proves the provider answers, not that inference works); a failure
        changes nothing (it neither extends nor grows the open period)."""
        self._last_check = (self._wall(), self._clock(), ok, reason)
        if not ok or self.breaker.state != OPEN:
            return False
        self.force_probe()
        return True

    def recovery_at(self, est_tokens: int = 0) -> float | None:
        """Monotonic instant every current blocker will have passed; None if one is unknown."""
        latest = self._clock()
        for _reason, retry_at in self.blockers(est_tokens):
            if retry_at is None:
                return None
            latest = max(latest, retry_at)
        return latest

    # -- attempt lifecycle -----------------------------------------------------------------

    def on_start(self, est_tokens: int = 0) -> None:
        self.in_flight += 1
        self.share.started(est_tokens)
        if self.headroom.consume(est_tokens):
            self._cached = None

    def on_finish(self, result: AttemptResult) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        extra = 0
        if result.tokens is not None and result.est_tokens is not None:
            extra = result.tokens - result.est_tokens
        self.share.finished(extra)
        info: RateLimitInfo | None = None
        cached = self._cached
        if result.headers:
            info = parse_rate_limit(result.headers, self._wall())
            if self.headroom.update(info):
                cached = None
        if result.ttft is not None:
            self.ttft.add(result.ttft)

        kind = result.kind
        if kind == "success":
            # Only successes feed the latency window: a fast connection refusal must not make
            # a dead deployment look like the fastest one.
            if result.latency is not None:
                self.latency.add(result.latency)
            if cached is not None and self.breaker.state != CLOSED:
                cached = None  # a probe's success may close the breaker
            self.breaker.record_success(result.probe)
            self.cooldown.on_success()  # the streak only: what the router reads is unchanged
        else:
            cached = None
            if kind == "failure":
                self.breaker.record_failure(result.probe)
            elif kind == "overloaded":
                self.cooldown.on_overloaded(info.retry_after if info is not None else None)
                self.breaker.record_failure(result.probe)
            else:
                # 429 and neutral results say nothing about the deployment being up or down.
                if kind == "rate_limited":
                    self.cooldown.on_rate_limited(info)
                if result.probe is not False:
                    self.breaker.release_probe()
        if cached is not None:
            cached.view = None  # samples and error rate moved; the weight did not
        self._cached = cached

    # -- reading ---------------------------------------------------------------------------

    def headroom_fraction(self) -> float | None:
        shares = [f for f in (self.headroom.headroom_fraction(), self.share.limiter.fraction())
                  if f is not None]
        return min(shares) if shares else None

    def _weight_factor(self) -> float:
        """Blockers and low headroom; the pool's load is applied live by `effective_weight`."""
        for _blocker in self.blockers(0):
            return 0.0
        factor = 1.0
        fraction = self.headroom_fraction()
        if fraction is not None and fraction < LOW_HEADROOM:
            factor *= max(fraction / LOW_HEADROOM, MIN_WEIGHT_SHARE)
        return factor

    def _next_change(self, now: float) -> float:
        """When time alone next changes what the router may read."""
        deadlines = [now + VIEW_MAX_AGE, self.headroom.next_change()]
        deadlines.append(self.breaker.open_until)
        deadlines.append(self.cooldown.cooling_until)
        deadlines.append(self.share.limiter.check(0)[1])
        return min(d for d in deadlines if d is not None)

    def _current(self) -> _Cached:
        """The weight factor (cheap, read for every candidate of every request) with the view
        slot left empty: percentiles are only computed when a strategy actually reads them."""
        now = self._clock()
        cached = self._cached
        if cached is not None and now < cached.until and cached.share_version == self.share.version:
            return cached
        cached = _Cached(None, self._weight_factor(), self._next_change(now), self.share.version)
        self._cached = cached
        return cached

    def _window_stats(self) -> _Stats:
        """Percentiles of both windows, recomputed once enough has changed (see STATS_*)."""
        lat, ttft = self.latency, self.ttft
        stats = self._stats
        if stats is not None:
            moved = (lat.changes - stats.latency_changes) + (ttft.changes - stats.ttft_changes)
            if moved == 0 and self._clock() - stats.at < VIEW_MAX_AGE:
                return stats
            held = stats.latency[3] + stats.ttft[3]
            if moved < held // STATS_SAMPLE_SHARE and self._clock() - stats.at < STATS_MAX_AGE:
                return stats
        stats = self._stats = _Stats(lat.summary(), ttft.summary(), lat.changes, ttft.changes, self._clock())
        return stats

    def _build_view(self) -> DeploymentView:
        stats = self._window_stats()
        lat_p50, lat_p95, lat_p99, lat_n = stats.latency
        ttft_p50, ttft_p95, ttft_p99, ttft_n = stats.ttft
        return DeploymentView(
            state=self.breaker.state,
            in_flight=self.in_flight,
            ttft_p50=ttft_p50,
            ttft_p95=ttft_p95,
            ttft_p99=ttft_p99,
            latency_p50=lat_p50,
            latency_p95=lat_p95,
            latency_p99=lat_p99,
            samples=lat_n,
            ttft_samples=ttft_n,
            headroom_fraction=self.headroom_fraction(),
            cooling_until=self.cooldown.cooling_until,
            error_rate=self.breaker.error_rate(),
        )

    def view(self) -> DeploymentView:
        cached = self._current()
        view = cached.view
        if view is None or view.in_flight != self.in_flight:
            view = cached.view = self._build_view()
        return view

    def effective_weight(self, base_weight: float) -> float:
        """`base_weight` shrunk by low headroom and a busy pool; 0 when not admissible now."""
        return base_weight * (self._current().weight_factor * self.share.pool_factor())

    def snapshot(self) -> dict[str, Any]:
        breaker = self.breaker.snapshot()
        return {
            "provider": self.provider,
            "model": self.model,
            **breaker,
            **self.cooldown.snapshot(),
            "headroom": {**self.headroom.snapshot(), "client": self.share.limiter.snapshot()},
            "in_flight": self.in_flight,
            "latency_ms": _percentiles_ms(self.latency),
            "ttft_ms": _percentiles_ms(self.ttft),
            "samples": self.latency.count,
            "ttft_samples": self.ttft.count,
            "base_weight": self.base_weight,
            "effective_weight": round(self.effective_weight(self.base_weight), 4),
            "health_check": self._check_snapshot(),
        }

    def _check_snapshot(self) -> dict[str, Any] | None:
        if self._last_check is None:
            return None
        wall, mono, ok, reason = self._last_check
        return {"at": round(wall, 3), "age_s": round(max(0.0, self._clock() - mono), 3),
                "ok": ok, "reason": reason}


def _percentiles_ms(window: LatencyWindow) -> dict[str, float | None]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 2)

    return {"p50": ms(window.p50), "p95": ms(window.p95), "p99": ms(window.p99)}
