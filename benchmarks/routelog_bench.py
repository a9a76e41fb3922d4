"""Route log writer throughput: rows/s of submit + batched insert on a temporary file.

Run: .venv/bin/python benchmarks/routelog_bench.py [--rows 200000] [--batch-size 500] [--detail]

Records are submitted in bursts that fit the queue (as a busy sidecar would), yielding to the
loop between bursts so the writer task runs; the figure is rows written per wall-clock second,
from the first submit to the last row committed, and the process CPU time per row over the
same span (both threads: the event loop's submits and the writer's row building and inserts),
which a shared machine disturbs less than wall-clock time.

`--detail` gives each record, instead of its plan and attempt lists, a `detail` that builds them
(as the server hands over its plan and dispatch outcome): the writer then builds those columns
too, from plain immutable values the way a real detail does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

from routecar.config.model import Retention, RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.record import RouteRecord
from routecar.routelog.writer import RouteLogWriter

ATTEMPT = {"provider": "openai", "model": "gpt-4o-mini", "slug": "gpt-4o-mini", "status": 200, "error": None,
           "latency_ms": 812.5, "ttft_ms": 143.2}
SKIPPED = ({"model": "claude-haiku", "provider": "anthropic", "reason": "circuit open"},)
CANDIDATES = (("gpt-4o-mini", 0.14), ("claude-haiku", 0.31))


class Detail:
    """Builds the same four columns as the plain record below from immutable values, one dict
    per candidate and per attempt, the work a server's plan-and-outcome detail does."""

    __slots__ = ()

    def columns(self) -> Mapping[str, Any]:
        return {"candidates": [{"model": m, "score": s} for m, s in CANDIDATES], "rules_matched": [],
                "skipped": list(SKIPPED), "attempt_log": [dict(ATTEMPT)]}

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        return (("openai", "gpt-4o-mini", "ok"),)


def make_record(i: int, now: float, detail: bool = False) -> RouteRecord:
    lists: dict[str, Any] = (
        {"detail": Detail()} if detail else
        {"attempt_log": [dict(ATTEMPT)], "skipped": list(SKIPPED),
         "candidates": [{"model": m, "score": s} for m, s in CANDIDATES]}
    )
    return RouteRecord(
        ts=now,
        request_id=f"req-{i:012d}",
        endpoint="chat",
        requested_model="fast",
        route="fast",
        strategy="fastest",
        chosen_model="gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini",
        status=200,
        outcome="ok",
        attempts=1,
        latency_ms=812.5,
        ttft_ms=143.2,
        prompt_tokens=420,
        completion_tokens=96,
        cost_usd=0.000121,
        est_cost_usd=0.00011,
        stream=True,
        reason="fastest p50 ttft 140ms",
        tags={"team": "search", "workload": "summarize"},
        overhead_ms=0.41,
        config_hash="abc123def456",
        classes={"difficulty": "simple"},
        **lists,
    )


async def bench(rows: int, batch_size: int, path: str, detail: bool) -> tuple[float, float]:
    cfg = RouteLogConfig(
        path=path, batch_size=batch_size, flush_interval=0.05, queue_size=50_000,
        retention=Retention(max_age=None, max_rows=None),
    )
    writer = RouteLogWriter(cfg, redactor=Redactor())
    await writer.start()
    now = time.time()
    records = [make_record(i, now, detail) for i in range(rows)]
    burst = 2_000
    t0 = time.perf_counter()
    c0 = time.process_time()
    for start in range(0, rows, burst):
        for rec in records[start:start + burst]:
            while writer.queue_depth >= cfg.queue_size:  # let the writer catch up, lose nothing
                await asyncio.sleep(0.001)
            writer.submit(rec)
        await asyncio.sleep(0)
    await writer.flush()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await writer.close()
    assert writer.written == rows, (writer.written, rows)
    return rows / elapsed, cpu / rows * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--detail", action="store_true", help="plan and attempt columns built from a detail")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rate, cpu_us = asyncio.run(bench(args.rows, args.batch_size, os.path.join(d, "routes.db"),
                                                args.detail))
    kind = "detail" if args.detail else "lists"
    print(f"routelog: {args.rows} rows ({kind}), batch {args.batch_size}: {rate:,.0f} rows/s, "
          f"{cpu_us:.1f} µs CPU/row")


if __name__ == "__main__":
    main()
