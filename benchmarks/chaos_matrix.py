"""Fault matrix for the resilience engine: what the app sees when one deployment misbehaves.

For each fault, an in-process sidecar fronts two fake deployments of one model (the faulty
one preferred 1000:1, a healthy one beside it) and N sequential requests are sent. Printed per
fault: app success rate, median added latency over the healthy baseline, and upstream calls
per app request (counted at the fake providers). Loopback only; bounded by N.

    .venv/bin/python benchmarks/chaos_matrix.py [--n 60] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routecar.config.loader import parse_config  # noqa: E402
from routecar.config.model import Listen  # noqa: E402
from routecar.fake.server import FakeProvider  # noqa: E402
from routecar.server.app import Sidecar  # noqa: E402

FAULTS: dict[str, dict | None] = {
    "healthy (baseline)": None,
    "connection refused": "refuse",  # type: ignore[dict-item]
    "5xx storm (503)": {"status": 503},
    "500 errors": {"status": 500},
    "429 with Retry-After 30": {"status": 429, "retry_after": 30},
    "429 without Retry-After": {"status": 429},
    "hang (no answer)": {"hang": True},
    "slow first token (2 s)": {"first_token_delay_ms": 2000},
    "malformed body": {"malformed": True},
    "html error page": {"html_error": True},
    "mid-stream cut before content": {"disconnect_after_chunks": 0},
    "stall before content": {"stall_after_chunks": 0},
}

CONFIG = """
providers:
  bad:  {{type: openai, base_url: '{bad}', timeouts: {{connect: 500ms, first_token: 500ms, idle: 500ms, total: 2s}}}}
  good: {{type: openai, base_url: '{good}', timeouts: {{connect: 500ms, first_token: 500ms, idle: 500ms, total: 2s}}}}
models:
  m:
    price: {{input: 1, output: 2}}
    deployments:
      - {{provider: bad, model: m, weight: 1000}}
      - {{provider: good, model: m, weight: 1}}
resilience:
  retry: {{max_attempts: 3, backoff: {{base: 10ms, max: 50ms}}}}
  circuit_breaker: {{window: 30s, min_requests: 5, failure_rate: 0.5, consecutive_failures: 3, open_for: 30s}}
route_log: {{path: '{db}'}}
"""


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_case(name: str, fault, n: int, stream: bool, tmp: str) -> tuple[float, float, float]:
    bad = FakeProvider(name="bad", chunks=5)
    good = FakeProvider(name="good", chunks=5)
    await bad.start()
    await good.start()
    bad_url = f"http://127.0.0.1:{_unused_port()}/v1" if fault == "refuse" else bad.openai_base
    if isinstance(fault, dict):
        bad.set_faults(fault)
    if fault is None:
        bad_url = good.openai_base  # baseline: both deployments healthy
    cfg = parse_config(CONFIG.format(bad=bad_url, good=good.openai_base, db=f"{tmp}/{abs(hash(name))}.db"))
    cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, listen=Listen("127.0.0.1", 0),
                                                              admin_listen=Listen("127.0.0.1", 0)))
    sc = Sidecar(cfg)
    await sc.start()
    ok = 0
    attempts = 0
    lat: list[float] = []
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}], "stream": stream}
            t0 = time.perf_counter()
            async with http.post(sc.data_url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                ok += resp.status == 200
                attempts += int(resp.headers.get("x-routecar-attempts", "0"))
            lat.append((time.perf_counter() - t0) * 1000)
    upstream = attempts  # counted by routecar: a refused connection never reaches a fake
    await sc.close()
    await bad.stop()
    await good.stop()
    return ok / n, statistics.median(lat), max(lat), upstream / n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    rows = []
    base = None
    for name, fault in FAULTS.items():
        if not args.stream and name in ("mid-stream cut before content", "stall before content"):
            continue
        success, p50, worst, calls = await run_case(name, fault, args.n, args.stream, tmp)
        if base is None:
            base = p50
        rows.append((name, success, p50 - base, worst - base, calls))
    mode = "stream" if args.stream else "non-stream"
    print(f"| fault ({mode}, n={args.n}) | app success | added p50 | added worst | upstream attempts / app request |")
    print("|---|---|---|---|---|")
    for name, success, added, worst, calls in rows:
        print(f"| {name} | {success:.0%} | {added:+.1f} ms | {worst:+.0f} ms | {calls:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
