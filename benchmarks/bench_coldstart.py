"""Cold start: spawn a server and poll until a chat request returns 200, several times.

Each routecar run gets fresh ports and an empty route-log directory (a pod starting on an
empty volume). The clock starts just before the process is spawned, so interpreter start,
imports, config load, route-log open and listen are all inside the figure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench_procs import BENCH_DIR, Proc, free_port, free_ports, memory_mb, pin, routecar_cmd, spawn, wait_ok

CONFIG = BENCH_DIR / "bench-sidecar.yaml"


def routecar_env(port: int, admin_port: int, upstream_v1: str, route_log: Path) -> dict[str, str]:
    return {"BENCH_PORT": str(port), "BENCH_ADMIN_PORT": str(admin_port), "BENCH_UPSTREAM": upstream_v1,
            "BENCH_ROUTE_LOG": str(route_log)}


def start_routecar(name: str, upstream_v1: str, logdir: Path, core: int | None,
                   pythonpath: Path | None = None) -> Proc:
    """`routecar serve` of the code under test, or of the snapshot at `pythonpath` (a baseline)."""
    port, admin_port = free_ports(2)
    rundir = logdir / name
    rundir.mkdir(parents=True, exist_ok=True)
    env = routecar_env(port, admin_port, upstream_v1, rundir / "routes.db")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return spawn(name, routecar_cmd() + ["serve", "-c", str(CONFIG)], port, "bench", logdir, core, env)


def start_bare(name: str, upstream_root: str, logdir: Path, core: int | None) -> Proc:
    port = free_port()
    cmd = [sys.executable, str(BENCH_DIR / "bare_proxy.py"), "--port", str(port), "--upstream", upstream_root]
    return spawn(name, cmd, port, "gpt-4o-mini", logdir, core)


def cold_starts(kind: str, runs: int, upstream_root: str, logdir: Path, core: int | None,
                pythonpath: Path | None = None) -> list[dict[str, float]]:
    """`runs` cold starts of routecar or the bare proxy: seconds to the first 200, and RSS then."""
    out = []
    for i in range(runs):
        name = f"cold-{kind}{'-baseline' if pythonpath else ''}-{i}"
        start = time.perf_counter()
        if kind == "routecar":
            proc = start_routecar(name, upstream_root + "/v1", logdir, core, pythonpath)
        else:
            proc = start_bare(name, upstream_root, logdir, core)
        try:
            seconds = wait_ok(proc, start=start)
            mem = memory_mb(proc.pid)
        finally:
            proc.stop()
        out.append({"seconds": seconds, "rss_mb": mem.get("VmRSS", float("nan"))})
    return out


def interpreter_start(runs: int, core: int | None, code: str = "pass") -> list[float]:
    """Seconds for `python -c CODE` to start and exit: the floor under any cold start."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(pin(core) + [sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return times
