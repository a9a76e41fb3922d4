"""RequestReader alone: any split of the same bytes gives the same requests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecar.http1.request_reader import BadRequest, RequestReader

CAP = 1 << 20


def _requests() -> tuple[bytes, list[tuple[str, bytes]]]:
    body = b'{"model":"m","messages":[]}'
    chunked = b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
    raw = (b"POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
           + b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
           + b"GET /c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    return raw, [("/a", body), ("/b", b"hello world"), ("/c?x=1", b"")]


def _read_all(pieces: list[bytes]) -> list[tuple[str, bytes]]:
    reader = RequestReader(lambda: CAP)
    out = []
    for piece in pieces:
        reader.feed(piece)
        while (got := reader.next()) is not None:
            out.append((got.head.target, got.body))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_split_reads_the_same_requests(cuts: list[int]) -> None:
    raw, expected = _requests()
    pieces, pos = [], 0
    for n in cuts:
        pieces.append(raw[pos:pos + n])
        pos += n
    pieces.append(raw[pos:])
    assert _read_all([p for p in pieces if p]) == expected


def test_one_byte_at_a_time() -> None:
    raw, expected = _requests()
    assert _read_all([raw[i:i + 1] for i in range(len(raw))]) == expected


def test_a_large_body_in_small_reads_is_assembled_once() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    reader = RequestReader(lambda: 2 * len(body))
    reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert reader.next() is None
    for i in range(0, len(body), 4096):
        assert reader.next() is None
        reader.feed(body[i:i + 4096])
    got = reader.next()
    assert got is not None and got.body == body and not got.too_large


def test_a_chunked_body_over_the_cap_is_cut_and_flagged() -> None:
    reader = RequestReader(lambda: 10)
    reader.feed(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n")
    got = reader.next()
    assert got is not None and got.too_large and len(got.body) > 10


def test_expect_continue_is_due_only_before_the_body() -> None:
    reader = RequestReader(lambda: CAP)
    reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert reader.next() is None and reader.continue_due
    reader.continue_due = False
    reader.feed(b"abc")
    got = reader.next()
    assert got is not None and got.body == b"abc"


@pytest.mark.parametrize("raw", [
    b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /x HTTP/1.1\r\nX: a\nb\r\n\r\n",
    b"BAD\r\n\r\n",
])
def test_smuggling_shapes_are_refused(raw: bytes) -> None:
    reader = RequestReader(lambda: CAP)
    reader.feed(raw)
    with pytest.raises(BadRequest):
        reader.next()
