"""Route log under serving load: rows/s written into SQLite while a real `routecar serve` answers
many concurrent requests from a fast fake upstream, and what the writer costs the requests.

Two runs of the same sidecar config, differing only in `route_log`:
  on        the defaults (flush every 250 ms or every 500 rows): rows land while serving
  deferred  a one-hour flush interval and batches larger than the run: nothing is written
            while serving, every row waits in the queue and is written by the SIGTERM drain

For each: requests/s and client latency p50/p95/p99, rows written per second during the
window, the deepest route-log queue seen (sampled from /state every 100 ms), rows dropped,
sidecar CPU per request (from routecar_process_cpu_seconds_total), and the rows in the file
after SIGTERM (must equal the requests answered).

    .venv/bin/python benchmarks/routelog_serving_bench.py [--seconds 5] [--concurrency 64] [--stream]

The sidecar, the fake and this load client are three processes; on a 2-core box they share
cores, so absolute numbers say more about the box than about routecar. The comparison
between the two runs is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

ROUTECAR = str(Path(sys.executable).with_name("routecar"))
LISTENING = re.compile(rb"routecar listening on http://127\.0\.0\.1:(\d+) \(admin http://127\.0\.0\.1:(\d+)\)")
FAKE_LISTENING = re.compile(rb"listening on (http://127\.0\.0\.1:\d+)")
START_BOUND_S = 15.0
CPU_LINE = re.compile(rb"^routecar_process_cpu_seconds_total ([0-9.e+-]+)$", re.M)

MODES = {
    "on": "  flush_interval: 250ms\n  batch_size: 500\n  queue_size: 50000",
    "deferred": "  flush_interval: 1h\n  batch_size: 2000000\n  queue_size: 2000000",
}

CONFIG = """
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", drain_timeout: 5s, max_queue: 4096}}
providers:
  up: {{type: openai, base_url: "{upstream}/v1", api_key: "bench-key", max_connections: 256,
        timeouts: {{connect: 2s, first_token: 30s, idle: 30s, total: 60s}}}}
models:
  m:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: up, model: m-up}}]
routes:
  bench: {{strategy: ordered, candidates: [m]}}
