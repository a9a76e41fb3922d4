"""The SSE parser: events out as their blank line arrives, whatever the pieces; bounded per event."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routecar.providers.sse import EventTooLarge, SSEParser

STREAM = (b'data: {"a":1}\n\n'
          b": ping\n\n"
          b"event: message_start\ndata: {\"b\":2}\n\n"
          b"data: line one\ndata: line two\n\n"
          b"id: 7\nretry: 10\n\n"
          b"data: [DONE]\n\n")
EXPECTED = [(b'{"a":1}', None), (b'{"b":2}', "message_start"), (b"line one\nline two", None), (b"[DONE]", None)]


def parse_in_pieces(stream: bytes, cuts: list[int], max_event: int = 1 << 20) -> list[tuple[bytes, str | None]]:
    parser = SSEParser(max_event)
    out = []
    at = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        out += [(e.data, e.event) for e in parser.feed(stream[at:cut])]
        at = cut
    out += [(e.data, e.event) for e in parser.flush()]
    return out


def test_whole_stream_in_one_piece() -> None:
    assert parse_in_pieces(STREAM, []) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12),
       st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_any_split_and_any_line_end_gives_the_same_events(cuts: list[int], eol: bytes) -> None:
    stream = STREAM.replace(b"\n", eol)
    assert parse_in_pieces(stream, cuts) == EXPECTED


def test_comments_alone_are_never_events() -> None:
    parser = SSEParser()
    assert parser.feed(b": ping\n\n" * 1000) == []
    assert parser.pending == 0


def test_an_event_that_never_ends_fails_once_over_the_cap() -> None:
    parser = SSEParser(max_event=64 * 1024)
    parser.feed(b"data: {\"start\": ")
    with pytest.raises(EventTooLarge):
        for _ in range(100):
            parser.feed(b"x" * 4096)  # never a blank line
    assert parser.pending <= 64 * 1024 + 4096


def test_an_oversized_event_in_one_piece_fails_too() -> None:
    with pytest.raises(EventTooLarge):
        SSEParser(max_event=1024).feed(b"data: " + b"x" * 2048 + b"\n\n")


def test_an_event_arriving_byte_by_byte_is_parsed_once_in_linear_time() -> None:
    event = b"data: " + b"y" * 200_000 + b"\n\n"
    parser = SSEParser()
    got = []
    for i in range(0, len(event), 7):
        got += parser.feed(event[i:i + 7])
    assert [e.data for e in got] == [b"y" * 200_000]
