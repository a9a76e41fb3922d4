"""The plain numbers behind routecar's metrics, and the bounded map from labels to them.

Every amount is added on the event-loop thread (one thread: no locks), and read by the
collector (exposition.py) on that same thread when Prometheus scrapes. prometheus-client's own
metric objects take a lock per `inc`/`observe` and validate labels per `.labels()` call; a
request's metrics cost a handful of plain additions here instead.

A series exists from the first time something is counted in it, as a prometheus-client child
would, so an error-only key (say an unknown model) adds no zero-valued token, cost or fallback
series to every scrape. Each remembers when it was made: the exposition's `_created` samples.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

# Past this many cached label tuples, new combinations are counted under OVERFLOW label values:
# combinations are bounded by config (routes x models x providers x statuses), but a bug or
# hostile input must not grow memory or the scrape without limit.
MAX_CACHED_CHILDREN = 10_000
OVERFLOW = "_overflow"

INF = float("inf")


class Count:
    """One counter series: a running total (int or float) and when the series was made."""

    __slots__ = ("created", "value")

    def __init__(self, created: float) -> None:
        self.value: float = 0
        self.created = created


class Buckets:
    """One histogram series: non-cumulative counts per bucket and the sum of observations."""

    __slots__ = ("bounds", "counts", "created", "total")

    def __init__(self, bounds: tuple[float, ...], created: float) -> None:
        self.bounds = bounds  # upper bounds, +Inf last
        self.counts = [0] * len(bounds)
        self.total = 0.0
        self.created = created

    def add(self, amount: float) -> None:
        self.total += amount
        # Bucket i holds amounts in (bounds[i-1], bounds[i]], as Prometheus' `le` means. NaN
        # lands in no bucket (so not in the count) but in the sum, as prometheus-client does;
        # only NaN differs from itself, and the comparison is cheaper than math.isnan.
        if amount == amount:  # noqa: PLR0124
            self.counts[bisect_left(self.bounds, amount)] += 1

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for c in self.counts:
            running += c
            out.append(running)
        return out


def with_inf(bounds: tuple[float, ...]) -> tuple[float, ...]:
    return bounds if bounds and bounds[-1] == INF else (*bounds, INF)


class SeriesBundle:
    """The series one (route, model, provider, status, outcome) key counts into.

    `n` is the key's own requests counter; the others are shared with every key of the same
    (route, model, provider) or narrower labels, and made on first use (None until then).
    """

    __slots__ = (
        "completion",
        "cost",
        "created",
        "duration",
        "escalations",
        "fallbacks",
        "labels",
        "n",
        "prompt",
        "ttft",
    )

    def __init__(self, labels: tuple[str, str, str, str, str], duration: Buckets, created: float) -> None:
        self.labels = labels  # (route, model, provider, status, outcome) as label values
        self.n = 0
        self.created = created
        self.duration = duration
        self.ttft: Buckets | None = None
        self.prompt: Count | None = None
        self.completion: Count | None = None
        self.cost: Count | None = None
        self.fallbacks: Count | None = None
        self.escalations: Count | None = None


class CacheSlot:
    """Lookups of one (route, result) and the saved-USD series of that route."""

    __slots__ = ("lookups", "saved")

    def __init__(self, lookups: Count, saved: Count) -> None:
        self.lookups = lookups
        self.saved = saved


class SeriesStore:
    """Every series of one `Metrics`, keyed by label values, with the cardinality cap.

    Only the three keyed maps a request can grow (`bundles`, `attempts`, `cache`) count
    towards `max_series`; the shared series hang off them and are bounded by them.
    """

    def __init__(self, llm_bounds: tuple[float, ...], overhead_bounds: tuple[float, ...],
                 queue_wait_bounds: tuple[float, ...], *, version: str, clock: Callable[[], float],
                 max_series: int = MAX_CACHED_CHILDREN) -> None:
        self.max_series = max_series
        self.clock = clock
        self.version = version
        self.llm_bounds = with_inf(llm_bounds)
        now = clock()
        # Unlabelled series exist from the start, at zero, as prometheus-client's would.
        self.overhead = Buckets(with_inf(overhead_bounds), now)
        self.queue_wait = Buckets(with_inf(queue_wait_bounds), now)
        self.queue_waits = Count(now)
        self.budget_exhausted = Count(now)
        # Present at 0 from the start so increase() and alerts work on the first failure.
        self.reloads = {"ok": Count(now), "error": Count(now)}
        self.health_checks: dict[tuple[str, str], Count] = {}  # (provider, "ok" | "failed")
        self.config_hash: str | None = None
        self.bundles: dict[tuple[Any, ...], SeriesBundle] = {}
        self.attempts: dict[tuple[str, str, str], Count] = {}  # (provider, model, outcome)
        self.cache: dict[tuple[str, str], CacheSlot] = {}  # (route, result)
        # Shared series, in creation order (the order a scrape lists them).
        self.durations: dict[tuple[str, str, str], Buckets] = {}  # (route, model, provider)
        self.ttfts: dict[tuple[str, str, str], Buckets] = {}
        self.tokens: dict[tuple[str, str, str], Count] = {}  # (model, provider, direction)
        self.costs: dict[tuple[str, str, str], Count] = {}  # (route, model, provider)
        self.fallbacks: dict[tuple[str, str], Count] = {}  # (route, model)
        self.escalations: dict[tuple[str], Count] = {}  # (route,)
        self.cache_saved: dict[tuple[str], Count] = {}  # (route,)

    def health_check(self, provider: str, result: str) -> Count:
        return _shared_count(self.health_checks, (provider, result), self.clock)

    def full(self) -> bool:
        return len(self.bundles) + len(self.attempts) + len(self.cache) >= self.max_series

    # -- made on a key's first request ------------------------------------------------------

    def bundle(self, key: tuple[Any, ...]) -> SeriesBundle:
        route, model, provider, status, outcome = key
        if self.full():
            # Not cached under the raw key: that is what would grow. The overflow bundle itself
            # is bounded by statuses x outcomes.
            key = (OVERFLOW, OVERFLOW, OVERFLOW, status, outcome)
            b = self.bundles.get(key)
            if b is not None:
                return b
            route = model = provider = OVERFLOW
        labels3 = (route, model, provider)
        now = self.clock()
        duration = self.durations.get(labels3)
        if duration is None:
            duration = self.durations[labels3] = Buckets(self.llm_bounds, now)
        b = SeriesBundle((route, model, provider, str(status), outcome), duration, now)
        self.bundles[key] = b
        return b

    def attempt(self, key: tuple[str, str, str]) -> Count:
        if self.full():
            key = (OVERFLOW, OVERFLOW, key[2])
            c = self.attempts.get(key)
            if c is not None:
                return c
        c = self.attempts[key] = Count(self.clock())
        return c

    def cache_slot(self, route: str, result: str) -> CacheSlot:
        key = (route, result)
        if self.full():
            key = (OVERFLOW, result)
            slot = self.cache.get(key)
            if slot is not None:
                return slot
        # The route's saved-USD series shows (at 0) from its first lookup, hit or not.
        saved = _shared_count(self.cache_saved, (key[0],), self.clock)
        slot = self.cache[key] = CacheSlot(Count(self.clock()), saved)
        return slot

    # -- a bundle's shared series, made on first use ----------------------------------------

    def ttft(self, b: SeriesBundle) -> Buckets:
        labels3 = b.labels[:3]
        h = self.ttfts.get(labels3)
        if h is None:
            h = self.ttfts[labels3] = Buckets(self.llm_bounds, self.clock())
        b.ttft = h
        return h

    def prompt(self, b: SeriesBundle) -> Count:
        c = b.prompt = _shared_count(self.tokens, (b.labels[1], b.labels[2], "prompt"), self.clock)
        return c

    def completion(self, b: SeriesBundle) -> Count:
        c = b.completion = _shared_count(self.tokens, (b.labels[1], b.labels[2], "completion"), self.clock)
        return c

    def cost(self, b: SeriesBundle) -> Count:
        c = b.cost = _shared_count(self.costs, b.labels[:3], self.clock)
        return c

    def fallback(self, b: SeriesBundle) -> Count:
        c = b.fallbacks = _shared_count(self.fallbacks, b.labels[:2], self.clock)
        return c

    def escalation(self, b: SeriesBundle) -> Count:
        c = b.escalations = _shared_count(self.escalations, b.labels[:1], self.clock)
        return c


def _shared_count(series: dict[Any, Count], key: Any, clock: Callable[[], float]) -> Count:
    c = series.get(key)
    if c is None:
        c = series[key] = Count(clock())
    return c
