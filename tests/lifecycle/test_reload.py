"""Hot reload: under load with a real process and SIGHUP, ConfigMap symlink swaps, retired sessions."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from routecar.config.loader import load_config
from routecar.server.app import Sidecar
from tests.helpers import read_rows

from .conftest import sidecar_yaml, write_atomically

CHAT = [{"role": "user", "content": "hello"}]
MAIN_ROUTE = "routes:\n  main: {strategy: ordered, candidates: [fast]}"
BOTH_ROUTES = MAIN_ROUTE + "\n  extra: {strategy: cheapest, candidates: [fast]}"
BAD_ROUTES = BOTH_ROUTES + "\n  broken: {strategy: ordered, candidates: [no-such-model], colour: blue}"


async def model_ids(session: aiohttp.ClientSession, data_url: str) -> set[str]:
    async with session.get(data_url + "/v1/models") as resp:
        return {m["id"] for m in (await resp.json())["data"]}


async def reloads(session: aiohttp.ClientSession, admin_url: str) -> dict[str, float]:
    async with session.get(admin_url + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "routecar_config_reloads_total":
                out[sample.labels["result"]] = sample.value
    return out


async def config_hash(session: aiohttp.ClientSession, admin_url: str) -> str:
    async with session.get(admin_url + "/readyz") as resp:
        return (await resp.json())["config_hash"]


async def eventually(probe: Any, what: str, tries: int = 200, pause: float = 0.05) -> None:
    for _ in range(tries):  # bounded
        if await probe():
            return
        await asyncio.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}")


async def test_no_request_fails_across_reloads_under_load(tmp_path: Path, fake_factory, spawn):
    fast = await fake_factory("fast", latency_ms=5)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "5s", {"fast": fast.openai_base}, MAIN_ROUTE))
    sp = await spawn(cfg)
    statuses: list[int] = []
    failures: list[str] = []
    extra_visible = asyncio.Event()
    done = asyncio.Event()

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        for i in range(2000):  # bounded; normally ends at `done` once 300 requests were answered
            if done.is_set() and len(statuses) >= 300:
                return
            model = "extra" if extra_visible.is_set() and (i + n) % 2 else "main"
            try:
                async with session.post(sp.data_url + "/v1/chat/completions",
                                        json={"model": model, "messages": CHAT}) as resp:
                    await resp.read()
                    statuses.append(resp.status)
            except aiohttp.ClientError as exc:
                failures.append(type(exc).__name__)

    async def operator(session: aiohttp.ClientSession) -> None:
        async def answered() -> bool:
            return len(statuses) >= 50
        await eventually(answered, "load to start")
        old_hash = await config_hash(session, sp.admin_url)
        cfg.write_text(sidecar_yaml(db, "5s", {"fast": fast.openai_base}, BOTH_ROUTES))  # in place, as `vi` does

        async def extra_listed() -> bool:
            return "extra" in await model_ids(session, sp.data_url)
        await eventually(extra_listed, "the new route to serve")
        extra_visible.set()
        good_hash = await config_hash(session, sp.admin_url)
        assert good_hash != old_hash
        write_atomically(cfg, sidecar_yaml(db, "5s", {"fast": fast.openai_base}, BAD_ROUTES))
        sp.send(signal.SIGHUP)

        async def refused() -> bool:
            return (await reloads(session, sp.admin_url)).get("error", 0) >= 1
        await eventually(refused, "the bad file to be refused")
        assert await config_hash(session, sp.admin_url) == good_hash
        assert "broken" not in await model_ids(session, sp.data_url)
        assert (await reloads(session, sp.admin_url))["ok"] == 1
        done.set()

    # The operator has its own session: the workers keep every pooled connection busy.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as load, \
            aiohttp.ClientSession() as ops:
        await asyncio.gather(operator(ops), *(worker(load, n) for n in range(8)))
        assert "extra" in await model_ids(ops, sp.data_url)
    assert failures == []
    assert len(statuses) >= 300 and set(statuses) == {200}
    assert any("config reload refused" in line and "colour" in line for line in sp.lines), sp.output()
    sp.send(signal.SIGTERM)
    assert await sp.wait() == 0, sp.output()
    rows = read_rows(str(db))
    assert len(rows) == len(statuses)
    assert {r["route"] for r in rows} == {"main", "extra"}
    assert len({r["config_hash"] for r in rows}) == 2, "requests ran on the old config, then on the new one"


def _configmap(root: Path, stamp: str, text: str) -> None:
    """What the kubelet does: a new timestamped dir, then `..data` swapped to it in one rename."""
    (root / stamp).mkdir()
    (root / stamp / "sidecar.yaml").write_text(text)
    link = root / "..data_tmp"
    os.symlink(stamp, link)
    os.replace(link, root / "..data")


async def test_configmap_symlink_swap_triggers_a_reload(tmp_path: Path, fake_factory):
    fast = await fake_factory("fast")
    db = tmp_path / "routes.db"
    root = tmp_path / "configmap"
    root.mkdir()
    _configmap(root, "..2025_01_01_00_00_00.1", sidecar_yaml(db, "1s", {"fast": fast.openai_base}, MAIN_ROUTE))
    os.symlink("..data/sidecar.yaml", root / "sidecar.yaml")
    path = str(root / "sidecar.yaml")
    sc = Sidecar(load_config(path), path, watch_interval=0.05)
    await sc.start()
    try:
        rt = sc.runtime
        assert rt is not None
        first = rt.generation.config.hash
        async with aiohttp.ClientSession() as session:
            assert "extra" not in await model_ids(session, sc.data_url)
            _configmap(root, "..2025_01_01_00_01_00.2",
                       sidecar_yaml(db, "1s", {"fast": fast.openai_base}, BOTH_ROUTES))

            async def swapped() -> bool:
                return rt.generation.config.hash != first
            await eventually(swapped, "the symlink swap to be noticed")
            assert "extra" in await model_ids(session, sc.data_url)
            good = rt.generation.config.hash

            _configmap(root, "..2025_01_01_00_02_00.3",
                       sidecar_yaml(db, "1s", {"fast": fast.openai_base}, BAD_ROUTES))

            async def refused() -> bool:
                return (await reloads(session, sc.admin_url)).get("error", 0) >= 1
            await eventually(refused, "the bad swap to be refused")
            assert rt.generation.config.hash == good
            async with session.post(sc.data_url + "/v1/chat/completions",
                                    json={"model": "extra", "messages": CHAT}) as resp:
                assert resp.status == 200
            assert await reloads(session, sc.admin_url) == {"ok": 1, "error": 1}
    finally:
        await sc.close()


async def test_a_stream_on_the_old_config_keeps_its_retired_session(tmp_path: Path, fake_factory):
    slow = await fake_factory("slow", chunks=8, chunk_delay_ms=50)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(sidecar_yaml(db, "10ms", {"slow": slow.openai_base}))
    sc = Sidecar(load_config(cfg), str(cfg), watch_interval=3600)  # reloads come from the test only
    await sc.start()
    try:
        rt = sc.runtime
        assert rt is not None
        old_session = rt.pools.get("slow")
        async with aiohttp.ClientSession() as session:
            async with session.post(sc.data_url + "/v1/chat/completions",
                                    json={"model": "slow", "messages": CHAT, "stream": True}) as resp:
                assert resp.status == 200
                async with asyncio.timeout(10):
                    first = await resp.content.readline()
                    assert first.startswith(b"data: ")
                    # A new pool size needs a new session; the old one is retired, not closed.
                    cfg.write_text(cfg.read_text().replace("sk-test-slow',", "sk-test-slow', max_connections: 7,"))
                    assert await sc.reload("test")
                    assert rt.pools.get("slow") is not old_session
                    rest = [line.strip() async for line in resp.content if line.strip()]
            assert rest[-1] == b"data: [DONE]"

            async def old_closed() -> bool:
                return old_session.closed
            await eventually(old_closed, "the retired session to close")
            async with session.post(sc.data_url + "/v1/chat/completions",
                                    json={"model": "slow", "messages": CHAT}) as resp:
                assert resp.status == 200
    finally:
        await sc.close()
