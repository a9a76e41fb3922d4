"""Footprint of `routecar serve`: cold start, idle memory, memory under load, import cost.

    .venv/bin/python benchmarks/footprint.py [--runs 5] [--requests 1000] [--top 15] [--bare]
                                             [--image-env] [--env K=V ...] [--head] [--json PATH]

The code measured is a compiled snapshot of src/ (the working tree, or with `--head` the
committed HEAD), as in the image: this environment sets PYTHONDONTWRITEBYTECODE, so without
it every start would compile routecar from source, which costs time and memory the image
never pays. One fake provider (`routecar fake-provider`, a subprocess) serves every run. Each run spawns a
fresh `routecar serve -c <tmp config>` (one route over one model with two deployments on two
providers, both at the fake; route log on, in an empty directory; metrics on the admin port)
and measures:

- cold start: seconds from just before the spawn until a chat request answers 200 (the probe
  polls every 2 ms, so interpreter start, imports, config load, route-log open and listen
  are all inside the figure), and the server's CPU time by then (steadier on a busy machine);
- idle RSS after the first request, once the route-log batch is written (VmRSS);
- after `--requests` more requests (half streaming, from 8 keep-alive connections) and one
  /metrics scrape: VmRSS and the peak VmHWM.

The medians of the runs are printed, then the `-X importtime` top entries of one more run
of the serve path up to the first answer (imports made lazily on the first request count).
`--bare` adds the same figures for benchmarks/bare_proxy.py (the floor for this stack), when
that file is present; `--image-env` runs every server with the Dockerfile's memory settings. Only processes this script started are ever signalled, by their pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench_code import prepare_code

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CHAT = "/v1/chat/completions"
BODY = '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"ping %d"}]}'
CONNECTIONS = 8
START_DEADLINE_S = 20.0
SETTLE_S = 1.0  # > the route log's flush interval below, so the first batch is written
# The memory settings the Dockerfile gives the image (see its comments); --image-env adds them.
IMAGE_ENV = {"SSL_CERT_FILE": "/dev/null", "SSL_CERT_DIR": "/etc/ssl/certs", "MALLOC_ARENA_MAX": "2"}
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")

CONFIG = """
server:
  listen: "127.0.0.1:{port}"
  admin_listen: "127.0.0.1:{admin}"
