"""How long `routecar replay` takes over a large route log (issue 18: 100k rows in seconds).

Writes N synthetic rows (default 100 000; three routes: ordered, weighted, and one with a tag
rule; one request in fifty fails over) into a temporary route log the way the writer does,
then times the replay of all of it, in process, under a config that moves one route.

    .venv/bin/python benchmarks/replay_bench.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time

from routecar.config.loader import parse_config
from routecar.redaction import Redactor
from routecar.replay.engine import replay
from routecar.routelog.record import RouteRecord
from routecar.routelog.rows import to_row
from routecar.routelog.schema import INSERT_SQL, configure, migrate

CONFIG = """
providers:
  pa: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-bench-a'}
  pb: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-bench-b'}
models:
  premium: {price: {input: 5.0, output: 15.0}, deployments: [{provider: pa, model: up-premium}]}
  cheap: {price: {input: 0.1, output: 0.4}, deployments: [{provider: pb, model: up-cheap}]}
routes:
  support: {strategy: ordered, candidates: [SUPPORT]}
  mixed: {strategy: weighted, candidates: {premium: 1, cheap: 3}}
  triage:
    strategy: ordered
    candidates: [cheap]
    rules: [{when: {tags.team: vip}, then: {model: premium}}]
route_log: {path: ':memory:'}
"""
ROUTES = ("support", "mixed", "triage")


def _attempt(provider: str, model: str, slug: str, status: int, error: str | None, ms: float) -> dict:
    return {"provider": provider, "model": model, "slug": slug, "status": status, "error": error,
            "latency_ms": ms, "ttft_ms": None}


def records(n: int, t0: float):
    for i in range(n):
        route = ROUTES[i % 3]
        vip = route == "triage" and i % 4 == 0
        first = "premium" if route == "support" or vip or (route == "mixed" and i % 4 == 1) else "cheap"
        dep = ("pa", "up-premium") if first == "premium" else ("pb", "up-cheap")
        attempts = [_attempt(*dep, first, 200, None, 300.0)]
        if i % 50 == 0 and first == "premium":  # a failover to cheap
            attempts = [_attempt(*dep, first, 503, "http_5xx", 80.0), _attempt("pb", "up-cheap", "cheap", 200, None, 250.0)]
        yield RouteRecord(
            t0 + i * 0.05, f"bench-{i}", "chat", requested_model=route, route=route, strategy=
            "weighted" if route == "mixed" else "ordered", chosen_model=attempts[-1]["slug"], provider=attempts[-1]["provider"],
            status=200, attempts=len(attempts), attempt_log=attempts, prompt_tokens=200 + i % 300, completion_tokens=80,
            cost_usd=1e-4, candidates=[{"slug": first}], tags={"team": "vip"} if vip else {}, est_prompt_tokens=200 + i % 300,
            est_output_tokens=256, has_tools=False, has_images=False, json_mode=False, json_schema=False)


def write(path: str, n: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    migrate(conn)
    redactor = Redactor()
    conn.execute("BEGIN")
    conn.executemany(INSERT_SQL, (to_row(r, False, redactor) for r in records(n, time.time() - n * 0.05)))
    conn.execute("COMMIT")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "routes.db")
        t = time.perf_counter()
        write(db, args.rows)
        print(f"wrote {args.rows} rows in {time.perf_counter() - t:.2f}s")
        for name, support in (("unchanged", "premium, cheap"), ("support -> cheap", "cheap, premium")):
            config = parse_config(CONFIG.replace("SUPPORT", support))
            conn = sqlite3.connect(db)
            t = time.perf_counter()
            report = replay(config, conn)
            dt = time.perf_counter() - t
            conn.close()
            print(f"replay ({name}): {report['requests']} rows in {dt:.2f}s ({report['requests'] / dt:,.0f} rows/s), "
                  f"changed {report['changed']}, cost ${report['cost_usd']['logged']:.2f} -> "
                  f"${report['cost_usd']['replayed']:.2f}")


if __name__ == "__main__":
    main()
