"""Deadlines: the timer on its own, then every wait of an exchange against real sockets.

Elapsed-time checks are generous upper bounds (a deadline must fire near its time, not after
the body would have ended), never performance claims.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, AsyncIterator

import pytest

from routecar.http1 import NEVER, ConnectError, Deadline, DeadlineExceeded, DeadlineTicker, Pool
from routecar.http1.deadline import TICK_S

from .rawserver import RawServer, drain_until_eof, ok, read_request


def deadline_at(loop: asyncio.AbstractEventLoop, when: float) -> Deadline:
    """A deadline on its own ticker (the sidecar shares one per loop; tests need not)."""
    return DeadlineTicker(loop).deadline(when)


def _never_done() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


# -- the timer -------------------------------------------------------------------------------


async def test_a_wait_fails_when_the_deadline_passes() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    d = deadline_at(loop, start + 0.05)
    fut = _never_done()
    with pytest.raises(DeadlineExceeded):
        await d.wait(fut)
    assert d.expired and 0.045 <= loop.time() - start < 2
    assert fut.done()  # failed, not cancelled: its owner sees why


async def test_one_ticker_serves_every_deadline_and_stops_when_none_is_armed() -> None:
    loop = asyncio.get_running_loop()
    ticker = DeadlineTicker(loop)
    start = loop.time()
    many = [ticker.deadline(start + 60) for _ in range(100)]
    soon = ticker.deadline(start + 0.05)
    for i in range(1000):  # a stream pushing its idle deadline on every event: attribute stores
        many[0].move(start + 60 + i * 0.0001)
    assert ticker.armed == 101
    with pytest.raises(DeadlineExceeded):
        await soon.wait(_never_done())
    assert soon.when - start <= loop.time() - start < soon.when - start + TICK_S + 0.5
    assert ticker.armed == 100 and not any(d.expired for d in many)
    for d in many:
        d.cancel()
    await asyncio.sleep(TICK_S * 3)
    assert ticker.armed == 0 and ticker._handle is None  # an idle sidecar keeps no timer


async def test_moving_earlier_fires_at_the_new_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    d = deadline_at(loop, start + 60)
    d.move(start + 0.05)
    with pytest.raises(DeadlineExceeded):
        await d.wait(_never_done())
    assert loop.time() - start < 5


async def test_never_suspends_it_and_a_later_move_brings_it_back() -> None:
    loop = asyncio.get_running_loop()
    d = deadline_at(loop, loop.time() + 0.02)
    d.move(NEVER)
    fut = _never_done()
    loop.call_later(0.06, fut.set_result, "answer")
    assert await d.wait(fut) == "answer"  # its old time came and went
    assert not d.expired
    d.move(loop.time() + 0.02)
    with pytest.raises(DeadlineExceeded):
        await d.wait(_never_done())


async def test_once_expired_a_wait_fails_at_once_even_if_its_future_is_done() -> None:
    loop = asyncio.get_running_loop()
    d = deadline_at(loop, loop.time() + 0.01)
    with pytest.raises(DeadlineExceeded):
        await d.wait(_never_done())
    ready = _never_done()
    ready.set_result(b"data")
    with pytest.raises(DeadlineExceeded):
        await d.wait(ready)
    d.move(loop.time() + 60)  # expiry is final
    assert d.expired
    with pytest.raises(DeadlineExceeded):
        d.check()


async def test_a_due_deadline_counts_before_its_timer_runs() -> None:
    loop = asyncio.get_running_loop()
    d = deadline_at(loop, loop.time() - 1)  # already past; its timer has not had a turn yet
    with pytest.raises(DeadlineExceeded):
        d.check()
    with pytest.raises(DeadlineExceeded):
        await d.wait(_never_done())


async def test_cancel_stops_it() -> None:
    loop = asyncio.get_running_loop()
    d = deadline_at(loop, loop.time() + 0.02)
    d.cancel()
    await asyncio.sleep(0.05)
    assert not d.expired
    d.check()
    fut = _never_done()
    loop.call_soon(fut.set_result, 1)
    assert await d.wait(fut) == 1


async def test_it_fires_while_every_wait_is_answered_at_once() -> None:
    """A peer that always has another byte ready: the waits never block, the deadline still fires."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    d = deadline_at(loop, start + 0.05)
    answered = 0
    with pytest.raises(DeadlineExceeded):
        for _ in range(10_000_000):
            fut = _never_done()
            loop.call_soon(fut.set_result, None)
            await d.wait(fut)
            answered += 1
    assert answered > 0 and 0.045 <= loop.time() - start < 2


async def test_every_pending_wait_fails_together() -> None:
    loop = asyncio.get_running_loop()
    d = deadline_at(loop, loop.time() + 0.03)
    results = await asyncio.gather(d.wait(_never_done()), d.wait(_never_done()), return_exceptions=True)
    assert all(isinstance(r, DeadlineExceeded) for r in results)


# -- an exchange's waits ----------------------------------------------------------------------


async def test_deadline_fires_while_the_body_trickles(raw_server, make_pool) -> None:
    """One byte every few ms would take ~50 s; the deadline ends it on time."""

    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
        for _ in range(10000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.005)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = deadline_at(loop, start + 0.3)
    resp = await pool.request("GET", srv.url, {}, deadline=deadline)
    assert resp.deadline is deadline
    got = 0
    with pytest.raises(DeadlineExceeded):
        for _ in range(100_000):
            got += len(await resp.readany())
    assert got > 0
    assert 0.29 <= loop.time() - start < 3
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0


