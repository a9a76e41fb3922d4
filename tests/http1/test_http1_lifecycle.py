"""Sockets over time: cancellation, the connection limit, abandoning a body, idle expiry, closing."""

from __future__ import annotations

import asyncio

import pytest

from routecar.http1 import ConnectionBroken, HttpClientError, Pool, PoolClosed
from routecar.http1.response import _PAUSE_AT

from .rawserver import RawServer, drain_until_eof, ok, read_request, respond_with


async def _until(cond, limit: int = 400) -> None:
    for _ in range(limit):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_cancel_while_waiting_for_head_aborts_the_socket(raw_server, make_pool) -> None:
    got_request = asyncio.Event()

    async def handler(reader, writer, srv: RawServer) -> None:
        req = await read_request(reader)
        if srv.accepted == 1:
            got_request.set()
            await drain_until_eof(reader, srv)  # never answers
        else:
            srv.requests.append(req)
            writer.write(ok(b"second"))
            await drain_until_eof(reader, srv)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    task = asyncio.create_task(pool.request("POST", srv.url, {}, b"{}"))
    await asyncio.wait_for(got_request.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0 and pool.idle_connections == 0
    resp = await pool.request("POST", srv.url, {}, b"{}")
    assert await resp.read() == b"second"
    assert srv.accepted == 2


async def test_pool_limit_bounds_sockets_and_answers_everyone(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            await asyncio.sleep(0.01)  # overlap the requests
            writer.write(ok(req.body))
            await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url, max_connections=2)

    async def one(i: int) -> bytes:
        resp = await pool.request("POST", srv.url, {}, b"req-%d" % i)
        return await resp.read()

    answers = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(5))), 5)
    assert answers == [b"req-%d" % i for i in range(5)]
    assert srv.max_open <= 2 and srv.accepted == 2
    assert pool.open_connections == 2


async def test_waiter_cancelled_passes_its_turn_on(raw_server, make_pool) -> None:
    release = asyncio.Event()

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            if req.body == b"slow":
                await release.wait()
            writer.write(ok(req.body))
            await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url, max_connections=1)
    slow = asyncio.create_task(pool.request("POST", srv.url, {}, b"slow"))
    await _until(lambda: pool.open_connections == 1)
    doomed = asyncio.create_task(pool.request("POST", srv.url, {}, b"doomed"))
    patient = asyncio.create_task(pool.request("POST", srv.url, {}, b"patient"))
    await asyncio.sleep(0.01)
    release.set()
    assert await (await slow).read() == b"slow"
    doomed.cancel()  # woken or not, its turn must reach the next waiter
    answer = await asyncio.wait_for(patient, 2)
    assert await answer.read() == b"patient"


