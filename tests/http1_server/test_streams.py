"""StreamResponse answers: chunk framing, back-pressure, and an app that hangs up."""

from __future__ import annotations

import asyncio

from routecar.http1.server import Request, StreamResponse

from .wire import WAIT, ServeFactory, read_reply, wait_until

SSE = {"Content-Type": "text/event-stream", "Content-Length": "7", "Connection": "keep-alive", "X-Stream": "1"}


async def pieces(request: Request) -> StreamResponse:
    resp = StreamResponse(200, SSE)
    await resp.prepare(request)
    await resp.prepare(request)  # a second prepare writes nothing
    for data in (b"a", b"bc", b"", b"d" * 300):
        await resp.write(data)
    await resp.write_eof()
    await resp.write_eof()
    return resp


async def test_each_write_is_its_own_chunk_and_eof_ends_the_body(serve: ServeFactory) -> None:
    served = await serve({"/s": {"GET": pieces}})
    reply, reader, writer = await served.ask(b"GET /s HTTP/1.1\r\n\r\n")
    assert reply.chunks == [1, 2, 300] and reply.body == b"abc" + b"d" * 300
    assert reply.headers["Transfer-Encoding"] == "chunked" and reply.headers["X-Stream"] == "1"
    assert "Content-Length" not in reply.headers and "Connection" not in reply.headers
    writer.write(b"GET /s HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).chunks == [1, 2, 300]  # the connection is reusable after it


async def test_a_stream_not_ended_by_its_endpoint_is_ended_by_the_server(serve: ServeFactory) -> None:
    async def no_eof(request: Request) -> StreamResponse:
        resp = StreamResponse(200, {"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: 1\n\n")
        return resp

    async def never_prepared(request: Request) -> StreamResponse:
        return StreamResponse(204, {"X-Empty": "yes"})

    served = await serve({"/s": {"GET": no_eof}, "/e": {"GET": never_prepared}})
    reply, reader, writer = await served.ask(b"GET /s HTTP/1.1\r\n\r\nGET /e HTTP/1.1\r\n\r\n")
    assert reply.body == b"data: 1\n\n"
    empty = await read_reply(reader)
    assert empty.status == 204 and empty.headers["X-Empty"] == "yes" and empty.headers["Content-Length"] == "0"


async def test_a_stream_to_an_http10_app_is_unframed_and_ended_by_the_close(serve: ServeFactory) -> None:
    served = await serve({"/s": {"GET": pieces}})
    reply, reader, _ = await served.ask(b"GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert "Transfer-Encoding" not in reply.headers and reply.headers["Connection"] == "close"
    assert reply.body == b"abc" + b"d" * 300  # read to the close


async def test_a_stream_that_fails_midway_is_cut_not_answered_twice(serve: ServeFactory) -> None:
    async def fails(request: Request) -> StreamResponse:
        resp = StreamResponse(200)
        await resp.prepare(request)
        await resp.write(b"partial")
        raise RuntimeError("mid-stream bug")

    served = await serve({"/s": {"GET": fails}})
    reader, writer = await served.open()
    writer.write(b"GET /s HTTP/1.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 200")
    rest = await asyncio.wait_for(reader.read(), WAIT)  # to the cut: one chunk, no last chunk, no second answer
    assert rest == b"7\r\npartial\r\n"


async def test_the_app_hanging_up_cancels_the_endpoint(serve: ServeFactory) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits(request: Request) -> StreamResponse:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    served = await serve({"/w": {"POST": waits}})
    reader, writer = await served.open()
    writer.write(b"POST /w HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
    await asyncio.wait_for(started.wait(), 5)
    writer.close()
    await asyncio.wait_for(cancelled.wait(), 5)
    await wait_until(lambda: not served.server.connections, "the connection to be forgotten")


async def test_a_client_not_reading_a_big_stream_makes_write_wait(serve: ServeFactory) -> None:
    piece = b"x" * (64 << 10)
    most = 1024  # 64 MB, far beyond any socket buffer: the endpoint must be held back well before
    written = 0
    finished = asyncio.Event()

    async def firehose(request: Request) -> StreamResponse:
        nonlocal written
        resp = StreamResponse(200)
        await resp.prepare(request)
        for _ in range(most):
            await resp.write(piece)
            written += len(piece)
        finished.set()
        return resp

    served = await serve({"/f": {"GET": firehose}})
    reader, writer = await served.open()
    writer.write(b"GET /f HTTP/1.1\r\n\r\n")
    await wait_until(lambda: any(c._drain is not None and not c._drain.done() for c in served.server.connections),
                     "write() to wait for the socket")
    assert not finished.is_set() and written < most * len(piece) // 4
    reply = await read_reply(reader)  # reading lets it go on to the end
    assert len(reply.body) == most * len(piece) and finished.is_set()


async def test_a_stream_waiting_on_back_pressure_ends_when_the_app_hangs_up(serve: ServeFactory) -> None:
    outcome: list[BaseException] = []

    async def firehose(request: Request) -> StreamResponse:
        resp = StreamResponse(200)
        await resp.prepare(request)
        try:
            for _ in range(1024):
                await resp.write(b"x" * (64 << 10))
        except BaseException as exc:
            outcome.append(exc)
            raise
        return resp

    served = await serve({"/f": {"GET": firehose}})
    _, writer = await served.open()
    writer.write(b"GET /f HTTP/1.1\r\n\r\n")
    await wait_until(lambda: any(c._drain is not None for c in served.server.connections), "back-pressure")
    writer.close()
    await wait_until(lambda: bool(outcome), "the endpoint to stop")
    assert isinstance(outcome[0], (asyncio.CancelledError, ConnectionResetError))
