"""Route log writer throughput: rows/s of submit + batched insert on a temporary file.

Run: .venv/bin/python benchmarks/routelog_bench.py [--rows 200000] [--batch-size 500]

Records are submitted in bursts that fit the queue (as a busy sidecar would), yielding to the
loop between bursts so the writer task runs; the figure is rows written per wall-clock second,
from the first submit to the last row committed, and the process CPU time per row over the
same span (both threads: the event loop's submits and the writer's row building and inserts),
which a shared machine disturbs less than wall-clock time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from routecar.config.model import Retention, RouteLogConfig
from routecar.routelog.record import AttemptRecord, RouteRecord
from routecar.routelog.writer import RouteLogWriter


def make_record(i: int, now: float) -> RouteRecord:
    attempt = AttemptRecord("openai", "gpt-4o-mini", "gpt-4o-mini", 200, None, 812.5, 143.2)
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
        attempt_log=[attempt.as_dict()],
        latency_ms=812.5,
        ttft_ms=143.2,
        prompt_tokens=420,
        completion_tokens=96,
        cost_usd=0.000121,
        est_cost_usd=0.00011,
        stream=True,
        reason="fastest p50 ttft 140ms",
        skipped=[{"model": "claude-haiku", "provider": "anthropic", "reason": "circuit open"}],
        candidates=[{"model": "gpt-4o-mini", "score": 0.14}, {"model": "claude-haiku", "score": 0.31}],
        tags={"team": "search", "workload": "summarize"},
        overhead_ms=0.41,
        config_hash="abc123def456",
        classes={"difficulty": "simple"},
    )


async def bench(rows: int, batch_size: int, path: str) -> tuple[float, float]:
    cfg = RouteLogConfig(
        path=path, batch_size=batch_size, flush_interval=0.05, queue_size=50_000,
        retention=Retention(max_age=None, max_rows=None),
    )
    writer = RouteLogWriter(cfg)
    await writer.start()
    now = time.time()
    records = [make_record(i, now) for i in range(rows)]
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rate, cpu_us = asyncio.run(bench(args.rows, args.batch_size, os.path.join(d, "routes.db")))
    print(f"routelog: {args.rows} rows, batch {args.batch_size}: {rate:,.0f} rows/s, {cpu_us:.1f} µs CPU/row")


if __name__ == "__main__":
    main()
