"""A hostile app over a raw socket: what llhttp refuses is answered with a JSON error, nothing of
the refused bytes is echoed, the caps hold however the bytes arrive, and pipelining stays in
order."""

from __future__ import annotations

import asyncio

import pytest

from routecar.http1.request_reader import MAX_HEAD, MAX_HEADERS
from routecar.http1.server import Request, Response

from .wire import WAIT, Reply, ServeFactory, closed, echo, read_reply, wait_until

ROUTES = {"/echo": {"GET": echo, "POST": echo}}
CONTROL = (b"\x00", b"\x01", b"\x1b", b"\x7f")
MARK = b"hostilemark"  # what must never come back


def post(headers: bytes = b"", body: bytes = b"{}") -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: x\r\n%bContent-Length: %d\r\n\r\n%b" % (headers, len(body), body)


def chunked(raw_chunks: bytes) -> bytes:
    return b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + raw_chunks


async def refused(reply: Reply, reader: asyncio.StreamReader, status: int) -> None:
    assert reply.status == status and reply.headers["Connection"] == "close"
    assert reply.json()["error"]["code"] == "bad_http_request"
    raw = reply.raw_head + reply.body
    assert MARK not in raw and b"Traceback" not in raw
    for byte in CONTROL:
        assert byte not in raw
    assert await closed(reader)


@pytest.mark.parametrize("byte", CONTROL + (b"\x08", b"\x0b"))
async def test_a_control_byte_in_a_header_value_is_refused_not_echoed(serve: ServeFactory, byte: bytes) -> None:
    served = await serve(ROUTES)
    line = b"x-routecar-request-id: " + MARK + byte + b"tail\r\n"
    reply, reader, _ = await served.ask(post(line))
    await refused(reply, reader, 400)


@pytest.mark.parametrize("name", [b"x-evil(" + MARK + b")", b"x-evil " + MARK, b"x-\xe9" + MARK, b"x-" + MARK + b"/"])
async def test_a_non_token_header_name_is_refused(serve: ServeFactory, name: bytes) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(post(name + b": v\r\n"))
    await refused(reply, reader, 400)


@pytest.mark.parametrize("raw_chunks", [
    b"5 \r\nhello\r\n0\r\n\r\n",
    b" 5\r\nhello\r\n0\r\n\r\n",
    b"5\t\r\nhello\r\n0\r\n\r\n",
    b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
    b"5;a=" + MARK + b"\x00\r\nhello\r\n0\r\n\r\n",
    b"0x5\r\nhello\r\n0\r\n\r\n",
    b"5\nhello\r\n0\r\n\r\n",
])
async def test_bad_chunk_framing_is_refused(serve: ServeFactory, raw_chunks: bytes) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(chunked(raw_chunks))
    await refused(reply, reader, 400)


async def test_one_header_too_many_is_a_431(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    lines = b"".join(b"x-" + MARK + b"-%d: f\r\n" % i for i in range(MAX_HEADERS + 1))
    reply, reader, _ = await served.ask(post(lines))
    await refused(reply, reader, 431)


async def test_a_100_kib_header_is_a_431(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(post(b"x-big: " + MARK + b"b" * (100 << 10) + b"\r\n"))
    await refused(reply, reader, 431)


async def test_a_20_kib_url_is_a_414(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(b"GET /echo?" + MARK + b"q" * (20 << 10) + b" HTTP/1.1\r\n\r\n")
    await refused(reply, reader, 414)


async def test_a_trickled_head_that_never_ends_is_refused_at_the_cap(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    await wait_until(lambda: len(served.server.connections) == 1, "the connection to be accepted")
    (conn,) = served.server.connections
    raw = b"GET /echo HTTP/1.1\r\nX-Slow: " + MARK + b"s" * MAX_HEAD
    sent = 0
    while sent <= MAX_HEAD:
        # One byte per read for the first KiB, then 512 at a time: the same path, a faster test.
        piece = raw[sent:sent + (1 if sent < 1024 else 512)]
        writer.write(piece)
        sent += len(piece)
        await wait_until(lambda: conn.reader.received == sent, f"byte {sent} to arrive")
        assert sent > MAX_HEAD or not conn.lingering  # not refused while it could still fit
    assert conn.lingering and conn.reader.received == sent  # refused at the first read over the cap
    await refused(await read_reply(reader), reader, 431)


async def test_pipelined_requests_of_every_framing_are_answered_in_order(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    requests = [
        (b"POST /echo?i=0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc"),
        (b"GET /echo?i=1 HTTP/1.1\r\n\r\n", ""),
        (b"POST /echo?i=2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nde", "de"),
        (b"POST /echo?i=3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nf\r\n0\r\nT: 1\r\n\r\n", "f"),
        (b"\r\nGET /echo?i=4 HTTP/1.1\r\n\r\n", ""),
    ] * 20
    writer.write(b"".join(raw for raw, _ in requests))
    for i, (_, body) in enumerate(requests):
        seen = (await read_reply(reader)).json()
        assert (seen["query"], seen["body"]) == (f"i={i % 5}", body)


async def test_a_pipelined_request_waits_as_bytes_while_one_is_answered(serve: ServeFactory) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await release.wait()
        return Response(200, b"slow")

    served = await serve({"/slow": {"GET": slow}, **ROUTES})
    reader, writer = await served.open()
    behind = b"GET /echo HTTP/1.1\r\nX-Later: " + MARK + b"\x00\r\n\r\n"  # refused, but only when its turn comes
    writer.write(b"GET /slow HTTP/1.1\r\n\r\n" + behind)
    await asyncio.wait_for(started.wait(), WAIT)
    (conn,) = served.server.connections
    await wait_until(lambda: conn.reader.received == 22 + len(behind), "the pipelined request to arrive")
    assert conn.reader.buffered == len(behind) and not conn.reader.ready
    release.set()
    assert (await read_reply(reader)).body == b"slow"
    await refused(await read_reply(reader), reader, 400)
