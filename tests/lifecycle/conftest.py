"""A real `routecar serve` process for lifecycle tests: signals, drain, reload."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest

from tests.processes import die_with_parent, reap

ROUTECAR = str(Path(sys.executable).with_name("routecar"))
_LISTENING = re.compile(r"routecar listening on http://[^:]+:(\d+) \(admin http://[^:]+:(\d+)\)")
START_TIMEOUT_S = 20.0
EXIT_TIMEOUT_S = 20.0


def sidecar_yaml(db: Path, drain: str, providers: dict[str, str], routes: str = "",
                 timeouts: str = "{connect: 1s, first_token: 5s, idle: 5s, total: 60s}") -> str:
    """Loopback sockets on free ports; model NAME served by provider NAME at the given base URL."""
    provs = "\n".join(f"  {n}: {{type: openai, base_url: '{u}', api_key: 'sk-test-{n}', timeouts: {timeouts}}}"
                      for n, u in providers.items())
    models = "\n".join(f"  {n}:\n    price: {{input: 1.0, output: 2.0}}\n    deployments:\n"
                       f"      - {{provider: {n}, model: up-{n}}}" for n in providers)
    return f"""
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  drain_timeout: {drain}
providers:
{provs}
models:
{models}
{routes}
route_log:
  path: '{db}'
  flush_interval: 50ms
"""


def write_atomically(path: Path, text: str) -> None:
    """How editors and config tools replace a file: the watcher never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SidecarProcess:
    """`routecar serve -c CONFIG` as a child process, its output collected line by line."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.config = config
        self.env = env  # the process's whole environment (None: this one's)
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.data_url = ""
        self.admin_url = ""
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            ROUTECAR, "serve", "-c", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, preexec_fn=die_with_parent,
            env=self.env,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self._listening.wait(), START_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise AssertionError("routecar did not start:\n" + self.output()) from None

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():  # ends at EOF: the process exited
            text = line.decode(errors="replace").rstrip()
            self.lines.append(text)
            match = _LISTENING.search(text)
            if match:
                self.data_url = f"http://127.0.0.1:{match.group(1)}"
                self.admin_url = f"http://127.0.0.1:{match.group(2)}"
                self._listening.set()

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        assert self.proc is not None
        try:
            rc = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("routecar did not exit:\n" + self.output()) from None
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return rc

    def output(self) -> str:
        return "\n".join(self.lines[-60:])

    async def kill(self) -> None:
        if self.proc is not None:
            await reap(self.proc)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


@pytest.fixture
async def spawn() -> AsyncIterator:
    started: list[SidecarProcess] = []

    async def start(config: Path) -> SidecarProcess:
        sp = SidecarProcess(config)
        started.append(sp)
        await sp.start()
        return sp

    try:
        yield start
    finally:
        # Every one, even when killing an earlier one failed: no serve outlives its test.
        errors = []
        for sp in started:
            try:
                await sp.kill()
            except Exception as exc:  # noqa: BLE001 - reported after the others are gone
                errors.append(exc)
        if errors:
            raise errors[0]
