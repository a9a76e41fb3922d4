"""Where routecar's time goes under load: py-spy samples of `routecar serve`, summarized.

    .venv/bin/pip install py-spy        # a tool for this script, not a project dependency
    .venv/bin/python benchmarks/bench_profile.py [--mode unary|stream] [--seconds 15] [--native] [--head]

Starts the fake upstream (core 0) and routecar (core 1) as benchmarks/run.py does, drives it
(unary: wrk at 64 connections, unpaced; stream: 16 concurrent streams of 50 chunks), samples
it with `py-spy record --format raw`, and prints the top functions by inclusive and self
share of samples, and the share per package. The raw (collapsed) stacks are left in
benchmarks/results/profile-*.txt; for a flame graph, point `py-spy record -o profile.svg --pid
PID` at a routecar under the same load.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench_code import prepare_code
from bench_coldstart import start_routecar
from bench_load import run_streams, run_wrk
from bench_procs import BENCH_DIR, free_port, pin, routecar_cmd, spawn, wait_ok

RESULTS = BENCH_DIR / "results"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _frame_key(frame: str) -> tuple[str, str]:
    """(function, short file) of one py-spy frame, line numbers dropped."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return m.group("func"), path


def _area(path: str) -> str:
    """The package a frame's file belongs to (routecar split by subpackage)."""
    if path.startswith("routecar/"):
        parts = path.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else path
    if not path:
        return "native/unknown"
    return path.split("/", 1)[0].removesuffix(".py")


_WAITS = ("PyThread_acquire_lock_timed", "pthread_cond_timedwait", "Condition.wait", "epoll_wait")


def _stacks(raw: Path):
    """(frames, count) per line of a py-spy raw file."""
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if stack and count_s.isdigit():
            yield [f for f in stack.split(";") if f], int(count_s)


def _top(counter: Counter, total: int, n: int) -> list[str]:
    return [f"  {c / total:6.1%}  {k[0]} — {k[1]}" if isinstance(k, tuple) else f"  {c / total:6.1%}  {k}"
            for k, c in counter.most_common(n)]


def summarize(raw: Path, top: int) -> str:
    """Main thread (the event loop): inclusive, self and per-package shares; other threads apart.

    With native frames py-spy cannot tell a thread parked on a lock from a busy one, so stacks
    of other threads that end in a wait are dropped rather than counted as work.
    """
    inclusive: Counter[tuple[str, str]] = Counter()
    self_: Counter[tuple[str, str]] = Counter()
    areas: Counter[str] = Counter()
    others: Counter[tuple[str, str]] = Counter()
    total = other_total = 0
    for raw_frames, count in _stacks(raw):
        frames = [_frame_key(f) for f in raw_frames]
        if not any(f == "run_serve" for f, _ in frames):
            if not any(w in fr for fr in raw_frames[-4:] for w in _WAITS):
                other_total += count
                # the first routecar/library frame below the thread bootstrap names the work
                work = next((k for k in frames if k[0] not in ("Thread._bootstrap", "Thread._bootstrap_inner",
                                                              "Thread.run") and k[1]), frames[-1])
                others[work] += count
            continue
        total += count
        for key in set(frames):
            inclusive[key] += count
        self_[frames[-1]] += count
        areas[_area(frames[-1][1])] += count
    if not total:
        return "no samples (is py-spy allowed to ptrace? try as root)"
    out = [f"{total} samples on the event-loop thread; {other_total} busy samples on other threads", "",
           f"event loop, top {top} by inclusive share (function — file):"]
    out += _top(inclusive, total, top)
    out += ["", f"event loop, top {top} by self share:"] + _top(self_, total, top)
    out += ["", "event loop, self share by package:"] + _top(areas, total, 25)
    if other_total:
        out += ["", "other threads (busy samples, as a share of event-loop samples):"]
        out += _top(others, total, 8)
    return "\n".join(out)


def callers(raw: Path, name: str, n: int = 12) -> str:
    """Who calls `name` (the nearest Python frame above it), as shares of event-loop samples."""
    by: Counter[tuple[str, str]] = Counter()
    total = 0
    for raw_frames, count in _stacks(raw):
        frames = [_frame_key(f) for f in raw_frames]
        if not any(f == "run_serve" for f, _ in frames):
            continue
        total += count
        idx = next((i for i, (f, _) in enumerate(frames) if name in f), None)
        if idx is None:
            continue
        parent = next((frames[i] for i in range(idx - 1, -1, -1) if frames[i][1].endswith(".py")), ("?", ""))
        by[parent] += count
    lines = [f"callers of {name}: {sum(by.values()) / max(total, 1):.1%} of event-loop samples"]
    return "\n".join(lines + _top(by, max(total, 1), n))


def drive(mode: str, url: str, seconds: float, stop: threading.Event) -> None:
    if mode == "unary":
        run_wrk(url, "bench", 0, 64, seconds, 0)
        return
    while not stop.is_set():  # 16 streams of ~0.25 s each, until py-spy is done
        run_streams(url, "bench", 16, 4, 0.25)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("unary", "stream"), default="unary")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--native", action="store_true", help="include C frames (uvloop, aiohttp parsers, orjson)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--head", action="store_true", help="profile the committed HEAD, not the working tree")
    ap.add_argument("--callers", action="append", default=[], metavar="NAME",
                    help="also list the Python callers of frames whose function contains NAME")
    ap.add_argument("--summarize", type=Path, metavar="RAW", help="only summarize an existing raw file")
    args = ap.parse_args()
    if args.summarize:
        print(summarize(args.summarize, args.top))
        for name in args.callers:
            print("\n" + callers(args.summarize, name))
        return 0
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        sys.exit("needs py-spy: .venv/bin/pip install py-spy")
    seconds = max(2.0, min(args.seconds, 120.0))
    os.sched_setaffinity(0, {0})
    logdir = Path(tempfile.mkdtemp(prefix="routecar-profile-"))
    code = prepare_code(logdir, args.head)
    port = free_port()
    fake = spawn("fake", routecar_cmd() + ["fake-provider", "--port", str(port), "--chunks", "50",
                                           "--chunk-delay-ms", "5"], port, "gpt-4o-mini", logdir, 0)
    procs = [fake]
    try:
        wait_ok(fake)
        rc = start_routecar("routecar", f"http://127.0.0.1:{port}/v1", logdir, 1)
        procs.append(rc)
        wait_ok(rc)
        run_wrk(rc.url, "bench", 0, 64, 2, 0)  # warm up
        RESULTS.mkdir(exist_ok=True)
        stem = RESULTS / f"profile-{args.mode}{'-native' if args.native else ''}"
        raw = stem.with_suffix(".txt")
        stop = threading.Event()
        driver = threading.Thread(target=drive, args=(args.mode, rc.url, seconds + 1, stop), daemon=True)
        driver.start()
        base = pin(0) + [pyspy, "record", "--pid", str(rc.pid), "--rate", str(args.rate),
                         "--duration", str(int(seconds))] + (["--native"] if args.native else [])
        subprocess.run(base + ["--format", "raw", "-o", str(raw)], check=True, capture_output=True, timeout=seconds + 60)
        stop.set()
        driver.join(timeout=seconds + 30)
        print(f"# py-spy profile of routecar serve ({args.mode}, {code}, {int(seconds)} s at {args.rate} Hz"
              f"{', native frames' if args.native else ''})\n")
        print(summarize(raw, args.top))
        for name in args.callers:
            print("\n" + callers(raw, name))
        print(f"\nraw stacks: {raw}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
