"""What `shared_state` costs a request: routecar per pod against routecar sharing a local Redis.

    .venv/bin/python benchmarks/shared_state_bench.py             # 3 rounds of 10 s runs, ~5 min
    .venv/bin/python benchmarks/shared_state_bench.py --quick     # 1 round of 3 s runs, ~1 min
    .venv/bin/python benchmarks/shared_state_bench.py --head      # the committed HEAD, not the work tree

Two `routecar serve` of the same code, started side by side in the same run, with the config of
`benchmarks/run.py` (benchmarks/bench-sidecar.yaml) plus what shared state is for:

- route `bench` gets a daily budget (`when_exceeded: reject`) far above anything the run spends;
- both providers get `limits: {rpm, tpm}` far above any rate the run reaches;

so every request reserves its budget and takes an rpm/tpm slot per attempt, and is never
refused. `per pod` has no `shared_state` (the in-memory ledger and limiter); `shared` adds
`shared_state` on a redis-server this script starts on 127.0.0.1 (`--save "" --appendonly no`).
The fake upstream answers directly too (`direct`), as the floor.

Each round runs, for each target in a rotating order (so neither sidecar always goes first):
max RPS (wrk, 64 connections) and a fixed rate (200 RPS, 8 connections). Measured: latency
p50/p99 (and what `shared` adds over `per pod`, paired by round), max RPS, the sidecar's CPU
per request (from /proc, during the max-RPS run), Redis' CPU per request, Redis round trips per
request (the sidecar's own `routecar_shared_state_calls_total`: one per call, a pipelined batch
counts once) and Redis commands per request (`INFO commandstats` before and after, by command).

Pinning as in run.py: the sidecars on core 1 (one under load at a time), the fake upstream,
wrk and redis-server on core 0. Only 127.0.0.1; every run is bounded in time; every process
started here is stopped by its own pid at the end. Writes markdown to stdout and to
benchmarks/results/shared-state.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench_code import prepare_code
from bench_coldstart import CONFIG as BENCH_CONFIG
from bench_coldstart import routecar_env
from bench_load import NOISE, WrkResult, foreign, run_wrk, wrk_version
from bench_procs import BENCH_DIR, Proc, free_port, free_ports, routecar_cmd, spawn, wait_ok
from bench_report import cell
from run import CHUNK_DELAY_MS, CHUNKS, LOAD_CORE, MAX_CONNS, PACED_CONNS, PROXY_CORE, check_tools, log, wait_quiet

RATE = 200
TARGETS = ("direct", "local", "shared")
LABEL = {"direct": "direct (floor)", "local": "per pod (no shared_state)", "shared": "shared_state (local Redis)"}
BUDGET_USD = 1_000_000  # a day's budget no run comes near ($0.0002 a request at most)
RPM, TPM = 100_000_000, 10_000_000_000  # a minute's GCRA burst far above any rate reached here
REDIS_TIMEOUT = "50ms"  # the default shared_state.redis.timeout
OWN_COMMANDS = {"info", "ping", "config", "client", "hello", "command"}  # this script's, or per connection
CALLS_LINE = re.compile(r'^routecar_shared_state_calls_total\{result="(\w+)"\} ([0-9.e+-]+)$', re.MULTILINE)
UP_LINE = re.compile(r"^routecar_shared_state_up ([0-9.]+)$", re.MULTILINE)


def sidecar_config(redis_url: str | None) -> dict[str, Any]:
    """bench-sidecar.yaml (its ${BENCH_*} references intact) plus a budget, limits and maybe shared_state."""
    cfg = yaml.safe_load(BENCH_CONFIG.read_text())
    for provider in cfg["providers"].values():
        provider["limits"] = {"rpm": RPM, "tpm": TPM}
    cfg["routes"]["bench"]["budget"] = {"period": "day", "usd": BUDGET_USD, "when_exceeded": "reject"}
    if redis_url is not None:
        cfg["shared_state"] = {"redis": {"url": redis_url, "timeout": REDIS_TIMEOUT}, "on_unavailable": "local"}
    return cfg


@dataclass
class Sidecar:
    proc: Proc
    admin_port: int


def start_sidecar(name: str, upstream_v1: str, logdir: Path, redis_url: str | None) -> Sidecar:
    """Like bench_coldstart.start_routecar, with this benchmark's config file."""
    port, admin_port = free_ports(2)
    rundir = logdir / name
    rundir.mkdir(parents=True, exist_ok=True)
    config = rundir / "sidecar.yaml"
    config.write_text(yaml.safe_dump(sidecar_config(redis_url), sort_keys=False))
    env = routecar_env(port, admin_port, upstream_v1, rundir / "routes.db")
    proc = spawn(name, routecar_cmd() + ["serve", "-c", str(config)], port, "bench", logdir, PROXY_CORE, env)
    return Sidecar(proc, admin_port)


