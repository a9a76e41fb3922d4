"""RequestReader alone: what llhttp is fed and when, the caps, and any split of the same bytes
giving the same requests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecar.http1.request_reader import (MAX_HEAD, MAX_HEADERS, MAX_TARGET, MAX_TRAILER_BYTES, MAX_TRAILERS,
                                           BadRequest, ReadRequest, RequestReader)

CAP = 1 << 20


def _requests() -> tuple[bytes, list[tuple[str, bytes]]]:
    body = b'{"model":"m","messages":[]}'
    chunked = b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
    raw = (b"POST /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
           + b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
           + b"\r\n"  # an empty line between requests is skipped (RFC 9112 §2.2)
           + b"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\r\n\r\n\r\n0\r\n\r\n"
           + b"GET /c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    return raw, [("/a", body), ("/b", b"hello world"), ("/d", b"\r\n\r\n"), ("/c?x=1", b"")]


def _read_all(pieces: list[bytes]) -> list[tuple[str, bytes]]:
    reader = RequestReader(lambda: CAP)
    out = []
    for piece in pieces:
        reader.feed(piece)
        while (got := reader.next()) is not None:
            out.append((got.head.target, got.body))
    return out


def _one(raw: bytes, cap: int = CAP) -> ReadRequest | None:
    reader = RequestReader(lambda: cap)
    reader.feed(raw)
    return reader.next()


def _refusal(raw: bytes, cap: int = CAP) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        _one(raw, cap)
    return info.value


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


def test_the_head_is_what_llhttp_saw() -> None:
    got = _one(b"PUT /p?q=1 HTTP/1.0\r\nConnection: keep-alive\r\nX-Pad:  both sides \t\r\nx-pad: 2\r\n"
               b"Content-Length: 2\r\n\r\nhi")
    assert got is not None
    head = got.head
    assert (head.method, head.target, head.version, head.length, head.chunked) == ("PUT", "/p?q=1", "HTTP/1.0", 2,
                                                                                   False)
    assert head.keep_alive and got.body == b"hi"
    assert head.pairs == [("Connection", "keep-alive"), ("X-Pad", "both sides"), ("x-pad", "2"),
                          ("Content-Length", "2")]


@pytest.mark.parametrize("raw,keep_alive", [
    (b"GET / HTTP/1.1\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
])
def test_keep_alive_follows_the_version_and_connection(raw: bytes, keep_alive: bool) -> None:
    got = _one(raw)
    assert got is not None and got.head.keep_alive is keep_alive


def test_a_pipelined_request_is_not_parsed_while_the_one_before_is_out() -> None:
    first = b"POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    second = b"GET /2 HTTP/1.1\r\nX-Bad: a\x00b\r\n\r\n"  # llhttp would refuse it if it were fed
    reader = RequestReader(lambda: CAP)
    reader.feed(first + second + b"GET /3 HTTP/1.1\r\n\r\n")
    got = reader.next()
    assert got is not None and got.head.target == "/1" and got.body == b"abc"
    assert reader.buffered == len(second) + 19 and not reader.ready  # held as bytes, unparsed
    with pytest.raises(BadRequest):
        reader.next()
    assert reader.next() is None  # nothing is parsed after a refusal


def test_after_a_chunked_body_llhttp_runs_ahead_by_less_than_a_slice() -> None:
    gets = b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(200))  # 3.8 KiB of pipelined heads
    reader = RequestReader(lambda: CAP)
    reader.feed(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + gets)
    got = reader.next()
    assert got is not None and got.body == b"ok"
    assert reader.buffered > len(gets) - 1024  # at most one slice of the heads behind it was parsed
    targets = []
    while (got := reader.next()) is not None:
        targets.append(got.head.target)
    assert targets == [f"/{i}" for i in range(200)]  # the ones parsed ahead wait their turn, in order


def test_a_chunked_body_over_the_cap_is_cut_and_flagged() -> None:
    reader = RequestReader(lambda: 10)
    reader.feed(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n")
    got = reader.next()
    assert got is not None and got.too_large and len(got.body) > 10


def test_a_declared_length_over_the_cap_is_never_read() -> None:
    reader = RequestReader(lambda: 10)
    reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n" + b"y" * 11 + b"GET / HTTP/1.1\r\n\r\n")
    got = reader.next()
    assert got is not None and got.too_large and got.body == b"" and got.head.length == 11
    assert reader.buffered == 11 + 18  # the body and what follows were never parsed
    assert reader.next() is None


def test_expect_continue_is_due_only_before_the_body() -> None:
    reader = RequestReader(lambda: CAP)
    reader.feed(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert reader.next() is None
    assert reader.take_continue() and not reader.take_continue()  # owed once
    reader.feed(b"abc")
    got = reader.next()
    assert got is not None and got.body == b"abc" and not reader.take_continue()


@pytest.mark.parametrize("raw", [
    b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\na",  # some body came with it
    b"POST /x HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",  # HTTP/1.0 has no 100
    b"GET /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",  # no body to wait for
    b"POST /x HTTP/1.1\r\nContent-Length: 30\r\nExpect: 100-continue\r\n\r\n",  # over the cap: 413 first
])
def test_no_continue_when_it_would_be_wrong(raw: bytes) -> None:
    reader = RequestReader(lambda: 10)
    reader.feed(raw)
    reader.next()
    assert not reader.take_continue()


def test_a_head_trickled_byte_by_byte_is_refused_once_over_the_cap() -> None:
    raw = b"GET / HTTP/1.1\r\nX-Endless: " + b"a" * MAX_HEAD
    reader = RequestReader(lambda: CAP)
    for i in range(MAX_HEAD):
        reader.feed(raw[i:i + 1])
        assert reader.next() is None
    reader.feed(raw[MAX_HEAD:MAX_HEAD + 1])
    with pytest.raises(BadRequest) as info:
        reader.next()
    assert info.value.status == 431 and reader.received == MAX_HEAD + 1


def test_a_head_of_exactly_the_cap_is_read() -> None:
    start = b"GET / HTTP/1.1\r\nX-Pad: "
    raw = start + b"p" * (MAX_HEAD - len(start) - 4) + b"\r\n\r\n"
    assert len(raw) == MAX_HEAD
    assert _one(raw) is not None
    assert _refusal(raw[:-4] + b"p\r\n\r\n").status == 431


def test_header_count_target_length_and_trailers_are_capped() -> None:
    def headers(n: int) -> bytes:
        return b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(n)) + b"\r\n"

    assert _one(headers(MAX_HEADERS)) is not None
    assert _refusal(headers(MAX_HEADERS + 1)).status == 431
    assert _one(b"GET /" + b"t" * (MAX_TARGET - 1) + b" HTTP/1.1\r\n\r\n") is not None
    assert _refusal(b"GET /" + b"t" * MAX_TARGET + b" HTTP/1.1\r\n\r\n").status == 414
    te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    assert _one(te + b"T: t\r\n" * MAX_TRAILERS + b"\r\n") is not None
    assert _refusal(te + b"T: t\r\n" * (MAX_TRAILERS + 1) + b"\r\n").status == 431
    assert _refusal(te + b"T: " + b"t" * MAX_TRAILER_BYTES + b"\r\n\r\n").status == 431


def test_chunked_framing_is_bounded_by_the_data_it_carries() -> None:
    te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    one_byte_chunks = b"1\r\nx\r\n" * 5000  # 25 KiB of framing for 5000 bytes: a real (slow) client
    got = _one(te + one_byte_chunks + b"0\r\n\r\n")
    assert got is not None and got.body == b"x" * 5000
    long_extensions = (b"1;" + b"e" * 4000 + b"\r\nx\r\n") * 10
    assert _refusal(te + long_extensions + b"0\r\n\r\n").status == 400
    assert _refusal(te + long_extensions).status == 400  # refused before it ends, too


@pytest.mark.parametrize("raw,status", [
    (b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nX: a\nb\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nX: a\x7fb\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nX(y): a\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
    (b"BAD\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST /x HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417),
])
def test_bad_shapes_are_refused(raw: bytes, status: int) -> None:
    refusal = _refusal(raw)
    assert refusal.status == status
    assert b"\x00" not in str(refusal).encode() and "a\x7fb" not in str(refusal)  # a fixed text


def test_a_refusal_keeps_the_head_when_it_was_whole() -> None:
    assert _refusal(b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n").head is None
    late = _refusal(b"POST /h HTTP/1.1\r\nX-Id: 7\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert late.head is not None and late.head.target == "/h" and ("X-Id", "7") in late.head.pairs
    assert _refusal(b"POST /h HTTP/1.1\r\nExpect: nope\r\n\r\n").head is not None


def test_an_upgrade_request_is_read_as_plain_http_and_ends_the_connection() -> None:
    reader = RequestReader(lambda: CAP)
    reader.feed(b"GET /u HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n\r\n")
    got = reader.next()
    assert got is not None and got.head.target == "/u" and not got.head.keep_alive
    assert reader.next() is None  # what follows an upgrade is not parsed as HTTP/1.1
    refusal = _refusal(b"POST /u HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi")
    assert refusal.status == 400  # llhttp would skip the body: it cannot be answered truthfully


def test_a_bad_request_behind_good_ones_comes_after_them() -> None:
    reader = RequestReader(lambda: CAP)
    reader.feed(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /ok HTTP/1.1\r\n\r\nBAD\r\n\r\n")
    assert [reader.next().head.target for _ in range(2)] == ["/c", "/ok"]  # type: ignore[union-attr]
    with pytest.raises(BadRequest):
        reader.next()


def test_a_body_of_tiny_chunks_is_held_in_about_its_own_size() -> None:
    import tracemalloc

    n = 100_000
    reader = RequestReader(lambda: CAP)
    reader.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert reader.next() is None
    tracemalloc.start()
    try:
        for _ in range(n // 1000):
            reader.feed(b"1\r\nz\r\n" * 1000)
            assert reader.next() is None
        reader.feed(b"0\r\n\r\n")
        got = reader.next()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got is not None and got.body == b"z" * n
    assert peak < 4 * n  # one bytes object per chunk would be ~40 bytes per body byte
