"""What the server puts on the wire for an answer: routing errors, HEAD, 500s, headers, Date."""

from __future__ import annotations

import email.utils
import logging
import re

import pytest
from aiohttp import web
from hypothesis import given, strategies as st

from routecar.http1.server import Request, Response, StreamResponse, http_date

from .wire import ServeFactory, echo, read_reply

DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                  r"\d{4} \d\d:\d\d:\d\d GMT$")


async def boom(request: Request) -> Response:
    raise RuntimeError("secret-internal-detail")


async def test_unknown_path_is_a_404_json_error(serve: ServeFactory) -> None:
    served = await serve({"/echo": {"GET": echo}})
    reply, reader, writer = await served.ask(b"GET /nope?x=1 HTTP/1.1\r\n\r\n")
    assert reply.status == 404 and reply.headers["Content-Type"] == "application/json"
    assert reply.json()["error"]["code"] == "not_found"
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).status == 200  # a 404 keeps the connection


async def test_wrong_method_is_a_405_with_allow(serve: ServeFactory) -> None:
    served = await serve({"/echo": {"GET": echo, "PUT": echo}})
    reply, _, _ = await served.ask(b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
    assert reply.status == 405 and reply.json()["error"]["code"] == "method_not_allowed"
    assert reply.headers["Allow"] == "GET, HEAD, PUT"


async def test_head_on_a_get_route_has_no_body_but_its_length(serve: ServeFactory) -> None:
    async def hello(request: Request) -> Response:
        return Response(200, b"hello world", content_type="text/plain")

    served = await serve({"/hello": {"GET": hello}})
    reader, writer = await served.open()
    writer.write(b"HEAD /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
    head = await read_reply(reader, head=True)
    assert head.status == 200 and head.headers["Content-Length"] == "11" and head.body == b""
    get = await read_reply(reader)  # the next bytes are the GET's answer: the HEAD sent no body
    assert get.body == b"hello world"


async def test_an_endpoint_raising_is_a_500_without_its_traceback(serve: ServeFactory,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    served = await serve({"/boom": {"GET": boom}, "/echo": {"GET": echo}})
    with caplog.at_level(logging.ERROR, "routecar.server"):
        reply, reader, writer = await served.ask(b"GET /boom HTTP/1.1\r\n\r\n")
    assert reply.status == 500 and reply.json()["error"]["code"] == "internal_error"
    assert b"secret" not in reply.body and b"Traceback" not in reply.body and b"RuntimeError" not in reply.body
    assert "secret-internal-detail" in caplog.text  # logged for the operator, not sent to the app
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).status == 200


@pytest.mark.parametrize("exc", [ConnectionResetError("upstream reset"), OSError("upstream gone")])
async def test_an_upstream_socket_error_in_an_endpoint_is_a_500_not_a_hang(serve: ServeFactory,
                                                                          exc: Exception) -> None:
    async def upstream_failed(request: Request) -> Response:
        raise exc

    served = await serve({"/x": {"GET": upstream_failed}})
    reply, _, _ = await served.ask(b"GET /x HTTP/1.1\r\n\r\n")
    assert reply.status == 500


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nSet-Cookie: b"}, {"X-Bad": "a\nb"}, {"X-Route": "ルート"}])
async def test_an_answer_that_cannot_be_written_is_a_500(serve: ServeFactory, headers: dict[str, str]) -> None:
    async def bad(request: Request) -> Response:
        return Response(200, b"ok", headers)

    served = await serve({"/x": {"GET": bad}})
    reply, _, _ = await served.ask(b"GET /x HTTP/1.1\r\n\r\n")
    assert reply.status == 500 and "Set-Cookie" not in reply.headers and "X-Bad" not in reply.headers


async def test_an_endpoint_returning_nothing_is_a_500(serve: ServeFactory) -> None:
    async def forgot(request: Request) -> None:
        return None

    async def bad_stream_header(request: Request) -> StreamResponse:
        return await StreamResponse(200, {"X-Bad": "a\nb"}).prepare(request)

    served = await serve({"/x": {"GET": forgot}, "/s": {"GET": bad_stream_header}})
    reply, reader, writer = await served.ask(b"GET /x HTTP/1.1\r\n\r\n")
    assert reply.status == 500
    writer.write(b"GET /s HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).status == 500  # nothing of the stream went out: a clean 500


async def test_endpoint_headers_pass_through_and_framing_headers_are_the_servers(serve: ServeFactory) -> None:
    async def noisy(request: Request) -> Response:
        return Response(201, b"12345", {
            "X-Routecar-Route": "fast", "Content-Type": "text/plain", "Content-Length": "999",
            "Transfer-Encoding": "chunked", "Connection": "upgrade", "Date": "yesterday", "Keep-Alive": "timeout=1"})

    served = await serve({"/x": {"GET": noisy}})
    reply, _, _ = await served.ask(b"GET /x HTTP/1.1\r\n\r\n")
    assert reply.status == 201 and reply.body == b"12345"
    assert reply.headers["X-Routecar-Route"] == "fast" and reply.headers["Content-Type"] == "text/plain"
    assert reply.headers.getall("Content-Length") == ["5"] and reply.headers.getall("Date") != ["yesterday"]
    assert "Transfer-Encoding" not in reply.headers and "Connection" not in reply.headers
    assert "Keep-Alive" not in reply.headers
    assert DATE.match(reply.headers["Date"])


async def test_aiohttp_style_answers(serve: ServeFactory) -> None:
    async def json_answer(request: Request) -> web.Response:
        return web.json_response({"ok": True}, status=202, headers={"X-A": "1"})

    async def text_answer(request: Request) -> web.Response:
        return web.Response(text="héllo")

    served = await serve({"/json": {"GET": json_answer}, "/text": {"GET": text_answer}})
    reply, reader, writer = await served.ask(b"GET /json HTTP/1.1\r\n\r\n")
    assert (reply.status, reply.json(), reply.headers["X-A"]) == (202, {"ok": True}, "1")
    assert reply.headers["Content-Type"].startswith("application/json")
    writer.write(b"GET /text HTTP/1.1\r\n\r\n")
    reply = await read_reply(reader)
    assert reply.body == "héllo".encode() and reply.headers["Content-Type"].startswith("text/plain")


async def test_an_unknown_status_still_has_a_reason(serve: ServeFactory) -> None:
    async def odd(request: Request) -> Response:
        return Response(299, b"")

    served = await serve({"/x": {"GET": odd}})
    reply, _, _ = await served.ask(b"GET /x HTTP/1.1\r\n\r\n")
    assert reply.status == 299 and reply.raw_head.startswith(b"HTTP/1.1 299 Unknown\r\n")


@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31
def test_http_date_is_imf_fixdate(ts: int) -> None:
    assert http_date(ts).decode() == email.utils.formatdate(ts, usegmt=True)

