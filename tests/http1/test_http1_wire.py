"""Exact byte splits: a real Connection on a real socket, its response bytes handed in piece by piece.

TCP on loopback may coalesce writes, so to cover every split point the test delivers the bytes
through the protocol's own `data_received`, one piece per call, while the request really goes
out on the socket.
"""

from __future__ import annotations

import asyncio
import socket
import zlib

from hypothesis import HealthCheck, given, settings, strategies as st

from routecar.http1.connection import Connection
from routecar.http1.errors import MalformedResponse
from routecar.http1.response import Response

from .rawserver import chunked


class Wire:
    """A Connection over one end of a socketpair; the test plays the server on the other end."""

    def __init__(self) -> None:
        self.released: list[bool] = []
        self.peer: socket.socket | None = None
        self.conn: Connection | None = None
        self.last: Response | None = None

    async def open(self) -> "Wire":
        a, self.peer = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, self.conn = await loop.create_connection(lambda: Connection(lambda c, ok: self.released.append(ok)), sock=a)
        return self

    async def exchange(self, pieces: list[bytes], method: str = "POST") -> tuple[int, bytes]:
        conn = self.conn
        assert conn is not None and self.peer is not None
        head = f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        waiter = conn.send(head, b"", asyncio.get_running_loop())
        await asyncio.sleep(0)
        assert self.peer.recv(65536) == head
        for piece in pieces:
            conn.data_received(piece)
        resp = self.last = await waiter
        return resp.status, await resp.read()

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.abort()
        if self.peer is not None:
            self.peer.close()


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunked([b"hello ", b"\r\n", b"x" * 300], ext=b';a=1;b="q"', trailers=b"X-T: 1\r\nX-U: 2\r\n"))
CHUNKED_BODY = b"hello \r\n" + b"x" * 300


async def test_chunked_one_byte_at_a_time_and_every_two_way_split() -> None:
    wire = await Wire().open()
    try:
        assert await wire.exchange(_bytewise(CHUNKED)) == (200, CHUNKED_BODY)
        for cut in range(1, len(CHUNKED)):
            assert await wire.exchange([CHUNKED[:cut], CHUNKED[cut:]]) == (200, CHUNKED_BODY)
        assert wire.released == [True] * len(CHUNKED)
    finally:
        wire.close()


INTERIM_THEN_LENGTH = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A:  spaced  \r\n\r\nhello world")


async def test_interim_answers_then_a_length_body_at_every_two_way_split() -> None:
    wire = await Wire().open()
    try:
        assert await wire.exchange(_bytewise(INTERIM_THEN_LENGTH)) == (200, b"hello world")
        for cut in range(1, len(INTERIM_THEN_LENGTH)):
            pieces = [INTERIM_THEN_LENGTH[:cut], INTERIM_THEN_LENGTH[cut:]]
            assert await wire.exchange(pieces) == (200, b"hello world")
        assert wire.released == [True] * len(INTERIM_THEN_LENGTH)
        assert wire.last is not None and wire.last.headers["X-A"] == "spaced" and wire.last.reason == "OK"
    finally:
        wire.close()


async def test_deflate_one_byte_at_a_time_both_wrappings() -> None:
    text = b"abcabcabc" * 100
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for payload in (zlib.compress(text), c.compress(text) + c.flush()):
        raw = (b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunked([payload[:1], payload[1:2], payload[2:]]))
        wire = await Wire().open()
        try:
            assert await wire.exchange(_bytewise(raw)) == (200, text)
        finally:
            wire.close()


async def test_head_split_then_malformed_is_reported() -> None:
    wire = await Wire().open()
    try:
        raw = b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n"
        try:
            await wire.exchange(_bytewise(raw))
        except MalformedResponse:
            pass
        else:
            raise AssertionError("malformed header line accepted")
        assert wire.released == [False]
    finally:
        wire.close()


_pieces = st.lists(st.binary(min_size=0, max_size=40), max_size=8)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=_pieces, ext=st.sampled_from([b"", b";x=1", b';n="v;w"']),
       trailers=st.sampled_from([b"", b"A: 1\r\n", b"A: 1\r\nB: 2\r\n"]),
       cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_chunked_round_trip(pieces: list[bytes], ext: bytes, trailers: bytes, cuts: list[int]) -> None:
    """Any chunk sizes, extensions, trailers and TCP splits decode to the same body, and the socket stays reusable."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(pieces, ext, trailers)
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    split = [raw[a:b] for a, b in zip(points, points[1:])]

    async def run() -> None:
        wire = await Wire().open()
        try:
            assert await wire.exchange(split) == (200, b"".join(pieces))
            assert await wire.exchange([raw]) == (200, b"".join(pieces))
            assert wire.released == [True, True]
        finally:
            wire.close()

    asyncio.run(run())
