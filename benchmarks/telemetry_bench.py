"""What OpenTelemetry export costs a request: telemetry on (spans + route rows over OTLP to a
local collector) against telemetry off, the same code, side by side in one run.

    .venv/bin/python benchmarks/telemetry_bench.py            # 3 rounds of 5 s runs, ~1.5 min
    .venv/bin/python benchmarks/telemetry_bench.py --quick    # 1 round of 3 s runs, ~30 s

Two `routecar serve` with the config of `benchmarks/run.py` (benchmarks/bench-sidecar.yaml);
`on` adds

    telemetry: {otlp: {endpoint: http://127.0.0.1:PORT}, route_rows: otlp_logs}

(sample_ratio 1.0: every request exported, the worst case), PORT being benchmarks/otlp_sink.py,
which decodes every export request as a collector's receiver would. Each round runs both
sidecars in alternating order (off, on / on, off): max RPS (wrk, 64 connections) and a fixed
rate (200 RPS, 8 connections). After each run the harness waits (bounded) for the `on` sidecar's
export queue to drain, so its exporter never runs during the other sidecar's run, and the
sidecar's CPU per request is counted up to that point (the export work included).

Pinning as in run.py: sidecars on core 1 (one under load at a time), the fake upstream, the
sink and wrk on core 0. Only 127.0.0.1; every run is bounded in time; every process started
here is stopped by its own pid at the end. Writes markdown to stdout and to
benchmarks/results/telemetry.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench_coldstart import CONFIG as BENCH_CONFIG
from bench_coldstart import routecar_env
from bench_load import NOISE, WrkResult, run_wrk, wrk_version
from bench_procs import BENCH_DIR, Proc, cpu_seconds, free_port, free_ports, routecar_cmd, spawn, wait_ok
from bench_report import cell
from run import CHUNK_DELAY_MS, CHUNKS, LOAD_CORE, MAX_CONNS, PACED_CONNS, PROXY_CORE, check_tools, log

RATE = 200
TARGETS = ("off", "on")
DRAIN_S = 10.0  # longest the harness waits for the `on` sidecar's export queue after a run
EXPORTED = re.compile(r'^routecar_telemetry_exported_total\{result="(\w+)",signal="(\w+)"\} ([0-9.e+-]+)$',
                      re.MULTILINE)
DEPTH = re.compile(r"^routecar_telemetry_queue_depth ([0-9.e+-]+)$", re.MULTILINE)


def sidecar_config(sink_url: str | None) -> dict[str, Any]:
    cfg = yaml.safe_load(BENCH_CONFIG.read_text())
    if sink_url is not None:
        cfg["telemetry"] = {"otlp": {"endpoint": sink_url}, "route_rows": "otlp_logs"}
    return cfg


@dataclass
class Sidecar:
    proc: Proc
    admin_port: int


def start_sidecar(name: str, upstream_v1: str, logdir: Path, sink_url: str | None) -> Sidecar:
    port, admin_port = free_ports(2)
    rundir = logdir / name
    rundir.mkdir(parents=True, exist_ok=True)
    config = rundir / "sidecar.yaml"
    config.write_text(yaml.safe_dump(sidecar_config(sink_url), sort_keys=False))
    env = routecar_env(port, admin_port, upstream_v1, rundir / "routes.db")
    proc = spawn(name, routecar_cmd() + ["serve", "-c", str(config)], port, "bench", logdir, PROXY_CORE, env)
    return Sidecar(proc, admin_port)


def get_text(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def telemetry_stats(admin_port: int) -> tuple[dict[str, float], float]:
    """({"signal/result": items}, queue depth) from the sidecar's /metrics."""
    text = get_text(admin_port, "/metrics")
    depth = DEPTH.search(text)
    return {f"{m[2]}/{m[1]}": float(m[3]) for m in EXPORTED.finditer(text)}, float(depth[1]) if depth else 0.0


def drain(sidecar: Sidecar) -> None:
    """Bounded wait until the exporter has nothing queued and its last batch is counted."""
    deadline = time.monotonic() + DRAIN_S
    last: dict[str, float] | None = None
    while time.monotonic() < deadline:
        counts, depth = telemetry_stats(sidecar.admin_port)
        if depth == 0 and counts == last:
            return
        last = counts
        time.sleep(0.6)  # longer than the exporter's flush interval (0.5 s): a batch in flight shows
    log(f"WARNING: the export queue did not drain within {DRAIN_S:g} s")


@dataclass
class Run:
    wrk: WrkResult
    cpu_s: float  # the sidecar's CPU seconds from the run's start to its export drained

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.wrk.requests * 1e6 if self.wrk.requests else float("nan")


