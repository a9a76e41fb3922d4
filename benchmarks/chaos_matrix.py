"""Fault matrix for the resilience engine: what the app sees when one deployment misbehaves.

For each fault, a fresh `routecar serve` subprocess fronts two in-process fake deployments of
one model (the faulty one preferred 1000:1, a healthy one beside it) and N sequential requests
are sent. Printed per fault: app success rate (a 200 whose body is whole and valid: JSON with
choices, or a stream ending in [DONE]), median and worst added latency over the healthy
baseline, upstream attempts per app request (the sidecar's x-routecar-attempts), and the
sidecar's peak RSS (VmHWM). A fresh sidecar per fault makes each peak that fault's own.

Bounded: N requests per fault, each with a client timeout, a wall-clock budget per fault, app
bodies read up to a byte budget (never decompressed), and the sidecar under an address-space
cap so a bomb it fails to bound cannot take the machine with it. Loopback only.

    .venv/bin/python benchmarks/chaos_matrix.py [--n 60] [--stream] [--only bomb] [--rev REV]

With `--rev REV`, both the sidecar and the fake deployments run a compiled `git archive`
snapshot of REV's src/ (benchmarks/bench_code.py), not the working tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# The routecar code for the sidecar (PYTHONPATH) and the fake deployments (imported here);
# main() points it at a snapshot with --rev before anything is imported from it.
SRC = ROOT / "src"

REFUSE = "refuse"  # the faulty deployment's port has nobody listening

# (name, fault, modes): modes is "both", "unary" or "stream".
FAULTS: list[tuple[str, dict | str | None, str]] = [
    ("healthy (baseline)", None, "both"),
    ("connection refused", REFUSE, "both"),
    ("5xx storm (503)", {"status": 503}, "both"),
    ("500 errors", {"status": 500}, "both"),
    ("429 with Retry-After 30", {"status": 429, "retry_after": 30}, "both"),
    ("429 without Retry-After", {"status": 429}, "both"),
    ("hang (no answer)", {"hang": True}, "both"),
    ("slow first token (2 s)", {"first_token_delay_ms": 2000}, "both"),
    ("malformed body", {"malformed": True}, "both"),
    ("html error page", {"html_error": True}, "both"),
    ("mid-stream cut before content", {"disconnect_after_chunks": 0}, "stream"),
    ("stall before content", {"stall_after_chunks": 0}, "stream"),
    # Hostile upstreams. The fake caps its endless faults at 30 s, so a sidecar that never
    # gives up still frees the fake's task before the next fault starts.
    ("gzip bomb (1 GiB)", {"gzip_bomb": True}, "both"),
    ("gzip bomb after 2 events", {"gzip_bomb": True, "gzip_bomb_after_chunks": 2}, "stream"),
    ("endless SSE comments", {"endless_comments": True, "cap_s": 30}, "both"),
    ("endless comments after 2 events",
     {"endless_comments": True, "endless_comments_after_chunks": 2, "cap_s": 30}, "stream"),
    ("unterminated event", {"unterminated_event": True, "cap_s": 30}, "both"),
    ("unterminated event after 2 events",
     {"unterminated_event": True, "unterminated_after_chunks": 2, "cap_s": 30}, "stream"),
    ("100-continue flood (10k)", {"interim_flood": 10_000}, "both"),
    ("trickle 1 B / 20 ms", {"trickle_ms": 20, "cap_s": 30}, "both"),
    ("garbage, not HTTP", {"garbage": True}, "both"),
]

CONFIG = """
server: {{listen: '127.0.0.1:0', admin_listen: '127.0.0.1:0'}}
providers:
  bad:  {{type: openai, base_url: '{bad}', timeouts: {{connect: 500ms, first_token: 500ms, idle: 500ms, total: 2s}}}}
  good: {{type: openai, base_url: '{good}', timeouts: {{connect: 500ms, first_token: 500ms, idle: 500ms, total: 2s}}}}
