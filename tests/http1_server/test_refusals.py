"""Bytes that are not an acceptable request: a 4xx JSON error, then the socket closes.

The syntax is llhttp's: where it is more lenient than the old hand parser (one extra space in
the request line is read as one separator) or stricter (whitespace around a chunk size,
duplicate equal Content-Lengths), the cases follow llhttp. More hostile shapes, and what is
(not) echoed, are in test_hostile_clients."""

from __future__ import annotations

import pytest

from routecar.http1.request_reader import MAX_TRAILER_BYTES, MAX_TRAILERS
from routecar.http1.server import MAX_HEAD

from .wire import ServeFactory, closed, echo, read_reply

ROUTES = {"/echo": {"POST": echo, "GET": echo}}
TE = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

CASES = {
    "no version": (b"GET /echo\r\n\r\n", 400),
    "unknown version": (b"GET /echo HTTP/2.0\r\n\r\n", 400),
    "space inside the target": (b"GET /ec ho HTTP/1.1\r\n\r\n", 400),
    "HTTP/0.9 request line": (b"GET /echo\r\n\r\n", 400),
    "unknown method": (b"BREW /echo HTTP/1.1\r\n\r\n", 400),
    "method not a token": (b"G@T /echo HTTP/1.1\r\n\r\n", 400),
    "header without colon": (b"GET /echo HTTP/1.1\r\nNoColon\r\n\r\n", 400),
    "space before colon": (b"GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "empty header name": (b"GET /echo HTTP/1.1\r\n: x\r\n\r\n", 400),
    "folded header": (b"GET /echo HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400),
    "bare LF in a value": (b"GET /echo HTTP/1.1\r\nX-Routecar-Request-Id: a\nSet-Cookie: b\r\n\r\n", 400),
    "bare CR in a value": (b"GET /echo HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400),
    "CL and TE": (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "two different CLs": (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "two equal CLs": (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    "negative CL": (b"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    "signed CL": (b"POST /echo HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
    "CL list": (b"POST /echo HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    "superscript digit CL": (b"POST /echo HTTP/1.1\r\nContent-Length: \xb2\r\n\r\nab", 400),
    "gzip TE": (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "TE list": (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    "TE twice": (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "bad chunk size": (TE + b"zz\r\nab\r\n0\r\n\r\n", 400),
    "empty chunk size": (TE + b"\r\nab\r\n0\r\n\r\n", 400),
    "chunk without CRLF": (TE + b"2\r\nabc\r\n0\r\n\r\n", 400),
    "space before a chunk extension": (TE + b"5 ;a=b\r\nhello\r\n0\r\n\r\n", 400),
    "chunk size line too long": (TE + b"1;" + b"e" * (40 << 10), 400),
    "complete chunk size line too long": (TE + b"1;" + b"e" * (40 << 10) + b"\r\na\r\n0\r\n\r\n", 400),
    "unsupported Expect": (b"POST /echo HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\na", 417),
    "head over the limit": (b"GET /echo HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD + 10), 431),
    "trailers over the limit": (TE + b"0\r\n" + b"X-T: " + b"t" * (MAX_TRAILER_BYTES + 1) + b"\r\n\r\n", 431),
    "too many trailers": (TE + b"0\r\n" + b"X-T: t\r\n" * (MAX_TRAILERS + 1) + b"\r\n", 431),
    "a trailer that never ends": (TE + b"0\r\n" + b"X-T: " + b"t" * (40 << 10), 400),
    "chunk framing over the limit": (TE + (b"1;" + b"e" * 4000 + b"\r\na\r\n") * 40, 400),
}


@pytest.mark.parametrize("raw,status", CASES.values(), ids=CASES.keys())
async def test_malformed_request_gets_a_json_error_and_the_socket_closes(serve: ServeFactory, raw: bytes,
                                                                         status: int) -> None:
    served = await serve(ROUTES, max_body=1 << 20)
    reply, reader, _ = await served.ask(raw)
    assert reply.status == status
    assert reply.headers["Connection"] == "close" and reply.headers["Content-Type"] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == "bad_http_request" and error["message"].startswith("Bad HTTP request")
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    assert await closed(reader)


async def test_a_bad_request_after_good_ones_on_the_same_socket(serve: ServeFactory) -> None:
    served = await serve(ROUTES)
    reader, writer = await served.open()
    writer.write(b"GET /echo HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\nBroken\r\n\r\n")
    assert (await read_reply(reader)).status == 200
    assert (await read_reply(reader)).status == 400
    assert await closed(reader)
