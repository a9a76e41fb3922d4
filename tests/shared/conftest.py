"""A real redis-server for tests: on a free 127.0.0.1 port, in a temp dir, nothing persisted.

`RedisServer` is importable (`from tests.shared.conftest import RedisServer`) for other test
packages. The process is always killed: by the fixture's teardown, by `stop()`/`kill()`, and,
should the test process itself die, by the kernel (it is started with a parent-death signal).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest

from routecar.config.model import RedisConfig, SharedStateConfig
from routecar.shared.availability import Backoff
from routecar.shared.state import SharedState

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
_PR_SET_PDEATHSIG = 1


# Loaded here, in the parent: between fork and exec the child only makes the one prctl call.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child before exec: SIGKILL it when the test process goes, however it goes.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(port: int, cmd: bytes, timeout: float, password: str | None = None) -> bytes:
    """One raw RESP exchange; b'' when the server cannot be reached."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            if password is not None:
                s.sendall(f"AUTH {password}\r\n".encode())
                s.recv(64)
            s.sendall(cmd)
            return s.recv(256)
    except OSError:
        return b""


class RedisServer:
    """start() / stop() / kill() / restart() / pause() / resume(); `url` to connect."""

    def __init__(self, directory: Path, port: int | None = None, password: str | None = None) -> None:
        self.dir = directory
        self.port = port or free_port()
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 5.0) -> RedisServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--enable-debug-command", "local",
                "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)  # noqa: PLW1509 (one prctl call)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} (port {self.port} taken?)")
            if self.ping():
                return self
            time.sleep(0.005)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {timeout}s")

    def ping(self, timeout: float = 0.2) -> bool:
        return _command(self.port, b"PING\r\n", timeout, self.password).startswith(b"+PONG")

    def command(self, *parts: str, timeout: float = 1.0) -> bytes:
        """Send one command (RESP array) on a fresh connection; the first bytes of the reply."""
        body = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
        return _command(self.port, body.encode(), timeout, self.password)

    def send_nowait(self, *parts: str) -> socket.socket:
        """Send a command without reading its reply (e.g. DEBUG SLEEP); close the socket after."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
        if self.password:
            s.sendall(f"AUTH {self.password}\r\n".encode())
            s.recv(64)
        s.sendall((f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts)).encode())
        return s

    def pause(self) -> None:
        """SIGSTOP: the sockets stay open but nothing answers (a hung Redis)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, nothing flushed."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, should it be paused), then SIGKILL if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            self.resume()
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def restart(self, timeout: float = 5.0) -> RedisServer:
        """Kill, then start again on the same port (empty: nothing was saved)."""
        self.kill()
        return self.start(timeout)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server.start()
    finally:
        server.resume()
        server.kill()


def shared_config(url: str, *, timeout: float = 0.05, on_unavailable: str = "local", prefix: str = "routecar:",
                  max_connections: int = 4, password: str | None = None) -> SharedStateConfig:
    return SharedStateConfig(RedisConfig(url, key_prefix=prefix, timeout=timeout, max_connections=max_connections,
                                         password=password), on_unavailable=on_unavailable)


SharedFactory = Callable[..., Awaitable[SharedState]]


@pytest.fixture
async def shared_factory(redis_server: RedisServer) -> AsyncIterator[SharedFactory]:
    """Started SharedStates on the test's Redis (or `url=`), backoff 20 ms to 100 ms; all
    closed in teardown. The timeout is 1 s unless given: tests of what the features compute
    must not flip to unavailable because a busy CI machine stalled one call for 50 ms; the
    availability tests pass the production-like 50 ms themselves."""
    made: list[SharedState] = []

    async def make(url: str | None = None, *, refresh_interval: float = 2.0, timeout: float = 1.0,
                   **kwargs: Any) -> SharedState:
        state = SharedState(shared_config(url or redis_server.url, timeout=timeout, **kwargs),
                            backoff=Backoff(0.02, 0.1),
                            refresh_interval=refresh_interval)
        made.append(state)
        await state.start()
        return state

    yield make
    for state in made:
        await state.close(timeout=0.5)


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Any]:
    """A plain redis-py client on the test's Redis, to look at what the store wrote."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
    yield client
    await client.aclose()
