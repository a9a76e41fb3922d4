"""p99 time to first token with and without hedged first tokens, on a slow-tail workload.

Two in-process fake deployments of one model, each answering 10% of requests (a seeded dice
roll) only after a 2 s first-token delay; a real `routecar serve` subprocess in front. The same
N streamed requests (concurrency C) are sent with hedging off, `after: 200ms` and `after: p95`;
TTFT is measured at the client (request sent -> first content chunk). Extra upstream requests
are counted at the fakes themselves (a cancelled loser counts: it reached the provider).

    .venv/bin/python benchmarks/hedging_bench.py [--n 300] [--concurrency 10]

Writes benchmarks/results/hedging.md. Bounded: client timeouts, loopback only, every
process killed on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from routecar.fake.server import FakeProvider  # noqa: E402

ROUTECAR = str(Path(sys.executable).with_name("routecar"))
LISTENING = re.compile(r"routecar listening on http://[^:]+:(\d+)")
SLOW_TAIL = {"first_token_delay_ms": 2000, "rate": 0.1}
CLIENT_TIMEOUT_S = 15.0

CONFIG = """
server: {{listen: '127.0.0.1:0', admin_listen: '127.0.0.1:0'}}
providers:
  d1: {{type: openai, base_url: '{u1}/v1', api_key: k, timeouts: {{connect: 1s, first_token: 5s, idle: 5s, total: 20s}}}}
  d2: {{type: openai, base_url: '{u2}/v1', api_key: k, timeouts: {{connect: 1s, first_token: 5s, idle: 5s, total: 20s}}}}
models:
  m:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: d1, model: up1}}, {{provider: d2, model: up2}}]
{hedge}
resilience: {{health_check: {{enabled: false}}}}
route_log: {{path: '{db}'}}
"""


async def start_serve(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(ROUTECAR, "serve", "-c", str(config), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        match = LISTENING.search(line.decode(errors="replace"))
        if match:
            asyncio.ensure_future(_drain(proc.stdout))
            return proc, f"http://127.0.0.1:{match.group(1)}"
    proc.kill()
    raise RuntimeError("routecar did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def ttft(http: aiohttp.ClientSession, url: str) -> float:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
    start = time.perf_counter()
    first = None
    async with http.post(url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200, resp.status
        async for line in resp.content:
            if first is None and line.startswith(b"data: {") and b'"content"' in line:
                first = time.perf_counter() - start
    assert first is not None
    return first


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(label: str, hedge: str, n: int, concurrency: int, tmp: Path) -> dict:
    fakes = [FakeProvider(name=f"d{i}") for i in (1, 2)]
    for i, fake in enumerate(fakes):
        await fake.start()
        fake.set_faults({**SLOW_TAIL, "seed": 1000 + i})
    cfg = tmp / f"{label}.yaml"
    cfg.write_text(CONFIG.format(u1=fakes[0].url, u2=fakes[1].url, hedge=hedge, db=tmp / f"{label}.db"))
    proc, url = await start_serve(cfg)
    try:
        gate = asyncio.Semaphore(concurrency)
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async def one() -> float:
                async with gate:
                    return await ttft(http, url)

            started = time.perf_counter()
            times = await asyncio.gather(*(one() for _ in range(n)))
            wall = time.perf_counter() - started
        upstream = sum(f.requests for f in fakes)
    finally:
        proc.kill()
        await proc.wait()
        for fake in fakes:
            await fake.stop()
    return {"label": label, "p50": pct(times, 0.5) * 1000, "p95": pct(times, 0.95) * 1000,
            "p99": pct(times, 0.99) * 1000, "max": max(times) * 1000, "upstream": upstream, "n": n, "wall": wall}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    runs = [("off", ""), ("after 200ms", "    hedge: {after: 200ms}"), ("after p95", "    hedge: {after: p95}")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, hedge in runs:
            results.append(await run(label.replace(" ", "_"), hedge, args.n, args.concurrency, Path(tmp)))
            print(results[-1], flush=True)
    lines = [
        "# Hedged first tokens: TTFT on a slow-tail workload",
        "",
        f"Two fake deployments of one model, each with a 2 s first token on 10% of requests (seeded); "
        f"{args.n} streamed requests, concurrency {args.concurrency}, through `routecar serve` on 127.0.0.1. "
        "TTFT measured at the client. Upstream requests counted at the fakes (a cancelled loser counts).",
        "",
        "Command: `.venv/bin/python benchmarks/hedging_bench.py "
        f"--n {args.n} --concurrency {args.concurrency}`",
        "",
        "| hedge | p50 TTFT ms | p95 ms | p99 ms | max ms | upstream requests | extra vs requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        extra = (r["upstream"] - r["n"]) / r["n"] * 100
        lines.append(f"| {r['label'].replace('_', ' ')} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
                     f"{r['max']:.1f} | {r['upstream']} | +{extra:.1f}% |")
    lines += ["", "`after: p95` hedges only once a deployment has TTFT samples (the first requests are not "
              "hedged), at that deployment's own observed p95, so it fires on the tail alone."]
    out = ROOT / "benchmarks" / "results" / "hedging.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