providers:
  up-a: {{type: openai, base_url: "{upstream}", api_key: "footprint-a", timeouts: {{connect: 2s, total: 30s}}}}
  up-b: {{type: openai, base_url: "{upstream}", api_key: "footprint-b", timeouts: {{connect: 2s, total: 30s}}}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments:
      - {{provider: up-a, model: gpt-4o-mini, weight: 3}}
      - {{provider: up-b, model: gpt-4o-mini, weight: 1}}
routes:
  chat: {{strategy: weighted, candidates: [gpt-4o-mini]}}
route_log: {{path: "{db}", flush_interval: 250ms}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def routecar_cmd(python_flags: list[str] | None = None) -> list[str]:
    if python_flags:
        return [sys.executable, *python_flags, "-m", "routecar"]
    exe = Path(sys.executable).parent / "routecar"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "routecar"]


def memory_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far: steadier than wall time on a busy machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(conn: http.client.HTTPConnection, model: str, stream: bool, n: int) -> int:
    body = BODY % (model, "true" if stream else "false", n)
    conn.request("POST", CHAT, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def probe(port: int, model: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        return request(conn, model, False, 0)
    except OSError:
        return None
    finally:
        conn.close()


def wait_ok(popen: subprocess.Popen[bytes], port: int, model: str, start: float) -> float:
    while time.perf_counter() - start < START_DEADLINE_S:
        if popen.poll() is not None:
            raise RuntimeError(f"server exited with {popen.returncode}")
        if probe(port, model) == 200:
            return time.perf_counter() - start
        time.sleep(0.002)
    raise RuntimeError(f"no 200 within {START_DEADLINE_S}s")


def wait_port(port: int, limit: float = START_DEADLINE_S) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"port {port} never opened")


def load(port: int, model: str, total: int) -> int:
    """`total` requests from CONNECTIONS keep-alive connections, every other one streaming;
    returns how many did not answer 200."""
    failures = [0] * CONNECTIONS

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for n in range(i, total, CONNECTIONS):
                if request(conn, model, n % 2 == 1, n) != 200:
                    failures[i] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(failures)


def scrape(admin_port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def stop(popen: subprocess.Popen[bytes]) -> str:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
    return popen.stderr.read().decode(errors="replace") if popen.stderr else ""


class Target:
    """How to start one kind of server on fresh ports."""

    def __init__(self, kind: str, upstream_root: str, workdir: Path, flags: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.kind, self.upstream_root, self.workdir = kind, upstream_root, workdir
        self.flags = flags or []
        self.env = env or {}
        self.model = "chat" if kind == "routecar" else "gpt-4o-mini"
        self.count = 0

    def spawn(self) -> tuple[subprocess.Popen[bytes], int, int | None]:
        self.count += 1
        port = free_port()
        if self.kind == "bare":
            cmd = [sys.executable, *self.flags, str(BENCH_DIR / "bare_proxy.py"), "--port", str(port),
                   "--upstream", self.upstream_root]
            admin = None
        else:
            admin = free_port()
            rundir = self.workdir / f"run-{self.count}"
            rundir.mkdir(parents=True)
            cfg = rundir / "sidecar.yaml"
            cfg.write_text(CONFIG.format(port=port, admin=admin, upstream=self.upstream_root + "/v1",
                                         db=rundir / "routes.db"))
            cmd = routecar_cmd(self.flags) + ["serve", "-c", str(cfg), "--log-level", "warning"]
        popen = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env={**os.environ, **self.env})
        return popen, port, admin


def measure(target: Target, requests: int) -> dict[str, float]:
    start = time.perf_counter()
    popen, port, admin = target.spawn()
    try:
        row: dict[str, float] = {"start_s": wait_ok(popen, port, target.model, start)}
        row["start_cpu_s"] = cpu_seconds(popen.pid)
        time.sleep(SETTLE_S)
        mem = memory_mb(popen.pid)
        row.update(idle_rss=mem["VmRSS"], idle_anon=mem.get("RssAnon", 0.0))
        row["failed"] = load(port, target.model, requests)
        if admin is not None:
            scrape(admin)
        time.sleep(SETTLE_S)
        mem = memory_mb(popen.pid)
        row.update(load_rss=mem["VmRSS"], load_hwm=mem["VmHWM"], load_anon=mem.get("RssAnon", 0.0))
        return row
    finally:
        err = stop(popen)
        if popen.returncode not in (0, -signal.SIGTERM):
            print(f"  {target.kind} exited {popen.returncode}: {err[-2000:]}", file=sys.stderr)


def importtime(target: Target, top: int) -> tuple[list[tuple[str, int, int]], list[tuple[str, int]], int, int]:
    """The serve path under -X importtime up to the first 200: top-level imports by cumulative
    time, modules by self time, the number of modules and the total self time (µs)."""
    start = time.perf_counter()
    popen, port, _ = target.spawn()
    try:
        wait_ok(popen, port, target.model, start)
    finally:
        err = stop(popen)
    roots: list[tuple[str, int, int]] = []
    selfs: list[tuple[str, int]] = []
    for line in err.splitlines():
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        self_us, cum_us, indent, name = int(m[1]), int(m[2]), len(m[3]), m[4]
        selfs.append((name, self_us))
        if indent == 0:
            roots.append((name, cum_us, self_us))
    total = sum(s for _, s in selfs)
    roots.sort(key=lambda r: -r[1])
    by_self = sorted(selfs, key=lambda r: -r[1])
    return roots[:top], by_self[:top], len(selfs), total


def by_package(target: Target) -> dict[str, int]:
    """Self import time (µs) summed per top-level package (routecar per subpackage)."""
    start = time.perf_counter()
    popen, port, _ = target.spawn()
    try:
        wait_ok(popen, port, target.model, start)
    finally:
        err = stop(popen)
    out: dict[str, int] = defaultdict(int)
    for line in err.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            parts = m[4].split(".")
            key = ".".join(parts[:2]) if parts[0] == "routecar" else parts[0]
            out[key] += int(m[1])
    return dict(out)


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def report(kind: str, rows: list[dict[str, float]]) -> dict[str, float]:
    med = medians(rows)
    starts = ", ".join(f"{r['start_s'] * 1000:.0f}" for r in rows)
    print(f"{kind:9s} first 200 {med['start_s'] * 1000:6.0f} ms (runs: {starts}; CPU {med['start_cpu_s'] * 1000:.0f} ms)  "
          f"idle RSS {med['idle_rss']:5.1f} MB (anon {med['idle_anon']:4.1f})  "
          f"after load RSS {med['load_rss']:5.1f} MB, HWM {med['load_hwm']:5.1f} MB (anon {med['load_anon']:4.1f})"
          f"  failed {int(med['failed'])}")
    return med


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--top", type=int, default=15, help="import-time entries to list (0: none)")
    ap.add_argument("--bare", action="store_true", help="also measure benchmarks/bare_proxy.py")
    ap.add_argument("--image-env", action="store_true", help="run the servers with the image's memory settings")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="extra environment for the servers (e.g. MALLOC_ARENA_MAX=2)")
    ap.add_argument("--head", action="store_true", help="measure the committed HEAD, not the working tree")
    ap.add_argument("--json", type=Path, help="also write the medians here")
    args = ap.parse_args()
    env = {**(IMAGE_ENV if args.image_env else {}), **dict(kv.split("=", 1) for kv in args.env)}
    results: dict[str, object] = {"env": env}
    with tempfile.TemporaryDirectory(prefix="routecar-footprint-") as tmp:
        results["code"] = prepare_code(Path(tmp), args.head)
        print(f"# {results['code']}; medians of {args.runs} runs; extra env {env or 'none'}")
        fake_port = free_port()
        fake = subprocess.Popen(routecar_cmd() + ["fake-provider", "--port", str(fake_port), "--chunks", "8"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(fake_port)
            upstream = f"http://127.0.0.1:{fake_port}"
            kinds = ["routecar"] + (["bare"] if args.bare and (BENCH_DIR / "bare_proxy.py").exists() else [])
            for kind in kinds:
                target = Target(kind, upstream, Path(tmp) / kind, env=env)
                rows = [measure(target, args.requests) for _ in range(args.runs)]
                results[kind] = report(kind, rows)
            if args.top:
                traced = Target("routecar", upstream, Path(tmp) / "importtime", ["-X", "importtime"], env)
                roots, selfs, count, total = importtime(traced, args.top)
                results["modules"] = count
                print(f"\nserve path to the first 200: {count} modules imported, {total / 1000:.0f} ms "
                      "self time under -X importtime")
                print("top-level imports by cumulative time:")
                for name, cum, _ in roots:
                    print(f"  {cum / 1000:7.1f} ms  {name}")
                print("modules by self time:")
                for name, self_us in selfs:
                    print(f"  {self_us / 1000:7.1f} ms  {name}")
                packages = by_package(traced)
                print("self time by package:")
                for name, us in sorted(packages.items(), key=lambda kv: -kv[1])[:args.top]:
                    print(f"  {us / 1000:7.1f} ms  {name}")
                results["packages_ms"] = {k: v / 1000 for k, v in packages.items()}
        finally:
            stop(fake)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
