"""Keep-alive, Connection: close, HTTP/1.0, pipelining: which answers keep the socket open."""

from __future__ import annotations

import asyncio

import orjson

from routecar.http1.server import Request, Response

from .wire import ServeFactory, closed, echo, read_reply, wait_until

ROUTES = {"/echo": {"GET": echo, "POST": echo}}


async def test_keep_alive_serves_several_requests_on_one_socket(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    for i in range(5):
        writer.write(b"GET /echo?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        reply = await read_reply(reader)
        assert reply.status == 200 and "Connection" not in reply.headers
        seen = reply.json()
        assert (seen["path"], seen["query"], seen["keep_alive"]) == ("/echo", f"n={i}", True)
    assert len(served.server.connections) == 1


async def test_connection_close_closes_after_the_answer(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert reply.status == 200 and reply.headers["Connection"] == "close"
    assert await closed(reader)


async def test_http10_closes_unless_it_asks_for_keep_alive(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reply, reader, _ = await served.ask(b"GET /echo HTTP/1.0\r\n\r\n")
    assert reply.status == 200 and reply.headers["Connection"] == "close"
    assert reply.json()["version"] == "HTTP/1.0"
    assert await closed(reader)

    reader, writer = await served.open()
    for _ in range(3):
        writer.write(b"GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        reply = await read_reply(reader)
        # An HTTP/1.0 app keeps the socket only when the answer says so.
        assert reply.status == 200 and reply.headers["Connection"] == "keep-alive"


async def test_pipelined_requests_in_one_write_are_answered_in_order(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    writer.write(b"".join(
        b"POST /echo?i=%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n%b" % (i, len(b"body%d" % i), b"body%d" % i)
        for i in range(20)) + b"GET /echo?i=last HTTP/1.1\r\nConnection: close\r\n\r\n")
    for i in range(20):
        seen = (await read_reply(reader)).json()
        assert (seen["query"], seen["body"]) == (f"i={i}", f"body{i}")
    last = await read_reply(reader)
    assert last.json()["query"] == "i=last" and last.headers["Connection"] == "close"
    assert await closed(reader)


async def test_a_pipelining_client_that_does_not_read_stops_being_served(serve: ServeFactory) -> None:
    big = b"x" * (256 << 10)
    calls = 0

    async def blob(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return Response(200, big)

    served = await serve({"/blob": {"GET": blob}})
    reader, writer = await served.open()
    total = 200  # 50 MB of answers if they were all buffered
    writer.write(b"GET /blob HTTP/1.1\r\n\r\n" * total)
    await wait_until(lambda: any(c.write_paused and c._read_paused and not c.busy
                                 for c in served.server.connections), "the server to stop taking requests")
    assert calls < total  # held back, not buffered without bound
    for _ in range(total):
        assert (await read_reply(reader)).body == big
    assert calls == total


async def test_the_head_of_a_pipelined_request_split_across_writes(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    raw = b"POST /echo HTTP/1.1\r\nX-Split: yes\r\nContent-Length: 3\r\n\r\nabc"
    for i in range(len(raw)):
        writer.write(raw[i:i + 1])
        await writer.drain()
        await asyncio.sleep(0)
    seen = (await read_reply(reader)).json()
    assert seen["body"] == "abc" and ["X-Split", "yes"] in seen["headers"]


async def test_repeated_headers_all_reach_the_endpoint(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reply, _, _ = await served.ask(b"GET /echo HTTP/1.1\r\nX-A: 1\r\nx-a:2\r\nX-B:  spaced \t\r\n\r\n")
    headers = reply.json()["headers"]
    assert ["X-A", "1"] in headers and ["x-a", "2"] in headers and ["X-B", "spaced"] in headers
    assert orjson.loads(reply.body)["content_length"] is None
