"""Processes under test: spawn pinned, wait until they answer, read their memory and CPU, stop.

Only processes this harness started are ever signalled, by their own pid.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CHAT_PATH = "/v1/chat/completions"
PROBE_BODY = b'{"model":"%s","messages":[{"role":"user","content":"ping"}]}'


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: all sockets stay bound until every port is picked."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def routecar_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "routecar"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "routecar"]


def pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    model: str
    logs: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CHAT_PATH}"

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)


def spawn(name: str, cmd: list[str], port: int, model: str, logdir: Path, core: int | None,
          env: dict[str, str] | None = None) -> Proc:
    out = logdir / f"{name}.out"
    err = logdir / f"{name}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        popen = subprocess.Popen(pin(core) + cmd, stdout=fo, stderr=fe, cwd=ROOT,
                                 env={**os.environ, **(env or {})})
    return Proc(name, popen, port, model, [out, err])


def chat_status(port: int, model: str, timeout: float = 2.0) -> int | None:
    """One blocking chat request; its status, or None when nothing listens yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", CHAT_PATH, body=PROBE_BODY % model.encode(),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ok(proc: Proc, start: float | None = None, deadline_s: float = 15.0, poll_s: float = 0.002) -> float:
    """Seconds from `start` (perf_counter; default now) until a chat request to `proc` returns 200.

    Raises if the process dies or never answers 200 within the deadline.
    """
    start = time.perf_counter() if start is None else start
    while time.perf_counter() - start < deadline_s:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.logs[-1]}")
        if chat_status(proc.port, proc.model) == 200:
            return time.perf_counter() - start
        time.sleep(poll_s)
    raise RuntimeError(f"{proc.name} did not answer 200 within {deadline_s}s; see {proc.logs[-1]}")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak resident) from /proc, in MiB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_times() -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                nums = [int(v) for v in vals]
                idle = nums[3] + nums[4]
                out[name] = (sum(nums) - idle, sum(nums))
    return out


def core_busy(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Per-core busy share (0..1) between two `core_times()` readings."""
    busy = {}
    for name, (b1, t1) in after.items():
        b0, t0 = before.get(name, (0, 0))
        busy[name] = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
    return busy
