"""Amounts observed on the request path, not yet folded into prometheus-client.

prometheus-client takes a lock per `inc`/`observe`; `Metrics.observe` adds to these plain
numbers instead (from the event-loop thread only) and `Metrics.render` folds them into the
labelled children before each scrape.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any


class PendingHistogram:
    """Observations of one histogram child not yet folded into it: per-bucket counts and sum."""

    __slots__ = ("bounds", "counts", "total", "n")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds  # the child's upper bounds, +Inf last
        self.counts = [0] * len(bounds)
        self.total = 0.0
        self.n = 0

    def add(self, amount: float) -> None:
        self.total += amount
        self.n += 1
        if amount == amount:  # NaN lands in no bucket, as with prometheus-client's observe()
            self.counts[bisect_left(self.bounds, amount)] += 1

    def fold_into(self, child: Any) -> None:
        """Adds the pending observations to a prometheus-client Histogram (or child).

        Uses the child's value cells (`_sum`, non-cumulative `_buckets`), which is what its
        own observe() updates; the pinned prometheus-client version is tested to match."""
        if not self.n:
            return
        child._sum.inc(self.total)
        buckets = child._buckets
        counts = self.counts
        for i, c in enumerate(counts):
            if c:
                buckets[i].inc(c)
                counts[i] = 0
        self.total = 0.0
        self.n = 0


class SeriesBundle:
    """The labelled children one (route, model, provider, status, outcome) key needs, and the
    amounts observed since the last fold.

    Optional series are made on first use so an error-only key (say an unknown model) does not
    add zero-valued token, cost or fallback series to every scrape.
    """

    __slots__ = ("labels3", "requests", "duration", "ttft", "prompt", "completion", "cost",
                 "fallbacks", "escalations", "n", "dur", "ttft_h", "prompt_n", "completion_n",
                 "cost_n", "fallbacks_n", "escalations_n")

    def __init__(self, labels3: tuple[str, str, str], requests: Any, duration: Any) -> None:
        self.labels3 = labels3  # (route, model, provider)
        self.requests, self.duration = requests, duration
        self.ttft = self.prompt = self.completion = self.cost = None
        self.fallbacks = self.escalations = None
        self.n = 0
        self.dur = PendingHistogram(tuple(duration._upper_bounds))
        self.ttft_h = PendingHistogram(self.dur.bounds)  # same buckets (LLM_BUCKETS)
        self.prompt_n = self.completion_n = self.escalations_n = self.fallbacks_n = 0
        self.cost_n = 0.0

    def fold(self) -> None:
        if self.n:
            self.requests.inc(self.n)
            self.n = 0
        self.dur.fold_into(self.duration)
        if self.ttft is not None:
            self.ttft_h.fold_into(self.ttft)
        if self.prompt_n:
            self.prompt.inc(self.prompt_n)
            self.prompt_n = 0
        if self.completion_n:
            self.completion.inc(self.completion_n)
            self.completion_n = 0
        if self.cost_n:
            self.cost.inc(self.cost_n)
            self.cost_n = 0.0
        if self.fallbacks_n:
            self.fallbacks.inc(self.fallbacks_n)
            self.fallbacks_n = 0
        if self.escalations_n:
            self.escalations.inc(self.escalations_n)
            self.escalations_n = 0
