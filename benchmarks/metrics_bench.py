"""`Metrics.observe()` cost per finished request, and what a scrape costs after it.

Run: .venv/bin/python benchmarks/metrics_bench.py [--records 100000] [--rounds 5] [--detail]

The records are a realistic mix built before timing: three routes, four models on two
providers, mostly 200s with some 429/502/499, one or two attempts, streams with a ttft,
usage and cost, a few cache hits and cascade escalations. Each round observes every record
once on a fresh `Metrics` and then renders one scrape; the figures are the best and the
median round (a shared machine slows some rounds, never speeds one up).

`--detail` gives the records a `detail` (the way the server hands over its plan and dispatch
outcome) instead of plain `attempt_log` dicts, so `attempt_outcomes()` goes through it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterable, Mapping
from typing import Any

from routecar.observability.metrics import Metrics
from routecar.routelog.record import RouteRecord

ROUTES = ("fast", "smart", "cheap")
MODELS = (("gpt-4o-mini", "openai"), ("gpt-4o", "openai"), ("claude-haiku", "anthropic"),
          ("claude-sonnet", "anthropic"))


class _Detail:
    """What the server's plan-and-outcome detail offers the metrics: the attempt outcomes."""

    __slots__ = ("_log",)

    def __init__(self, log: list[dict[str, Any]]) -> None:
        self._log = tuple((a["provider"], a["slug"], a["error"] or "ok") for a in log)

    def columns(self) -> Mapping[str, Any]:
        return {"candidates": [], "rules_matched": [], "skipped": [], "attempt_log": []}

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        return self._log


def make_records(n: int, detail: bool, seed: int = 11) -> list[RouteRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        route = rng.choice(ROUTES)
        model, provider = rng.choice(MODELS)
        roll = rng.random()
        status, outcome = ((200, "ok") if roll < 0.9 else (429, "rate_limited") if roll < 0.95
                           else (502, "upstream_error") if roll < 0.99 else (499, "client_cancelled"))
        log = [{"provider": provider, "model": model + "-up", "slug": model, "status": status,
                "error": None if status == 200 else "http_5xx", "latency_ms": 300.0, "ttft_ms": 90.0}]
        fallback = rng.random() < 0.1
        if fallback:
            log.insert(0, {"provider": "anthropic", "model": "claude-haiku-up", "slug": "claude-haiku",
                           "status": 503, "error": "http_5xx", "latency_ms": 40.0, "ttft_ms": None})
        stream = rng.random() < 0.6
        cache = rng.choice(("", "", "miss", "miss", "hit"))
        rec = RouteRecord(
            ts=1.7e9 + i, request_id=f"req-{i}", endpoint="chat", requested_model=route, route=route,
            strategy="fastest", chosen_model=model, provider=provider, upstream_model=model + "-up",
            status=status, outcome=outcome, attempts=len(log), latency_ms=rng.uniform(50, 4000),
            ttft_ms=rng.uniform(20, 800) if stream else None, prompt_tokens=rng.randint(10, 4000),
            completion_tokens=rng.randint(1, 800), cost_usd=rng.uniform(1e-5, 1e-2),
            est_cost_usd=rng.uniform(1e-5, 1e-2), stream=stream, overhead_ms=rng.uniform(0.05, 0.6),
            cache=cache, escalations=1 if rng.random() < 0.03 else 0, fallback=fallback,
        )
        if detail:
            rec.detail = _Detail(log)  # type: ignore[attr-defined]
        else:
            rec.attempt_log = log
        out.append(rec)
    return out


def one_round(records: list[RouteRecord]) -> tuple[float, float]:
    """(µs per observe, ms for the scrape that follows)."""
    m = Metrics(process_metrics=False)
    observe = m.observe
    t0 = time.perf_counter()
    for rec in records:
        observe(rec)
    t1 = time.perf_counter()
    m.render()
    t2 = time.perf_counter()
    return (t1 - t0) / len(records) * 1e6, (t2 - t1) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--detail", action="store_true", help="attempts through a record detail")
    args = ap.parse_args()
    records = make_records(args.records, args.detail)
    results = [one_round(records) for _ in range(args.rounds)]
    per = [r[0] for r in results]
    scrape = [r[1] for r in results]
    print(f"observe: {args.records} records x {args.rounds} rounds: best {min(per):.3f} µs, "
          f"median {statistics.median(per):.3f} µs per call; scrape after: median "
          f"{statistics.median(scrape):.2f} ms")


if __name__ == "__main__":
    main()