class Bench:
    def __init__(self, fake: Proc, sink: Proc, sidecars: dict[str, Sidecar], seconds: float) -> None:
        self.fake, self.sink, self.sidecars, self.seconds = fake, sink, sidecars, seconds
        self.reruns = 0
        self.sent = {t: 1 for t in sidecars}  # requests each sidecar got: wait_ok's one, then every run's

    def once(self, target: str, rate: float, connections: int, seconds: float | None = None) -> Run:
        sidecar = self.sidecars[target]
        cpu0 = cpu_seconds(sidecar.proc.pid)
        wrk = run_wrk(sidecar.proc.url, "bench", rate, connections, seconds or self.seconds, LOAD_CORE,
                      {"fake": self.fake.pid, "proxy": sidecar.proc.pid, "sink": self.sink.pid})
        self.sent[target] += wrk.requests
        if target == "on":
            drain(sidecar)
        return Run(wrk, cpu_seconds(sidecar.proc.pid) - cpu0)


def measure(bench: Bench, rounds: int, retries: int) -> dict[str, dict[str, list[Run]]]:
    results: dict[str, dict[str, list[Run]]] = {"max": {t: [] for t in TARGETS}, "paced": {t: [] for t in TARGETS}}
    for t in TARGETS:  # warm-up: pools, the route log's first batches, the exporter's imports
        bench.once(t, 0, MAX_CONNS, 1)
    for rnd in range(rounds):
        order = TARGETS if rnd % 2 == 0 else TARGETS[::-1]
        for kind, rate, conns in (("max", 0, MAX_CONNS), ("paced", RATE, PACED_CONNS)):
            log(f"round {rnd + 1}/{rounds}: {kind} ({rate or 'max'} RPS, {conns} connections), {' then '.join(order)}")
            pair = {t: bench.once(t, rate, conns) for t in order}
            for _ in range(retries):  # other jobs disturbed the pair: run both again, keep the quieter pair
                if _noise(pair) <= NOISE:
                    break
                bench.reruns += 1
                again = {t: bench.once(t, rate, conns) for t in order}
                if _noise(again) < _noise(pair):
                    pair = again
            for t in TARGETS:
                results[kind][t].append(pair[t])
    return results


def _noise(pair: dict[str, Run]) -> float:
    return max(max(_foreign(r)) for r in pair.values())


def render(results: dict[str, dict[str, list[Run]]], meta: dict[str, Any]) -> str:
    mx, pc = results["max"], results["paced"]

    def paired(runs: dict[str, list[Run]], fn: Any) -> list[float]:
        return [fn(off, on) for off, on in zip(runs["off"], runs["on"])]

    def row(name: str, runs: dict[str, list[Run]], get: Any, digits: int, unit: str, delta: str) -> str:
        return f"| {name} | {cell([get(r) for r in runs['off']], digits, unit)} | " \
               f"{cell([get(r) for r in runs['on']], digits, unit)} | {delta} |"

    lines = [
        f"## telemetry cost — {meta['date']}",
        "",
        f"- machine: {meta['nproc']} cores, {meta['cpu']}, Linux {meta['kernel']}; Python {meta['python']}; "
        f"{meta['wrk']}",
        f"- command: `{meta['command']}`; {meta['rounds']} round(s), {meta['seconds']:g} s per wrk run, off/on in "
        f"alternating order; sidecars on core {PROXY_CORE}, fake upstream + OTLP sink + wrk on core {LOAD_CORE}",
        "- config: benchmarks/bench-sidecar.yaml; `on` adds `telemetry: {otlp: {endpoint: http://127.0.0.1:PORT}, "
        "route_rows: otlp_logs}` (sample_ratio 1.0: every request becomes a server span, one client span per "
        "attempt and one log record), PORT being benchmarks/otlp_sink.py (decodes every export request)",
        "- the machine was shared with other jobs during the run (other agents' builds and tests on both "
        "cores): absolute figures move with that load, so read the paired on/off ratios, measured back to "
        "back in the same round, rather than the absolute values. Foreign CPU per run is listed below; "
        f"pairs disturbed by more than {NOISE:.0%} of a core were rerun (kept the quieter): {meta['reruns']} rerun(s).",
        "",
        "Cells: median of rounds [min–max]; the last column pairs on with off round by round.",
        "",
        "| measure | telemetry off | telemetry on | on vs off (paired) |",
        "| --- | --- | --- | --- |",
        row(f"max RPS, {MAX_CONNS} connections", mx, lambda r: r.wrk.rps, 0, "",
            cell(paired(mx, lambda a, b: b.wrk.rps / a.wrk.rps), 3, "×")),
        row("latency p50 at max RPS", mx, lambda r: r.wrk.p50_ms, 2, " ms",
            cell(paired(mx, lambda a, b: b.wrk.p50_ms - a.wrk.p50_ms), 2, " ms", "+")),
        row("latency p99 at max RPS", mx, lambda r: r.wrk.p99_ms, 2, " ms",
            cell(paired(mx, lambda a, b: b.wrk.p99_ms / a.wrk.p99_ms), 3, "×")),
        row(f"latency p50 @ {RATE} RPS, {PACED_CONNS} conns", pc, lambda r: r.wrk.p50_ms, 3, " ms",
            cell(paired(pc, lambda a, b: b.wrk.p50_ms - a.wrk.p50_ms), 3, " ms", "+")),
        row(f"latency p99 @ {RATE} RPS", pc, lambda r: r.wrk.p99_ms, 3, " ms",
            cell(paired(pc, lambda a, b: b.wrk.p99_ms - a.wrk.p99_ms), 3, " ms", "+")),
        row("sidecar CPU per request, export included (max RPS)", mx, lambda r: r.cpu_us, 0, " µs",
            cell(paired(mx, lambda a, b: b.cpu_us - a.cpu_us), 0, " µs", "+")),
        row(f"sidecar CPU per request, export included (@ {RATE} RPS)", pc, lambda r: r.cpu_us, 0, " µs",
            cell(paired(pc, lambda a, b: b.cpu_us - a.cpu_us), 0, " µs", "+")),
        "",
        f"Export of the `on` sidecar over the whole run (warm-up included), from its /metrics: {meta['exported']}. "
        f"Received by the sink: {meta['sink']}. Requests that completed at `on` (warm-up included, as wrk "
        f"counts them): {meta['on_requests']}.",
        "",
        "### Per run",
        "",
        "| run | target | achieved RPS per round | wrk errors (non-2xx included) | foreign CPU core 0 / core 1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, res in (("max RPS", mx), (f"{RATE} RPS", pc)):
        for t in TARGETS:
            runs = res[t]
            lines.append(f"| {kind} | {t} | {', '.join(f'{r.wrk.rps:,.0f}' for r in runs)} | "
                         f"{sum(r.wrk.errors for r in runs)} | "
                         f"{', '.join(f'{a:.0%} / {b:.0%}' for a, b in (_foreign(r) for r in runs))} |")
    return "\n".join(lines) + "\n"


def _foreign(run: Run) -> tuple[float, float]:
    cpu = run.wrk.cpu
    ours_load = cpu.get("fake", 0.0) + cpu.get("sink", 0.0) + cpu.get("wrk", 0.0) + cpu.get("self", 0.0)
    return (max(0.0, cpu.get("cpu0", 0.0) - ours_load), max(0.0, cpu.get("cpu1", 0.0) - cpu.get("proxy", 0.0)))


def machine_meta(rounds: int, seconds: float) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "cpu": cpu, "kernel": platform.release(), "python": platform.python_version(), "wrk": wrk_version(),
            "command": " ".join([".venv/bin/python benchmarks/telemetry_bench.py", *sys.argv[1:]]),
            "rounds": rounds, "seconds": seconds}


