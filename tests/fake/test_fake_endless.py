"""endless_comments and unterminated_event on the wire: bodies that never end, until the
client leaves or the fault's cap passes, with the fake's own memory bounded meanwhile."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from routecar.fake.gzip_bomb import MIB
from routecar.fake.server import FakeProvider
from tests.fake.rawhttp import (CONTENT_MARK, chat_request, chunks, read_head, read_until_eof, send,
                                wait_idle)

DIALECTS = ("openai", "anthropic", "gemini")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_endless_comments_after_one_event(fake: FakeProvider, dialect: str) -> None:
    fake.set_faults({"endless_comments": True, "endless_comments_after_chunks": 1, "comment_interval_ms": 2})
    path, body = chat_request(dialect, stream=True)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    assert head.status == 200 and head.headers["content-type"].startswith("text/event-stream")
    pieces = []
    async for piece in chunks(conn, limit=1 << 30):
        pieces.append(piece)
        if len(pieces) == 1 + 40:  # the lead, then forty comments
            break
    lead, comments = pieces[0], pieces[1:]
    assert lead.count(CONTENT_MARK[dialect]) == 1
    assert set(comments) == {b": ping\n\n"}
    await conn.close()
    await wait_idle(fake)  # the client leaving ended the endless writer


async def test_endless_comments_from_the_start(fake: FakeProvider) -> None:
    fake.set_faults({"endless_comments": True, "comment_interval_ms": 1})
    path, body = chat_request("openai", stream=True)
    conn = await send(fake.port, "POST", path, body)
    await read_head(conn)
    seen = [piece async for piece in chunks(conn, limit=200 * 8)]
    assert seen[0].count(CONTENT_MARK["openai"]) == 0  # the role preamble only
    assert set(seen[1:]) == {b": ping\n\n"}
    await conn.close()
    await wait_idle(fake)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unary_endless_body_is_trickled_whitespace(fake: FakeProvider, dialect: str) -> None:
    fake.set_faults({"endless_comments": True, "comment_interval_ms": 1})
    path, body = chat_request(dialect, stream=False)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    assert head.status == 200 and head.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in head.headers
    seen = b"".join([piece async for piece in chunks(conn, limit=50)])
    assert seen == b" " * 50
    await conn.close()
    await wait_idle(fake)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("after", [0, 2])
async def test_unterminated_event_never_ends_its_line(fake: FakeProvider, dialect: str, after: int) -> None:
    fake.set_faults({"unterminated_event": True, "unterminated_after_chunks": after})
    path, body = chat_request(dialect, stream=True)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    assert head.status == 200
    data = bytearray()
    async for piece in chunks(conn, limit=2 * MIB):
        data += piece
    opening = data.rfind(b"data: ")
    lead, line = bytes(data[:opening]), bytes(data[opening + len(b"data: "):])
    assert lead.count(CONTENT_MARK[dialect]) == after
    assert len(line) > MIB  # a MiB into the event, still no end of line, let alone a blank one
    assert b"\n" not in line and b"\r" not in line
    await conn.close()
    await wait_idle(fake)


async def test_unary_unterminated_is_the_answer_start_then_endless_filler(fake: FakeProvider) -> None:
    fake.set_faults({"unterminated_event": True})
    path, body = chat_request("anthropic", stream=False)
    conn = await send(fake.port, "POST", path, body)
    await read_head(conn)
    data = b"".join([piece async for piece in chunks(conn, limit=MIB)])
    start = data.rstrip(b"A")
    assert start.startswith(b'{"') and start.endswith(b'"')  # a string opened, never closed
    assert len(data) >= MIB  # the read stopped at our limit, not at the body's end
    await conn.close()
    await wait_idle(fake)


async def test_cap_ends_an_endless_stream_by_hanging_up(fake: FakeProvider) -> None:
    fake.set_faults({"endless_comments": True, "cap_s": 0.3})
    path, body = chat_request("openai", stream=True)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    assert head.status == 200
    rest = await read_until_eof(conn, limit=MIB, timeout=10)  # ends because the fake hangs up
    assert b": ping\n\n" in rest and not rest.endswith(b"0\r\n\r\n")  # cut, not a finished body
    await conn.close()
    await wait_idle(fake)


async def test_a_client_that_stops_reading_costs_the_fake_no_memory(fake: FakeProvider) -> None:
    """~13 MB/s of endless line to a client that never reads: the fake waits in drain instead
    of buffering (unbounded, this would allocate tens of MB in the window)."""
    fake.set_faults({"unterminated_event": True})
    path, body = chat_request("openai", stream=True)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        conn = await send(fake.port, "POST", path, body)
        await asyncio.sleep(1.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 6 * MIB
    await conn.close()
    await wait_idle(fake)