models:
  m:
    price: {{input: 1, output: 2}}
    deployments:
      - {{provider: bad, model: m, weight: 1000}}
      - {{provider: good, model: m, weight: 1}}
resilience:
  retry: {{max_attempts: 3, backoff: {{base: 10ms, max: 50ms}}}}
  circuit_breaker: {{window: 30s, min_requests: 5, failure_rate: 0.5, consecutive_failures: 3, open_for: 30s}}
route_log: {{path: '{db}'}}
"""

# The sidecar answers within its 2 s total deadline; anything slower is the sidecar stuck.
REQUEST_TIMEOUT_S = 10.0
# A valid answer is a few KiB; past this the app is being fed the fault itself.
APP_BODY_BUDGET = 8 * 1024 * 1024
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_LISTENING = re.compile(r"routecar listening on (http://127\.0\.0\.1:\d+)")


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float | None:
    """The process's high-water resident set (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


@dataclass
class SidecarProcess:
    proc: asyncio.subprocess.Process
    url: str
    log_path: Path
    peak_mib: float = 0.0

    def sample(self) -> None:
        peak = peak_rss_mib(self.proc.pid)
        if peak is not None:
            self.peak_mib = max(self.peak_mib, peak)

    @property
    def died(self) -> int | None:
        return self.proc.returncode


async def start_sidecar(config: Path, log_path: Path, mem_cap_mib: int) -> SidecarProcess:
    """`routecar serve` under `ulimit -v`, ready once it prints its (ephemeral) data URL."""
    log = open(log_path, "wb")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    script = 'ulimit -v "$1" && exec "$2" -m routecar serve -c "$3" --log-level warning'
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", script, "sh", str(mem_cap_mib * 1024), sys.executable, str(config),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    finally:
        log.close()  # the child holds its own copy
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        match = _LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return SidecarProcess(proc, match.group(1), log_path)
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    await stop_sidecar(proc)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"routecar serve did not start:\n{tail}")


async def stop_sidecar(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes | None:
    """The raw body, or None once it passes the budget (the app would be eating the fault)."""
    body = bytearray()
    async for piece in resp.content.iter_chunked(64 * 1024):
        body += piece
        if len(body) > APP_BODY_BUDGET:
            return None
    return bytes(body)


def _valid(body: bytes, stream: bool) -> bool:
    if stream:
        return body.rstrip().endswith(b"data: [DONE]")
    try:
        return bool(json.loads(body).get("choices"))
    except (ValueError, AttributeError):
        return False


@dataclass
class CaseResult:
    name: str
    sent: int = 0
    ok: int = 0
    attempts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    peak_mib: float = 0.0
    notes: set[str] = field(default_factory=set)


async def _one_request(http: aiohttp.ClientSession, url: str, i: int, stream: bool,
                       result: CaseResult) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}], "stream": stream}
    t0 = time.perf_counter()
    try:
        async with http.post(url + "/v1/chat/completions", json=body) as resp:
            raw = await _read_bounded(resp)
            result.attempts += int(resp.headers.get("x-routecar-attempts", "0"))
            if raw is None:
                result.notes.add("app fed >8 MiB")
            elif resp.headers.get("Content-Encoding"):
                result.notes.add(f"app got Content-Encoding {resp.headers['Content-Encoding']}")
            elif resp.status == 200 and _valid(raw, stream):
                result.ok += 1
            elif resp.status == 200:
                result.notes.add("200 with a broken body")
            else:
                result.notes.add(f"app got HTTP {resp.status}")
    except TimeoutError:
        result.notes.add("app timed out")
    except aiohttp.ClientError as exc:
        result.notes.add(type(exc).__name__)
    result.latencies_ms.append((time.perf_counter() - t0) * 1000)