def wait_sink(sink: Proc, deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if sink.popen.poll() is not None:
            raise RuntimeError(f"otlp_sink exited with {sink.popen.returncode}; see {sink.logs[-1]}")
        try:
            get_text(sink.port, "/counts")
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"otlp_sink did not answer within {deadline_s:g} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s runs")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (default 5, quick 3)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "telemetry.md")
    ap.add_argument("--retry-noisy", type=int, default=1, metavar="N",
                    help="rerun an off/on pair disturbed by other processes (>10%% of a core) up to N times")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and route logs")
    args = ap.parse_args()
    check_tools()
    rounds = max(1, min(args.rounds or (1 if args.quick else 3), 10))
    seconds = max(1.0, min(args.seconds or (3.0 if args.quick else 5.0), 30.0))
    os.sched_setaffinity(0, {LOAD_CORE})
    logdir = Path(tempfile.mkdtemp(prefix="routecar-telemetry-bench-"))
    procs: list[Proc] = []
    try:
        log(f"logs in {logdir}")
        port, sink_port = free_ports(2)
        fake = spawn("fake", routecar_cmd() + ["fake-provider", "--port", str(port), "--chunks", str(CHUNKS),
                                               "--chunk-delay-ms", str(CHUNK_DELAY_MS)],
                     port, "gpt-4o-mini", logdir, LOAD_CORE)
        procs.append(fake)
        sink = spawn("sink", [sys.executable, str(BENCH_DIR / "otlp_sink.py"), "--port", str(sink_port)],
                     sink_port, "", logdir, LOAD_CORE)
        procs.append(sink)
        wait_ok(fake)
        wait_sink(sink)
        upstream = f"http://127.0.0.1:{port}/v1"
        sidecars = {"off": start_sidecar("off", upstream, logdir, None),
                    "on": start_sidecar("on", upstream, logdir, f"http://127.0.0.1:{sink_port}")}
        procs.extend(s.proc for s in sidecars.values())
        for s in sidecars.values():
            wait_ok(s.proc)
        bench = Bench(fake, sink, sidecars, seconds)
        results = measure(bench, rounds, max(0, min(args.retry_noisy, 3)))
        drain(sidecars["on"])
        exported, depth = telemetry_stats(sidecars["on"].admin_port)
        sink_counts = json.loads(get_text(sink_port, "/counts"))
        on_requests = bench.sent["on"]
    finally:
        for proc in reversed(procs):
            proc.stop()
        if not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
    meta = machine_meta(rounds, seconds) | {
        "exported": ", ".join(f"{k} {v:,.0f}" for k, v in sorted(exported.items())) + f", queue depth {depth:.0f}",
        "sink": f"{sink_counts['spans']:,} spans in {sink_counts['trace_requests']:,} requests, "
                f"{sink_counts['logs']:,} log records in {sink_counts['log_requests']:,} requests",
        "on_requests": f"{on_requests:,}", "reruns": bench.reruns}
    report = render(results, meta)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
