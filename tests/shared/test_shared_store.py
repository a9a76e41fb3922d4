"""Availability against a real redis-server: killed, hung, restarted, refusing the password."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from routecar.shared.results import UNAVAILABLE

from .conftest import RedisServer, SharedFactory, free_port

TIMEOUT = 0.05


def shared_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "routecar.shared" and r.levelno == level]


async def ping(state: Any) -> Any:
    return await state.store.call(lambda c: c.ping())


async def test_a_killed_redis_is_unavailable_at_once_logged_once_and_back_after_a_restart(
        redis_server: RedisServer, shared_factory: SharedFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routecar.shared")
    state = await shared_factory(timeout=TIMEOUT)
    assert await ping(state) is True and state.available

    redis_server.kill()
    started = time.monotonic()
    assert await ping(state) is UNAVAILABLE
    assert time.monotonic() - started < TIMEOUT + 0.05
    assert not state.available

    # While down, calls are not even attempted: no network, no timeout to wait out.
    started = time.monotonic()
    results = [await ping(state) for _ in range(200)]
    assert set(results) == {UNAVAILABLE}
    assert time.monotonic() - started < 0.1
    stats = state.stats()
    assert stats["calls"]["skipped"] >= 200 and stats["outages"] == 1
    warnings = shared_records(caplog, logging.WARNING)
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()

    await asyncio.sleep(0.1)
    assert state.store.unavailable_seconds() >= 0.1  # counted while it lasts, for the metrics
    redis_server.start()
    assert await state.store.wait_available(2.0), "the reconnect loop (backoff <= 100 ms) found it again"
    assert await ping(state) is True
    infos = [r for r in shared_records(caplog, logging.INFO) if "available again" in r.getMessage()]
    assert len(infos) == 1
    assert len(shared_records(caplog, logging.WARNING)) == 1
    assert state.store.unavailable_seconds() >= 0.1


async def test_a_hung_redis_costs_a_call_its_timeout_and_no_more(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    state = await shared_factory(timeout=TIMEOUT)
    assert await ping(state) is True
    sleeper = redis_server.send_nowait("DEBUG", "SLEEP", "0.5")
    try:
        await asyncio.sleep(0.02)  # the server is inside its sleep now
        started = time.monotonic()
        assert await ping(state) is UNAVAILABLE
        elapsed = time.monotonic() - started
        assert elapsed < TIMEOUT + 0.05, f"a call took {elapsed * 1000:.0f} ms against a hung Redis"
        assert state.stats()["calls"]["timeout"] == 1
        # It answers again once the sleep is over; the background PINGs notice.
        assert await state.store.wait_available(3.0)
        assert await ping(state) is True
    finally:
        sleeper.close()


async def test_a_paused_redis_is_bounded_the_same_and_recovers_on_resume(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    state = await shared_factory(timeout=TIMEOUT)
    redis_server.pause()  # SIGSTOP: sockets open, nothing answers, reconnects hang too
    try:
        started = time.monotonic()
        assert await ping(state) is UNAVAILABLE
        assert time.monotonic() - started < TIMEOUT + 0.05
        await asyncio.sleep(0.2)
        assert not state.available
    finally:
        redis_server.resume()
    assert await state.store.wait_available(3.0)


async def test_start_without_redis_serves_unavailable_and_connects_when_it_appears(
        tmp_path: Path, shared_factory: SharedFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routecar.shared")
    late = RedisServer(tmp_path / "late", port=free_port())
    (tmp_path / "late").mkdir()
    try:
        started = time.monotonic()
        state = await shared_factory(late.url, timeout=TIMEOUT)
        assert time.monotonic() - started < 1.5  # start-up never waits longer than the connect bound
        assert not state.available
        assert await ping(state) is UNAVAILABLE
        late.start()
        assert await state.store.wait_available(2.0)
        assert await ping(state) is True
        assert len(shared_records(caplog, logging.WARNING)) == 1
    finally:
        late.kill()


async def test_the_password_never_reaches_logs_or_stats(tmp_path: Path, shared_factory: SharedFactory,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-redis-pw-7f3a"
    locked = RedisServer(tmp_path, password=secret).start()
    try:
        good = await shared_factory(locked.url, timeout=TIMEOUT)
        assert await ping(good) is True
        assert secret not in str(good.stats()) and ":***@" in good.stats()["redis"]
        wrong = await shared_factory(locked.url.replace(secret, secret + "-wrong"), timeout=TIMEOUT)
        assert not wrong.available, "a refused password is an unavailable Redis"
        via_key = await shared_factory(f"redis://127.0.0.1:{locked.port}/0", password="not-" + secret, timeout=TIMEOUT)
        assert not via_key.available
        text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        assert "AuthenticationError" in text or "WRONGPASS" in text or "invalid" in text.lower()
        for s in (secret, "not-" + secret):
            assert s not in text
            assert s not in str(wrong.stats()) and s not in str(via_key.stats())
            assert s not in repr(wrong.cfg) and s not in repr(via_key.cfg)
    finally:
        locked.kill()


async def test_close_stops_the_reconnect_loop_promptly(redis_server: RedisServer,
                                                     shared_factory: SharedFactory) -> None:
    state = await shared_factory(timeout=TIMEOUT)
    redis_server.kill()
    assert await ping(state) is UNAVAILABLE
    started = time.monotonic()
    await state.close(timeout=0.2)
    await state.close(timeout=0.2)  # twice is harmless
    assert time.monotonic() - started < 1.0
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("shared-")]
    assert tasks == []


async def test_scripts_survive_a_script_flush_alone_and_in_a_batch(
        shared_factory: SharedFactory, redis_client: Any) -> None:
    state = await shared_factory()
    store = state.store
    script = store.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await store.run(script, ("s-one",), (2,)) == 2
    await redis_client.script_flush()  # as after a Redis restart: NOSCRIPT on the next EVALSHA
    assert await store.run(script, ("s-one",), (3,)) == 5
    await redis_client.script_flush()

    def fill(batch: Any) -> None:
        batch.script(script, ("s-two",), (1,))
        batch.command("INCRBY", "s-plain", 7)  # applied once: only the NOSCRIPT ones are re-sent
        batch.script(script, ("s-two",), (10,))

    assert await store.pipeline(fill) == [1, 7, 11]
    assert int(await redis_client.get("s-plain")) == 7


async def test_an_outage_hands_every_pooled_connection_back(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    # A pipeline holding a script used to keep its connection when Redis died under it (the
    # library's SCRIPT EXISTS round trip ran outside its reset), until the pool was dry and
    # the reconnect could never succeed.
    state = await shared_factory(timeout=TIMEOUT, max_connections=2)
    script = state.store.register_script("return 1")

    def fill(batch: Any) -> None:
        batch.script(script, ("k",), ())

    for _ in range(3):
        assert await state.store.pipeline(fill) == [1]
        redis_server.kill()
        assert await state.store.pipeline(fill) is UNAVAILABLE
        redis_server.start()
        assert await state.store.wait_available(3.0), state.stats()["last_error"]
