"""Faults below HTTP's answer on the wire: interim floods, garbage instead of HTTP, trickles."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from routecar.fake.rawwire import INTERIM_HEAD
from routecar.fake.server import FakeProvider
from tests.fake.rawhttp import (CONTENT_MARK, Conn, chat_request, chunks, read_head, read_until_eof, send,
                                wait_idle)

DIALECTS = ("openai", "anthropic", "gemini")


async def _count_interim_heads(conn: Conn) -> tuple[int, int]:
    """How many 100 heads came before the final head, and the final status."""
    count = 0
    while True:
        head, raw = await read_head(conn)
        if head.status != 100:
            return count, head.status
        assert raw == INTERIM_HEAD
        count += 1


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_interim_flood_precedes_a_real_answer(fake: FakeProvider, dialect: str) -> None:
    fake.set_faults({"interim_flood": 5000})
    path, body = chat_request(dialect, stream=False)
    conn = await send(fake.port, "POST", path, body, {"Connection": "close"})
    count, status = await _count_interim_heads(conn)
    answer = json.loads(await read_until_eof(conn, limit=1 << 20))
    await conn.close()
    assert (count, status) == (5000, 200) and answer


async def test_interim_flood_before_a_stream(fake: FakeProvider) -> None:
    fake.set_faults({"interim_flood": True})
    path, body = chat_request("openai", stream=True)
    conn = await send(fake.port, "POST", path, body)
    count, status = await _count_interim_heads(conn)
    events = b"".join([piece async for piece in chunks(conn, limit=1 << 20)])
    await conn.close()
    assert (count, status) == (1000, 200)
    assert events.endswith(b"data: [DONE]\n\n") and events.count(CONTENT_MARK["openai"]) == 8


async def test_interim_flood_then_an_error_status(fake: FakeProvider) -> None:
    fake.set_faults({"interim_flood": 3, "status": 503})
    path, body = chat_request("gemini", stream=False)
    conn = await send(fake.port, "POST", path, body)
    assert await _count_interim_heads(conn) == (3, 503)
    await conn.close()


async def test_client_leaving_mid_flood_ends_it(fake: FakeProvider) -> None:
    fake.set_faults({"interim_flood": 1_000_000})  # 25 MB of heads: far more than we read
    path, body = chat_request("openai", stream=False)
    conn = await send(fake.port, "POST", path, body)
    for _ in range(100):
        head, _ = await read_head(conn)
        assert head.status == 100
    await conn.close()
    await wait_idle(fake)
    assert fake.stats()["by_status"] == {"499": 1}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_garbage_is_not_http(fake: FakeProvider, dialect: str, stream: bool) -> None:
    fake.set_faults({"garbage": 3000, "seed": 11})
    path, body = chat_request(dialect, stream)
    conn = await send(fake.port, "POST", path, body)
    data = await read_until_eof(conn, limit=1 << 20)  # returns because the fake closes
    await conn.close()
    assert len(data) == 3000 and not data.startswith(b"HTTP/")
    assert b"HTTP/1.1" not in data
    await wait_idle(fake)
    assert fake.stats()["by_status"] == {"444": 1}


async def test_garbage_is_seeded(fake: FakeProvider) -> None:
    received = []
    for seed in (5, 5, 6):
        fake.set_faults({"garbage": True, "seed": seed})
        path, body = chat_request("openai", stream=False)
        conn = await send(fake.port, "POST", path, body)
        received.append(await read_until_eof(conn, limit=1 << 20))
        await conn.close()
    assert received[0] == received[1] != received[2]
    assert len(received[0]) == 4096
    # The same bytes Python's seeded generator makes (the first one is never an "H").
    assert received[0][1:] == random.Random(5).randbytes(4096)[1:]


async def test_trickled_stream_is_sent_a_few_bytes_per_write(fake: FakeProvider) -> None:
    fake.set_faults({"trickle_ms": 1, "trickle_bytes": 7})
    path, body = chat_request("anthropic", stream=True)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    pieces = [piece async for piece in chunks(conn, limit=1 << 20)]
    await conn.close()
    assert head.status == 200 and max(len(p) for p in pieces) == 7
    assert b"".join(pieces).endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_trickled_answer_is_slow_but_whole(fake: FakeProvider, dialect: str) -> None:
    path, body = chat_request(dialect, stream=False)
    fake.set_faults({"trickle_ms": 2, "trickle_bytes": 64})
    loop = asyncio.get_running_loop()
    started = loop.time()
    conn = await send(fake.port, "POST", path, body, {"Connection": "close"})
    head, _ = await read_head(conn)
    answer = await read_until_eof(conn, limit=1 << 20)
    elapsed = loop.time() - started
    await conn.close()
    assert head.status == 200 and int(head.headers["content-length"]) == len(answer)
    assert json.loads(answer)
    # One pause per 64-byte piece: a lower bound that only sleeping can produce.
    assert elapsed >= (len(answer) // 64) * 0.002