def start_redis(logdir: Path) -> tuple[Proc, Any]:
    """redis-server on the load core, no persistence; returns it and a redis-py client for INFO."""
    import redis  # routecar's own dependency for shared_state

    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(logdir)]
    proc = spawn("redis", cmd, port, "", logdir, LOAD_CORE)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    deadline = time.monotonic() + 10
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.popen.returncode}; see {proc.logs[-1]}")
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s") from None
            time.sleep(0.05)


def redis_commands(client: Any) -> dict[str, int]:
    """Calls per command so far, from INFO commandstats (commands of this script left out)."""
    stats = client.info("commandstats")
    out = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_").lower()
        if name.split("|")[0] not in OWN_COMMANDS:
            out[name] = int(value["calls"])
    return out


def sidecar_metrics(admin_port: int) -> tuple[dict[str, float], float | None]:
    """(routecar_shared_state_calls_total by result, routecar_shared_state_up) from /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    up = UP_LINE.search(text)
    return {m[1]: float(m[2]) for m in CALLS_LINE.finditer(text)}, float(up[1]) if up else None


@dataclass
class Run:
    """One wrk run against one target, with what Redis and the sidecar counted meanwhile."""

    wrk: WrkResult
    commands: dict[str, int] = field(default_factory=dict)  # Redis calls per command, this run
    calls: dict[str, float] = field(default_factory=dict)  # sidecar's Redis calls by result, this run

    def foreign(self) -> tuple[float, float]:
        cpu = dict(self.wrk.cpu)
        cpu["fake"] = cpu.get("fake", 0.0) + cpu.get("redis", 0.0)  # ours on the load core
        return foreign(cpu)

    @property
    def noisy(self) -> bool:
        return max(self.foreign()) > NOISE

    @property
    def cpu_us(self) -> float:
        """Sidecar CPU (utime + stime) per request, µs."""
        return self.wrk.cpu["proxy"] / self.wrk.rps * 1e6 if "proxy" in self.wrk.cpu and self.wrk.rps else float("nan")

    @property
    def redis_cpu_us(self) -> float:
        return self.wrk.cpu["redis"] / self.wrk.rps * 1e6 if "redis" in self.wrk.cpu and self.wrk.rps else float("nan")

    @property
    def round_trips(self) -> float:
        """The sidecar's answered calls (a pipeline is one), plus any SCRIPT EXISTS / SCRIPT LOAD
        sent in a round trip of its own (a load after NOSCRIPT; older code checked before every
        pipeline holding a script)."""
        if not self.wrk.requests:
            return float("nan")
        scripts = sum(n for name, n in self.commands.items() if name in ("script|exists", "script|load"))
        return (self.calls.get("ok", 0.0) + scripts) / self.wrk.requests

    @property
    def evalsha(self) -> float:
        return self.commands.get("evalsha", 0) / self.wrk.requests if self.wrk.requests else float("nan")

    @property
    def commands_per_request(self) -> float:
        return sum(self.commands.values()) / self.wrk.requests if self.wrk.requests else float("nan")


class Bench:
    def __init__(self, fake: Proc, sidecars: dict[str, Sidecar], redis_proc: Proc, redis_client: Any,
                 seconds: float, retries: int) -> None:
        self.fake, self.sidecars, self.redis_proc, self.redis = fake, sidecars, redis_proc, redis_client
        self.seconds, self.retries = seconds, retries
        self.reruns = 0

    def url(self, target: str) -> str:
        return self.fake.url if target == "direct" else self.sidecars[target].proc.url

    def model(self, target: str) -> str:
        return self.fake.model if target == "direct" else "bench"

    def once(self, target: str, rate: float, connections: int, seconds: float | None = None) -> Run:
        watch = {"fake": self.fake.pid, "redis": self.redis_proc.pid}
        sidecar = self.sidecars.get(target)
        if sidecar is not None:
            watch["proxy"] = sidecar.proc.pid
            calls0, _ = sidecar_metrics(sidecar.admin_port)
        cmds0 = redis_commands(self.redis)
        wrk = run_wrk(self.url(target), self.model(target), rate, connections, seconds or self.seconds,
                      LOAD_CORE, watch)
        time.sleep(0.3)  # the batched writes of the last requests (reconciles, token counts) land
        cmds1 = redis_commands(self.redis)
        run = Run(wrk, {k: n - cmds0.get(k, 0) for k, n in cmds1.items() if n - cmds0.get(k, 0) > 0})
        if sidecar is not None:
            calls1, _ = sidecar_metrics(sidecar.admin_port)
            run.calls = {k: n - calls0.get(k, 0.0) for k, n in calls1.items()}
        return run

    def measured(self, target: str, rate: float, connections: int) -> Run:
        """A run; while other processes disturbed it (>10% of a core), rerun and keep the quietest."""
        best = self.once(target, rate, connections)
        for _ in range(self.retries):
            if not best.noisy:
                break
            self.reruns += 1
            again = self.once(target, rate, connections)
            if max(again.foreign()) < max(best.foreign()):
                best = again
        return best


def measure(bench: Bench, rounds: int, quiet_s: float) -> dict[str, dict[str, list[Run]]]:
    results: dict[str, dict[str, list[Run]]] = {"max": {t: [] for t in TARGETS}, "paced": {t: [] for t in TARGETS}}
    for t in TARGETS:  # warm-up: connection pools, Lua scripts loaded, the route log's first batches
        bench.once(t, 0, MAX_CONNS, 2 if bench.seconds >= 5 else 1)
    for rnd in range(rounds):
        k = rnd % len(TARGETS)
        order = list(TARGETS[k:] + TARGETS[:k])
        i, j = sorted((order.index("local"), order.index("shared")))
        order[i], order[j] = ("shared", "local") if rnd % 2 else ("local", "shared")  # alternate the pair
        wait_quiet(quiet_s)
        log(f"round {rnd + 1}/{rounds}: max RPS ({MAX_CONNS} connections)")
        for t in order:
            results["max"][t].append(bench.measured(t, 0, MAX_CONNS))
        log(f"round {rnd + 1}/{rounds}: {RATE} RPS ({PACED_CONNS} connections)")
        for t in order:
            results["paced"][t].append(bench.measured(t, RATE, PACED_CONNS))
    return results


def _paired(a: list[Run], b: list[Run], attr: str) -> list[float]:
    """Per round b − a of one latency attribute of the wrk results."""
    return [getattr(y.wrk, attr) - getattr(x.wrk, attr) for x, y in zip(a, b)]


def _not_ok(runs: list[Run]) -> str:
    """Calls that did not get an answer (timeout, busy pool, failed, skipped while unavailable), by result."""
    by: dict[str, float] = {}
    for r in runs:
        for result, n in r.calls.items():
            if result != "ok" and n:
                by[result] = by.get(result, 0.0) + n
    return ", ".join(f"{result} {n:.0f}" for result, n in sorted(by.items())) or "0"


def _commands(runs: list[Run]) -> str:
    total = sum(r.wrk.requests for r in runs)
    if not total:
        return "n/a"
    names: dict[str, int] = {}
    for r in runs:
        for name, n in r.commands.items():
            names[name] = names.get(name, 0) + n
    return ", ".join(f"{name.upper()} {n / total:.3f}" for name, n in sorted(names.items(), key=lambda x: -x[1])) or "0"


def render(results: dict[str, dict[str, list[Run]]], meta: dict[str, Any]) -> str:
    mx, pc = results["max"], results["paced"]

    def row(name: str, values: dict[str, str], delta: str) -> str:
        return f"| {name} | {values.get('direct', '—')} | {values.get('local', '—')} | {values.get('shared', '—')} | {delta} |"

    def lat(attr: str) -> dict[str, str]:
        return {t: cell([getattr(r.wrk, attr) for r in pc[t]], 3, " ms") for t in TARGETS}

    lines = [
        f"## shared_state cost — {meta['date']}",
        "",
        f"- machine: {meta['nproc']} cores, {meta['cpu']}, Linux {meta['kernel']}; Python {meta['python']}; "
        f"{meta['redis']}; {meta['wrk']}",
        f"- code under test: {meta['code']}",
        f"- command: `{meta['command']}`; {meta['rounds']} round(s), {meta['seconds']:g} s per wrk run, targets in "
        f"rotating order; sidecars on core {PROXY_CORE}, fake upstream + wrk + redis-server on core {LOAD_CORE}",
        f"- config: benchmarks/bench-sidecar.yaml + `routes.bench.budget` (day, ${BUDGET_USD:,}) + "
        f"`limits: {{rpm: {RPM:.0e}, tpm: {TPM:.0e}}}` on both providers (never reached); `shared` adds "
        f"`shared_state: {{redis: {{url: redis://127.0.0.1:PORT, timeout: {REDIS_TIMEOUT}}}, on_unavailable: local}}`",
        f"- reruns of runs disturbed by other processes (>10% of a core): {meta['reruns']}",
        f"- Redis after the run: {meta['redis_after']}; a reconciled reservation stays as a tombstone "
        "until the request's deadline (server.default_timeout, 60 s here) + 30 s has passed",
        "",
        "Cells: median of rounds [min–max]; deltas are paired by round.",
        "",
        "| measure | direct (floor) | per pod (no shared_state) | shared_state (local Redis) | shared − per pod |",
        "| --- | --- | --- | --- | --- |",
        row(f"latency p50 @ {RATE} RPS, {PACED_CONNS} conns", lat("p50_ms"),
            cell(_paired(pc["local"], pc["shared"], "p50_ms"), 3, " ms", "+")),
        row(f"latency p99 @ {RATE} RPS", lat("p99_ms"), cell(_paired(pc["local"], pc["shared"], "p99_ms"), 3, " ms", "+")),
        row(f"max RPS, {MAX_CONNS} connections", {t: cell([r.wrk.rps for r in mx[t]], 0) for t in TARGETS},
            cell([s.wrk.rps / lo.wrk.rps for lo, s in zip(mx["local"], mx["shared"])], 2, "×")),
        row("latency p50 at max RPS", {t: cell([r.wrk.p50_ms for r in mx[t]], 2, " ms") for t in TARGETS},
            cell(_paired(mx["local"], mx["shared"], "p50_ms"), 2, " ms", "+")),
        row("sidecar CPU per request (max RPS)", {t: cell([r.cpu_us for r in mx[t]], 0, " µs") for t in TARGETS[1:]},
            cell([s.cpu_us - lo.cpu_us for lo, s in zip(mx["local"], mx["shared"])], 0, " µs", "+")),
        row(f"sidecar CPU per request (@ {RATE} RPS)",
            {t: cell([r.cpu_us for r in pc[t]], 0, " µs") for t in TARGETS[1:]},
            cell([s.cpu_us - lo.cpu_us for lo, s in zip(pc["local"], pc["shared"])], 0, " µs", "+")),
        row("redis-server CPU per request (max RPS)", {"shared": cell([r.redis_cpu_us for r in mx["shared"]], 0, " µs")},
            ""),
        row(f"Redis round trips per request (@ {RATE} RPS / max RPS)",
            {"local": "0", "shared": f"{cell([r.round_trips for r in pc['shared']], 2)} / "
                                     f"{cell([r.round_trips for r in mx['shared']], 2)}"}, ""),
        row(f"Lua scripts run per request (EVALSHA, @ {RATE} RPS / max RPS)",
            {"local": "0", "shared": f"{cell([r.evalsha for r in pc['shared']], 2)} / "
                                     f"{cell([r.evalsha for r in mx['shared']], 2)}"}, ""),
        row(f"Redis commands per request, scripts' own included (@ {RATE} RPS / max RPS)",
            {"local": cell([r.commands_per_request for r in pc["local"]], 2),
             "shared": f"{cell([r.commands_per_request for r in pc['shared']], 2)} / "
                       f"{cell([r.commands_per_request for r in mx['shared']], 2)}"}, ""),
        row("Redis calls not answered ok, by result (all measured runs)", {"shared": _not_ok(pc["shared"] + mx["shared"])},
            ""),
        "",
        f"Commands per request by name, @ {RATE} RPS: {_commands(pc['shared'])}; at max RPS: {_commands(mx['shared'])}.",
        "",
        "Round trips: the sidecar's `routecar_shared_state_calls_total{result=\"ok\"}` (one per call, a "
        "pipelined batch counts once) plus any `SCRIPT EXISTS`/`SCRIPT LOAD` sent on its own. One of them "
        "is on the request path (one attempt): the budget reservation and the first attempt's rpm/tpm slot "
        "in one EVALSHA (shared/admission.py). Reconciles and token counts are queued and "
        "sent in batches off the request path, so their share per request falls as the rate rises. The "
        "background refresh of the fleet-wide budget figures (every 2 s) is included. Redis counts the "
        "commands a script runs (TIME, HGET, ...) in `INFO commandstats` too: they are work for Redis, not "
        "round trips.",
        "",
        "### Achieved rates and errors (per round)",
        "",
        "| run | target | achieved RPS per round | wrk errors (non-2xx included) | foreign CPU core 0 / core 1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, res in (("max RPS", mx), (f"{RATE} RPS", pc)):
        for t in TARGETS:
            runs = res[t]
            lines.append(f"| {kind} | {LABEL[t]} | {', '.join(f'{r.wrk.rps:,.0f}' for r in runs)} | "
                         f"{sum(r.wrk.errors for r in runs)} | "
                         f"{', '.join(f'{a:.0%} / {b:.0%}' for a, b in (r.foreign() for r in runs))} |")
    return "\n".join(lines) + "\n"


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    m = re.search(r"v=(\S+)", out)
    return f"redis-server {m[1]}" if m else "redis-server"


def machine_meta(args: argparse.Namespace, rounds: int, seconds: float) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "cpu": cpu, "kernel": platform.release(), "python": platform.python_version(), "redis": redis_version(),
            "wrk": wrk_version(), "command": " ".join(["python benchmarks/shared_state_bench.py", *sys.argv[1:]]),
            "rounds": rounds, "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s runs")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (default 10, quick 3)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "shared-state.md")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each round, wait up to SECONDS for other processes to leave the cores idle")
    ap.add_argument("--retry-noisy", type=int, default=2, metavar="N",
                    help="rerun a measurement disturbed by other processes up to N times, keep the quietest")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and route logs")
    ap.add_argument("--head", action="store_true",
                    help="benchmark the committed HEAD (a `git archive` snapshot), not the working tree")
    ap.add_argument("--rev", metavar="REV", help="benchmark the committed revision REV (like --head)")
    args = ap.parse_args()
    check_tools()
    if shutil.which("redis-server") is None:
        sys.exit("shared_state_bench.py needs redis-server: apt-get install -y redis-server")
    rounds = max(1, min(args.rounds or (1 if args.quick else 3), 10))
    seconds = max(1.0, min(args.seconds or (3.0 if args.quick else 10.0), 60.0))
    os.sched_setaffinity(0, {LOAD_CORE})
    logdir = Path(tempfile.mkdtemp(prefix="routecar-shared-bench-"))
    code = prepare_code(logdir, args.rev or ("HEAD" if args.head else None))
    procs: list[Proc] = []
    try:
        log(f"logs in {logdir}; code under test: {code}")
        port = free_port()
        fake = spawn("fake", routecar_cmd() + ["fake-provider", "--port", str(port), "--chunks", str(CHUNKS),
                                               "--chunk-delay-ms", str(CHUNK_DELAY_MS)],
                     port, "gpt-4o-mini", logdir, LOAD_CORE)
        procs.append(fake)
        wait_ok(fake)
        redis_proc, redis_client = start_redis(logdir)
        procs.append(redis_proc)
        upstream = f"http://127.0.0.1:{port}/v1"
        sidecars = {"local": start_sidecar("local", upstream, logdir, None),
                    "shared": start_sidecar("shared", upstream, logdir, f"redis://127.0.0.1:{redis_proc.port}/0")}
        procs.extend(s.proc for s in sidecars.values())
        for s in sidecars.values():
            wait_ok(s.proc)
        _, up = sidecar_metrics(sidecars["shared"].admin_port)
        if up != 1.0:
            raise RuntimeError(f"the shared sidecar does not report Redis up (routecar_shared_state_up={up})")
        bench = Bench(fake, sidecars, redis_proc, redis_client, seconds, args.retry_noisy)
        results = measure(bench, rounds, args.wait_quiet)
        _, up = sidecar_metrics(sidecars["shared"].admin_port)
        if up != 1.0:
            log(f"WARNING: routecar_shared_state_up={up} after the run: some requests fell back to local state")
        memory = redis_client.info("memory")
        redis_after = (f"{redis_client.dbsize()} keys, used_memory {memory['used_memory'] / 2**20:.1f} MiB "
                       f"(peak {memory['used_memory_peak'] / 2**20:.1f} MiB)")
        log(f"Redis after the run: {redis_after}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        if not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
    meta = machine_meta(args, rounds, seconds) | {"reruns": bench.reruns, "code": code, "redis_after": redis_after}
    report = render(results, meta)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
