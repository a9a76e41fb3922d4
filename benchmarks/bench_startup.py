"""Where `routecar serve` spends its start-up: import time by package, and time per phase.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--head]

1. `python -X importtime -c "import routecar.server.app"` and the same for everything the
   `serve` command imports (cli.py's parser included), as self time summed per top-level
   package (routecar split by subpackage), median of runs.
2. The phases of start-up in a fresh process (core 1): imports, CLI parser, config load,
   Sidecar.start (route log open, sessions, listeners), then the first routed request (the
   fake upstream runs on core 0), median of runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench_code import prepare_code
from bench_coldstart import CONFIG, routecar_env
from bench_procs import free_port, free_ports, pin, routecar_cmd, spawn, wait_ok

SERVE_IMPORTS = ("import routecar.cli as c; c.build_parser(); import routecar.observability.jsonlog, "
                 "routecar.config.loader, routecar.server.app, uvloop")
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")

PHASES = r"""
import time
t0 = time.perf_counter()
import asyncio, json, os, sys
from routecar.observability.jsonlog import setup_logging, shutdown_logging
from routecar.redaction import Redactor
from routecar.config.loader import load_config
from routecar.server.app import Sidecar
import uvloop
t_imports = time.perf_counter()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
rss_imports = rss()
from routecar import cli
parser = cli.build_parser()
t_cli = time.perf_counter()
setup_logging("warning", redactor=Redactor())
config = load_config(sys.argv[1])
t_config = time.perf_counter()
out = {}
async def main():
    sc = Sidecar(config, sys.argv[1])
    await sc.start()
    out["start"] = time.perf_counter()
    out["rss_start"] = rss()
    # A raw HTTP/1.1 request: the harness's client must not import anything serving does not.
    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "ping"}]}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", sc.data_port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    reply = await reader.read()
    writer.close()
    out["status"] = int(reply.split(b" ", 2)[1])
    out["first"] = time.perf_counter()
    out["rss_first"] = rss()
    await sc.close()
uvloop.run(main())
shutdown_logging()
print("PHASES " + json.dumps({
    "import what serving needs (server.app, config loader, logging, uvloop)": t_imports - t0,
    "import cli.py + build its parser (what serving does not need)": t_cli - t_imports,
    "setup logging + load config": t_config - t_cli,
    "Sidecar.start (route log, sessions, listen)": out["start"] - t_config,
    "first routed request": out["first"] - out["start"], "status": out["status"],
    "rss": {"after serving imports": rss_imports, "after Sidecar.start": out["rss_start"],
            "after the first request": out["rss_first"]}}))
"""


EXTRA = r"""
import json, sys, time
t = time.perf_counter()
import routecar.server.app, routecar.config.loader, routecar.observability.jsonlog, uvloop
serving, t_serving = set(sys.modules), time.perf_counter() - t
t = time.perf_counter()
import routecar.cli as c
c.build_parser()
extra = sorted(set(sys.modules) - serving)
print("EXTRA " + json.dumps({"serving_ms": t_serving * 1000, "serving_modules": len(serving),
                             "extra_ms": (time.perf_counter() - t) * 1000, "extra": extra}))
