"""Route records of every kind, and a plain synchronous way to put them in a route log file."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from routecar.config.model import RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.record import OUTCOMES, RouteRecord
from routecar.routelog.rows import to_row
from routecar.routelog.schema import INSERT_SQL, configure, migrate
from routecar.routelog.writer import RouteLogWriter


def attempt(provider: str, model: str, slug: str, status: int | None, error: str | None,
            latency_ms: float, ttft_ms: float | None = None) -> dict[str, Any]:
    """One `attempt_log` entry, as the dispatcher's attempt records are stored."""
    return {"provider": provider, "model": model, "slug": slug, "status": status, "error": error,
            "latency_ms": latency_ms, "ttft_ms": ttft_ms}


def new_writer(config: RouteLogConfig, **kw: Any) -> RouteLogWriter:
    """A writer with a Redactor of its own (a process shares one among all its writers of text)."""
    kw.setdefault("redactor", Redactor())
    return RouteLogWriter(config, **kw)


def record(i: int = 0, **overrides: Any) -> RouteRecord:
    """A fully populated record; `i` varies the ids and numbers."""
    ok = attempt("openai", "gpt-4o-mini-2024", "gpt-4o-mini", 200, None, 100.0 + i, 40.0)
    failed = attempt("anthropic", "claude-3-5-haiku", "claude-haiku", 503, "http_5xx", 12.5)
    fields: dict[str, Any] = dict(
        ts=time.time() - 1.0 + i * 0.001,
        request_id=f"req-{i:06d}",
        endpoint="chat",
        requested_model="fast",
        route="fast",
        strategy="fastest",
        chosen_model="gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini-2024",
        status=200,
        outcome="ok",
        attempts=2,
        attempt_log=[failed, ok],
        latency_ms=150.0 + i,
        ttft_ms=40.0,
        prompt_tokens=100 + i,
        completion_tokens=20,
        cost_usd=0.0001,
        est_cost_usd=0.00009,
        stream=True,
        reason="lowest p50 ttft",
        skipped=[{"model": "claude-sonnet", "provider": "anthropic", "reason": "circuit open"}],
        candidates=[{"model": "gpt-4o-mini", "score": 0.12}, {"model": "claude-haiku", "score": 0.3}],
        rules_matched=["tags.team=search"],
        tags={"team": "search", "workload": "summarize"},
        shadow_model="claude-haiku",
        overhead_ms=0.4,
        config_hash="abc123def456",
        cache="miss",
        classes={"difficulty": "simple"},
        error_message=None,
        escalations=0,
        fallback=True,
        canary=False,
        prompt=[{"role": "user", "content": f"hello {i}"}],
        response={"content": "hi"},
    )
    fields.update(overrides)
    return RouteRecord(**fields)


def every_kind(n_per_outcome: int = 3) -> list[RouteRecord]:
    """Records covering each outcome, each endpoint, empty and missing optional values."""
    out: list[RouteRecord] = []
    endpoints = ("chat", "embeddings", "messages")
    for k, outcome in enumerate(OUTCOMES):
        for j in range(n_per_outcome):
            i = k * n_per_outcome + j
            if outcome == "ok":
                out.append(record(i, endpoint=endpoints[j % 3], stream=bool(j % 2)))
            else:
                out.append(record(
                    i, outcome=outcome, status=0 if outcome == "client_cancelled" else 502,
                    chosen_model=None, provider=None, upstream_model=None, attempts=0,
                    attempt_log=[], ttft_ms=None, prompt_tokens=None, completion_tokens=None,
                    cost_usd=None, cache="", tags={}, classes={}, skipped=[], candidates=[],
                    rules_matched=[], error_message=f"{outcome} happened", fallback=False,
                    escalations=j, canary=bool(j % 2), shadow_model=None, stream=False,
                    prompt=None, response=None,
                ))
    return out


def write_rows(path: str, records: list[RouteRecord], record_prompts: bool = False,
               redactor: Redactor | None = None) -> None:
    """Inserts records the way the writer does, without an event loop (for the CLI tests)."""
    redactor = redactor or Redactor()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        configure(conn)
        migrate(conn)
        conn.execute("BEGIN")
        conn.executemany(INSERT_SQL, [to_row(r, record_prompts, redactor) for r in records])
        conn.execute("COMMIT")
    finally:
        conn.close()


def read_all(path: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM route_log ORDER BY id")]
    finally:
        conn.close()


def parse(module: Any, argv: list[str]) -> argparse.Namespace:
    """The Namespace `routecar <cmd> ARGV` would hand to `module.run`."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def run_cli(module: Any, argv: list[str]) -> int:
    return int(module.run(parse(module, argv)))


async def wait_until(cond: Callable[[], bool], steps: int = 1000, step: float = 0.01) -> None:
    """Yields to the loop until `cond()` holds; bounded, fails the test when it never does."""
    for _ in range(steps):
        if cond():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not reached")
