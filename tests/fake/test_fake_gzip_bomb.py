"""gzip_bomb on the wire: a valid gzip body that inflates to N MiB from ~1 KiB per MiB."""

from __future__ import annotations

import pytest

from routecar.fake.gzip_bomb import MIB, gzip_bomb
from routecar.fake.server import FakeProvider
from tests.fake.rawhttp import CONTENT_MARK, Inflater, chat_request, chunks, read_head, send, wait_idle

DIALECTS = ("openai", "anthropic", "gemini")
KEEP = 16 * 1024  # inflated bytes kept to inspect: the lead is far smaller


async def _inflate(fake: FakeProvider, path: str, body: dict, limit: int) -> tuple[int, Inflater]:
    conn = await send(fake.port, "POST", path, body)
    try:
        head, _ = await read_head(conn)
        assert head.headers["content-encoding"] == "gzip"
        assert head.headers["transfer-encoding"] == "chunked"
        inflater = Inflater(keep=KEEP)
        async for piece in chunks(conn, limit):
            inflater.feed(piece)
        return head.status, inflater
    finally:
        await conn.close()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unary_bomb_is_the_answer_start_then_n_mib(fake: FakeProvider, dialect: str) -> None:
    fake.set_faults({"gzip_bomb": 16})
    path, body = chat_request(dialect, stream=False)
    status, inflater = await _inflate(fake, path, body, limit=1 * MIB)
    assert status == 200 and inflater.complete and inflater.filler_ok
    lead = bytes(inflater.kept).rstrip(b"A")
    assert lead.startswith(b'{"') and lead.endswith(b'"')  # the JSON opens a string that never closes
    assert inflater.total - len(lead) == 16 * MIB
    assert inflater.compressed < 16 * 1100 + 1024  # ~1/1000 of what it inflates to
    await wait_idle(fake)


async def test_true_is_a_gibibyte_from_about_a_mebibyte(fake: FakeProvider) -> None:
    fake.set_faults({"gzip_bomb": True})
    path, body = chat_request("openai", stream=False)
    status, inflater = await _inflate(fake, path, body, limit=2 * MIB)
    lead = bytes(inflater.kept).rstrip(b"A")
    assert status == 200 and inflater.complete and inflater.filler_ok
    assert inflater.total - len(lead) == 1024 * MIB
    assert 0.9 * MIB < inflater.compressed < 1.2 * MIB


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("after", [0, 2])
async def test_stream_bomb_after_valid_events(fake: FakeProvider, dialect: str, after: int) -> None:
    fake.set_faults({"gzip_bomb": 4, "gzip_bomb_after_chunks": after})
    path, body = chat_request(dialect, stream=True)
    status, inflater = await _inflate(fake, path, body, limit=1 * MIB)
    assert status == 200 and inflater.complete and inflater.filler_ok
    lead = bytes(inflater.kept).rstrip(b"A")
    assert lead.count(CONTENT_MARK[dialect]) == after
    # The lead is whole events; the filler after it never reaches an event boundary.
    assert lead == b"" or lead.endswith((b"\n\n", b"\r\n\r\n"))
    assert inflater.total - len(lead) == 4 * MIB
    await wait_idle(fake)


async def test_client_leaving_mid_bomb_ends_the_handler(fake: FakeProvider) -> None:
    fake.set_faults({"gzip_bomb": 16 * 1024})  # 16 GiB: far more than we read
    path, body = chat_request("openai", stream=True)
    conn = await send(fake.port, "POST", path, body)
    head, _ = await read_head(conn)
    assert head.status == 200
    async for _ in chunks(conn, limit=64 * 1024):
        pass
    await conn.close()
    await wait_idle(fake)


def test_bomb_pieces_are_bounded_and_valid() -> None:
    pieces = list(gzip_bomb(b"lead", 200))
    assert max(len(p) for p in pieces) <= 70 * 1024  # never a whole bomb in one buffer
    inflater = Inflater(keep=4)
    for piece in pieces:
        inflater.feed(piece)
    assert bytes(inflater.kept) == b"lead" and inflater.total == 4 + 200 * MIB and inflater.complete
