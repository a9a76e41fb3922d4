"""Soak: a steady rate through a real `routecar serve` for a long time, with faults toggling.

Drives `--rps` requests per second (half streaming) for `--seconds` at a sidecar fronting two
fake providers (subprocesses), flips a fault on the primary every `--flip` seconds (503s,
429s, stream cuts, healthy), samples the sidecar's RSS and open file descriptors every 10 s,
and at the end checks route-log rows == requests sent. Loopback only; bounded by --seconds.

    .venv/bin/python benchmarks/soak.py --seconds 1800 --rps 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "routecar"
FAULTS = [{"status": 503}, {}, {"status": 429, "retry_after": 2}, {}, {"disconnect_after_chunks": 2}, {}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_fds(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def wait_port(port: int, limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--rps", type=float, default=200)
    ap.add_argument("--flip", type=float, default=60)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="routecar-soak-"))
    p1, p2, port, admin = free_port(), free_port(), free_port(), free_port()
    db = tmp / "routes.db"
    (tmp / "sidecar.yaml").write_text(f"""
server: {{listen: "127.0.0.1:{port}", admin_listen: "127.0.0.1:{admin}"}}
providers:
  primary:   {{type: openai, base_url: "http://127.0.0.1:{p1}/v1", timeouts: {{connect: 1s, first_token: 2s, idle: 2s}}}}
  secondary: {{type: openai, base_url: "http://127.0.0.1:{p2}/v1", timeouts: {{connect: 1s, first_token: 2s, idle: 2s}}}}
models:
  m:
    price: {{input: 0.15, output: 0.6}}
    deployments: [{{provider: primary, model: m, weight: 3}}, {{provider: secondary, model: m, weight: 1}}]
routes:
  r: {{strategy: cheapest, candidates: [m]}}
resilience:
  circuit_breaker: {{window: 10s, min_requests: 10, open_for: 2s, max_open_for: 10s}}
route_log: {{path: "{db}", retention: {{max_age: 1d, max_rows: 1000000}}}}
""")
    procs = [await asyncio.create_subprocess_exec(str(BIN), "fake-provider", "--port", str(p), "--chunks", "6",
                                                  stdout=asyncio.subprocess.DEVNULL) for p in (p1, p2)]
    await wait_port(p1)
    await wait_port(p2)
    sidecar = await asyncio.create_subprocess_exec(str(BIN), "serve", "-c", str(tmp / "sidecar.yaml"),
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    await wait_port(port)
    sent = answered = ok = 0
    samples: list[tuple[float, float, int]] = []
    tasks: set[asyncio.Task] = set()
    start = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
        async def one(i: int) -> None:
            nonlocal answered, ok
            body = {"model": "r", "stream": i % 2 == 0, "messages": [{"role": "user", "content": f"soak {i}"}]}
            try:
                async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as resp:
                    await resp.read()
                    answered += 1
                    ok += resp.status == 200
            except aiohttp.ClientError:
                answered += 1

        next_flip = start + args.flip
        next_sample = start
        flip = 0
        interval = 1.0 / args.rps
        due = start
        while (now := time.monotonic()) - start < args.seconds:
            if now >= next_flip:
                fault = FAULTS[flip % len(FAULTS)]
                flip += 1
                async with http.post(f"http://127.0.0.1:{p1}/_fake/faults", json=fault):
                    pass
                next_flip += args.flip
            if now >= next_sample:
                rss, fds = rss_fds(sidecar.pid)
                samples.append((now - start, rss, fds))
                print(f"t={now - start:7.0f}s sent={sent} ok={ok} rss={rss:.1f}MB fds={fds}", flush=True)
                next_sample += 10
            while due <= now:
                sent += 1
                task = asyncio.create_task(one(sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    sidecar.terminate()
    await asyncio.wait_for(sidecar.wait(), 60)
    for p in procs:
        p.terminate()
        await p.wait()
    rows = sqlite3.connect(str(db)).execute("SELECT COUNT(*) FROM route_log").fetchone()[0]
    first = [s for s in samples if s[0] >= 60] or samples
    print("\n| measure | value |\n|---|---|")
    print(f"| duration | {args.seconds:.0f} s at {args.rps:g} RPS (half streaming), fault flips every {args.flip:g} s |")
    print(f"| requests sent / answered / 200 | {sent} / {answered} / {ok} ({ok / max(1, sent):.2%}) |")
    print(f"| route-log rows | {rows} ({'==' if rows == answered else '!='} answered) |")
    print(f"| RSS at 60 s → end | {first[0][1]:.1f} MB → {samples[-1][1]:.1f} MB (max {max(s[1] for s in samples):.1f}) |")
    print(f"| open fds at 60 s → end | {first[0][2]} → {samples[-1][2]} (max {max(s[2] for s in samples)}) |")
    print(f"| sidecar exit code | {sidecar.returncode} |")
    return 0 if rows == answered and sidecar.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