"""


def extra_imports(runs: int) -> tuple[float, float, int, list[str]]:
    """What the CLI imports on top of what serving needs (ms serving, ms extra, modules, names)."""
    serving, extra, names, count = [], [], [], 0
    for _ in range(runs):
        proc = subprocess.run(pin(1) + [sys.executable, "-c", EXTRA], capture_output=True, text=True,
                              timeout=120, check=True)
        data = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("EXTRA "))[6:])
        serving.append(data["serving_ms"])
        extra.append(data["extra_ms"])
        names, count = data["extra"], data["serving_modules"]
    return statistics.median(serving), statistics.median(extra), count, names


WHAT_IFS = {
    "serving imports (server.app, config loader, logging, uvloop)":
        "import routecar.server.app, routecar.config.loader, routecar.observability.jsonlog, uvloop",
    "the same with the cyclic GC off during imports": "import gc; gc.disable(); "
        "import routecar.server.app, routecar.config.loader, routecar.observability.jsonlog, uvloop",
    "aiohttp + aiohttp.web alone (serve no longer imports them)": "import aiohttp, aiohttp.web",
    "python -c pass": "pass",
    "one ssl.create_default_context() (the upstream client makes one at start-up for https providers)":
        "import ssl, time; t = time.perf_counter(); ssl.create_default_context(); "
        "print('ELAPSED', time.perf_counter() - t)",
}
_TIMED = "import time; _t = time.perf_counter(); {code}; print('ELAPSED', time.perf_counter() - _t)"
_RSS = ("\nfor _l in open('/proc/self/status'):\n"
        "    if _l.startswith('VmRSS'): print('RSS', int(_l.split()[1]) / 1024)")


def what_ifs(runs: int) -> dict[str, tuple[float, float]]:
    """Milliseconds and RSS MiB after (medians of runs, fresh process each) of import scenarios."""
    out = {}
    for label, code in WHAT_IFS.items():
        snippet = (code if "ELAPSED" in code else _TIMED.format(code=code)) + _RSS
        ms, rss = [], []
        for _ in range(runs):
            proc = subprocess.run(pin(1) + [sys.executable, "-c", snippet], capture_output=True, text=True,
                                  timeout=120, check=True)
            ms.append(float(proc.stdout.split("ELAPSED")[1].split()[0]) * 1000)
            rss.append(float(proc.stdout.split("RSS")[1].split()[0]))
        out[label] = (statistics.median(ms), statistics.median(rss))
    return out


def _package(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "routecar" and len(parts) > 1 else parts[0]


def importtime(code: str, runs: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """Total import time (ms), self time per package (ms, median of runs) and per module (ms, the
    fastest run's: one scheduling hiccup inside a module would otherwise top the list)."""
    totals: list[float] = []
    per: defaultdict[str, list[float]] = defaultdict(list)
    modules: defaultdict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        proc = subprocess.run(pin(1) + [sys.executable, "-X", "importtime", "-c", code],
                              capture_output=True, text=True, timeout=120, check=True)
        total, by = 0.0, defaultdict(float)  # type: ignore[var-annotated]
        for line in proc.stderr.splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            self_us, cum_us, indent, name = int(m[1]), int(m[2]), m[3], m[4]
            by[_package(name)] += self_us / 1000
            modules[name].append(self_us / 1000)
            if len(indent) == 0:
                total += cum_us / 1000
        totals.append(total)
        for k, v in by.items():
            per[k].append(v)
    return (statistics.median(totals), {k: statistics.median(v + [0.0] * (runs - len(v))) for k, v in per.items()},
            {k: min(v) for k, v in modules.items()})


def phases(runs: int, logdir: Path, upstream: str) -> tuple[dict[str, float], dict[str, float]]:
    """Median ms per phase, and median RSS MiB at three points, over fresh processes."""
    samples: defaultdict[str, list[float]] = defaultdict(list)
    rss: defaultdict[str, list[float]] = defaultdict(list)
    for i in range(runs):
        env = {**os.environ, **routecar_env(*free_ports(2), upstream, logdir / f"phases-{i}.db")}
        proc = subprocess.run(pin(1) + [sys.executable, "-c", PHASES, str(CONFIG)], capture_output=True,
                              text=True, timeout=120, env=env)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PHASES ")), None)
        if line is None:
            raise RuntimeError(f"phase run failed: {proc.stderr[-1500:]}")
        data = json.loads(line[7:])
        if data.pop("status") != 200:
            raise RuntimeError("the first routed request did not return 200")
        for k, v in data.pop("rss").items():
            rss[k].append(v)
        for k, v in data.items():
            samples[k].append(v * 1000)
    return ({k: statistics.median(v) for k, v in samples.items()}, {k: statistics.median(v) for k, v in rss.items()})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--head", action="store_true", help="measure the committed HEAD, not the working tree")
    args = ap.parse_args()
    runs = max(1, min(args.runs, 20))
    os.sched_setaffinity(0, {0})
    logdir = Path(tempfile.mkdtemp(prefix="routecar-startup-"))
    code = prepare_code(logdir, args.head)
    print(f"# start-up of routecar serve ({code}; medians of {runs} runs, pinned to core 1)\n")
    for label, snippet in (("import routecar.server.app", "import routecar.server.app"),
                           ("everything `routecar serve` imports", SERVE_IMPORTS)):
        total, per, modules = importtime(snippet, runs)
        print(f"## -X importtime: {label}: {total:.1f} ms (importtime's own overhead included)\n")
        top_pkgs = sorted(per.items(), key=lambda kv: -kv[1])[:args.top]
        top_mods = sorted(modules.items(), key=lambda kv: -kv[1])[:args.top]
        print("| package | self ms (median) | module | self ms (fastest run) |\n| --- | --- | --- | --- |")
        for (pkg, pms), (mod, mms) in zip(top_pkgs, top_mods):
            print(f"| {pkg} | {pms:.1f} | {mod} | {mms:.1f} |")
        print()
    serving, extra, count, names = extra_imports(runs)
    print(f"## imports without -X importtime\n\nwhat serving needs (server.app, config loader, logging, "
          f"uvloop): {serving:.1f} ms, {count} modules; what cli.build_parser() adds on top: {extra:.1f} ms, "
          f"{len(names)} modules: {', '.join(names)}\n")
    print("| import scenario (fresh process) | ms | RSS after (MiB) |\n| --- | --- | --- |")
    for label, (ms, rss) in what_ifs(runs).items():
        print(f"| {label} | {ms:.1f} | {rss:.1f} |")
    print()
    port = free_port()
    fake = spawn("fake", routecar_cmd() + ["fake-provider", "--port", str(port)], port, "gpt-4o-mini", logdir, 0)
    try:
        wait_ok(fake)
        result, rss = phases(runs, logdir, f"http://127.0.0.1:{port}/v1")
    finally:
        fake.stop()
        shutil.rmtree(logdir, ignore_errors=True)
    base = statistics.median(
        _timed([sys.executable, "-c", "pass"]) for _ in range(runs))
    print("## phases of start-up (ms)\n\n| phase | ms |\n| --- | --- |")
    print(f"| interpreter start + exit (`python -c pass`) | {base:.1f} |")
    for name, ms in result.items():
        print(f"| {name} | {ms:.1f} |")
    print(f"| **sum** | {base + sum(result.values()):.1f} |")
    print("\n| RSS (MiB) | median |\n| --- | --- |")
    for name, mb in rss.items():
        print(f"| {name} | {mb:.1f} |")
    return 0


def _timed(cmd: list[str]) -> float:
    import time

    start = time.perf_counter()
    subprocess.run(pin(1) + cmd, check=True)
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    sys.exit(main())