async def test_closing_a_response_early_drops_the_socket(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst part")
        await drain_until_eof(reader, srv)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    assert await resp.readany() == b"first part"
    resp.close()
    assert resp.closed
    with pytest.raises(HttpClientError):
        await resp.readany()
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0 and pool.idle_connections == 0


async def test_response_context_manager_closes(raw_server, make_pool) -> None:
    srv = await raw_server(respond_with(ok(b"whole")))
    pool: Pool = make_pool(srv.url)
    async with await pool.request("GET", srv.url, {}) as resp:
        assert await resp.read() == b"whole"
    assert pool.idle_connections == 1  # complete before close: the socket is kept


async def test_idle_socket_expires(raw_server, make_pool) -> None:
    srv = await raw_server(respond_with(ok()))
    pool: Pool = make_pool(srv.url, keepalive=0.05)
    await (await pool.request("GET", srv.url, {})).read()
    assert pool.idle_connections == 1
    await srv.wait_peer_closed(1)
    assert pool.idle_connections == 0 and pool.open_connections == 0
    await (await pool.request("GET", srv.url, {})).read()
    assert srv.accepted == 2


async def test_server_closing_idle_socket_is_forgotten(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(ok())
        await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    await (await pool.request("GET", srv.url, {})).read()
    await _until(lambda: pool.open_connections == 0)
    assert pool.idle_connections == 0
    await (await pool.request("GET", srv.url, {})).read()


async def test_pool_close_lets_inflight_finish_then_refuses(raw_server, make_pool) -> None:
    release = asyncio.Event()

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            if req.body == b"slow":
                await release.wait()
            writer.write(ok(req.body))
            await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    await (await pool.request("POST", srv.url, {}, b"warm")).read()
    await (await pool.request("POST", srv.url, {}, b"warm")).read()
    slow = asyncio.create_task(pool.request("POST", srv.url, {}, b"slow"))
    await _until(lambda: pool.open_connections == 1 and pool.idle_connections == 0)
    # a second socket that will sit idle when the pool closes
    other = await pool.request("POST", srv.url, {}, b"idle")
    assert await other.read() == b"idle"
    assert pool.idle_connections == 1
    await pool.close()
    assert pool.idle_connections == 0
    await srv.wait_peer_closed(1)
    with pytest.raises(PoolClosed):
        await pool.request("POST", srv.url, {}, b"late")
    release.set()
    assert await (await slow).read() == b"slow"
    await srv.wait_peer_closed(2)
    assert pool.open_connections == 0


async def test_body_finishing_while_paused_leaves_a_reusable_socket(raw_server, make_pool) -> None:
    # Exactly _PAUSE_AT + 1 bytes: the pause is requested by the feed that also completes the body.
    body = b"z" * (_PAUSE_AT + 1)
    srv = await raw_server(respond_with(ok(body), ok(b"next")))
    pool: Pool = make_pool(srv.url)
    resp = await pool.request("GET", srv.url, {})
    await _until(lambda: resp.complete)
    resp.close()  # never read: the socket must not stay paused in the pool
    assert pool.idle_connections == 1
    second = await asyncio.wait_for(pool.request("GET", srv.url, {}), 2)
    assert await second.read() == b"next"
    assert srv.accepted == 1


OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_a_reused_socket_closed_before_any_answer_is_retried_once_on_a_fresh_one(raw_server,
                                                                                     make_pool) -> None:
    """The keep-alive race: the server drops an idle socket just as a request goes out on it."""

    async def handler(reader, writer, srv) -> None:
        first = srv.accepted == 1
        served = 0
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            if first and served == 1:
                return  # the second request on the first socket: close without a byte of answer
            writer.write(OK_REPLY)
            await writer.drain()
            served += 1

    srv = await raw_server(handler)
    pool = make_pool(srv.url)
    for _ in range(3):
        resp = await pool.request("POST", srv.url + "/v1/x", {}, b"{}")
        assert resp.status == 200 and await resp.read() == b"ok"
    assert srv.accepted == 2  # the retry opened a new socket
    assert len(srv.requests) == 4  # the lost request was sent again, once


async def test_a_fresh_socket_closed_before_any_answer_is_not_retried(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv) -> None:
        if await read_request(reader) is not None:
            srv.requests.append(None)  # read it, then hang up without answering

    srv = await raw_server(handler)
    pool = make_pool(srv.url)
    with pytest.raises(ConnectionBroken):
        await pool.request("POST", srv.url + "/v1/x", {}, b"{}")
    assert srv.accepted == 1 and len(srv.requests) == 1


async def test_a_reused_socket_that_answered_partly_is_not_retried(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv) -> None:
        served = 0
        while (req := await read_request(reader)) is not None:
            srv.requests.append(req)
            if served == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")  # half a head, then the close
                await writer.drain()
                return
            writer.write(OK_REPLY)
            await writer.drain()
            served += 1

    srv = await raw_server(handler)
    pool = make_pool(srv.url)
    assert await (await pool.request("POST", srv.url + "/v1/x", {}, b"{}")).read() == b"ok"
    with pytest.raises(ConnectionBroken):
        await pool.request("POST", srv.url + "/v1/x", {}, b"{}")
    assert len(srv.requests) == 2
