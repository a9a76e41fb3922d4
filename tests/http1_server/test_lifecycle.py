"""Draining and closing: closing(), close_idle(), shutdown(timeout), the idle sweep."""

from __future__ import annotations

import asyncio

from routecar.http1.server import Request, Response, StreamResponse

from .wire import ServeFactory, closed, echo, read_reply, wait_until


class Gate:
    """An endpoint held until the test opens the gate; it notes starting and being cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.opened = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, request: Request) -> Response:
        self.started.set()
        try:
            await self.opened.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return Response(200, b"done")


async def test_while_closing_every_answer_says_close_and_the_socket_closes(serve: ServeFactory) -> None:
    draining = False

    async def stream(request: Request) -> StreamResponse:
        resp = StreamResponse(200)
        await resp.prepare(request)
        await resp.write(b"data")
        return resp

    served = await serve({"/echo": {"GET": echo}, "/s": {"GET": stream}}, closing=lambda: draining)
    reply, reader, writer = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    assert "Connection" not in reply.headers
    draining = True
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).headers["Connection"] == "close"
    assert await closed(reader)

    reply, reader, _ = await served.ask(b"GET /s HTTP/1.1\r\n\r\n")
    assert reply.headers["Connection"] == "close" and reply.body == b"data"
    assert await closed(reader)


async def test_close_idle_closes_idle_sockets_now_and_busy_ones_after_their_answer(serve: ServeFactory) -> None:
    gate = Gate()
    served = await serve({"/echo": {"GET": echo}, "/gate": {"GET": gate}})
    _, idle_reader, _ = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    busy_reader, busy_writer = await served.open()
    busy_writer.write(b"GET /gate HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(gate.started.wait(), 5)

    served.server.close_idle()
    assert await closed(idle_reader)
    gate.opened.set()
    reply = await read_reply(busy_reader)
    assert reply.body == b"done" and reply.headers["Connection"] == "close"
    assert await closed(busy_reader)
    assert not gate.cancelled.is_set()


async def test_stop_listening_refuses_new_connections_but_keeps_open_ones(serve: ServeFactory) -> None:
    served = await serve({"/echo": {"GET": echo}})
    reply, reader, writer = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    served.server.stop_listening()
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).status == 200
    try:
        await served.open()
    except OSError:
        return
    raise AssertionError("a new connection was accepted after stop_listening()")


async def test_shutdown_cuts_busy_connections_after_the_timeout(serve: ServeFactory) -> None:
    gate = Gate()
    served = await serve({"/gate": {"GET": gate}, "/echo": {"GET": echo}})
    _, idle_reader, _ = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    busy_reader, busy_writer = await served.open()
    busy_writer.write(b"GET /gate HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(gate.started.wait(), 5)

    await served.server.shutdown(0.05)
    await asyncio.wait_for(gate.cancelled.wait(), 5)
    assert await closed(busy_reader)  # cut, never answered
    assert await closed(idle_reader)


async def test_shutdown_lets_a_busy_connection_finish_within_the_timeout(serve: ServeFactory) -> None:
    gate = Gate()
    served = await serve({"/gate": {"GET": gate}})
    reader, writer = await served.open()
    writer.write(b"GET /gate HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(gate.started.wait(), 5)
    asyncio.get_running_loop().call_soon(gate.opened.set)
    await served.server.shutdown(5)
    reply = await read_reply(reader)
    assert reply.body == b"done" and reply.headers["Connection"] == "close"


async def test_the_idle_sweep_closes_idle_keep_alive_sockets(serve: ServeFactory) -> None:
    gate = Gate()
    served = await serve({"/echo": {"GET": echo}, "/gate": {"GET": gate}}, keepalive=0.05)
    _, idle_reader, _ = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    _, silent_writer = await served.open()  # connected, never sends a byte
    busy_reader, busy_writer = await served.open()
    busy_writer.write(b"GET /gate HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(gate.started.wait(), 5)

    assert await closed(idle_reader)
    await wait_until(lambda: len(served.server.connections) == 1, "the silent connection to be swept")
    gate.opened.set()  # a busy connection is never swept: its answer still arrives
    assert (await read_reply(busy_reader)).body == b"done"
