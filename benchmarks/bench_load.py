"""Load generators: wrk (max RPS and fixed rates) and a streaming client that times TTFT.

wrk runs pinned to the load core with benchmarks/pace.lua; the streaming client runs in the
harness process (also on the load core), one aiohttp session on uvloop.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench_procs import BENCH_DIR, core_busy, core_times, cpu_seconds, pin

PACE_LUA = BENCH_DIR / "pace.lua"
SHORTFALL = 0.05  # a paced run that achieved less than 95% of its target rate is flagged
NOISE = 0.10  # a run where other processes took >10% of either core is flagged


class CpuWatch:
    """CPU shares of one core over a measured span, as `cpu` dicts: each watched pid by name,
    this process (`self`: the stream client), children waited for meanwhile (`wrk`), each core."""

    def __init__(self, watch: dict[str, int] | None = None) -> None:
        self.watch = watch or {}
        self.cpu: dict[str, float] = {}

    @staticmethod
    def _rusage(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    def __enter__(self) -> "CpuWatch":
        self._pids = {name: cpu_seconds(pid) for name, pid in self.watch.items()}
        self._self, self._kids = self._rusage(resource.RUSAGE_SELF), self._rusage(resource.RUSAGE_CHILDREN)
        self._cores, self._t0 = core_times(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        self.cpu = {name: (cpu_seconds(pid) - self._pids[name]) / wall for name, pid in self.watch.items()}
        self.cpu["self"] = (self._rusage(resource.RUSAGE_SELF) - self._self) / wall
        self.cpu["wrk"] = (self._rusage(resource.RUSAGE_CHILDREN) - self._kids) / wall
        self.cpu.update(core_busy(self._cores, core_times()))


def foreign(cpu: dict[str, float], load_core: str = "cpu0", proxy_core: str = "cpu1") -> tuple[float, float]:
    """CPU share on (load core, proxy core) used by processes outside this benchmark."""
    ours_load = cpu.get("fake", 0.0) + cpu.get("wrk", 0.0) + cpu.get("self", 0.0)
    return (max(0.0, cpu.get(load_core, 0.0) - ours_load),
            max(0.0, cpu.get(proxy_core, 0.0) - cpu.get("proxy", 0.0)))


@dataclass
class WrkResult:
    target_rps: float  # 0 = unpaced
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu: dict[str, float] = field(default_factory=dict)  # proc name or core -> busy share

    @property
    def short(self) -> bool:
        return self.target_rps > 0 and self.rps < self.target_rps * (1 - SHORTFALL)

    def foreign(self) -> tuple[float, float]:
        return foreign(self.cpu)

    @property
    def noisy(self) -> bool:
        return max(self.foreign()) > NOISE


def run_wrk(url: str, model: str, rate: float, connections: int, seconds: float, core: int | None,
            watch: dict[str, int] | None = None) -> WrkResult:
    """One wrk run; `watch` maps names to pids whose CPU share is recorded over the run."""
    cmd = pin(core) + ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
                       "-s", str(PACE_LUA), url, "--", f"{rate:g}", model]
    with CpuWatch(watch) as cw:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}")
    d = json.loads(line[len("WRKJSON "):])
    errors = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]
    return WrkResult(rate, d["requests"] / (d["duration_us"] / 1e6), d["p50"] / 1000, d["p90"] / 1000,
                     d["p99"] / 1000, errors, d["requests"], cw.cpu)


@dataclass
class StreamResult:
    ttfts_ms: list[float]
    events: list[int]  # SSE events received per stream
    coalesced_reads: int  # socket reads that carried more than one content event
    failures: int
    cpu: dict[str, float] = field(default_factory=dict)

    def foreign(self) -> tuple[float, float]:
        return foreign(self.cpu)

    @property
    def noisy(self) -> bool:
        return max(self.foreign()) > NOISE

    def ttft_pct(self, q: float) -> float:
        xs = sorted(self.ttfts_ms)
        return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float("nan")


def _stream_body(model: str) -> bytes:
    return orjson.dumps({"model": model, "stream": True, "messages": [
        {"role": "user", "content": "Stream a long answer about sidecar proxies, please."}]})


async def _one_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float | None, int, int]:
    t0 = time.perf_counter()
    ttft: float | None = None
    events = coalesced = 0
    buf = b""
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        if resp.status != 200:
            await resp.read()
            return None, 0, 0
        async for data in resp.content.iter_any():
            buf += data
            *complete, buf = buf.split(b"\n\n")
            content_events = 0
            for ev in complete:
                events += 1
                if ev.startswith(b"data: {"):
                    obj = orjson.loads(ev[6:])
                    choices = obj.get("choices") or [{}]
                    if (choices[0].get("delta") or {}).get("content"):
                        content_events += 1
                        if ttft is None:
                            ttft = (time.perf_counter() - t0) * 1000
            coalesced += content_events > 1
    return ttft, events, coalesced


async def _streams(url: str, model: str, concurrency: int, per_worker: int, stagger_s: float) -> StreamResult:
    body = _stream_body(model)
    result = StreamResult([], [], 0, 0)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def worker(i: int) -> None:
            await asyncio.sleep(i * stagger_s)
            for _ in range(per_worker):
                try:
                    ttft, events, coalesced = await _one_stream(session, url, body)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    result.failures += 1
                    continue
                if ttft is None:
                    result.failures += 1
                    continue
                result.ttfts_ms.append(ttft)
                result.events.append(events)
                result.coalesced_reads += coalesced

        await _one_stream(session, url, body)  # warm the pool: TTFT should not include a connect
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return result


def run_streams(url: str, model: str, concurrency: int, per_worker: int, stream_s: float = 0.0,
                watch: dict[str, int] | None = None) -> StreamResult:
    """`concurrency` workers, each running `per_worker` streams back to back.

    Worker starts are spread over one stream's duration (`stream_s`), so the streams overlap
    as independent clients' would instead of arriving as one burst every stream-length.
    """
    import uvloop

    with CpuWatch(watch) as cw:
        result = uvloop.run(_streams(url, model, concurrency, per_worker, stream_s / max(1, concurrency)))
    result.cpu = cw.cpu
    return result


def summarize(values: list[float]) -> dict[str, Any]:
    """Median and min–max of per-round values."""
    xs = sorted(v for v in values if v == v)
    if not xs:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    mid = len(xs) // 2
    median = xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
    return {"median": median, "min": xs[0], "max": xs[-1], "n": len(xs)}


def wrk_version() -> str:
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (proc.stdout or proc.stderr).splitlines()[0].strip() if (proc.stdout or proc.stderr) else "wrk"
