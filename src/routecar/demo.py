"""`routecar demo`: the product in one command, offline.

Starts three fake providers and the sidecar in this process, sends a steady stream of
requests through it, breaks the primary provider midway and heals it, and shows what the
app saw and where routecar sent each request, second by second.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import aiohttp

from .config.loader import parse_config
from .fake.server import FakeProvider
from .server.app import Sidecar


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Second:
    ok: int = 0
    failed: int = 0
    providers: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


@dataclass
class DemoState:
    seconds: list[Second] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    totals: Counter = field(default_factory=Counter)


async def _one_request(http: aiohttp.ClientSession, url: str, n: int, state: DemoState, start: float) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": f"demo question {n}"}],
            "stream": n % 2 == 0}
    t0 = time.perf_counter()
    second = state.seconds[min(int(t0 - start), len(state.seconds) - 1)]
    try:
        async with http.post(url, json=body, headers={"x-routecar-tags": "team=demo"}) as resp:
            await resp.read()
            provider = resp.headers.get("x-routecar-provider", "-")
            if resp.status == 200:
                second.ok += 1
                state.totals["ok"] += 1
            else:
                second.failed += 1
                state.totals[f"http {resp.status}"] += 1
            second.providers[provider] += 1
            state.totals[provider] += 1
    except aiohttp.ClientError:
        second.failed += 1
        state.totals["client error"] += 1
    second.latencies.append((time.perf_counter() - t0) * 1000)


def _line(i: int, sec: Second, breakers: dict[str, str]) -> str:
    lat = sorted(sec.latencies)
    p50 = f"{lat[len(lat) // 2]:.0f}ms" if lat else "-"
    where = " ".join(f"{p}={c}" for p, c in sorted(sec.providers.items()))
    circ = " ".join(f"{d.split('/')[0]}:{s}" for d, s in sorted(breakers.items()))
    return f"t={i:>3}s  ok={sec.ok:<3} failed={sec.failed:<3} p50={p50:<6} served by [{where}]  circuits [{circ}]"


async def _demo(seconds: float, rps: float) -> int:
    ports = {name: _free_port() for name in ("DEMO_PORT", "DEMO_ADMIN_PORT")}
    fakes = {name: FakeProvider(name=name, chunks=6, chunk_delay_ms=5, latency_ms=20)
             for name in ("primary", "secondary", "backup")}
    for fake in fakes.values():
        await fake.start()
    db_dir = tempfile.mkdtemp(prefix="routecar-demo-")
    db_path = os.path.join(db_dir, "routes.db")
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "DEMO_DB": db_path,
           "PRIMARY_PORT": str(fakes["primary"].port), "SECONDARY_PORT": str(fakes["secondary"].port),
           "BACKUP_PORT": str(fakes["backup"].port)}
    text = resources.files("routecar").joinpath("data/demo.yaml").read_text()
    config = parse_config(text, source="demo.yaml", env=env)
    sidecar = Sidecar(config)
    await sidecar.start()
    url = sidecar.data_url + "/v1/chat/completions"
    total = max(3, int(seconds))
    state = DemoState(seconds=[Second() for _ in range(total + 1)])
    outage_at, heal_at = int(total * 0.3), int(total * 0.7)
    both_down_at, both_heal_at = int(total * 0.45), int(total * 0.55)
    print(f"routecar demo: sidecar on {sidecar.data_url}, fake providers primary/secondary (OpenAI) and "
          f"backup (Anthropic); {rps:g} requests/s for {total}s; primary breaks at t={outage_at}s and heals "
          f"at t={heal_at}s; secondary is down too from t={both_down_at}s to t={both_heal_at}s, so the "
          f"fallback model on the Anthropic backup takes over.\n", flush=True)
    tasks: set[asyncio.Task[Any]] = set()
    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        n = 0
        for i in range(total):
            if i >= 1:
                breakers = {}
                if sidecar.runtime is not None:
                    breakers = {d: v.get("state", "?")
                                for d, v in sidecar.runtime.health.snapshot()["deployments"].items()}
                print(_line(i - 1, state.seconds[i - 1], breakers), flush=True)
            if i == both_down_at:
                fakes["secondary"].set_faults({"status": 500})
                print(f"--- t={i}s: secondary provider DOWN too (500): fallback to claude-haiku ---", flush=True)
            if i == both_heal_at:
                fakes["secondary"].clear_faults()
                print(f"--- t={i}s: secondary provider healed ---", flush=True)
            if i == outage_at:
                fakes["primary"].set_faults({"status": 503})
                state.events.append(f"t={i}s primary starts answering 503")
                print(f"--- t={i}s: primary provider DOWN (every request answers 503) ---", flush=True)
            if i == heal_at:
                fakes["primary"].clear_faults()
                print(f"--- t={i}s: primary provider healed ---", flush=True)
            tick = start + i
            per_second = max(1, int(rps))
            for k in range(per_second):
                n += 1
                task = asyncio.create_task(_one_request(http, url, n, state, start))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(max(0.0, tick + (k + 1) / per_second - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=10)
    await sidecar.drain()
    await sidecar.close()
    for fake in fakes.values():
        await fake.stop()
    ok = state.totals["ok"]
    sent = sum(s.ok + s.failed for s in state.seconds)
    print(f"\n{ok}/{sent} requests answered 200 while the primary was down for {heal_at - outage_at}s "
          f"(and the secondary for {both_heal_at - both_down_at}s).")
    print("served by: " + ", ".join(f"{p}={c}" for p, c in state.totals.items() if p in fakes))
    cli = sys.argv[0] if sys.argv and sys.argv[0].endswith("routecar") else "routecar"
    print(f"route log: {db_path}\n  try: {cli} logs --db {db_path} -n 20\n"
          f"       {cli} stats --db {db_path} --by provider\n"
          f"       {cli} explain --db {db_path} <request id from logs>")
    return 0 if ok == sent else 1


def run_demo(seconds: float = 30.0, rps: float = 20.0) -> int:
    try:
        import uvloop

        return uvloop.run(_demo(seconds, rps))
    except ImportError:  # pragma: no cover
        return asyncio.run(_demo(seconds, rps))
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
