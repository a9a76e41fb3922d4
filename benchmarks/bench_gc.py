"""What Python's cyclic GC costs routecar under load, and what tuning it would buy.

    .venv/bin/python benchmarks/bench_gc.py [--seconds 8] [--rounds 2] [--head]

Runs `routecar serve` (core 1) through a small launcher that records every collection
(gc.callbacks: count, total and longest pause per generation) and, per mode, changes nothing
(`default`), calls gc.freeze() once the modules are imported (`freeze`: start-up objects
leave the collector's scans), or also raises the generation-0 threshold (`freeze+threshold`).
For each mode: max RPS (wrk, 64 connections) with routecar's CPU per request, latency at
500 RPS against the same fake upstream, and the collector's work in thread CPU time (so a
collection preempted by another process is not charged for the wait). Nothing in src/ changes: this measures what a change to
start-up would buy before anyone makes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_code import prepare_code
from bench_coldstart import CONFIG, routecar_env
from bench_load import run_wrk, summarize
from bench_procs import free_port, free_ports, routecar_cmd, spawn, wait_ok

# Runs inside the routecar process: imports what `serve` imports, applies the mode, records
# collections, then hands over to the real CLI.
LAUNCHER = r"""
import atexit, gc, json, os, sys, time
import routecar.cli, routecar.server.app, routecar.config.loader, routecar.observability.jsonlog
mode = os.environ["BENCH_GC_MODE"]
stats = {g: [0, 0.0, 0.0] for g in range(3)}
started = {}
# thread CPU time, not wall time: a collection preempted by another process costs it nothing
def on_gc(phase, info):
    g = info["generation"]
    if phase == "start":
        started[g] = time.thread_time()
    else:
        d = time.thread_time() - started.pop(g, time.thread_time())
        s = stats[g]; s[0] += 1; s[1] += d; s[2] = max(s[2], d)
def dump():
    with open(os.environ["BENCH_GC_OUT"], "w") as f:
        json.dump({"stats": stats, "tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count(),
                   "loop_cpu": time.thread_time()}, f)
if "freeze" in mode:
    gc.collect()
    gc.freeze()
if "threshold" in mode:
    gc.set_threshold(int(os.environ.get("BENCH_GC_GEN0", "10000")), 50, 100)
gc.callbacks.append(on_gc)
atexit.register(dump)
sys.argv = ["routecar", *sys.argv[1:]]
raise SystemExit(routecar.cli.main())
"""

MODES = ("default", "freeze", "freeze+threshold")


def run_mode(mode: str, upstream: str, logdir: Path, seconds: float, rounds: int) -> dict:
    (port, admin_port), out = free_ports(2), logdir / f"gc-{mode}.json"
    env = routecar_env(port, admin_port, upstream, logdir / f"{mode}.db")
    env |= {"BENCH_GC_MODE": mode, "BENCH_GC_OUT": str(out)}
    cmd = [sys.executable, "-c", LAUNCHER, "serve", "-c", str(CONFIG)]
    proc = spawn(f"gc-{mode}", cmd, port, "bench", logdir, 1, env)
    try:
        wait_ok(proc)
        run_wrk(proc.url, "bench", 0, 64, 2, 0)
        rps, p50, p99, us = [], [], [], []
        t0 = time.perf_counter()
        for _ in range(rounds):
            res = run_wrk(proc.url, "bench", 0, 64, seconds, 0, {"proxy": proc.pid})
            rps.append(res.rps)
            us.append(res.cpu["proxy"] / res.rps * 1e6)
            paced = run_wrk(proc.url, "bench", 500, 8, seconds, 0)
            p50.append(paced.p50_ms)
            p99.append(paced.p99_ms)
        wall = time.perf_counter() - t0
    finally:
        proc.stop()
    data = json.loads(out.read_text())
    return {"mode": mode, "rps": rps, "us": us, "p50": p50, "p99": p99, "wall": wall, **data}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--head", action="store_true", help="measure the committed HEAD, not the working tree")
    args = ap.parse_args()
    seconds, rounds = max(2.0, min(args.seconds, 30.0)), max(1, min(args.rounds, 5))
    os.sched_setaffinity(0, {0})
    logdir = Path(tempfile.mkdtemp(prefix="routecar-gc-"))
    code = prepare_code(logdir, args.head)
    port = free_port()
    fake = spawn("fake", routecar_cmd() + ["fake-provider", "--port", str(port)], port, "gpt-4o-mini", logdir, 0)
    rows = []
    try:
        wait_ok(fake)
        for mode in MODES:
            rows.append(run_mode(mode, f"http://127.0.0.1:{port}/v1", logdir, seconds, rounds))
    finally:
        fake.stop()
        shutil.rmtree(logdir, ignore_errors=True)
    print(f"# GC under load ({code}; {rounds} x ({seconds:g} s max RPS + {seconds:g} s at 500 RPS) per mode)\n")
    print("| mode | max RPS | CPU per request | p50 @500 (ms) | p99 @500 (ms) | gen0 / gen1 / gen2 collections | "
          "GC CPU time (share of the event loop's CPU) | longest collection (ms CPU) | tracked objects at exit (frozen) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        st = r["stats"]
        n = " / ".join(str(st[str(g)][0]) for g in range(3))
        total = sum(st[str(g)][1] for g in range(3))
        longest = max(st[str(g)][2] for g in range(3)) * 1000
        print(f"| {r['mode']} | {summarize(r['rps'])['median']:,.0f} | {summarize(r['us'])['median']:.0f} µs | "
              f"{summarize(r['p50'])['median']:.3f} | {summarize(r['p99'])['median']:.3f} | {n} | "
              f"{total * 1000:,.0f} ms ({total / r['loop_cpu']:.1%}) | {longest:.2f} | "
              f"{r['tracked']:,} ({r['frozen']:,}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