route_log:
  path: "{db}"
{route_log}
"""


@dataclass
class Result:
    mode: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    rows_during: int = 0
    max_queue: int = 0
    dropped: int = 0
    cpu_s: float = 0.0
    rows_after: int = 0
    stop_s: float = 0.0  # SIGTERM to exit: the drain writes whatever is still queued

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")


async def _start(*argv: str, ready: re.Pattern[bytes]) -> tuple[asyncio.subprocess.Process, re.Match[bytes],
                                                                  asyncio.Task[None]]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stdout.readline(), START_BOUND_S)
        if not line:
            break
        if m := ready.search(line):
            # Keep draining stdout so the child never blocks on a full pipe.
            return proc, m, asyncio.create_task(_drain(proc.stdout))
    proc.kill()
    raise SystemExit(f"{argv[:2]} did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def _stop(proc: asyncio.subprocess.Process, drain: asyncio.Task[None]) -> float:
    """SIGTERM and wait; returns the seconds the process took to exit."""
    t0 = time.perf_counter()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    drain.cancel()
    return time.perf_counter() - t0


async def _admin(http: aiohttp.ClientSession, admin: str) -> tuple[dict, float]:
    async with http.get(admin + "/state") as resp:
        state = orjson.loads(await resp.read())
    async with http.get(admin + "/metrics") as resp:
        m = CPU_LINE.search(await resp.read())
    return state["route_log"], float(m[1]) if m else 0.0


async def _load(http: aiohttp.ClientSession, url: str, body: bytes, seconds: float, concurrency: int,
                res: Result | None) -> None:
    end = time.perf_counter() + seconds

    async def worker() -> None:
        while (start := time.perf_counter()) < end:
            try:
                async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except aiohttp.ClientError:
                ok = False
            if res is not None:
                res.requests += 1
                res.errors += not ok
                res.latencies_ms.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_mode(mode: str, upstream: str, args: argparse.Namespace, tmp: Path, run: int) -> Result:
    db = tmp / f"{mode}-{run}.db"
    cfg = tmp / f"{mode}-{run}.yaml"
    cfg.write_text(CONFIG.format(upstream=upstream, db=db, route_log=MODES[mode]))
    proc, m, drain = await _start(ROUTECAR, "serve", "-c", str(cfg), ready=LISTENING)
    data, admin = f"http://127.0.0.1:{int(m[1])}", f"http://127.0.0.1:{int(m[2])}"
    res = Result(mode)
    body = orjson.dumps({"model": "bench", "stream": args.stream,
                         "messages": [{"role": "user", "content": "summarize the route log please"}]})
    url = data + "/v1/chat/completions"
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            await _load(http, url, body, args.warmup, args.concurrency, None)
            before, cpu0 = await _admin(http, admin)
            sampling = True

            async def sample() -> None:
                while sampling:
                    log, _ = await _admin(http, admin)
                    res.max_queue = max(res.max_queue, log["queue_depth"])
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample())
            t0 = time.perf_counter()
            await _load(http, url, body, args.seconds, args.concurrency, res)
            res.seconds = time.perf_counter() - t0
            sampling = False
            await sampler
            after, cpu1 = await _admin(http, admin)
            res.rows_during = after["written"] - before["written"]
            res.dropped = after["dropped"]
            res.cpu_s = cpu1 - cpu0
    finally:
        res.stop_s = await _stop(proc, drain)
    with sqlite3.connect(db) as conn:
        res.rows_after = conn.execute("SELECT count(*) FROM route_log").fetchone()[0]
    return res


def results_of(results: list[Result], mode: str) -> list[Result]:
    return [r for r in results if r.mode == mode]


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"route log while serving: {args.concurrency} concurrent clients, {args.seconds:.0f}s per run, "
          f"{'streaming' if args.stream else 'non-streaming'} chat against a fast fake")
    head = ("mode", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "rows/s", "max queue", "dropped",
            "cpu us/req", "rows in file", "stop s")
    print("  ".join(f"{h:>12}" for h in head))
    for r in results:
        cells = (r.mode, f"{r.rps:.0f}", f"{r.pct(0.50):.2f}", f"{r.pct(0.95):.2f}", f"{r.pct(0.99):.2f}",
                 str(r.errors), f"{r.rows_during / r.seconds:.0f}" if r.seconds else "-", str(r.max_queue),
                 str(r.dropped), f"{1e6 * r.cpu_s / max(1, r.requests):.0f}", str(r.rows_after),
                 f"{r.stop_s:.2f}")
        print("  ".join(f"{c:>12}" for c in cells))
    for mode in dict.fromkeys(r.mode for r in results):
        runs = sorted(results_of(results, mode), key=lambda r: r.rps)
        mid = runs[len(runs) // 2]
        print(f"median {mode}: {mid.rps:.0f} req/s, p50 {mid.pct(0.5):.2f} ms, p99 {mid.pct(0.99):.2f} ms, "
              f"{mid.rows_during / mid.seconds:.0f} rows/s written while serving")
    print("rows in file = every request answered during warm-up and the run, written by the "
          "time the sidecar exited on SIGTERM")


async def main(args: argparse.Namespace) -> int:
    fake, fm, fdrain = await _start(ROUTECAR, "fake-provider", "--port", "0", "--chunks", "2",
                                    ready=FAKE_LISTENING)
    try:
        with tempfile.TemporaryDirectory(prefix="routelog-serving-") as tmp:
            # Alternate the modes so drift on a shared box (thermal, neighbours) hits both alike.
            results = [await run_mode(mode, fm[1].decode(), args, Path(tmp), i)
                       for i in range(args.repeat) for mode in args.modes]
    finally:
        await _stop(fake, fdrain)
    report(results, args)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (default 1)")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent client requests (default 64)")
    p.add_argument("--stream", action="store_true", help="streaming requests instead of plain ones")
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["on", "deferred"])
    p.add_argument("--repeat", type=int, default=3, help="runs per mode, alternating (default 3)")
    return p.parse_args(argv)


if __name__ == "__main__":
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    raise SystemExit(run(main(parse_args())))
