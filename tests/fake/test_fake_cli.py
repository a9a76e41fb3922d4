"""`routecar fake-provider`: flags, profiles, and a real process serving until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

import aiohttp
import pytest

from routecar.fake.cli import PROFILES, add_arguments, build_kwargs
from routecar.fake.server import FakeProvider
from tests.processes import async_child, die_with_parent, reap


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_override_profile() -> None:
    kwargs = build_kwargs(_parse("--port", "1", "--profile", "slow", "--latency-ms", "5", "--require-key"))
    assert kwargs["latency_ms"] == 5 and kwargs["chunk_delay_ms"] == PROFILES["slow"]["chunk_delay_ms"]
    assert kwargs["require_key"] is True
    faults = build_kwargs(_parse("--port", "1", "--profile", "down", "--faults", '{"status": 429}'))["faults"]
    assert faults == {"status": 429}
    with pytest.raises(ValueError):
        build_kwargs(_parse("--port", "1", "--faults", '{"bogus": 1}'))
    with pytest.raises(SystemExit):
        _parse("--profile", "slow")  # --port is required


async def test_every_profile_builds_a_working_app() -> None:
    for name in PROFILES:
        async with FakeProvider(name=name, **build_kwargs(_parse("--port", "1", "--profile", name))):
            pass


async def test_stream_cut_profile_cuts(http: aiohttp.ClientSession) -> None:
    kwargs = build_kwargs(_parse("--port", "1", "--profile", "stream-cut"))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with FakeProvider(**kwargs) as fp:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.post(fp.openai_base + "/chat/completions", json=body) as resp:
                await resp.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_process_serves_until_sigterm(http: aiohttp.ClientSession) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "routecar.fake.cli", "--port", str(port), "--name", "proc",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_parent)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        assert line.decode().strip() == f"fake-provider proc listening on http://127.0.0.1:{port}"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as resp:
            assert (await resp.json())["choices"][0]["message"]["content"].startswith("Fake answer from proc:")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    finally:
        await reap(proc)


async def test_busy_port_fails_cleanly() -> None:
    async with FakeProvider() as fp:
        async with async_child(sys.executable, "-m", "routecar.fake.cli", "--port", str(fp.port),
                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) as proc:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 1 and b"cannot listen" in err and out == b""