async def run_case(name: str, fault: dict | str | None, n: int, stream: bool, tmp: Path,
                   budget_s: float, mem_cap_mib: int) -> CaseResult:
    from routecar.fake.server import FakeProvider  # from SRC, which main() put first on sys.path

    result = CaseResult(name)
    bad = FakeProvider(name="bad", chunks=5)
    good = FakeProvider(name="good", chunks=5)
    await bad.start()
    await good.start()
    sidecar: SidecarProcess | None = None
    try:
        if fault is None:
            bad_url = good.openai_base  # baseline: both deployments healthy
        elif fault == REFUSE:
            bad_url = f"http://127.0.0.1:{_unused_port()}/v1"
        else:
            bad_url = bad.openai_base
            bad.set_faults(fault)
        slug = re.sub(r"\W+", "-", name).strip("-") + ("-stream" if stream else "")
        config = tmp / f"{slug}.yaml"
        config.write_text(CONFIG.format(bad=bad_url, good=good.openai_base, db=tmp / f"{slug}.db"))
        sidecar = await start_sidecar(config, tmp / f"{slug}.log", mem_cap_mib)
        deadline = time.monotonic() + budget_s
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        # auto_decompress off: the app must never inflate whatever the sidecar lets through.
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as http:
            for i in range(n):
                if time.monotonic() > deadline:
                    result.notes.add(f"budget: {i}/{n} sent")
                    break
                if sidecar.died is not None:
                    result.notes.add(f"sidecar died (rc {sidecar.died})")
                    break
                await _one_request(http, sidecar.url, i, stream, result)
                result.sent += 1
                sidecar.sample()
    finally:
        if sidecar is not None:
            sidecar.sample()
            result.peak_mib = sidecar.peak_mib
            if sidecar.died is not None and not any(note.startswith("sidecar died") for note in result.notes):
                result.notes.add(f"sidecar died (rc {sidecar.died})")
            await stop_sidecar(sidecar.proc)
        await bad.stop()
        await good.stop()
    return result


def _wanted(modes: str, stream: bool) -> bool:
    return modes == "both" or modes == ("stream" if stream else "unary")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60, help="app requests per fault (default 60)")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--only", default=None, help="run only faults whose name contains this")
    parser.add_argument("--budget", type=float, default=60.0, help="wall-clock seconds per fault")
    parser.add_argument("--mem-cap-mib", type=int, default=4096,
                        help="the sidecar's address-space cap (ulimit -v), MiB")
    parser.add_argument("--rev", default=None, metavar="REV",
                        help="run git revision REV (a compiled snapshot of its src/), not the working tree")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="chaos-matrix-"))
    global SRC
    code = "working tree"
    if args.rev:
        from bench_code import snapshot  # benchmarks/ is on sys.path: this script's own folder

        SRC, code = snapshot(tmp / "code", args.rev)
    sys.path.insert(0, str(SRC))
    cases = [(name, fault) for name, fault, modes in FAULTS if _wanted(modes, args.stream)]
    if args.only:
        # The baseline always runs: added latency is measured against it.
        cases = [cases[0]] + [c for c in cases[1:] if args.only.lower() in c[0].lower()]
    results = []
    for name, fault in cases:
        result = await run_case(name, fault, args.n, args.stream, tmp, args.budget, args.mem_cap_mib)
        results.append(result)
        print(f"  done: {name} ({result.sent} sent, {result.ok} ok)", file=sys.stderr, flush=True)
    base = statistics.median(results[0].latencies_ms)
    mode = "stream" if args.stream else "non-stream"
    print(f"code: {code}\n")
    print(f"| fault ({mode}, n={args.n}) | app success | added p50 | added worst | "
          "upstream attempts / app request | sidecar peak RSS | notes |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        sent = max(r.sent, 1)
        p50 = statistics.median(r.latencies_ms) - base if r.latencies_ms else float("nan")
        worst = max(r.latencies_ms) - base if r.latencies_ms else float("nan")
        notes = "; ".join(sorted(r.notes)) or ""
        print(f"| {r.name} | {r.ok / sent:.0%} | {p50:+.1f} ms | {worst:+.0f} ms | {r.attempts / sent:.2f} | "
              f"{r.peak_mib:.0f} MiB | {notes} |")
    print(f"(sidecar logs and configs: {tmp})", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
