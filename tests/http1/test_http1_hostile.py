"""A hostile upstream: compression bombs, endless heads, interim floods, endless framing.

Every answer here is built to make the client hold or compute without bound; each test checks
the client stops at its budget, fails the exchange with the right error and drops the socket.
Memory is measured in-process with tracemalloc (the peak of Python-visible allocations,
zlib's buffers included).
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib

import pytest

from routecar.http1 import BodyTooLarge, MalformedResponse, Pool
from routecar.http1.connection import MAX_FRAMING, MAX_HEAD, MAX_HEADERS, MAX_INTERIM
from routecar.http1.response import DECODE_STEP, READ_LIMIT

from .bombs import GZIP, RAW, UNIT, ZLIB, zeros_bomb
from .rawserver import RawServer, drain_until_eof, ok, read_request, respond_with

GIB = 1 << 30
MIB = 1 << 20


def test_bombs_are_valid_streams() -> None:
    for wbits in (GZIP, ZLIB, RAW):
        data = zeros_bomb(wbits, 8 * UNIT)
        d = zlib.decompressobj(wbits)
        assert d.decompress(data) == bytes(8 * UNIT) and d.eof and not d.unused_data


def _sends_once(reply: bytes):
    """Answer the first request with `reply` (written in 64 KiB pieces), then wait for the close."""

    async def handler(reader, writer, srv: RawServer) -> None:
        req = await read_request(reader)
        if req is None:
            return
        srv.requests.append(req)
        for i in range(0, len(reply), 1 << 16):
            writer.write(reply[i:i + (1 << 16)])
            await writer.drain()
        await drain_until_eof(reader, srv)

    return handler


def _compressed_reply(encoding: bytes, payload: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding, len(payload))
            + payload)


class _Peak:
    """tracemalloc's peak over a block, above what was allocated when it began."""

    def __enter__(self) -> "_Peak":
        tracemalloc.start()
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1] - self.base
        tracemalloc.stop()


@pytest.mark.parametrize("encoding, wbits", [(b"gzip", GZIP), (b"deflate", ZLIB), (b"deflate", RAW)],
                         ids=["gzip", "deflate-zlib", "deflate-raw"])
async def test_bomb_read_whole_stops_at_max_body(raw_server, make_pool, encoding, wbits) -> None:
    bomb = zeros_bomb(wbits, GIB)  # ~1 MiB on the wire
    srv = await raw_server(_sends_once(_compressed_reply(encoding, bomb)))
    pool: Pool = make_pool(srv.url)
    with _Peak() as mem:
        resp = await pool.request("POST", srv.url, {}, b"{}", max_body=16 * MIB)
        with pytest.raises(BodyTooLarge):
            await resp.read()
    assert mem.peak < 64 * MIB, f"peak {mem.peak / MIB:.1f} MiB"
    assert resp.complete and resp.closed
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


async def test_bomb_read_without_max_body_stops_at_the_read_limit(raw_server, make_pool) -> None:
    bomb = zeros_bomb(GZIP, GIB)
    srv = await raw_server(_sends_once(_compressed_reply(b"gzip", bomb)))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}")
    with pytest.raises(BodyTooLarge) as info:
        await resp.read()
    assert str(READ_LIMIT) in str(info.value)
    await srv.wait_peer_closed(1)


@pytest.mark.parametrize("wbits", [GZIP, RAW], ids=["gzip", "deflate-raw"])
async def test_bomb_streamed_with_readany_holds_one_step_at_a_time(raw_server, make_pool, wbits) -> None:
    bomb = zeros_bomb(wbits, GIB)
    encoding = b"gzip" if wbits == GZIP else b"deflate"
    srv = await raw_server(_sends_once(_compressed_reply(encoding, bomb)))
    pool: Pool = make_pool(srv.url)
    got = 0
    largest = 0
    with _Peak() as mem:
        resp = await pool.request("POST", srv.url, {}, b"{}")  # a stream: no max_body
        while got < 64 * MIB:
            piece = await resp.readany()
            assert piece and not piece.strip(b"\0")
            largest = max(largest, len(piece))
            got += len(piece)
        resp.close()
    assert largest <= DECODE_STEP
    assert mem.peak < 16 * MIB, f"peak {mem.peak / MIB:.1f} MiB"
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


