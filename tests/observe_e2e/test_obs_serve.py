"""A real `routecar serve` process with `server.log_requests: true`: one JSON line per request on
stdout, and no planted key in its stdout, stderr or route log, through failing upstreams, a
refused reload and a SIGTERM."""

from __future__ import annotations

import asyncio
import io
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from routecar.fake.server import FakeProvider
from routecar.observability.jsonlog import setup_logging, shutdown_logging
from routecar.redaction import Redactor
from tests.helpers import read_rows
from tests.observe_e2e.conftest import (
    ROUTECAR, SECRETS, TRAFFIC, chat, cli_env, obs_yaml, secret_env, send,
)
from tests.processes import die_with_parent, reap

BOUND_S = 10.0  # every wait on the child process is bounded by this
LISTENING = re.compile(rb"routecar listening on http://127\.0\.0\.1:(\d+) \(admin http://127\.0\.0\.1:(\d+)\)")
SERVER_EXTRA = "  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  log_requests: true"


@dataclass
class Child:
    proc: asyncio.subprocess.Process
    out: list[bytes] = field(default_factory=list)

    async def pump(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.out.append(line)

    async def wait_for_line(self, pattern: re.Pattern[bytes], start: int = 0) -> re.Match[bytes]:
        for _ in range(int(BOUND_S / 0.02)):
            for line in self.out[start:]:
                if m := pattern.search(line):
                    return m
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no line matching {pattern.pattern!r} in {b''.join(self.out)[-2000:]!r}")


@dataclass
class Run:
    stdout: bytes
    stderr: bytes
    returncode: int
    db: str
    metrics: bytes
    statuses: dict[str, int]


async def serve_scenario(tmp_path: Path, bad: FakeProvider, good: FakeProvider) -> Run:
    env = secret_env(tmp_path)
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(obs_yaml(bad.openai_base, good.openai_base, extra=SERVER_EXTRA))
    proc = await asyncio.create_subprocess_exec(
        ROUTECAR, "serve", "-c", str(cfg), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(**env), preexec_fn=die_with_parent)
    child = Child(proc)
    pump = asyncio.create_task(child.pump())
    try:
        m = await child.wait_for_line(LISTENING)
        data_url, admin_url = f"http://127.0.0.1:{int(m[1])}", f"http://127.0.0.1:{int(m[2])}"
        statuses = {}
        async with aiohttp.ClientSession() as http:
            for kind in TRAFFIC:
                statuses[kind] = (await send(http, data_url, kind)).status
            # A reload that fails validation, quoting the key in its error: refused, logged, counted.
            mark = len(child.out)
            cfg.write_text(obs_yaml(bad.openai_base, good.openai_base, extra=SERVER_EXTRA)
                           .replace("max_body_bytes: 4096", 'max_body_bytes: "${KEY}"'))
            proc.send_signal(signal.SIGHUP)
            await child.wait_for_line(re.compile(rb"config reload refused"), mark)
            async with http.get(admin_url + "/metrics") as resp:
                metrics = await resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        stderr = await asyncio.wait_for(proc.stderr.read(), BOUND_S)
        await asyncio.wait_for(pump, BOUND_S)
        returncode = await asyncio.wait_for(proc.wait(), BOUND_S)
    finally:
        await reap(proc)
        pump.cancel()
    return Run(b"".join(child.out), stderr, returncode, env["DB"], metrics, statuses)


def json_lines(stdout: bytes) -> list[dict[str, Any]]:
    """Every stdout line but the plain-text banner must be one JSON object."""
    lines = [line for line in stdout.splitlines() if line and not LISTENING.search(line)]
    return [orjson.loads(line) for line in lines]


async def test_serve_logs_one_json_line_per_request_and_never_a_key(fakes: tuple[FakeProvider, FakeProvider],
                                                                  tmp_path: Path) -> None:
    run = await serve_scenario(tmp_path, *fakes)
    assert run.returncode == 0, run.stderr.decode()
    assert run.statuses["ok"] == 200 and run.statuses["upstream_502"] == 502

    # Secrets: nowhere in what the process printed, nor in the route log it left behind.
    for blob, where in ((run.stdout, "stdout"), (run.stderr, "stderr"), (run.metrics, "/metrics")):
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} leaked into {where}"
    for path in sorted(Path(run.db).parent.glob(Path(run.db).name + "*")):
        for secret in SECRETS:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path.name}"

    lines = json_lines(run.stdout)
    requests = {line["request_id"]: line for line in lines if line["logger"] == "routecar.request"}
    assert len([line for line in lines if line["logger"] == "routecar.request"]) == len(TRAFFIC)
    assert set(requests) == {f"obs-{kind}" for kind in TRAFFIC}
    for kind, (_, _, status, outcome, attempts, stream) in TRAFFIC.items():
        line = requests[f"obs-{kind}"]
        assert (line["status"], line["outcome"], line["attempts"], line["stream"]) == \
            (status, outcome, attempts, stream), kind
        assert line["level"] == "info" and line["msg"] == "request" and line["ts"].endswith("Z")
        assert line["tokens"].keys() == {"prompt", "completion"} and line["latency_ms"] >= 0
    ok = requests["obs-failover"]
    assert (ok["chosen_model"], ok["provider"], ok["fallback"]) == ("backup", "good", True)
    assert ok["cost_usd"] > 0 and ok["tags"] == {"team": "obs", "kind": "failover"}
    assert "[REDACTED]" in requests["obs-echo_401"]["error"]
    assert "[REDACTED]" in requests["obs-echo_401_opaque"]["error"]

    refused = [line for line in lines if line["msg"].startswith("config reload refused")]
    assert len(refused) == 1 and refused[0]["level"] == "error"
    assert any("server.max_body_bytes" in e and "[REDACTED]" in e for e in refused[0]["errors"])
    assert b'routecar_config_reloads_total{result="error"} 1.0' in run.metrics

    # SIGTERM lost no row.
    assert {r["request_id"] for r in read_rows(run.db)} == set(requests)


async def test_log_requests_is_off_by_default(fakes: tuple[FakeProvider, FakeProvider], sidecar_factory: Any,
                                              tmp_path: Path) -> None:
    bad, good = fakes
    stream = io.StringIO()
    setup_logging("info", stream, redactor=Redactor())
    try:
        async with aiohttp.ClientSession() as http:
            for name, extra in (("off", ""), ("on", "  log_requests: true")):
                sc = await sidecar_factory(obs_yaml(bad.openai_base, good.openai_base, extra=extra),
                                           env={**secret_env(tmp_path), "DB": str(tmp_path / f"{name}.db")})
                async with http.post(sc.data_url + "/v1/chat/completions", json=chat("backup"),
                                     headers={"x-routecar-request-id": f"obs-{name}"}) as resp:
                    assert resp.status == 200
    finally:
        shutdown_logging()  # drains the writer thread into `stream`
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines if line["logger"] == "routecar.request"] == ["obs-on"]
