"""Request bodies: Content-Length in pieces, chunked framing, the size cap, 100-continue."""

from __future__ import annotations

import asyncio

from routecar.http1.server import Request, Response

from .wire import WAIT, ServeFactory, closed, echo, read_reply, wait_until


async def too_large_aware(request: Request) -> Response:
    # How routecar's endpoints decide 413: the declared length, or a chunked body over the cap.
    body = await request.read()
    if (request.content_length or 0) > CAP or len(body) > CAP:
        return Response(413, b'{"error": {"code": "request_too_large"}}', content_type="application/json")
    return await echo(request)


CAP = 1000
ROUTES = {"/echo": {"POST": too_large_aware}}


def chunked(pieces: list[bytes], ext: bytes = b"", trailers: bytes = b"") -> bytes:
    return b"".join(b"%x%b\r\n%b\r\n" % (len(p), ext, p) for p in pieces) + b"0\r\n" + trailers + b"\r\n"


async def test_content_length_body_split_across_many_writes(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    reader, writer = await served.open()
    body = bytes(range(256)) * 3
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 7):
        writer.write(body[i:i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    seen = (await read_reply(reader)).json()
    assert seen["body"].encode("latin-1") == body and seen["content_length"] == len(body)


async def test_chunked_body_with_extensions_and_trailers(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    raw = chunked([b"hello ", b"chunked ", b"world"], ext=b";name=value", trailers=b"X-Trailer: t\r\nX-More: m\r\n")
    reply, reader, writer = await served.ask(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + raw)
    seen = reply.json()
    assert seen["body"] == "hello chunked world" and seen["content_length"] is None
    writer.write(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n" + chunked([b"again"]))
    assert (await read_reply(reader)).json()["body"] == "again"  # the trailers were consumed whole


async def test_chunked_body_one_byte_per_read(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    reader, writer = await served.open()
    head = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw = head + chunked([b"ab", b"c" * 20, b"d"], ext=b";x=1", trailers=b"T: 1\r\n")
    (conn,) = served.server.connections
    for i in range(len(raw) - 1):
        writer.write(raw[i:i + 1])
        # Each byte lands in its own data_received: the parser resumes from every cut.
        await wait_until(lambda: conn.reader.received == i + 1, f"byte {i} to arrive")
    writer.write(raw[-1:])
    assert (await read_reply(reader)).json()["body"] == "abccccccccccccccccccccd"


async def test_declared_length_over_the_cap_runs_the_endpoint_unread_then_closes(serve: ServeFactory) -> None:
    seen: list[tuple[int | None, bytes]] = []

    async def endpoint(request: Request) -> Response:
        seen.append((request.content_length, await request.read()))
        return await too_large_aware(request)

    served = await serve({"/echo": {"POST": endpoint}}, max_body=CAP)
    reader, writer = await served.open()
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 5000)
    reply = await read_reply(reader)
    assert reply.status == 413 and reply.headers["Connection"] == "close"
    assert seen == [(50_000_000, b"")]
    assert await closed(reader)


async def test_chunked_body_over_the_cap(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    one_big_chunk = chunked([b"y" * 1500])
    small_chunks_never_ending = b"64\r\n" + b"z" * 100 + b"\r\n"  # 1200 bytes, no last chunk
    for raw in (one_big_chunk, small_chunks_never_ending * 12):
        reader, writer = await served.open()
        writer.write(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + raw)
        reply = await read_reply(reader)
        assert reply.status == 413 and reply.headers["Connection"] == "close"
        assert await closed(reader)


async def test_expect_100_continue_is_answered_before_the_body(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    reader, writer = await served.open()
    writer.write(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    interim = await read_reply(reader)
    assert interim.status == 100
    writer.write(b"hello")
    reply = await read_reply(reader)
    assert reply.status == 200 and reply.json()["body"] == "hello"

    writer.write(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert (await read_reply(reader)).status == 100
    writer.write(chunked([b"chunks"]))
    assert (await read_reply(reader)).json()["body"] == "chunks"


async def test_expect_100_continue_not_sent_when_the_body_is_too_large(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    reader, writer = await served.open()
    writer.write(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n")
    reply = await read_reply(reader)  # the final answer, with no interim 100 before it
    assert reply.status == 413 and b"100 Continue" not in reply.raw_head
    assert await closed(reader)


async def test_expect_100_continue_not_sent_when_the_body_came_with_the_head(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=CAP)
    reader, writer = await served.open()
    writer.write(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
                 b"GET /nowhere HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).json()["body"] == "ok"
    assert (await read_reply(reader)).status == 404  # the very next thing on the wire


async def test_an_empty_body_and_content_length_zero(serve: ServeFactory) -> None:
    served = await serve(ROUTES, max_body=0)
    reply, reader, writer = await served.ask(b"POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert reply.json()["body"] == "" and reply.json()["content_length"] == 0
    writer.write(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert (await asyncio.wait_for(read_reply(reader), WAIT)).json()["body"] == ""