async def test_max_body_on_a_plain_body(raw_server, make_pool) -> None:
    body = bytes(range(256)) * 40  # 10240 bytes
    srv = await raw_server(respond_with(ok(body)))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}", max_body=len(body))
    assert await resp.read() == body  # exactly at the cap is fine
    resp = await pool.request("POST", srv.url, {}, b"{}", max_body=len(body) - 1)
    with pytest.raises(BodyTooLarge):
        await resp.read()
    assert pool.open_connections <= 1 and pool.idle_connections == 0  # the second socket went


async def test_max_body_applies_to_a_stream_too(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):
            writer.write(b"400\r\n" + b"e" * 1024 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0)
        await drain_until_eof(reader, srv)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}", max_body=10_000)
    got = b""
    with pytest.raises(BodyTooLarge):
        for _ in range(200):
            got += await resp.readany()
    assert len(got) <= 10_000
    await srv.wait_peer_closed(1)


async def test_highly_compressed_legit_body_decodes_whole_and_keeps_the_socket(raw_server, make_pool) -> None:
    # 8 MiB out of ~8 KiB: most of it is decoded after the socket went back to the pool.
    text = (b'{"data": "' + b"0123456789abcdef" * (MIB // 2) + b'"}')
    payload = gzip.compress(text)
    srv = await raw_server(respond_with(_compressed_reply(b"gzip", payload), ok(b"next")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}")
    assert await resp.read() == text
    assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"next"
    assert srv.accepted == 1


async def test_readany_on_a_compressed_body_yields_bounded_pieces_in_order(raw_server, make_pool) -> None:
    text = b"".join(b"line %08d\n" % i for i in range(400_000))  # ~5.6 MiB, compresses ~10x
    payload = gzip.compress(text)
    srv = await raw_server(respond_with(_compressed_reply(b"gzip", payload)))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}")
    pieces = []
    for _ in range(10_000):
        piece = await resp.readany()
        if not piece:
            break
        pieces.append(piece)
    assert b"".join(pieces) == text
    assert max(map(len, pieces)) <= 1 << 21  # one step per wake-up at most, plus what sat in the buffer


async def test_closing_a_decoded_response_late_leaves_the_next_exchange_alone(raw_server, make_pool) -> None:
    # The first answer is on the wire in full (its socket back in the pool) while most of it is
    # still to be decoded; closing it then must not drop the socket, now carrying the second.
    text = bytes(4 * MIB)
    release = asyncio.Event()

    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(_compressed_reply(b"gzip", gzip.compress(text)))
        await read_request(reader)
        await release.wait()
        writer.write(ok(b"second"))
        await drain_until_eof(reader, srv)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url, max_connections=1)
    first = await pool.request("POST", srv.url, {}, b"{}")
    assert len(await first.readany()) <= DECODE_STEP
    for _ in range(200):
        if pool.idle_connections == 1:
            break
        await asyncio.sleep(0.005)
    assert pool.idle_connections == 1 and not first.complete
    second = asyncio.create_task(pool.request("POST", srv.url, {}, b"{}"))
    await asyncio.sleep(0.01)
    first.close()
    release.set()
    assert await (await asyncio.wait_for(second, 2)).read() == b"second"
    assert srv.accepted == 1


@pytest.mark.parametrize("payload", [
    gzip.compress(bytes(MIB))[:-8],  # the checksum and size are missing
    zeros_bomb(GZIP, 4 * MIB)[:-300],  # cut inside the deflate stream, with output still to come
    gzip.compress(b"hello") + b"trailing junk",
    gzip.compress(b"hello") + gzip.compress(b"again"),  # a second member: not something servers send
], ids=["no-trailer", "cut-mid-stream", "junk-after-end", "second-member"])
async def test_compressed_body_not_whole_is_malformed(raw_server, make_pool, payload) -> None:
    srv = await raw_server(respond_with(_compressed_reply(b"gzip", payload), ok(b"next")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}")
    with pytest.raises(MalformedResponse):
        await resp.read()
    assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"next"


async def test_five_thousand_interim_answers_are_refused_without_recursion(raw_server, make_pool) -> None:
    flood = b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + ok(b"late")
    srv = await raw_server(_sends_once(flood))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(MalformedResponse, match="interim"):
        await pool.request("POST", srv.url, {}, b"{}")
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


async def test_interim_answers_up_to_the_cap_are_skipped(raw_server, make_pool) -> None:
    ok_reply = b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" * MAX_INTERIM + ok(b"final")
    over = b"HTTP/1.1 103 Early Hints\r\n\r\n" * (MAX_INTERIM + 1) + ok(b"final")
    srv = await raw_server(respond_with(ok_reply, over, ok(b"fresh")))
    pool: Pool = make_pool(srv.url)
    assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"final"
    with pytest.raises(MalformedResponse, match="interim"):
        await pool.request("POST", srv.url, {}, b"{}")
    assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"fresh"


async def test_interim_answers_count_in_the_head_budget(raw_server, make_pool) -> None:
    pad = b"X-Pad: " + b"p" * (MAX_HEAD // 4) + b"\r\n"
    flood = (b"HTTP/1.1 103 Early Hints\r\n" + pad + b"\r\n") * 4 + ok(b"final")  # each alone is fine
    srv = await raw_server(_sends_once(flood))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(MalformedResponse, match="head too large"):
        await pool.request("POST", srv.url, {}, b"{}")


async def test_interim_answer_with_a_body_is_malformed(raw_server, make_pool) -> None:
    srv = await raw_server(_sends_once(b"HTTP/1.1 199 Odd\r\nContent-Length: 3\r\n\r\nabc" + ok(b"final")))
    pool: Pool = make_pool(srv.url)
    with pytest.raises(MalformedResponse):
        await pool.request("POST", srv.url, {}, b"{}")


@pytest.mark.parametrize("extra", [0, 1], ids=["at-limit", "one-over"])
async def test_head_budget_is_exact_with_the_body_in_the_same_write(raw_server, make_pool, extra) -> None:
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Pad: "
    end = b"\r\n\r\n"
    head = start + b"p" * (MAX_HEAD - len(start) - len(end) + extra) + end
    assert len(head) == MAX_HEAD + extra
    srv = await raw_server(respond_with(head + b"body", ok(b"next")))
    pool: Pool = make_pool(srv.url)
    if extra:
        with pytest.raises(MalformedResponse, match="head too large"):
            await pool.request("POST", srv.url, {}, b"{}")
    else:
        assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"body"
        assert await (await pool.request("POST", srv.url, {}, b"{}")).read() == b"next"
        assert srv.accepted == 1


@pytest.mark.parametrize("count", [MAX_HEADERS, MAX_HEADERS + 1], ids=["at-limit", "one-over"])
async def test_header_count_is_capped(raw_server, make_pool, count) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(count - 1))
    reply = head + b"Content-Length: 2\r\n\r\nhi"
    srv = await raw_server(respond_with(reply))
    pool: Pool = make_pool(srv.url)
    if count > MAX_HEADERS:
        with pytest.raises(MalformedResponse, match="too many"):
            await pool.request("POST", srv.url, {}, b"{}")
    else:
        resp = await pool.request("POST", srv.url, {}, b"{}")
        assert len(resp.headers) == MAX_HEADERS and await resp.read() == b"hi"


async def test_header_value_streamed_without_end_is_cut_at_the_head_budget(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(1000):  # up to 16 MiB, far past the budget
            writer.write(b"v" * (16 << 10))
            await writer.drain()
            await asyncio.sleep(0)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    with _Peak() as mem:
        with pytest.raises(MalformedResponse, match="head too large"):
            await pool.request("POST", srv.url, {}, b"{}")
    assert mem.peak < 8 * MIB
    await srv.wait_peer_closed(1)


@pytest.mark.parametrize("framing", [
    b"2;" + b"e" * (4 * MAX_FRAMING),  # an endless chunk extension
    b"2\r\nhi\r\n0\r\nX-Trailer: " + b"t" * (4 * MAX_FRAMING),  # an endless trailer
    b"2\r\nhi\r\n0\r\n" + b"X-T: 1\r\n" * (MAX_FRAMING // 2),  # endless trailer lines
], ids=["extension", "trailer-value", "trailer-lines"])
async def test_endless_chunk_framing_is_malformed(raw_server, make_pool, framing) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framing
    srv = await raw_server(_sends_once(reply))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("POST", srv.url, {}, b"{}")
    with pytest.raises(MalformedResponse, match="framing"):
        await resp.read()
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0