async def test_deadline_fires_in_read_with_bytes_arriving(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10000):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.005)

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await pool.request("GET", srv.url, {}, deadline=deadline_at(loop, start + 0.2))
    with pytest.raises(DeadlineExceeded):
        await resp.read()
    assert loop.time() - start < 3
    await srv.wait_peer_closed(1)


async def test_an_idle_deadline_moved_on_each_piece(raw_server, make_pool) -> None:
    """The reader pushes the deadline on with every piece; it fires once the peer stalls."""

    async def handler(reader, writer, srv: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(20):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        await drain_until_eof(reader, srv)  # then silence

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    deadline = deadline_at(loop, loop.time() + 0.1)
    resp = await pool.request("GET", srv.url, {}, deadline=deadline)
    got = b""
    with pytest.raises(DeadlineExceeded):
        for _ in range(1000):
            got += await resp.readany()
            deadline.move(loop.time() + 0.1)
    assert got == b"x" * 20  # every piece came before the stall
    await srv.wait_peer_closed(1)


async def test_deadline_during_the_head_wait_drops_the_socket(raw_server, make_pool) -> None:
    async def handler(reader, writer, srv: RawServer) -> None:
        srv.requests.append(await read_request(reader))
        await drain_until_eof(reader, srv)  # never answers

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlineExceeded):
        await pool.request("POST", srv.url, {}, b"{}", deadline=deadline_at(loop, start + 0.1))
    assert 0.09 <= loop.time() - start < 3
    await srv.wait_peer_closed(1)
    assert pool.open_connections == 0 and pool.idle_connections == 0


async def test_deadline_while_waiting_for_a_pool_slot(raw_server, make_pool) -> None:
    release = asyncio.Event()

    async def handler(reader, writer, srv: RawServer) -> None:
        while (req := await read_request(reader)) is not None:
            if req.body == b"slow":
                await release.wait()
            writer.write(ok(req.body))
            await writer.drain()

    srv = await raw_server(handler)
    pool: Pool = make_pool(srv.url, max_connections=1)
    loop = asyncio.get_running_loop()
    slow = asyncio.create_task(pool.request("POST", srv.url, {}, b"slow"))
    for _ in range(200):
        if pool.open_connections == 1:
            break
        await asyncio.sleep(0.005)
    patient = asyncio.create_task(pool.request("POST", srv.url, {}, b"patient"))
    start = loop.time()
    with pytest.raises(DeadlineExceeded):
        await pool.request("POST", srv.url, {}, b"hurried", deadline=deadline_at(loop, start + 0.05))
    assert loop.time() - start < 3
    release.set()
    assert await (await slow).read() == b"slow"
    # the expired waiter gave up its place in line without taking anyone's turn
    assert await (await asyncio.wait_for(patient, 2)).read() == b"patient"
    assert srv.accepted == 1 and b"hurried" not in [r.body for r in srv.requests]


async def test_an_expired_deadline_sends_nothing(raw_server, make_pool) -> None:
    srv = await raw_server(lambda reader, writer, srv: drain_until_eof(reader, srv))
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    with pytest.raises(DeadlineExceeded):
        await pool.request("POST", srv.url, {}, b"{}", deadline=deadline_at(loop, loop.time()))
    assert srv.accepted == 0 and pool.open_connections == 0


async def test_a_response_read_after_its_deadline_fails_even_when_complete(raw_server, make_pool) -> None:
    srv = await raw_server(lambda reader, writer, srv: _answer_once(reader, writer, srv))
    pool: Pool = make_pool(srv.url)
    loop = asyncio.get_running_loop()
    resp = await pool.request("GET", srv.url, {}, deadline=deadline_at(loop, loop.time() + 0.05))
    await asyncio.sleep(0.1)
    assert resp.complete
    with pytest.raises(DeadlineExceeded):
        await resp.readany()
    assert pool.idle_connections == 1  # the exchange had ended cleanly: the socket stays


async def _answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: RawServer) -> None:
    await read_request(reader)
    writer.write(ok(b"done"))
    await drain_until_eof(reader, srv)


@pytest.fixture
async def unanswered_address() -> AsyncIterator[tuple[str, int]]:
    """A loopback port whose connects hang: its accept queue is full (Linux drops the SYN)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held: list[asyncio.StreamWriter] = []
    hangs = False
    for _ in range(8):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.2)
            held.append(writer)
        except (asyncio.TimeoutError, TimeoutError):
            hangs = True
            break
    try:
        if not hangs:
            pytest.skip("this system completes connects beyond the accept queue")
        yield "127.0.0.1", port
    finally:
        for writer in held:
            writer.close()
        listener.close()


@pytest.mark.parametrize("which", ["deadline", "connect_timeout"])
async def test_a_hanging_connect_ends_at_the_sooner_of_deadline_and_connect_timeout(unanswered_address, make_pool,
                                                                                    which) -> None:
    host, port = unanswered_address
    pool: Pool = make_pool(f"http://{host}:{port}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    if which == "deadline":
        with pytest.raises(DeadlineExceeded):
            await pool.request("GET", pool.origin.prefix, {}, connect_timeout=30,
                               deadline=deadline_at(loop, start + 0.1))
    else:
        with pytest.raises(ConnectError) as info:
            await pool.request("GET", pool.origin.prefix, {}, connect_timeout=0.1,
                               deadline=deadline_at(loop, start + 30))
        assert info.value.timeout
    assert 0.09 <= loop.time() - start < 3
    assert pool.open_connections == 0
